"""The photometric model: per channel, GT ~= gain * aligned + offset.

Glass transmission, exposure and white-balance drift between the GT and a degraded shot are global
and linear to first order. Raindrops and reflections are local departures from that line, so the fit
is robust (Tukey biweight IRLS, started from quantile matching, which neither the drops nor small
misalignments can pull far). Values are in units of the image's full scale (0..1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from schemas.imageio import channel_max

MAX_SAMPLES = 8_000


@dataclass(frozen=True)
class Photometric:
    gain: np.ndarray  # (3,) BGR order, as the arrays are held
    offset: np.ndarray  # (3,) in full-scale units
    inlier_fraction: float

    def rgb(self) -> tuple[list[float], list[float]]:
        """Gain and offset in R, G, B order, for the catalogue."""
        return [round(float(g), 5) for g in self.gain[::-1]], [round(float(o), 5) for o in self.offset[::-1]]


def _fit_channel(x: np.ndarray, y: np.ndarray, iterations: int = 8) -> tuple[float, float, np.ndarray]:
    qs = np.linspace(0.05, 0.95, 19)
    qx, qy = np.quantile(x, qs), np.quantile(y, qs)
    if np.ptp(qx) < 1e-6:
        g, b = 1.0, float(np.median(y - x))
    else:
        g, b = np.polyfit(qx, qy, 1)
    w = np.ones_like(x)
    for _ in range(iterations):
        r = y - (g * x + b)
        s = 1.4826 * np.median(np.abs(r)) + 1e-4
        u = r / (4.685 * s)
        w = np.where(np.abs(u) < 1, (1 - u * u) ** 2, 0.0)
        sw = w.sum()
        if sw < 10:
            break
        mx, my = (w * x).sum() / sw, (w * y).sum() / sw
        vx = (w * (x - mx) ** 2).sum()
        if vx < 1e-9:
            g, b = 1.0, my - mx
            break
        g = (w * (x - mx) * (y - my)).sum() / vx
        b = my - g * mx
    return float(g), float(b), w > 0


def fit_photometric(aligned: np.ndarray, gt: np.ndarray, valid: np.ndarray, scale: float = 255.0) -> Photometric:
    """Fit on a regular sample of valid, unsaturated pixels (the model has 6 numbers; ~20k samples
    pin them down far below the noise). `aligned` and `gt` are integer or float images of one
    size; values are divided by `scale`."""
    h, w = gt.shape[:2]
    step = max(1, int(np.sqrt(h * w / (2 * MAX_SAMPLES))))
    a = aligned[::step, ::step].reshape(-1, 3).astype(np.float64) / scale
    g = gt[::step, ::step].reshape(-1, 3).astype(np.float64) / scale
    ok = valid[::step, ::step].reshape(-1) > 0
    ok &= (channel_max(a) < 0.98) & (channel_max(g) < 0.98)
    a, g = a[ok], g[ok]
    if len(a) < 100:
        return Photometric(np.ones(3), np.zeros(3), 0.0)
    gains, offsets, inl = [], [], np.ones(len(a), bool)
    for c in range(3):
        gc, bc, ic = _fit_channel(a[:, c], g[:, c])
        gains.append(gc)
        offsets.append(bc)
        inl &= ic
    return Photometric(np.array(gains), np.array(offsets), float(inl.mean()))
