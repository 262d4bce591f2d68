"""One degraded shot: the GT scene photographed through wet, reflecting glass, with its exact truth."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from hardware.sim.camera import add_noise, camera_motion, expose, to_linear, to_srgb
from hardware.sim.params import REFERENCE_WIDTH, DegradationParams
from hardware.sim.accumulation import apply_accumulation, render_transmission
from hardware.sim.raindrops import render_drops
from hardware.sim.reflections import render_reflection
from hardware.sim.streaks import render_streaks


@dataclass
class Degraded:
    """A degraded frame and its truth. Truth layers are in the GT frame (warped with `homography`)."""

    image: np.ndarray  # uint8 HxWx3 RGB, what the sensor records (before JPEG encoding)
    homography: np.ndarray  # float64 3x3, degraded pixel -> GT pixel
    raindrop_mask: np.ndarray  # uint8 HxW, 255 where the water layer's opacity >= params.mask_threshold
    raindrop_alpha: np.ndarray  # float32 HxW, opacity of the defocused water layer
    reflection: np.ndarray  # float32 HxWx3, the added reflected light (linear, before exposure drift)
    params: DegradationParams
    drops: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.float32))  # x, y, r in the GT frame
    streak_alpha: np.ndarray | None = None  # float32 HxW, GT frame: opacity of the rain streaks (None: no streaks)
    transmission: np.ndarray | None = None  # float32 HxW, GT frame: t of the accumulation veil (None: no veil)
    # Dual pixel: "left"/"right" -> what the sensor records through that half of the aperture (uint8 RGB,
    # the degraded frame, exposed like `image`, which is their mean in linear light), and each view's
    # raindrop mask in the GT frame (the drops sit elsewhere in each view). Empty for an ordinary shot.
    views: dict[str, np.ndarray] = field(default_factory=dict)
    view_masks: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def valid(self) -> np.ndarray:
        """uint8 HxW, 255 where the GT frame is seen by the degraded frame (camera motion crops the edges)."""
        h, w = self.raindrop_mask.shape
        ones = np.full((h, w), 255, np.uint8)
        return cv2.warpPerspective(ones, self.homography, (w, h), flags=cv2.INTER_NEAREST, borderValue=0)


def _streams(seed: int) -> list[np.random.Generator]:
    """Independent generators for motion, drops, reflection, noise, streaks, accumulation and the noise
    of the left and right dual-pixel views: turning one effect off keeps the others (the first four
    are what they were before streaks existed, the first six before dual pixel: spawn(8)[:6] == spawn(6))."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(8)]


def render_degraded(
    gt: np.ndarray,
    params: DegradationParams,
    seed: int,
    reflection_scene: np.ndarray | None = None,
    dual_pixel: bool = False,
) -> Degraded:
    """Photograph the GT scene again through wet glass, the light-blocking box removed.

    The camera has moved by a small homography; the glass transmits part of the light, the water on
    it bends and defocuses, the glass reflects the camera side; the body's exposure and white balance
    drift and the sensor adds noise. `reflection_scene` is what lies behind the camera (any size,
    sRGB uint8); by default one is rendered from the seed.

    `dual_pixel`: also the two half-aperture views (`Degraded.views`). The defocused layers (drops,
    reflection) are blurred by the left and the right half of their defocus disk, so they move apart
    between the views in proportion to their blur radius while the focused scene stays put; each view
    gets its own sensor noise at twice the variance (half the light each, scaled to the same
    exposure) and `image` is their mean, the ordinary combined picture.
    """
    if gt.ndim != 3 or gt.shape[2] != 3 or gt.dtype != np.uint8:
        raise ValueError(f"gt must be an RGB uint8 image, got {gt.dtype} {gt.shape}")
    height, width = gt.shape[:2]
    px = width / REFERENCE_WIDTH
    motion_rng, drop_rng, reflection_rng, noise_rng, streak_rng, veil_rng, left_rng, right_rng = _streams(seed)

    homography = camera_motion(motion_rng, width, height, params.motion_px * px)
    seen = cv2.warpPerspective(
        gt, homography, (width, height), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT
    )
    linear = to_linear(seen)
    # The air between scene and glass: the veil of distant rain, then the streaks of near drops.
    t = None
    if params.accumulation:
        t = render_transmission(width, height, params, veil_rng)
        apply_accumulation(linear, t, params.accumulation_airlight)
    streak = None
    if params.streaks and params.streak_count > 0:
        streak = render_streaks(width, height, params, streak_rng)
        linear *= (1.0 - streak)[..., None]
        linear += np.float32(params.streak_brightness) * streak[..., None]
    linear *= np.float32(params.transmission) * np.asarray(params.glass_tint, np.float32)

    behind = linear.copy() if dual_pixel else None  # what the glass transmits, before the water
    alpha = np.zeros((height, width), np.float32)
    drops = np.zeros((0, 3), np.float32)
    halves: dict = {}
    if params.drops and params.drop_count + params.flow_traces > 0:
        layer = render_drops(linear, params, drop_rng, dual_pixel=dual_pixel)
        linear *= (1.0 - layer.alpha)[..., None]
        linear += layer.color
        alpha, drops, halves = layer.alpha, layer.drops, layer.halves

    reflection = np.zeros((height, width, 3), np.float32)
    if params.reflection and params.reflection_strength > 0:
        if reflection_scene is None:
            from hardware.sim.scenes import CATEGORIES, render_scene  # scenes are heavy: only when needed

            category = CATEGORIES[int(reflection_rng.integers(len(CATEGORIES)))]
            reflection_scene = render_scene(category, max(64, width // 4), max(64, height // 4), int(reflection_rng.integers(2**31)))
        reflection = render_reflection(reflection_scene, width, height, params, reflection_rng, dual_pixel=dual_pixel)
        if dual_pixel:
            reflection_halves, reflection = reflection, reflection["full"]
        linear += reflection

    views: dict[str, np.ndarray] = {}
    view_alpha: dict[str, np.ndarray] = {}
    if dual_pixel:
        seen = []
        for half, rng in (("left", left_rng), ("right", right_rng)):
            view = behind.copy()
            view_alpha[half] = alpha
            if half in halves:
                view_alpha[half], color = halves[half]
                view *= (1.0 - view_alpha[half])[..., None]
                view += color
            if reflection.any():
                view += reflection_halves[half]
            expose(view, params.exposure_ev, params.wb_gains)
            if params.noise:  # half the photons, scaled to full exposure: twice the variance
                add_noise(view, rng, 2.0 * params.noise_shot, params.noise_read * np.sqrt(2.0))
            views[half] = to_srgb(view)
            seen.append(view)
        image = to_srgb((seen[0] + seen[1]) * np.float32(0.5))
    else:
        expose(linear, params.exposure_ev, params.wb_gains)
        if params.noise:
            add_noise(linear, noise_rng, params.noise_shot, params.noise_read)
        image = to_srgb(linear)

    to_gt = dict(dsize=(width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    alpha_gt = cv2.warpPerspective(alpha, homography, **to_gt)
    mask = np.where(alpha_gt >= params.mask_threshold, np.uint8(255), np.uint8(0))
    reflection_gt = cv2.warpPerspective(reflection, homography, **to_gt) if reflection.any() else reflection
    if len(drops):
        pts = cv2.perspectiveTransform(drops[None, :, :2].astype(np.float64), homography)[0]
        drops = np.concatenate([pts.astype(np.float32), drops[:, 2:]], axis=1)
    streak_gt = cv2.warpPerspective(streak, homography, **to_gt) if streak is not None else None
    t_gt = cv2.warpPerspective(t, homography, dsize=(width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE) if t is not None else None
    view_masks = {
        half: np.where(cv2.warpPerspective(a, homography, **to_gt) >= params.mask_threshold, np.uint8(255), np.uint8(0))
        for half, a in view_alpha.items()
    }
    return Degraded(
        views=views,
        view_masks=view_masks,
        image=image,
        streak_alpha=streak_gt,
        transmission=t_gt,
        homography=homography,
        raindrop_mask=mask,
        raindrop_alpha=alpha_gt,
        reflection=reflection_gt,
        params=params,
        drops=drops,
    )
