"""Export throughput: serial vs parallel, and what a re-export into the same folder costs.

    .venv/bin/python -m bench.export_speed [--scenes 4] [--lq 4] [--size 2376x1584] [--workers N]

Builds a throw-away workspace of aligned pairs (synthetic images, 16-bit developed GT like a RAW
shoot) and exports it to 1080x720 three times, measured in the same run:
  1. folder layout with 1 worker, 2. the same with N workers (fresh folder), 3. a re-export into
the folder of 2 (every file already right, so it is only hashed). Prints seconds per pair, the
parallel speed-up (1 / 2), the re-export ratio (2 / 3) and the disk the GT hard links save.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from rdrf_align.dataset.export import write_export
from rdrf_align.dataset.plan import ExportParams, plan_export
from rdrf_align.dataset.splits import assign_splits
from schemas.records import CATEGORIES
from schemas.workspace import Catalogue
from tests.export_helpers import SceneSpec, build_workspace


def timed_export(cat: Catalogue, out: Path, workers: int, fmt: str = "folder") -> tuple[float, int, int]:
    t = time.perf_counter()
    assign_splits(cat)
    plan = plan_export(cat, ExportParams(split="all", format=fmt), out)
    result = write_export(plan, cat, workers=workers)
    return time.perf_counter() - t, result.written, result.n_records


def disk_usage(folder: Path) -> tuple[int, int]:
    """(apparent bytes, bytes on disk counting each inode once)."""
    apparent, seen, real = 0, set(), 0
    for p in folder.rglob("*"):
        if p.is_file():
            st = p.stat()
            apparent += st.st_size
            if st.st_ino not in seen:
                seen.add(st.st_ino)
                real += st.st_size
    return apparent, real


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenes", type=int, default=4)
    ap.add_argument("--lq", type=int, default=4)
    ap.add_argument("--size", default="2376x1584")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        specs = [SceneSpec(str(i + 1), CATEGORIES[i % 8], statuses=("ok",) * args.lq, size=(w, h), gt_bits=16)
                 for i in range(args.scenes)]
        ws = build_workspace(root / "ws", specs=specs, test_fraction=0.25)
        print(f"workspace: {args.scenes} scenes x {args.lq} pairs at {w}x{h} (16-bit GT) built in {time.perf_counter() - t:.1f} s")
        cat = Catalogue(ws)
        t1, n1, pairs = timed_export(cat, root / "serial", 1)
        tn, nn, _ = timed_export(cat, root / "parallel", args.workers)
        tr, nr, _ = timed_export(cat, root / "parallel", args.workers)
        tw, _, _ = timed_export(cat, root / "shards", args.workers, "webdataset")
        apparent, real = disk_usage(root / "parallel")
        cat.close()
    print(f"export to 1080x720, {pairs} pairs, {os.cpu_count()} CPUs:")
    print(f"  folder, 1 worker         {t1:7.2f} s  ({t1 / pairs:.3f} s/pair, {n1} files written)")
    print(f"  folder, {args.workers} workers        {tn:7.2f} s  ({tn / pairs:.3f} s/pair)  speed-up x{t1 / tn:.2f}")
    print(f"  re-export, all right     {tr:7.2f} s  ({nr} files written)  x{tn / tr:.1f} faster than exporting")
    print(f"  webdataset, {args.workers} workers    {tw:7.2f} s  ({tw / pairs:.3f} s/pair)")
    print(f"  folder size {apparent / 1e6:.1f} MB apparent, {real / 1e6:.1f} MB on disk (GT hard links save {1 - real / apparent:.0%})")


if __name__ == "__main__":
    main()
