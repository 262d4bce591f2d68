"""Quality control: is an aligned pair good enough to train on?

`ok`, `rejected` (estimated, but a figure is out of bounds - the reason says which and by how much)
or `failed` (no homography could be estimated). Thresholds are the `[align]` section of the
workspace's rdrf.toml (schemas.settings.AlignSettings).
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.settings import AlignSettings
from schemas.vocabulary import AlignStatus


@dataclass(frozen=True)
class Figures:
    n_inliers: int
    inlier_ratio: float
    reproj_error: float
    valid_fraction: float
    motion_fraction: float
    gain: list[float]
    offset: list[float]
    mask_coverage: float


def assess(f: Figures, q: AlignSettings) -> tuple[AlignStatus, str]:
    """(status, reason); every figure out of bounds is named, the worst first."""
    problems = []
    if f.n_inliers < q.min_inliers:
        problems.append(f"too few inliers ({f.n_inliers} < {q.min_inliers})")
    if f.inlier_ratio < q.min_inlier_ratio:
        problems.append(f"low inlier ratio ({f.inlier_ratio:.2f} < {q.min_inlier_ratio:.2f})")
    if not f.reproj_error <= q.max_reproj_px:
        problems.append(f"high reprojection error ({f.reproj_error:.2f} px > {q.max_reproj_px:.2f} px)")
    if f.valid_fraction < q.min_valid_fraction:
        problems.append(f"small valid area ({f.valid_fraction:.0%} of the GT frame < {q.min_valid_fraction:.0%})")
    bad_gain = [g for g in f.gain if not (1 / q.max_gain_ratio <= g <= q.max_gain_ratio)]
    bad_offset = [o for o in f.offset if abs(o) > q.max_offset]
    if bad_gain or bad_offset:
        problems.append(
            "exposure mismatch (gain " + ", ".join(f"{g:.2f}" for g in f.gain)
            + " / offset " + ", ".join(f"{o:+.3f}" for o in f.offset)
            + f"; allowed gain 1/{q.max_gain_ratio:g}..{q.max_gain_ratio:g}, |offset| <= {q.max_offset:g})"
        )
    if f.motion_fraction > q.max_motion_fraction:
        problems.append(
            f"scene motion outside the drops ({f.motion_fraction:.1%} of the valid area changed with sharp detail"
            f" > {q.max_motion_fraction:.1%})"
        )
    if f.mask_coverage > q.max_mask_coverage:
        problems.append(f"degraded shot differs almost everywhere (mask covers {f.mask_coverage:.0%} > {q.max_mask_coverage:.0%})")
    if problems:
        return "rejected", "; ".join(problems)
    return "ok", ""
