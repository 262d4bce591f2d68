"""Make docs/synth_example.jpg: GT | degraded | raindrop mask, rendered by the virtual rig.

    .venv/bin/python docs/make_example.py [--seed 7] [--rows 2]

Each row is one scene of `rdrf synth`'s renderer at 1584x1056 per panel (a third of the paper's width),
with parameters drawn by sample_params; the picture is the README's illustration.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from hardware.sim import CATEGORIES, encode_jpeg, render_degraded, render_scene, sample_params

W, H = 1584, 1056
ROWS = (("streets & traffic", 2), ("building facades & structures", 5), ("signs & markers", 3))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "synth_example.jpg")
    args = ap.parse_args()
    rows = []
    for i, (category, behind_seed) in enumerate(ROWS):
        rng = np.random.default_rng([args.seed, i])
        gt = render_scene(category, W, H, seed=args.seed + i)
        behind = render_scene(CATEGORIES[(i + 3) % len(CATEGORIES)], W // 2, H // 2, seed=behind_seed)
        params = sample_params(rng, glass_mm=(3.0, 5.0, 8.0)[i % 3])
        shot = render_degraded(gt, params, seed=args.seed * 100 + i, reflection_scene=behind)
        lq = cv2.imdecode(np.frombuffer(encode_jpeg(shot.image, params.jpeg_quality), np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
        mask = np.repeat(shot.raindrop_mask[..., None], 3, axis=2)
        gap = np.full((H, 12, 3), 255, np.uint8)
        rows.append(np.hstack([gt, gap, lq, gap, mask]))
        print(f"row {i}: {category}, {params.drop_count} drops, {params.flow_traces} traces, "
              f"reflection {params.reflection_strength:.2f}, glass {params.glass_mm:g} mm at {params.glass_angle_deg:.0f} deg")
    sep = np.full((12, rows[0].shape[1], 3), 255, np.uint8)
    picture = np.vstack([r for row in rows for r in (row, sep)][:-1])
    picture = cv2.resize(picture, (picture.shape[1] // 2, picture.shape[0] // 2), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(args.out), picture[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(f"wrote {args.out} ({picture.shape[1]}x{picture.shape[0]})")


if __name__ == "__main__":
    main()
