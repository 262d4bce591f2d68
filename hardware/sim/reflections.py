"""Reflections from the camera side: the scene behind the photographer, mirrored by the glass.

The reflected objects are much nearer than the focused background, so they are defocused; the two
surfaces of the slab each reflect, giving the double image whose offset grows with thickness and
tilt; Fresnel reflectance grows with the tilt; the light behind the camera is uneven, so the layer's
strength varies smoothly over the frame. Rotating the glass moves the reflected view.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from hardware.sim.camera import Aperture, defocus, to_linear
from hardware.sim.params import REFERENCE_WIDTH, DegradationParams

_FRESNEL_NORMAL = ((1.52 - 1) / (1.52 + 1)) ** 2


def smooth_field(rng: np.random.Generator, width: int, height: int, cells: int, low: float, high: float) -> np.ndarray:
    """A smooth random field in [low, high] (bicubic upsampling of a coarse grid)."""
    gw = cells + 2
    gh = max(3, int(round(gw * height / max(width, 1))))
    grid = rng.random((gh, gw)).astype(np.float32)
    field = cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(low + (high - low) * field, low, high)


def render_reflection(scene: np.ndarray, width: int, height: int, params: DegradationParams, rng: np.random.Generator,
                      dual_pixel: bool = False):
    """The reflected layer added to the frame (linear float32 HxWx3) from an sRGB reflected scene.

    With `dual_pixel`, a dict of that layer through the full aperture and each half of it ("full",
    "left", "right"): the reflected objects are nearer than the focus plane, so like the drops they
    move apart between the views by their defocus; the draws from `rng` are the same either way."""
    px = width / REFERENCE_WIDTH
    blur = params.reflection_blur_px * px
    factor = int(min(8, max(1, blur // 2)))
    ww, wh = max(1, width // factor), max(1, height // factor)

    source = to_linear(np.ascontiguousarray(scene[:, ::-1]))  # a mirror flips left-right
    sh, sw = source.shape[:2]
    zoom = max(ww / sw, wh / sh) * rng.uniform(1.05, 1.6)
    sx, sy = (s * px / factor for s in params.reflection_shift_px)
    m = np.array([[zoom, 0, (ww - zoom * sw) / 2 + sx], [0, zoom, (wh - zoom * sh) / 2 + sy]], np.float32)
    sharp = cv2.warpAffine(source, m, (ww, wh), flags=cv2.INTER_AREA if zoom < 1 else cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    front, back = params.fresnel()
    ghost = params.ghost_px() * px / factor
    d = math.radians(params.ghost_dir_deg)
    shift = np.array([[1, 0, ghost * math.cos(d)], [0, 1, ghost * math.sin(d)]], np.float32)
    weights: np.ndarray | None = None

    def seen(half: Aperture) -> np.ndarray:
        nonlocal weights
        layer = defocus(sharp, blur / factor, half)
        second = cv2.warpAffine(layer, shift, (ww, wh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        layer = (layer + np.float32(back / front) * second) / np.float32(1 + back / front)
        if weights is None:  # drawn once, after the blur as it always was: every view gets the same field
            strength = params.reflection_strength * front / _FRESNEL_NORMAL
            weights = (np.float32(strength) * smooth_field(rng, ww, wh, 2, 0.35, 1.0))[..., None]
        layer *= weights
        if factor > 1:
            layer = cv2.resize(layer, (width, height), interpolation=cv2.INTER_LINEAR)
        return layer

    return seen("full") if not dual_pixel else {half: seen(half) for half in ("full", "left", "right")}
