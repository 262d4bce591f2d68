"""Per-shot time rdrf adds beyond the camera's own, measured on the virtual camera (vusb).

For every shot of a session (GT + N degraded, RAW+JPEG) it splits the wall time from "fire" to
"ready for the next shot" into: the simulator rendering the frame (no real camera has this), the
camera's own time (vusb session re-open, PTP capture, downloads), and what rdrf adds: durable
storing + cataloguing and live QA (RAW development runs in the background, off this path). Live QA
alone is also timed at full size.

    .venv/bin/python -m bench.capture_overhead --size 4752x3168 --lq 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from hardware.virtual import VirtualCamera, VirtualRig
from rdrf_capture import live_qa
from rdrf_align.registration import drift
from rdrf_capture.bracket import DriftCheck
from rdrf_capture.capture import CaptureOptions, run_session
from schemas.imageio import jpeg_size
from schemas.workspace import Catalogue, create_workspace


class Quiet:
    interactive = False

    def say(self, m):
        pass

    def ready(self, p):
        return True

    def quit_requested(self):
        return False


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="4752x3168")
    ap.add_argument("--lq", type=int, default=3)
    ap.add_argument("--jpeg-only", action="store_true")
    a = ap.parse_args()
    w, h = map(int, a.size.split("x"))
    with tempfile.TemporaryDirectory() as d:
        os.environ["XDG_CONFIG_HOME"] = str(Path(d) / "xdg")
        ws = create_workspace(Path(d) / "ws")
        cat = Catalogue(ws)
        rig = VirtualRig(width=w, height=h, raw=not a.jpeg_only, workdir=Path(d) / "rig")
        cam = VirtualCamera(rig).open()
        renders: list[float] = []
        orig = cam._next_frame

        def timed_next():
            orig()
            renders.append(cam.render_s)

        cam._next_frame = timed_next
        # the closing GT's row includes measuring its drift from the opening GT (rdrf_capture.bracket)
        summary = run_session(cat, cam, rig, CaptureOptions(scene="1", glass_mm=5.0, lq=a.lq), Quiet(), DriftCheck(drift.measure, drift.problems))
        cam.close()
        rows = []
        for r, render in zip(summary.shots, renders):
            t = r.timing
            camera_own = t["camera"] - render
            rows.append((r.step.role, r.index, render, camera_own, t["libgphoto2"], t["store"], t["qa"], t["total"] - t["camera"],
                         t["store_cpu"], t["qa_cpu"]))
        print(f"virtual camera, {w}x{h}, {'JPEG' if a.jpeg_only else 'RAW(DNG)+JPEG'}, {len(rows)} shots")
        print("shot     render_s  camera_s  (libgphoto2)  store_s  qa_s  rdrf_overhead_s  (cpu: store  qa)")
        for role, i, render, cam_s, gp_s, st, qa, over, st_cpu, qa_cpu in rows:
            print(f"{role}-{i:03d}  {render:8.2f}  {cam_s:8.3f}  ({gp_s:9.3f})  {st:7.2f}  {qa:5.2f}  {over:8.2f}"
                  f"          {st_cpu:5.2f} {qa_cpu:5.2f}")
        lq = [r for r in rows if r[0] == "lq"]
        print(f"mean over degraded shots: rdrf adds {statistics.mean(r[7] for r in lq):.2f} s per shot "
              f"(store {statistics.mean(r[5] for r in lq):.2f} s, live QA {statistics.mean(r[6] for r in lq):.2f} s) "
              f"beyond the camera's {statistics.mean(r[3] for r in lq):.3f} s; CPU of the critical path "
              f"{statistics.mean(r[8] + r[9] for r in lq):.2f} s (load average now {os.getloadavg()[0]:.1f})")

        # live QA alone on full-size JPEGs
        jpegs = sorted((ws.root / "originals" / "1").glob("*/*.JPG"))
        gt, shots = jpegs[0].read_bytes(), [p.read_bytes() for p in jpegs[1:]]
        ref = live_qa.prepare(live_qa.decode_for_qa(gt), jpeg_size(gt))
        import cv2
        import numpy as np

        times, base = [], []
        for data in shots:
            t0 = time.perf_counter()
            cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)  # baseline: just decoding it in full
            t1 = time.perf_counter()
            live_qa.assess(ref, live_qa.prepare(live_qa.decode_for_qa(data), jpeg_size(data)))
            times.append(time.perf_counter() - t1)
            base.append(t1 - t0)
        print(f"live QA per {w}x{h} JPEG (decode at reduced size + register + checks): "
              f"median {statistics.median(times):.3f} s, max {max(times):.3f} s = "
              f"{statistics.median(times) / statistics.median(base):.2f}x a plain full-size decode of the same JPEG")
        rig.close()
        cat.close()


if __name__ == "__main__":
    main()
