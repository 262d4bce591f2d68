"""Rain accumulation: the veil of many distant drops, like fog (seeds/003 GT-Rain).

Far away, streaks are too small and too many to see one by one; together they scatter light like a
haze: the scene's radiance is attenuated with distance and replaced by the airlight,

    I = J t + A (1 - t),    t = exp(-beta d),

which lifts the dark tones and flattens contrast, the more the farther. The simulator's scenes have
no depth map, so `d` is a smooth proxy: larger towards the top of the frame (the horizon and sky are
far, the ground is near) with low-frequency variation. Pure numpy/OpenCV.
"""

from __future__ import annotations

import cv2
import numpy as np

from hardware.sim.params import DegradationParams


def depth_proxy(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """float32 HxW in [0, 1]: 1 far (top), 0 near (bottom), with smooth irregularity."""
    rows = np.linspace(1.0, 0.0, height, dtype=np.float32)[:, None] ** 1.5
    small = rng.uniform(-1, 1, (6, 8)).astype(np.float32)
    wobble = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(rows + 0.12 * wobble, 0.0, 1.0)


def render_transmission(width: int, height: int, params: DegradationParams, rng: np.random.Generator) -> np.ndarray:
    """t (float32 HxW, 0..1]: the fraction of the scene's light that reaches the camera."""
    d = depth_proxy(width, height, rng)
    return np.exp(-params.accumulation_density * (0.15 + 0.85 * d)).astype(np.float32)


def apply_accumulation(linear: np.ndarray, t: np.ndarray, airlight: float) -> None:
    """In place on a linear RGB image: I = J t + A (1 - t)."""
    linear *= t[..., None]
    linear += np.float32(airlight) * (1.0 - t)[..., None]
