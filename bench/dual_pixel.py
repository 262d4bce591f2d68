"""Dual-pixel figures (issue 16): the renderer's drop disparity against the half-disk geometry, and
how well `rdrf align`'s per-view masks match each view's true mask.

    python -m bench.dual_pixel                       # disparity at 1188x792, masks on a 4x3 synth set
    python -m bench.dual_pixel --size 2376x1584 --scenes 2 --lq 3

Disparity: for each blur radius, the median over drops of the horizontal shift between the left and
right views' drop layers (each view minus the dry scene), found by least squares with a parabolic
sub-pixel step; expected: the distance between the two half-disk centroids, 8r / (3 pi). Background:
the largest shift found in drop-free 60 px windows of the views themselves.
Masks: IoU of each view's mask (`aligned/...mask_left.png`) with that view's truth, against the IoU
of the same mask with the other view's truth (the drops moved between the views, so a mask made
for one view should fit it better than the other), and the combined-image mask's IoU with each.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import cv2
import numpy as np

from hardware.sim import DegradationParams, render_degraded, render_scene
from hardware.synth import parse_size
from hardware.sim.camera import horizontal_shift
from rdrf_align.registration.masks import iou


def disparity(width: int, height: int, blurs: list[float]) -> None:
    world = render_scene("building facades & structures", width, height, 3)
    print(f"drop disparity at {width}x{height} (left vs right view, px)")
    print("blur ref px | radius px | expected 8r/3pi | measured (median of drops) | background max |shift|")
    for blur in blurs:
        params = DegradationParams(drop_count=12, drop_radius_px=(60, 90), drop_shape_mix=(1, 0, 0), drop_blur_px=blur,
                                   reflection=False, motion_px=0, noise=False)
        shot = render_degraded(world, params, 5, dual_pixel=True)
        dry = render_degraded(world, params.model_copy(update={"drops": False}), 5).image.astype(np.float32)
        left = (shot.views["left"].astype(np.float32) - dry).mean(axis=2)
        right = (shot.views["right"].astype(np.float32) - dry).mean(axis=2)
        radius = blur * width / 4752
        most = int(np.ceil(radius)) + 6
        shifts = []
        for x, y, r in shot.drops:
            half = int(2 * r + 2 * radius + 6)
            x0, y0 = int(x) - half, int(y) - half
            if x0 >= 0 and y0 >= 0 and x0 + 2 * half <= width and y0 + 2 * half <= height:
                win = np.s_[y0 : y0 + 2 * half, x0 : x0 + 2 * half]
                shifts.append(horizontal_shift(left[win], right[win], most))
        lv, rv = (shot.views[h].astype(np.float32).mean(axis=2) for h in ("left", "right"))
        near = cv2.dilate(np.maximum(*shot.view_masks.values()), np.ones((31, 31), np.uint8))
        bg = [abs(horizontal_shift(lv[y - 30 : y + 30, x - 30 : x + 30], rv[y - 30 : y + 30, x - 30 : x + 30], 6))
              for y in range(40, height - 40, 60) for x in range(40, width - 40, 60) if not near[y - 30 : y + 30, x - 30 : x + 30].any()]
        print(f"{blur:11.0f} | {radius:9.2f} | {8 * radius / (3 * np.pi):15.2f} | {np.median(shifts):26.2f} | {max(bg):.3f}")


def masks(width: int, height: int, scenes: int, lq: int, seed: int) -> None:
    from typer.testing import CliRunner

    from rdrf.cli import app

    def rdrf(*args) -> None:
        r = CliRunner().invoke(app, [str(a) for a in args])
        assert r.exit_code == 0, r.output

    with tempfile.TemporaryDirectory() as tmp:
        synth, ws = Path(tmp) / "synth", Path(tmp) / "ws"
        rdrf("synth", synth, "--dual-pixel", "--scenes", scenes, "--lq", lq, "--size", f"{width}x{height}", "--seed", seed)
        rdrf("init", ws)
        rdrf("--workspace", ws, "import", synth)
        rdrf("--workspace", ws, "align", "--all")
        truth = json.loads((synth / "truth.json").read_text())["files"]
        r = CliRunner().invoke(app, ["--workspace", str(ws), "pairs", "--json"])
        rows = []
        for pair in json.loads(r.stdout):
            if pair["status"] != "ok":
                continue
            t = truth[f"{pair['scene']}/lq/{Path(pair['lq_original']).name}"]["views"]
            true = {s: cv2.imread(str(synth / t[f"mask_{s}"]), cv2.IMREAD_GRAYSCALE) for s in ("left", "right")}
            got = {s: cv2.imread(str(ws / pair[f"mask_{s}"]), cv2.IMREAD_GRAYSCALE) for s in ("left", "right")}
            combined = cv2.imread(str(ws / pair["raindrop_mask"]), cv2.IMREAD_GRAYSCALE)
            other = {"left": "right", "right": "left"}
            for s in ("left", "right"):
                rows.append((iou(got[s], true[s]), iou(got[s], true[other[s]]), iou(combined, true[s])))
        a = np.array(rows)
        print(f"\nper-view masks at {width}x{height}, {len(rows) // 2} ok dual-pixel pairs (seed {seed})")
        print(f"IoU(view mask, its view's truth)        mean {a[:, 0].mean():.3f}")
        print(f"IoU(view mask, the other view's truth)  mean {a[:, 1].mean():.3f}")
        print(f"IoU(combined mask, each view's truth)   mean {a[:, 2].mean():.3f}")
        print(f"view mask fits its own view better in {int((a[:, 0] > a[:, 1]).sum())} of {len(rows)} views")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="1188x792")
    ap.add_argument("--scenes", type=int, default=4)
    ap.add_argument("--lq", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    width, height = parse_size(args.size)
    disparity(width, height, [10, 20, 40, 60, 90])
    masks(width, height, args.scenes, args.lq, args.seed)


if __name__ == "__main__":
    main()
