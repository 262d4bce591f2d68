"""Quality control: are two shots a pair at all, and is an aligned pair good enough to train on?

`ok`, `rejected` or `failed`, always with a reason:

- `failed`: the two shots cannot be a pair, whatever the thresholds - no homography could be
  estimated, or the inputs contradict each other: different sizes or bit depths, one greyscale and
  the other in colour (`colour_mismatch`, judged once registration succeeded, so that a blank frame
  is called featureless), different glass thickness or camera body in the catalogue
  (`setup_mismatch`, judged when the run is planned, before any image is read), an image that
  cannot be decoded. These are facts about the input, so no `[align]` setting turns them `ok` and a
  re-run gives the same answer; the fix is in the data (re-shoot, re-file the shot, correct its
  setup). Nothing is written under aligned/.
- `rejected`: a homography was estimated, but a figure is out of bounds (`assess`: inliers,
  reprojection error, valid area, exposure, motion, mask coverage) - the reason says which and by
  how much. The thresholds are the `[align]` section of the workspace's rdrf.toml
  (schemas.settings.AlignSettings); loosening them is the curator's call.

A fact the catalogue does not record for either shot (no scene.toml, no EXIF) is no contradiction;
one recorded for one shot and not for the other is refused, since the pair cannot be confirmed to
share a setup (record it for both: scene.toml `glass_mm` / `camera`, or `rdrf capture --glass`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from schemas.imageio import full_scale
from schemas.settings import AlignSettings
from schemas.vocabulary import AlignStatus

GLASS_TOLERANCE_MM = 0.05  # thicknesses are catalogued to a tenth of a millimetre at best
GREY_LEVELS = 2.0  # channels within this many 8-bit levels of each other count as equal (JPEG rounding)
GREY_MAX_FRACTION = 0.001  # an image is greyscale when at most this fraction of pixels has colour
GREY_SAMPLES = 65_536  # pixels looked at, at most (a regular grid): about a millisecond at any size


@dataclass(frozen=True)
class ShotSetup:
    """What the catalogue records of the rig a shot was taken with (its Setup row); None: unknown."""

    camera_model: str | None = None
    glass_mm: float | None = None


def _camera(name: str | None) -> str | None:
    return " ".join(name.split()).casefold() if name and name.strip() else None


def setup_mismatch(gt: ShotSetup, lq: ShotSetup) -> str:
    """Why a degraded shot cannot pair with the GT from their recorded setups; '' when it can.
    A different slab changes the refraction and the drops' optics; a different body, the sensor,
    its noise and colour response: either way the GT is not the clean version of the degraded shot."""
    problems = []
    if gt.glass_mm is not None and lq.glass_mm is not None:
        if abs(gt.glass_mm - lq.glass_mm) > GLASS_TOLERANCE_MM:
            problems.append(f"degraded shot taken through {lq.glass_mm:g} mm glass but its GT through {gt.glass_mm:g} mm")
    elif gt.glass_mm is not None or lq.glass_mm is not None:
        known, unknown = ("GT", "degraded shot") if gt.glass_mm is not None else ("degraded shot", "GT")
        mm = gt.glass_mm if gt.glass_mm is not None else lq.glass_mm
        problems.append(f"glass thickness recorded for the {known} ({mm:g} mm) but not for the {unknown}: cannot confirm one slab")
    a, b = _camera(gt.camera_model), _camera(lq.camera_model)
    if a is not None and b is not None:
        if a != b:
            problems.append(f"degraded shot taken with a {lq.camera_model.strip()} but its GT with a {gt.camera_model.strip()}")
    elif a is not None or b is not None:
        known, unknown = ("GT", "degraded shot") if a is not None else ("degraded shot", "GT")
        name = (gt.camera_model if a is not None else lq.camera_model).strip()
        problems.append(f"camera body recorded for the {known} ({name}) but not for the {unknown}: cannot confirm one camera")
    if problems:
        hint = " (a pair needs one camera and one glass slab"
        if any("cannot confirm" in p for p in problems):
            hint += "; record them for every shot: scene.toml glass_mm and camera, or rdrf capture --glass"
        return "not a pair: " + "; ".join(problems) + hint + ")"
    return ""


def is_greyscale(img: np.ndarray) -> bool:
    """All three channels equal within JPEG rounding on (almost) every pixel: a greyscale file
    (decoding expands grey to 3 equal channels) or a monochrome camera mode. A colour photograph,
    even of a neutral scene, has demosaicing noise and white balance in its channels."""
    if img.ndim == 2 or img.shape[2] == 1:
        return True
    h, w = img.shape[:2]
    step = max(1, int(np.ceil(np.sqrt(h * w / GREY_SAMPLES))))
    b, g, r = cv2.split(np.ascontiguousarray(img[::step, ::step, :3]))
    spread = cv2.max(cv2.max(cv2.absdiff(b, g), cv2.absdiff(g, r)), cv2.absdiff(b, r))  # max - min channel
    tol = GREY_LEVELS * full_scale(img) / 255.0
    return cv2.countNonZero(cv2.compare(spread, tol, cv2.CMP_GT)) <= GREY_MAX_FRACTION * spread.size


def colour_mismatch(gt_grey: bool, lq_grey: bool) -> str:
    """Why a greyscale and a colour shot cannot pair; '' when both are one or the other."""
    if gt_grey == lq_grey:
        return ""
    grey, colour = ("GT", "degraded image") if gt_grey else ("degraded image", "GT")
    return (f"{grey} is greyscale (its three channels are equal) but its {colour} is in colour; "
            "a pair must be shot and developed in one colour mode")


CHECKS = ("inliers", "inlier_ratio", "reproj", "valid", "exposure", "focus", "motion", "coverage")


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
    exposure_ev: float = float("nan")  # exposure_focus.measure; NaN: not measurable, not judged
    detail_retained: float = float("nan")


def problems(f: Figures, q: AlignSettings) -> list[tuple[str, str]]:
    """(check, what is wrong) for every figure out of bounds, the worst first; the check is one of
    CHECKS, so that a benchmark can count which check rejects what (bench/qc.py)."""
    out = []
    if f.n_inliers < q.min_inliers:
        out.append(("inliers", f"too few inliers ({f.n_inliers} < {q.min_inliers})"))
    if f.inlier_ratio < q.min_inlier_ratio:
        out.append(("inlier_ratio", f"low inlier ratio ({f.inlier_ratio:.2f} < {q.min_inlier_ratio:.2f})"))
    if not f.reproj_error <= q.max_reproj_px:
        out.append(("reproj", f"high reprojection error ({f.reproj_error:.2f} px > {q.max_reproj_px:.2f} px)"))
    if f.valid_fraction < q.min_valid_fraction:
        out.append(("valid", f"small valid area ({f.valid_fraction:.0%} of the GT frame < {q.min_valid_fraction:.0%})"))
    bad_gain = [g for g in f.gain if not (1 / q.max_gain_ratio <= g <= q.max_gain_ratio)]
    bad_offset = [o for o in f.offset if abs(o) > q.max_offset]
    if bad_gain or bad_offset:
        out.append((
            "exposure",
            "exposure mismatch (gain " + ", ".join(f"{g:.2f}" for g in f.gain)
            + " / offset " + ", ".join(f"{o:+.3f}" for o in f.offset)
            + f"; allowed gain 1/{q.max_gain_ratio:g}..{q.max_gain_ratio:g}, |offset| <= {q.max_offset:g})",
        ))
    if abs(f.exposure_ev - q.glass_ev) > q.max_exposure_ev:  # False for NaN
        out.append((
            "exposure",
            f"exposure changed ({f.exposure_ev:+.2f} EV vs the GT, the glass accounts for about {q.glass_ev:+.2f};"
            f" allowed {q.glass_ev - q.max_exposure_ev:+.2f}..{q.glass_ev + q.max_exposure_ev:+.2f})",
        ))
    if f.detail_retained < q.min_detail_retained:
        out.append((
            "focus",
            f"scene out of focus (the degraded shot keeps {f.detail_retained:.0%} of the GT's fine detail"
            f" < {q.min_detail_retained:.0%})",
        ))
    if f.motion_fraction > q.max_motion_fraction:
        out.append((
            "motion",
            f"scene motion ({f.motion_fraction:.1%} of the valid area changed solidly, with in-focus detail, in patches"
            f" larger than any drop > {q.max_motion_fraction:.1%})",
        ))
    if f.mask_coverage > q.max_mask_coverage:
        out.append(("coverage", f"degraded shot differs almost everywhere (mask covers {f.mask_coverage:.0%} > {q.max_mask_coverage:.0%})"))
    return out


def assess(f: Figures, q: AlignSettings) -> tuple[AlignStatus, str]:
    """(status, reason); every figure out of bounds is named, the worst first."""
    found = problems(f, q)
    if found:
        return "rejected", "; ".join(message for _, message in found)
    return "ok", ""
