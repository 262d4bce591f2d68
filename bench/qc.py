"""Quality-control bench: does `rdrf align`'s QC keep good pairs and catch each kind of faulty one?

Renders small pairs with the virtual rig's optics (hardware.sim.faults: good pairs, and pairs with a
moving object, an exposure change, a focus change, a camera moved too far, another scene; fixed
seeds), JPEG-encodes them as a camera would, aligns each in memory (`align_pair`, as bench/align.py)
and prints a confusion table: for good pairs, how often each check rejects them (false rejections;
the mask-coverage check is counted apart, it is the mask's business); for each fault kind, how
often it is caught and by which check. Thresholds should follow from this table (the per-kind
ranges of each figure are printed below it), not from one data set passing.

    .venv/bin/python -m bench.qc --pairs 300 --size 720x480
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from hardware.sim import encode_jpeg
from hardware.sim.faults import FAULT_KINDS, render_fault
from rdrf_align.registration.homography import corner_error
from rdrf_align.registration.pair import SceneGT, align_pair
from rdrf_align.registration.quality import CHECKS, problems
from schemas import imageio
from schemas.settings import AlignSettings

GOOD_SHARE = 0.5
# the check whose business each fault is (a pair of another scene may also fail registration outright)
OWN_CHECKS = {"motion": {"motion"}, "exposure": {"exposure"}, "focus": {"focus"}, "camera_moved": {"valid"},
              "other_scene": {"registration", "inliers", "inlier_ratio"}}  # half the pairs are good, the rest split over the fault kinds


def plan(n: int, base: int = 0) -> list[tuple[str, int]]:
    """(kind, seed) for n pairs: GOOD_SHARE good, the rest evenly over the faults; fixed seeds
    (`base` picks another set, to check thresholds on pairs they were not chosen on)."""
    faults = FAULT_KINDS[1:]
    n_good = round(n * GOOD_SHARE)
    out = [("good", base + 10_000 + i) for i in range(n_good)]
    out += [(faults[i % len(faults)], base + 20_000 + i) for i in range(n - n_good)]
    return out


def run_one(job: tuple[str, int, int, int]) -> dict:
    kind, seed, w, h = job
    p = render_fault(kind, w, h, seed)
    gt = imageio.decode(encode_jpeg(p.gt, 95), "gt.jpg")
    lq = imageio.decode(encode_jpeg(p.lq, p.params.jpeg_quality), "lq.jpg")
    out = align_pair(SceneGT.prepare(gt), lq)
    row = {"kind": kind, "seed": seed, "status": out.status, "reason": out.reason,
           "reflection": p.params.reflection, "drops": p.params.drop_count, "ev": p.params.exposure_ev}
    row.update({k: v for k, v in p.truth.items() if isinstance(v, (int, float, str))})
    if out.figures is not None:
        row["figures"] = {k: v for k, v in out.figures.__dict__.items()}
        true_cov = np.count_nonzero(p.degraded.raindrop_mask & out.valid) / max(1, np.count_nonzero(out.valid))
        row["true_coverage"] = float(true_cov)
        if kind != "other_scene":  # the true alignment error, to set the reprojection fence against
            row["corner_error"] = float(corner_error(out.homography, p.homography, w, h).max())
    return row


def checks_of(row: dict, q: AlignSettings) -> list[str]:
    """Which checks reject this pair under `q` ('registration' when align_pair failed)."""
    if row["status"] == "failed":
        return ["registration"]
    from rdrf_align.registration.quality import Figures

    return [c for c, _ in problems(Figures(**row["figures"]), q)]


def table(rows: list[dict], q: AlignSettings) -> str:
    cols = ["registration", *CHECKS]
    lines = [f"{'kind':<13}{'pairs':>6}{'ok':>5}{'rej':>5}{'fail':>5}  {'caught':>7}{'by own':>7}  "
             + "".join(f"{c[:9]:>10}" for c in cols)]
    total_good = false_rej = false_rej_cov = 0
    caught_by_kind = {}
    for kind in FAULT_KINDS:
        rs = [r for r in rows if r["kind"] == kind]
        if not rs:
            continue
        checks = [checks_of(r, q) for r in rs]
        status = Counter("ok" if not c else ("failed" if c == ["registration"] else "rejected") for c in checks)
        per = Counter(c for cs in checks for c in set(cs))
        bad = sum(1 for c in checks if c)
        if kind == "good":
            total_good = len(rs)
            false_rej = sum(1 for c in checks if c and set(c) != {"coverage"})
            false_rej_cov = sum(1 for c in checks if "coverage" in c)
            caught = f"{bad / len(rs):>6.1%}*" + " " * 7
        else:
            caught_by_kind[kind] = bad / len(rs)
            own = sum(1 for c in checks if set(c) & OWN_CHECKS[kind]) / len(rs)
            caught = f"{bad / len(rs):>7.1%}{own:>7.0%}"
        lines.append(f"{kind:<13}{len(rs):>6}{status['ok']:>5}{status['rejected']:>5}{status['failed']:>5}  {caught:>7}  "
                     + "".join(f"{per[c]:>10}" for c in cols))
    lines.append("caught: rejected or failed by any check; by own: by the check whose business the fault is "
                 "(motion, exposure, focus, valid, registration/inliers); then the pairs each check rejects "
                 "(a pair may trip several); * for good pairs 'caught' is the false-rejection rate")
    if total_good:
        lines.append(f"good pairs falsely rejected: {false_rej}/{total_good} = {false_rej / total_good:.1%} by checks other "
                     f"than mask coverage; {false_rej_cov}/{total_good} = {false_rej_cov / total_good:.1%} tripped mask coverage")
    if caught_by_kind:
        lines.append("faults caught: " + ", ".join(f"{k} {v:.0%}" for k, v in caught_by_kind.items())
                     + f"; worst {min(caught_by_kind.values()):.0%}")
    return "\n".join(lines)


FIGURES = ("valid_fraction", "motion_fraction", "mask_coverage", "n_inliers", "inlier_ratio", "reproj_error")


def ranges(rows: list[dict]) -> str:
    """Per kind, the 5th/50th/95th percentile (and min/max) of each figure: where a threshold can go."""
    keys = FIGURES + tuple(k for k in ("exposure_ev", "detail_retained") if any(k in r.get("figures", {}) for r in rows))
    lines = ["figure ranges per kind: min / p5 / median / p95 / max"]
    for key in keys:
        lines.append(f"  {key}:")
        for kind in FAULT_KINDS:
            v = np.array([r["figures"][key] for r in rows if r["kind"] == kind and "figures" in r], np.float64)
            if v.size:
                q = np.percentile(v, [0, 5, 50, 95, 100])
                lines.append(f"    {kind:<13}" + " / ".join(f"{x:8.3f}" for x in q) + f"   (n={v.size})")
    lines.append("  true corner error (px, worst corner; what the reprojection error stands for):")
    for kind in FAULT_KINDS:
        v = np.array([r["corner_error"] for r in rows if r["kind"] == kind and "corner_error" in r], np.float64)
        if v.size:
            q = np.percentile(v, [0, 5, 50, 95, 100])
            lines.append(f"    {kind:<13}" + " / ".join(f"{x:8.3f}" for x in q) + f"   (n={v.size})")
    g = [r for r in rows if r["kind"] == "good" and "figures" in r]
    if g:
        gain = np.array([np.mean(r["figures"]["gain"]) for r in g])
        lines.append(f"  mean gain of good pairs: {np.percentile(gain, 0):.2f} .. {np.percentile(gain, 100):.2f}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=300, help="pairs in all (half good, half spread over the fault kinds)")
    ap.add_argument("--size", default="720x480")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seeds", type=int, default=0, help="seed set: 0 is the set the defaults were chosen on, others are held out")
    ap.add_argument("--json", type=Path, help="write every pair's figures here (for choosing thresholds)")
    ap.add_argument("--load", type=Path, help="re-judge pairs from a --json file with the current settings instead of aligning")
    ap.add_argument("--details", action="store_true", help="list every rejected good pair and every missed fault")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="an [align] setting to judge with (repeatable)")
    a = ap.parse_args()
    w, h = map(int, a.size.lower().split("x"))
    overrides = dict(kv.split("=", 1) for kv in a.set)
    q = AlignSettings(**overrides)
    t = time.perf_counter()
    if a.load:
        rows = json.loads(a.load.read_text())
    else:
        jobs = [(k, s, w, h) for k, s in plan(a.pairs, 100_000 * a.seeds)]
        with mp.get_context("fork").Pool(a.workers) as pool:
            rows = []
            for i, r in enumerate(pool.imap(run_one, jobs, chunksize=2)):
                rows.append(r)
                if (i + 1) % 20 == 0:
                    print(f"{i + 1}/{len(jobs)} pairs, {time.perf_counter() - t:.0f} s", file=sys.stderr)
    if a.json:
        a.json.write_text(json.dumps(rows))
    print(f"{len(rows)} pairs at {w}x{h} ({time.perf_counter() - t:.0f} s); [align] settings: "
          + (", ".join(f"{k} = {v}" for k, v in overrides.items()) + ", the rest defaults" if overrides else "defaults"))
    print(table(rows, q))
    print(ranges(rows))
    if a.details:
        for r in rows:
            c = checks_of(r, q)
            if (r["kind"] == "good") == bool(c):
                extra = f" true coverage {r.get('true_coverage', float('nan')):.0%}" if r["kind"] == "good" else ""
                if "corner_error" in r:
                    extra += f" true corner error {r['corner_error']:.2f} px"
                print(f"  {r['kind']} seed {r['seed']} ev {r['ev']:+.2f} drops {r['drops']} refl {r['reflection']}{extra}: "
                      f"{r['status']} {r['reason'] or '(passed)'}")


if __name__ == "__main__":
    main()
