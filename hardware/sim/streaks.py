"""Rain streaks: falling drops in the air, motion-blurred by the exposure (seeds/003 GT-Rain).

A drop falling during the exposure draws a streak along its fall direction. Streaks come from
several depth layers: near drops are sparse, long, wide, defocused and bright; far drops are dense,
short, thin and faint (the streak length is the distance fallen in the exposure seen at that depth).
Each layer is drawn as anti-aliased segments, smeared along the fall direction with a line kernel
(the motion blur) and defocused in proportion to its nearness; the layers' opacities combine like
stacked semi-transparent sheets. Pure numpy/OpenCV: parameters and a generator in, an opacity map out.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from hardware.sim.params import REFERENCE_WIDTH, DegradationParams


def _line_kernel(length: int, angle_deg: float) -> np.ndarray:
    """A normalised straight-line kernel of `length` px along `angle_deg` from vertical."""
    size = max(3, length | 1)
    k = np.zeros((size, size), np.float32)
    c = size // 2
    dx = math.sin(math.radians(angle_deg)) * (size - 1) / 2
    dy = math.cos(math.radians(angle_deg)) * (size - 1) / 2
    cv2.line(k, (int(round(c - dx)), int(round(c - dy))), (int(round(c + dx)), int(round(c + dy))), 1.0, 1, cv2.LINE_AA)
    return k / max(float(k.sum()), 1e-6)


def render_streaks(width: int, height: int, params: DegradationParams, rng: np.random.Generator) -> np.ndarray:
    """Opacity (float32 HxW, 0..1) of the rain streaks in front of the scene."""
    px = width / REFERENCE_WIDTH
    alpha_clear = np.ones((height, width), np.float32)  # product of (1 - a_layer): light still passing
    layers = params.streak_layers
    area = width * height / (REFERENCE_WIDTH * REFERENCE_WIDTH * 2 / 3)
    for i in range(layers):
        near = 1.0 - i / max(1, layers - 1) if layers > 1 else 1.0  # 1 nearest .. 0 farthest
        count = int(round(params.streak_count * area * (0.25 + 0.75 * (1 - near)) / layers))
        lo, hi = params.streak_length_px
        length = (lo + (hi - lo) * near) * px
        thick = max(1, int(round(params.streak_width_px * px * (0.4 + 0.6 * near))))
        strength = params.streak_strength * (0.35 + 0.65 * near)
        layer = np.zeros((height, width), np.float32)
        angle = params.streak_angle_deg
        for _ in range(count):
            a = math.radians(angle + rng.normal(0, 3.0))
            cx, cy = rng.uniform(-0.1 * width, 1.1 * width), rng.uniform(-0.1 * height, 1.1 * height)
            seg = length * rng.uniform(0.7, 1.3) / 2
            dx, dy = math.sin(a) * seg, math.cos(a) * seg
            cv2.line(layer, (int(cx - dx), int(cy - dy)), (int(cx + dx), int(cy + dy)), float(rng.uniform(0.6, 1.0)), thick, cv2.LINE_AA)
        smear = max(3, int(round(length * 0.35)))
        layer = cv2.filter2D(layer, -1, _line_kernel(smear, angle), borderType=cv2.BORDER_CONSTANT) * min(3.0, smear / 3)
        blur = params.streak_blur_px * px * near
        if blur > 0.3:
            layer = cv2.GaussianBlur(layer, (0, 0), blur)
        alpha_clear *= 1.0 - np.clip(layer * strength, 0.0, 1.0)
    return (1.0 - alpha_clear).astype(np.float32)
