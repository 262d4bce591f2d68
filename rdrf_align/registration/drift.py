"""The GT bracket: how far a scene drifted between its opening and its closing GT.

Every pair of a scene assumes that only the glass changed between the GT and the degraded shot
(seeds/000 sec. 3.2). A second GT at the end of the series (box back on, glass dry) tests that: the
two GTs differ only by what drifted during the series - the tripod creeping, the light changing,
something in the scene moving - plus sensor noise. RawNIND brackets its noisy series with clean
frames for the same reason; no raindrop dataset reports it. The difference between the two GTs is
the scene's noise floor: no restoration of that scene can be judged finer than it.

`measure` registers the closing GT onto the opening one (the SIFT + patch-ECC homography of
`rdrf align`, so the motion is good to a few hundredths of a pixel) and compares them in linear
light; `problems` judges the figures against the [bracket] limits; `scene_reason` is the QC reason
every pair of a drifted scene gets from `rdrf align`. Arrays in, dicts out; no catalogue here.
"""

from __future__ import annotations

import cv2
import numpy as np

from rdrf_align.registration import exposure_focus
from rdrf_align.registration.homography import RegistrationFailed, corner_error, prepare_reference, register
from schemas.imageio import to_float
from schemas.settings import BracketSettings
from schemas.vocabulary import AlignStatus

VERSION = 1
REFERENCE_WIDTH = 4752  # motion limits are given at the RDRF frame width, like live QA's
WORK_LONG_SIDE = 1024  # photometry and difference statistics run on a copy this size
CHANGE_LEVEL = 0.08  # blurred |difference| (full scale) after exposure/colour correction: a changed pixel
CHANGE_SIGMA = 1.5  # px of the working copy: averages sensor and JPEG noise away, keeps objects
SATURATED = 0.98


def _reduce(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    f = max(1, int(round(max(h, w) / WORK_LONG_SIDE)))
    if f == 1:
        return img
    return cv2.resize(img, (w // f, h // f), interpolation=cv2.INTER_AREA)


def _linear(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.04045, v / 12.92, np.power((v + 0.055) / 1.055, 2.4, dtype=np.float32)).astype(np.float32)


def _encode(lin: np.ndarray) -> np.ndarray:
    lin = np.clip(lin, 0, 1)
    return np.where(lin <= 0.0031308, lin * 12.92, 1.055 * np.power(lin, 1 / 2.4, dtype=np.float32) - 0.055).astype(np.float32)


def measure(opening: np.ndarray, closing: np.ndarray, full_width: int | None = None) -> dict:
    """The drift from the opening GT to the closing GT (BGR, 8 or 16 bit, same size), as a JSON record
    (`full_width`: the originals' width when the images are reduced copies, e.g. RAWs developed at half
    size; pixel figures are given at that width):

    - `motion_px`: the largest corner displacement of the homography closing -> opening, full-size
      px, and `motion_ref_px` the same at the 4752 px RDRF width;
    - `exposure_ev`: closing vs opening in stops, linear light, block by block (exposure_focus);
    - `colour_shift`: change of the R/G and B/G gains (relative), linear light;
    - `mean_abs_diff`, `p99_abs_diff`: |closing registered - opening| in 8-bit levels over the overlap,
      before any correction - the noise floor as a user of the pairs meets it;
    - `changed_fraction`: of the overlap, pixels still different after exposure and colour are
      corrected (something in the scene moved or changed).
    A closing GT that does not register gives `registered: false` and the reason."""
    if opening.shape[:2] != closing.shape[:2]:
        return {
            "version": VERSION,
            "registered": False,
            "reason": f"the closing GT is {closing.shape[1]}x{closing.shape[0]}, the opening GT {opening.shape[1]}x{opening.shape[0]}",
        }
    h, w = opening.shape[:2]
    scale = (full_width or w) / w
    try:
        reg = register(prepare_reference(opening), closing)
    except RegistrationFailed as exc:  # its words are a pair's: say which GT
        reason = str(exc).replace("GT image", "opening GT").replace("degraded image", "closing GT").replace("degraded", "closing GT")
        return {"version": VERSION, "registered": False, "reason": reason}
    H = reg.homography
    motion = float(corner_error(H, np.eye(3), w, h).max())
    a_s, b_s = _reduce(opening), _reduce(closing)
    sh, sw = a_s.shape[:2]
    s = np.diag([sw / w, sh / h, 1.0])
    H_s = s @ H @ np.linalg.inv(s)
    warped = cv2.warpPerspective(b_s, H_s, (sw, sh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    valid = cv2.warpPerspective(np.full((sh, sw), 255, np.uint8), H_s, (sw, sh), flags=cv2.INTER_NEAREST)
    valid = cv2.erode(valid, np.ones((5, 5), np.uint8))
    ef = exposure_focus.measure(warped, a_s, valid)
    fa, fb = to_float(a_s), to_float(warped)
    inside = valid > 0
    usable = inside & (fa.max(axis=2) < SATURATED) & (fb.max(axis=2) < SATURATED)
    la, lb = _linear(fa), _linear(fb)
    # per-channel gain closing/opening in linear light (BGR order): a ratio of sums, which weighs
    # bright pixels most, where noise matters least
    gains = np.array([lb[..., c][usable].sum() / max(la[..., c][usable].sum(), 1e-9) for c in range(3)])
    colour = (float(gains[2] / gains[1] - 1), float(gains[0] / gains[1] - 1)) if gains[1] > 0 else (float("nan"), float("nan"))
    diff = np.abs(fb - fa).mean(axis=2)[inside] * 255.0
    corrected = _encode(lb / np.maximum(gains, 1e-6))
    residual = cv2.GaussianBlur(np.abs(corrected - fa).max(axis=2), (0, 0), CHANGE_SIGMA)
    changed = float((residual[usable] > CHANGE_LEVEL).mean()) if usable.any() else float("nan")
    return {
        "version": VERSION,
        "registered": True,
        "width": round(w * scale),
        "motion_px": round(motion * scale, 3),
        "motion_ref_px": round(motion * REFERENCE_WIDTH / w, 3),
        "inliers": reg.n_inliers,
        "reproj_error": round(float(reg.reproj_error), 4),
        "exposure_ev": None if np.isnan(ef.exposure_ev) else round(ef.exposure_ev, 4),
        "colour_shift": [round(v, 4) for v in colour],
        "mean_abs_diff": round(float(diff.mean()), 3) if diff.size else None,
        "p99_abs_diff": round(float(np.percentile(diff, 99)), 3) if diff.size else None,
        "changed_fraction": round(changed, 5),
    }


def problems(drift: dict, limits: BracketSettings) -> list[str]:
    """What is wrong with a scene whose GTs drifted by `drift` (a `measure` record), for the operator
    and for the QC reason; empty when the drift is within `limits`."""
    if not drift.get("registered", False):
        return [
            f"the opening and closing GT could not be compared ({drift.get('reason') or 'no reason recorded'}): the camera may have "
            "moved or the view changed - the scene's drift is unknown"
        ]
    out = []
    motion, ref = drift.get("motion_px"), drift.get("motion_ref_px")
    if ref is not None and ref > limits.max_motion_px:
        at_ref = f"limit {limits.max_motion_px:g} px" if abs(motion - ref) < 0.05 else f"{ref:.1f} px at 4752 wide, limit {limits.max_motion_px:g}"
        out.append(f"camera moved between the opening and closing GT ({motion:.1f} px; {at_ref})")
    ev = drift.get("exposure_ev")
    if ev is not None and abs(ev) > limits.max_exposure_ev:
        out.append(f"the light changed between the opening and closing GT ({ev:+.2f} EV; limit {limits.max_exposure_ev:g})")
    shift = [v for v in drift.get("colour_shift") or [] if v is not None and not np.isnan(v)]
    if shift and max(abs(v) for v in shift) > limits.max_colour_shift:
        rg, bg = drift["colour_shift"]
        out.append(
            f"the light's colour changed between the opening and closing GT (R/G {rg:+.1%}, B/G {bg:+.1%}; limit {limits.max_colour_shift:.0%})"
        )
    changed = drift.get("changed_fraction")
    if changed is not None and not np.isnan(changed) and changed > limits.max_changed_fraction:
        out.append(
            f"something in the scene changed between the opening and closing GT ({changed:.1%} of the frame; limit {limits.max_changed_fraction:.0%})"
        )
    return out


def scene_reason(scene: str, drifts: list[dict] | None, limits: BracketSettings) -> str:
    """The QC reason for every pair of `scene` given its bracket records (`views.scene_drifts`); "" when
    the scene has no bracket (imported, or the operator opted out) or every bracket is within limits."""
    found: list[str] = []
    for d in drifts or []:
        for p in problems(d, limits):
            if p not in found:
                found.append(p)
    return f"scene {scene}: {'; '.join(found)}" if found else ""


def with_scene_reason(status: AlignStatus, reason: str, scene_reason: str) -> tuple[AlignStatus, str]:
    """A pair's QC verdict with its scene's bracket reason: an `ok` pair of a drifted scene is
    rejected, a rejected or failed one keeps its own reason first."""
    if not scene_reason:
        return status, reason
    if status == "ok":
        return "rejected", scene_reason
    return status, f"{reason}; {scene_reason}" if reason else scene_reason
