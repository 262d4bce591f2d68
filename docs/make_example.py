"""Make docs/synth_example.jpg from the output of `rdrf synth`: GT | degraded | true raindrop mask.

    .venv/bin/python docs/make_example.py [--seed 9] [--scenes 3]

Runs the same code as `rdrf synth OUT --scenes 3 --lq 1 --size 1584x1056 --seed 9` into a temporary
folder and lays out, per scene, the files it wrote: gt.png, lq/<scene>_01.jpg and
truth/<scene>_01_mask.png. The picture is the README's illustration.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import cv2
import numpy as np

from hardware.synth import synthesize

W, H = 1584, 1056


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=9)
    ap.add_argument("--scenes", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "synth_example.jpg")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "synth"
        synthesize(root, scenes=args.scenes, lq=1, width=W, height=H, seed=args.seed)
        truth = json.loads((root / "truth.json").read_text())
        gap = np.full((H, 12, 3), 255, np.uint8)
        rows = []
        for lq_rel, entry in sorted(truth["files"].items()):
            gt = cv2.imread(str(root / entry["gt"]))
            lq = cv2.imread(str(root / lq_rel))
            mask = cv2.cvtColor(cv2.imread(str(root / entry["mask"]), cv2.IMREAD_GRAYSCALE), cv2.COLOR_GRAY2BGR)
            rows.append(np.hstack([gt, gap, lq, gap, mask]))
            p = entry["params"]
            scene = truth["scenes"][entry["scene"]]
            print(f"{lq_rel}: {scene['category']}, {p['drop_count']} drops, {p['flow_traces']} traces, "
                  f"reflection {p['reflection_strength']:.2f}, glass {p['glass_mm']:g} mm at {p['glass_angle_deg']:.0f} deg")
    sep = np.full((12, rows[0].shape[1], 3), 255, np.uint8)
    picture = np.vstack([r for row in rows for r in (row, sep)][:-1])
    picture = cv2.resize(picture, (picture.shape[1] // 2, picture.shape[0] // 2), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(args.out), picture, [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(f"wrote {args.out} ({picture.shape[1]}x{picture.shape[0]})")


if __name__ == "__main__":
    main()
