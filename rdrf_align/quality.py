"""Quality control: is an aligned pair good enough to train on?

`ok`, `rejected` (estimated, but a figure is out of bounds - the reason says which and by how much)
or `failed` (no homography could be estimated). Thresholds come from the `[align]` section of the
workspace's rdrf.toml, overridable on the command line.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from schemas.errors import RdrfError


@dataclass(frozen=True)
class QualitySettings:
    min_inliers: int = 40  # feature inliers of the coarse homography
    min_inlier_ratio: float = 0.15
    max_reproj_px: float = 0.75  # RMS residual of the final fit, full-resolution px
    min_valid_fraction: float = 0.80  # of the GT frame covered by the warped degraded shot
    max_motion_fraction: float = 0.10  # of the valid area: large changed regions with in-focus detail
    max_gain_ratio: float = 1.6  # any channel's gain outside [1/r, r] is an exposure mismatch
    max_offset: float = 0.15  # |offset| in full-scale units
    max_mask_coverage: float = 0.6  # more "raindrop" than that means the pair does not match

    @classmethod
    def from_settings(cls, section: dict, source: str = "rdrf.toml [align]") -> "QualitySettings":
        known = {f.name: f.type for f in fields(cls)}
        values = {}
        for key, value in section.items():
            if key in ("mask", "workers"):
                continue  # command defaults, not thresholds
            if key not in known:
                raise RdrfError(f"{source}: unknown setting {key!r}; known: {', '.join(sorted(known))}, mask, workers")
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise RdrfError(f"{source}: {key} = {value!r}; expected a number")
            values[key] = int(value) if known[key] == "int" else float(value)
        return cls(**values)

    def as_dict(self) -> dict:
        return asdict(self)


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


def assess(f: Figures, q: QualitySettings) -> tuple[str, str]:
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
