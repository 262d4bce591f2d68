"""GT-bracket bench: what an untouched rig's two GTs measure, against a moved camera, a light change,
a colour change and a moved object between them - the figures the [bracket] limits follow from.

For each scene (painted by hardware.sim, a category per scene) an opening GT and closing GTs are
rendered with the virtual rig's optics, JPEG-encoded as a camera would: `normal` has the rig's
normal drift between GTs (hardware.virtual.closing_gt_drift: the tripod's creep, a few hundredths
of a stop), the faults add to it a camera moved by 8 reference px, an exposure change of
faults.FAULT_EV's lower end (0.5 EV), a 5-6% white-balance change, or a moved object
(faults.moved_object). Prints each figure's range per kind and how often the current limits flag it.

    .venv/bin/python -m bench.bracket --scenes 8 --size 960x640
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from hardware.sim import CATEGORIES, encode_jpeg, render_scene
from hardware.sim.faults import FAULT_EV, moved_object
from hardware.sim.params import sample_params
from hardware.sim.render import render_degraded
from hardware.virtual import closing_gt_drift
from rdrf_align.registration import drift
from schemas import imageio
from schemas.settings import BracketSettings

KINDS = ("normal", "moved", "light", "colour", "object")
FIGURES = ("motion_ref_px", "exposure_ev", "colour", "changed_fraction", "mean_abs_diff", "p99_abs_diff")


def _gt(scene: np.ndarray, seed: int, **update) -> np.ndarray:
    params = sample_params(np.random.default_rng(seed), reflections=False).model_copy(
        update={"drops": False, "reflection": False, "motion_px": 0.0, "exposure_ev": 0.0, "wb_gains": (1.0, 1.0, 1.0), **update}
    )
    img = render_degraded(scene, params, seed).image
    return imageio.decode(encode_jpeg(img, params.jpeg_quality), "gt.jpg")  # BGR, as the camera's JPEG


def closing(kind: str, scene: np.ndarray, rng: np.random.Generator, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(opening GT, closing GT) of one kind."""
    normal = closing_gt_drift(rng, 2.0)
    opening_scene, closing_scene = scene, scene
    if kind == "moved":
        normal["motion_px"] = 8.0
    elif kind == "light":
        normal["exposure_ev"] = float(rng.choice([-1, 1]) * FAULT_EV[0])
    elif kind == "colour":
        normal["wb_gains"] = (1.06, 1.0, 0.95) if rng.random() < 0.5 else (0.95, 1.0, 1.06)
    elif kind == "object":
        opening_scene, closing_scene, _, _ = moved_object(scene, rng)
    return _gt(opening_scene, 1000 + seed), _gt(closing_scene, 2000 + seed, **normal)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=8)
    ap.add_argument("--size", default="960x640")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    w, h = (int(v) for v in a.size.split("x"))
    limits = BracketSettings()
    got: dict[str, list[dict]] = {k: [] for k in KINDS}
    seconds = []
    for i in range(a.scenes):
        seed = a.seed * 1000 + i
        scene = render_scene(CATEGORIES[i % len(CATEGORIES)], w, h, 100 + seed)
        rng = np.random.default_rng(seed)
        for kind in KINDS:
            opening, closing_gt = closing(kind, scene, rng, seed)
            t = time.perf_counter()
            d = drift.measure(opening, closing_gt)
            seconds.append(time.perf_counter() - t)
            d["colour"] = max(abs(v) for v in d["colour_shift"]) if d.get("registered") else None
            d["problems"] = drift.problems(d, limits)
            got[kind].append(d)
    print(f"GT bracket, {a.scenes} scenes at {w}x{h}; limits {limits.model_dump()}")
    print(f"{'kind':8} {'flagged':>8}  " + "  ".join(f"{f:>22}" for f in FIGURES))
    for kind in KINDS:
        rows = got[kind]
        flagged = sum(bool(d["problems"]) for d in rows)
        cells = []
        for f in FIGURES:
            vals = [abs(d[f]) if f == "exposure_ev" else d[f] for d in rows if d.get(f) is not None]
            cells.append(f"{min(vals):9.4f} .. {max(vals):9.4f}" if vals else f"{'n/a':>22}")
        print(f"{kind:8} {flagged:>3}/{len(rows):<4}  " + "  ".join(f"{c:>22}" for c in cells))
    print(f"drift.measure: median {np.median(seconds):.2f} s per bracket at {w}x{h}")


if __name__ == "__main__":
    main()
