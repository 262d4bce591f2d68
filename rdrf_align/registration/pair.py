"""Aligning one pair in memory: registration, valid area, photometry, masks, reflection layer,
quality control.

Pure arrays in, arrays and figures out; the catalogue runner (runner.py) reads and writes around it.
A `SceneGT` holds everything computed from a scene's GT, so its ~40 degraded shots reuse it.

Lean by design: the degraded shot is warped only to the reduced size the photometry and the default
mask work at (schemas.warp.render_aligned: area-averaged by the mask's integer factor, then one
bicubic warp), never at full size; the valid area is rasterized from the homography. Only the
published AGAN mask (|aligned - GT| > 30 at full resolution) needs the full-size warp.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from rdrf_align.registration import exposure_focus, masks
from rdrf_align.registration.concurrency import process_threads, threads
from rdrf_align.registration.photometric import Photometric, fit_photometric
from rdrf_align.registration.quality import Figures, assess, colour_mismatch, is_greyscale
from rdrf_align.registration.homography import Reference, Registration, RegistrationFailed, prepare_reference, register
from schemas.imageio import full_scale
from schemas.parallel import side_by_side
from schemas.settings import AlignSettings
from schemas.vocabulary import AlignStatus, MaskMethod, values
from schemas.warp import render_aligned, valid_area

METHOD = "sift-coarse+patch-ecc"
# 2: matches no longer depend on what the process aligned before (features.reseed), and pairs whose
# shots contradict each other (colour mode, glass, camera) fail. Version 1 rows may differ from a
# re-run by a fraction of a pixel; `rdrf align --force` redoes them.
# 3: the default mask is the drop network's (masks, drop_net.py) and the photometric fit also starts
# from a least-median line; version 2 rows keep their masks until `rdrf align --force`.
VERSION = "3"


@dataclass
class SceneGT:
    image: np.ndarray  # BGR uint8/uint16, full resolution
    reference: Reference
    reduced: masks.ReducedGT  # reduced copy the masks and photometry use, and what masks derive from it
    bands: exposure_focus.GTBands  # what the exposure and focus checks derive from the reduced copy
    greyscale: bool = False  # quality.is_greyscale(image)

    @classmethod
    def prepare(cls, gt: np.ndarray) -> "SceneGT":
        def for_masks() -> tuple[masks.ReducedGT, exposure_focus.GTBands]:
            reduced = masks.prepare_gt(masks.reduce(gt))
            return reduced, exposure_focus.prepare_gt(reduced.image)

        # the registration's reference and the masks' reduced copy are independent: side by side, on
        # all the process's threads (the scene's other pairs in flight wait for it)
        reference, (reduced, bands) = side_by_side(lambda: prepare_reference(gt), for_masks, workers=process_threads())
        return cls(gt, reference, reduced, bands, is_greyscale(gt))

    @property
    def small(self) -> np.ndarray:
        return self.reduced.image


@dataclass
class PairOutcome:
    status: AlignStatus
    reason: str
    homography: np.ndarray | None = None
    registration: Registration | None = None
    photometric: Photometric | None = None
    aligned: np.ndarray | None = None  # full-size warp: made for the AGAN mask only
    valid: np.ndarray | None = None
    mask: np.ndarray | None = None
    reflection: np.ndarray | None = None  # uint8, small, GT frame: the reflection layer's strength (masks.reflection_map)
    valid_fraction: float | None = None
    mask_coverage: float | None = None
    motion_fraction: float | None = None
    mask_method: MaskMethod = "default"
    figures: Figures | None = None  # what quality.assess judged
    seconds: float = 0.0
    timings: dict = field(default_factory=dict)

    def params(self) -> dict:
        """Figures beyond the Alignment columns, for Alignment.params."""
        p: dict = {"timings_s": {k: round(v, 4) for k, v in self.timings.items()}}
        if self.registration is not None:
            p.update(self.registration.figures())
            p["coarse_homography"] = self.registration.coarse_homography.tolist()
        if self.motion_fraction is not None:
            p["motion_fraction"] = round(self.motion_fraction, 5)
        if self.photometric is not None:
            p["photometric_inliers"] = round(self.photometric.inlier_fraction, 4)
        if self.figures is not None:  # the exposure and focus checks' figures, when measurable
            for key in ("exposure_ev", "detail_retained"):
                if np.isfinite(value := getattr(self.figures, key)):
                    p[key] = round(float(value), 4)
        return p


def warp_reduced(scene: SceneGT, lq: np.ndarray, H: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`lq` warped by `H` into the GT frame at the masks' reduced size, the valid area at full size
    and at that size: what the photometry and the masks of a degraded image (or a dual-pixel view) need."""
    gh, gw = scene.image.shape[:2]
    lh, lw = lq.shape[:2]
    small_size = (scene.small.shape[1], scene.small.shape[0])
    a_s = render_aligned(lq, H, (0, 0, gw, gh), small_size)
    valid = valid_area(H, (lw, lh), (gw, gh))
    v_s = valid_area(H, (lw, lh), small_size, gw / small_size[0]) if small_size != (gw, gh) else valid
    return a_s, valid, v_s


def photometry(scene: SceneGT, a_s: np.ndarray, v_s: np.ndarray) -> Photometric:
    """The glass and exposure's global gain/offset between the reduced aligned copy and the GT's."""
    return fit_photometric(a_s, scene.small, v_s, full_scale(scene.image))


def align_pair(
    scene: SceneGT,
    lq: np.ndarray,
    quality: AlignSettings = AlignSettings(),
    mask_method: MaskMethod = "default",
    mask_params: masks.MaskParams = masks.MaskParams(),
) -> PairOutcome:
    """Align a degraded shot onto its scene's GT; never raises for bad input, it reports it."""
    if mask_method not in values(MaskMethod):
        raise ValueError(f"mask method {mask_method!r}; expected one of {values(MaskMethod)}")
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    gt = scene.image
    gh, gw = gt.shape[:2]
    lh, lw = lq.shape[:2]

    def done(out: PairOutcome) -> PairOutcome:
        out.seconds = time.perf_counter() - t0
        out.timings = timings
        out.mask_method = mask_method
        return out

    if min(gh, gw) < 64:
        return done(PairOutcome("failed", f"GT image is {gw}x{gh}; too small to align (at least 64 px a side)"))
    if (lh, lw) != (gh, gw):
        return done(PairOutcome("failed", f"degraded image is {lw}x{lh} but its GT is {gw}x{gh}; a pair must be shot at one size"))
    if lq.dtype != gt.dtype:
        return done(PairOutcome("failed", f"degraded image is {lq.dtype} but its GT is {gt.dtype}; develop both the same way"))
    try:
        reg = register(scene.reference, lq)
    except RegistrationFailed as exc:
        return done(PairOutcome("failed", str(exc)))
    # after registration, so that a blank frame (grey too) is called featureless, which says more
    if problem := colour_mismatch(scene.greyscale, is_greyscale(lq)):
        return done(PairOutcome("failed", problem))
    timings["register"] = time.perf_counter() - t0
    H = reg.homography

    t = time.perf_counter()
    a_s, valid, v_s = warp_reduced(scene, lq, H)
    aligned = render_aligned(lq, H, (0, 0, gw, gh)) if mask_method == "agan" else None
    timings["warp"] = time.perf_counter() - t

    t = time.perf_counter()
    photo = photometry(scene, a_s, v_s)
    analysis, shot = side_by_side(
        lambda: masks.analyse(a_s, scene.reduced, v_s, valid, photo, mask_params),
        lambda: exposure_focus.measure(a_s, scene.bands, v_s),
        workers=threads(),
    )
    mask = analysis.mask if mask_method == "default" else masks.agan_mask(aligned, gt, valid)
    timings["masks"] = time.perf_counter() - t

    n_valid = int(np.count_nonzero(v_s))
    valid_fraction = n_valid / v_s.size
    coverage = float(np.count_nonzero(mask)) / max(1, int(np.count_nonzero(valid)))
    gain, offset = photo.rgb()
    figures = Figures(
        n_inliers=reg.n_inliers,
        inlier_ratio=reg.inlier_ratio,
        reproj_error=reg.reproj_error,
        valid_fraction=valid_fraction,
        motion_fraction=analysis.motion_fraction,
        gain=gain,
        offset=offset,
        mask_coverage=coverage,
        exposure_ev=shot.exposure_ev,
        detail_retained=shot.detail_retained,
    )
    status, reason = assess(figures, quality)
    return done(
        PairOutcome(
            status,
            reason,
            homography=H,
            registration=reg,
            photometric=photo,
            aligned=aligned,
            valid=valid,
            mask=mask,
            reflection=analysis.reflection,
            valid_fraction=valid_fraction,
            mask_coverage=coverage,
            motion_fraction=analysis.motion_fraction,
            figures=figures,
        )
    )
