"""Render time of the virtual rig per frame: scene and degradation separately, at the paper's 4752x3168.

    .venv/bin/python -m bench.sim_render [--size 4752x3168] [--repeat 2]

Prints seconds per frame for every scene category and for degraded shots drawn with sample_params
(drops, flow traces, reflections, noise), plus the JPEG encoding, and the ratio of the degradation to
a plain 3x3 warpPerspective of the same frame measured in the same run (the floor any renderer pays).
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

from hardware.sim import CATEGORIES, encode_jpeg, render_degraded, render_scene, sample_params


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="4752x3168")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="OpenCV threads (1: CPU time is wall time on an idle core)")
    args = ap.parse_args()
    cv2.setNumThreads(args.threads)
    w, h = (int(v) for v in args.size.split("x"))
    print(f"size {w}x{h}, OpenCV threads {cv2.getNumThreads()}; times are CPU seconds of this process (wall in brackets)")

    scene_times = []
    gts = []
    for i, category in enumerate(CATEGORIES):
        t, c = time.perf_counter(), time.process_time()
        gts.append(render_scene(category, w, h, seed=i))
        scene_times.append(time.process_time() - c)
        print(f"  scene {category:38s} {scene_times[-1]:6.2f} s  ({time.perf_counter() - t:.2f} s)")
    print(f"scene: mean {np.mean(scene_times):.2f} s per frame (max {np.max(scene_times):.2f} s)")

    reflected = render_scene("others", w // 2, h // 2, seed=99)
    rng = np.random.default_rng(0)
    deg_times, jpeg_times = [], []
    c = time.process_time()
    cv2.warpPerspective(gts[0], np.eye(3) + 1e-4, (w, h), flags=cv2.INTER_CUBIC)
    warp = time.process_time() - c
    for k in range(args.repeat * 4):
        params = sample_params(rng)
        gt = gts[k % len(gts)]
        t, c = time.perf_counter(), time.process_time()
        shot = render_degraded(gt, params, seed=k, reflection_scene=reflected)
        deg_times.append(time.process_time() - c)
        wall = time.perf_counter() - t
        c = time.process_time()
        encode_jpeg(shot.image, params.jpeg_quality)
        jpeg_times.append(time.process_time() - c)
        print(f"  degraded shot {k}: {deg_times[-1]:5.2f} s  ({wall:.2f} s)  {params.drop_count} drops, {params.flow_traces} traces")
    print(f"degradation: mean {np.mean(deg_times):.2f} s per frame (max {np.max(deg_times):.2f} s), "
          f"{np.mean(deg_times) / warp:.1f}x one cubic warpPerspective ({warp:.2f} s)")
    print(f"jpeg encode: mean {np.mean(jpeg_times):.2f} s per frame")


if __name__ == "__main__":
    main()
