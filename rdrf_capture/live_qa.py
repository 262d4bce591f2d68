"""Live QA: is the degraded shot just taken usable against the scene's GT? Answered in ~0.1 s.

Both images are decoded at reduced resolution (libjpeg's DCT scaling: a 4752x3168 JPEG decodes at
1/4 size in a few tens of ms) and registered with ORB + RANSAC. The checks, each with what to do:
- camera movement: the largest corner displacement of the homography, in pixels of the full frame and
  in the RDRF reference width (4752 px) so one threshold holds for every body and size;
- exposure: the median-luminance ratio in stops (reflections add light, so the default is generous);
- white balance: the R/G and B/G ratios against the GT's;
- blur: the sharpest tiles' Laplacian energy against the GT's (drops blur parts, shake blurs all);
- files: a shot with fewer files than the body should give (RAW missing).
Arrays in, dict out; no file or catalogue I/O here. Alignment proper is rdrf_align's (not imported).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Optional

import cv2
import numpy as np

from schemas import imageio
from schemas.errors import RdrfError
from schemas.settings import CaptureQASettings

VERSION = 1
REFERENCE_WIDTH = 4752
QA_WIDTH = 1024  # registration width: enough for a pixel-level motion estimate at full resolution


@dataclass
class Frame:
    """A frame prepared for QA: low-resolution grey and colour, and its full-resolution size."""

    rgb: np.ndarray  # float32 HxWx3 in [0, 1], low resolution
    gray: np.ndarray  # uint8 HxW
    full_size: tuple[int, int]  # (width, height) of the original
    keypoints: tuple = ()
    descriptors: Optional[np.ndarray] = None
    extra: dict = field(default_factory=dict)

    @property
    def scale(self) -> float:
        """Full-resolution pixels per low-resolution pixel."""
        return self.full_size[0] / self.gray.shape[1]


_ORB = None


def _orb():
    global _ORB
    if _ORB is None:
        _ORB = cv2.ORB_create(nfeatures=1500, fastThreshold=10)
    return _ORB


def decode_for_qa(data: bytes, target_width: int = QA_WIDTH) -> Optional[np.ndarray]:
    """RGB uint8 about `target_width` wide (JPEG through libjpeg's reduced decoding, 10% slack so a
    scale is not missed by a few pixels); None when the bytes are no image - QA then flags the shot."""
    try:
        return imageio.decode_reduced(data, "shot", target_width * 0.9, order="rgb")
    except RdrfError:
        return None


def prepare(rgb: np.ndarray, full_size: tuple[int, int], width: int = QA_WIDTH) -> Frame:
    """Resize to the QA width and find ORB features (done once for the GT of a scene)."""
    h, w = rgb.shape[:2]
    if w > width * 1.1:
        rgb = cv2.resize(rgb, (width, round(h * width / w)), interpolation=cv2.INTER_AREA)
    f = rgb.astype(np.float32) / 255.0
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    kp, desc = _orb().detectAndCompute(gray, None)
    return Frame(rgb=f, gray=gray, full_size=full_size, keypoints=kp, descriptors=desc)


def _homography(ref: Frame, shot: Frame) -> tuple[Optional[np.ndarray], int]:
    """Shot low-res px -> GT low-res px (3x3, similarity), and the RANSAC inlier count."""
    if ref.descriptors is None or shot.descriptors is None or len(ref.keypoints) < 8 or len(shot.keypoints) < 8:
        return None, 0
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    pairs = matcher.knnMatch(shot.descriptors, ref.descriptors, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < 0.8 * p[1].distance]
    if len(good) < 8:
        return None, len(good)
    src = np.float32([shot.keypoints[m.queryIdx].pt for m in good])
    dst = np.float32([ref.keypoints[m.trainIdx].pt for m in good])
    # A tripod nudge is a shift and a small rotation: a 4-dof model extrapolates to the corners far
    # more stably than a full homography fitted on unevenly spread matches.
    A, inliers = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=2.0, maxIters=2000, confidence=0.999)
    if A is None:
        return None, 0
    return np.vstack([A, [0.0, 0.0, 1.0]]), int(inliers.sum())


def _corner_motion(H: np.ndarray, shot: Frame, ref: Frame) -> float:
    """Largest displacement of the frame's corners under H, in full-resolution pixels."""
    h, w = shot.gray.shape
    corners = np.float32([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]])[None]
    moved = cv2.perspectiveTransform(corners, H)[0]
    # shot low-res -> GT low-res; express in GT full-resolution pixels
    return float(np.abs((moved - corners[0]) * ref.scale).max())


def _tile_energy(gray: np.ndarray, tile: int = 32) -> np.ndarray:
    lap = cv2.Laplacian(gray, cv2.CV_32F, ksize=3)
    h, w = gray.shape
    h2, w2 = h - h % tile, w - w % tile
    return (lap[:h2, :w2] ** 2).reshape(h2 // tile, tile, w2 // tile, tile).mean(axis=(1, 3))


def _sharpness_ratio(ref: Frame, warped_gray: np.ndarray, valid: np.ndarray, tile: int = 32) -> float:
    """How sharp the shot is against the GT, tile by tile: the 90th percentile of the energy ratios
    over textured tiles. Drops blur the tiles they cover and leave the rest as sharp as the GT; shake
    or lost focus blurs every tile, so the upper percentile drops only for those."""
    ref_e = ref.extra.get("tiles")
    if ref_e is None:
        ref_e = ref.extra["tiles"] = _tile_energy(ref.gray, tile)
    shot_e = _tile_energy(warped_gray, tile)
    h2, w2 = ref_e.shape[0] * tile, ref_e.shape[1] * tile
    inside = valid[:h2, :w2].reshape(ref_e.shape[0], tile, ref_e.shape[1], tile).min(axis=(1, 3)) > 0
    textured = inside & (ref_e > np.median(ref_e))
    if textured.sum() < 4:
        return 1.0
    return float(np.percentile(shot_e[textured] / (ref_e[textured] + 1e-6), 90))


def _gains(ref_lin: np.ndarray, shot_lin: np.ndarray) -> np.ndarray:
    """Per-channel gain g of shot = g * ref + offset (offset: the reflection's added light), fitted by
    least squares with raindrop pixels trimmed as outliers."""
    gains = np.ones(3, np.float64)
    for c in range(3):
        x, y = ref_lin[:, c].astype(np.float64), shot_lin[:, c].astype(np.float64)
        keep = np.ones(len(x), bool)
        for _ in range(3):
            if keep.sum() < 16:
                break
            g, o = np.polyfit(x[keep], y[keep], 1)
            r = y - (g * x + o)
            mad = np.median(np.abs(r[keep])) + 1e-6
            keep = np.abs(r) < 2.5 * 1.4826 * mad
        gains[c] = max(g, 1e-3)
    return gains


def exposure_settings_changed(gt: dict, shot: dict) -> Optional[str]:
    """Compare the EXIF exposure (iso, shutter_s, aperture) of the GT and the shot: exact where the
    body writes them, unlike any image statistic."""
    changed = [
        f"{name} {gt[key]:g} -> {shot[key]:g}"
        for key, name in (("iso", "ISO"), ("shutter_s", "shutter"), ("aperture", "f/"))
        if gt.get(key) and shot.get(key) and abs(gt[key] - shot[key]) > 1e-3 * gt[key]
    ]
    if not changed:
        return None
    return f"exposure settings differ from the GT ({', '.join(changed)}): use M and leave the dials alone"


def assess(
    ref: Frame,
    shot: Frame,
    thresholds: CaptureQASettings = CaptureQASettings(),
    *,
    files: int = 1,
    files_expected: int = 0,
    exif_gt: Optional[dict] = None,
    exif_shot: Optional[dict] = None,
) -> dict:
    """QA of a degraded shot against its scene's GT; the dict is stored as Shot.qa (JSON)."""
    t0 = time.perf_counter()
    flags: list[str] = []
    if exif_gt and exif_shot and (msg := exposure_settings_changed(exif_gt, exif_shot)):
        flags.append(msg)
    H, inliers = _homography(ref, shot)
    motion, motion_ref = _motion(H, inliers, ref, shot, thresholds, flags)
    warped, valid = _overlap(H, ref, shot)
    exposure_ev, wb_shift = _photometry(ref, warped, valid, thresholds, flags)
    warped_gray = cv2.cvtColor((np.clip(warped, 0, 1) * 255).astype(np.uint8), cv2.COLOR_RGB2GRAY)
    sharp_ratio = _sharpness_ratio(ref, warped_gray, valid)
    if sharp_ratio < thresholds.min_sharpness:
        flags.append(
            f"the shot is blurred ({sharp_ratio:.0%} of the GT's sharpness where the glass is clear): camera "
            "shake or the focus moved - use the remote, check the focus is still on the background (MF)"
        )
    if files_expected and files < files_expected:
        flags.append(f"only {files} of {files_expected} files arrived (RAW or JPEG missing): check the body's image quality setting")
    return {
        "version": VERSION,
        "ok": not flags,
        "flags": flags,
        "motion_px": None if motion is None else round(motion, 2),
        "motion_ref_px": None if motion_ref is None else round(motion_ref, 2),
        "inliers": inliers,
        "exposure_ev": round(exposure_ev, 3),
        "wb_shift": [round(v, 4) for v in wb_shift],
        "sharpness": round(sharp_ratio, 3),
        "files": files,
        "seconds": round(time.perf_counter() - t0, 4),
    }


def _motion(
    H: Optional[np.ndarray], inliers: int, ref: Frame, shot: Frame, thresholds: CaptureQASettings, flags: list[str]
) -> tuple[Optional[float], Optional[float]]:
    """Camera motion since the GT in full-resolution px and at the reference width (None: no registration)."""
    if H is None or inliers < thresholds.min_inliers:
        flags.append(
            f"no registration against the GT ({inliers} matches): the camera moved a lot, the view is "
            "blocked or the scene changed - check the tripod and the framing, then shoot again"
        )
        return None, None
    motion = _corner_motion(H, shot, ref)
    motion_ref = motion * REFERENCE_WIDTH / ref.full_size[0]
    if motion_ref > thresholds.max_motion_px:
        flags.append(
            f"camera moved {motion:.0f} px since the GT ({motion_ref:.0f} px at 4752 wide, limit "
            f"{thresholds.max_motion_px:.0f}): tighten the tripod, fire with the remote, do not touch the body"
        )
    return motion, motion_ref


def _overlap(H: Optional[np.ndarray], ref: Frame, shot: Frame) -> tuple[np.ndarray, np.ndarray]:
    """The shot warped into the GT frame and the mask of where it lands (the whole frame, unwarped,
    when there is no registration or it covers under a fifth of the GT)."""
    h, w = ref.gray.shape
    if H is not None:
        warped = cv2.warpPerspective(shot.rgb, H, (w, h), flags=cv2.INTER_LINEAR)
        valid = cv2.warpPerspective(np.ones(shot.gray.shape, np.uint8), H, (w, h), flags=cv2.INTER_NEAREST)
        valid = cv2.erode(valid, np.ones((5, 5), np.uint8))
        if valid.sum() >= 0.2 * valid.size:
            return warped, valid
    warped = shot.rgb if shot.rgb.shape == ref.rgb.shape else cv2.resize(shot.rgb, (w, h))
    return warped, np.ones((h, w), np.uint8)


def _photometry(
    ref: Frame, warped: np.ndarray, valid: np.ndarray, thresholds: CaptureQASettings, flags: list[str]
) -> tuple[float, list[float]]:
    """Exposure (EV) and white-balance shift (R/G, B/G) against the GT, in linear light over the overlap:
    exposure and white balance multiply, reflections add."""
    h, w = ref.gray.shape
    small = (max(w // 4, 8), max(h // 4, 8))
    ref_small = ref.extra.get("small")
    if ref_small is None:
        ref_small = ref.extra["small"] = cv2.resize(ref.rgb, small, interpolation=cv2.INTER_AREA)
    sel = cv2.resize(valid, small, interpolation=cv2.INTER_NEAREST) > 0
    gains = _gains(ref_small[sel] ** 2.2, cv2.resize(warped, small, interpolation=cv2.INTER_AREA)[sel] ** 2.2)
    exposure_ev = float(np.log2(gains @ np.array([0.2126, 0.7152, 0.0722])))
    if abs(exposure_ev) > thresholds.max_exposure_ev:
        flags.append(
            f"exposure differs from the GT by {exposure_ev:+.1f} EV: use M with a fixed ISO, shutter and aperture"
        )
    wb_shift = [float(gains[0] / gains[1] - 1), float(gains[2] / gains[1] - 1)]
    if max(abs(v) for v in wb_shift) > thresholds.max_wb_shift:
        flags.append(
            f"white balance differs from the GT (R/G {wb_shift[0]:+.0%}, B/G {wb_shift[1]:+.0%}): set a fixed "
            "white balance (not AWB) on the body"
        )
    return exposure_ev, wb_shift
