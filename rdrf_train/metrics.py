"""Full-reference metrics of the paper's Table 2 that need no downloaded weights: PSNR and SSIM, in
the conventions papers report them in - they differ by up to a few tenths of a dB and a few 0.01 SSIM,
so every figure `rdrf eval` prints is named by its convention (`CONVENTIONS`) and none are mixed.

Inputs: RGB, float in [0, 1] (the restored image clipped to [0, 1] and rounded to 8 bits, as
`rdrf restore` writes it).
- RGB (`psnr`, `ssim`), data range 1. PSNR = 10 log10(1 / MSE) over all pixels and the three
  channels; equals scikit-image's `peak_signal_noise_ratio(gt, out, data_range=1)`. SSIM follows
  Wang et al. (2004): an 11x11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, population
  covariances, the mean SSIM map without the window's half-width border, averaged over the
  channels; equals `structural_similarity(gt, out, data_range=1, channel_axis=-1,
  gaussian_weights=True, sigma=1.5, use_sample_covariance=False)`.
- Y (`colour="y"`): the same on the BT.601 luma of MATLAB's `rgb2ycbcr`,
  Y = 16 + 65.481 R + 128.553 G + 24.966 B in [16, 235] for R, G, B in [0, 1] (here divided by 255),
  not rounded - BasicSR's `test_y_channel`, the convention DRSformer and AGAN report.
- pyiqa (`ssim_pyiqa`): `pyiqa.create_metric("ssim")` (SSIM with test_y_channel=True,
  color_space="yiq", downsample=False): Y of YIQ, 0.299 R + 0.587 G + 0.114 B, times 255 and
  rounded; data range 255; the same window; the contrast-structure term clipped at 0 before the
  product (pyiqa's `relu`); the mean over the valid region.

`valid` (optional, every function): a boolean (H, W) mask of the pixels to score - the area the
degraded shot covers after warping (RealBlur's practice for real pairs whose warp leaves borders):
PSNR's MSE and SSIM's map are averaged over it (SSIM still computed on the whole image, its map
read where `valid` is true, away from the window's half-width border).

LPIPS needs an ImageNet backbone and the LPIPS linear layers, which no reachable registry ships:
it is computed only when the user supplies weights (see `rdrf_train.evaluate`).
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

Colour = Literal["rgb", "y"]


CONVENTIONS = {
    "psnr": "PSNR on RGB, data range 1, all pixels and channels",
    "ssim": "SSIM on RGB (11x11 Gaussian, sigma 1.5, K1 0.01, K2 0.03), mean over the channels",
    "psnr_y": "PSNR on BT.601 Y = 16 + 65.481 R + 128.553 G + 24.966 B (RGB in [0,1], not rounded; BasicSR test_y_channel, as DRSformer/AGAN)",
    "ssim_y": "SSIM on that BT.601 Y",
    "ssim_pyiqa": "pyiqa 'ssim': Y of YIQ (0.299 R + 0.587 G + 0.114 B) x 255 rounded, data range 255, contrast term clipped at 0",
}


def full_reference(gt: np.ndarray, out: np.ndarray, valid: np.ndarray | None = None) -> dict[str, float]:
    """Every figure of `CONVENTIONS` for one image pair, by its key (over `valid` when given)."""
    return {
        "psnr": psnr(gt, out, valid=valid), "ssim": ssim(gt, out, valid=valid),
        "psnr_y": psnr(gt, out, colour="y", valid=valid), "ssim_y": ssim(gt, out, colour="y", valid=valid),
        "ssim_pyiqa": ssim_pyiqa(gt, out, valid=valid),
    }


def to_luma(img: np.ndarray) -> np.ndarray:
    """RGB [0, 1] -> BT.601 Y in [16/255, 235/255] (MATLAB rgb2ycbcr), shape (H, W)."""
    return (16.0 + img[..., 0] * 65.481 + img[..., 1] * 128.553 + img[..., 2] * 24.966) / 255.0


def _prepare(gt: np.ndarray, out: np.ndarray, colour: Colour) -> tuple[np.ndarray, np.ndarray]:
    if gt.shape != out.shape:
        raise ValueError(f"images differ in shape: {gt.shape} vs {out.shape}")
    gt, out = gt.astype(np.float64), out.astype(np.float64)
    if colour == "y":
        gt, out = to_luma(gt), to_luma(out)
    return gt, out


def psnr(gt: np.ndarray, out: np.ndarray, colour: Colour = "rgb", data_range: float = 1.0, valid: np.ndarray | None = None) -> float:
    gt, out = _prepare(gt, out, colour)
    sq = (gt - out) ** 2
    mse = float(np.mean(sq if valid is None else sq[valid]))
    if mse == 0:
        return float("inf")
    return 10.0 * np.log10(data_range**2 / mse)


def _ssim_channel(x: np.ndarray, y: np.ndarray, data_range: float, clip_cs: bool = False, valid: np.ndarray | None = None) -> float:
    sigma, truncate = 1.5, 3.5
    radius = int(truncate * sigma + 0.5)  # scipy's gaussian_filter radius, as scikit-image uses
    win = 2 * radius + 1

    def blur(a: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(a, (win, win), sigma, borderType=cv2.BORDER_REFLECT)

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    ux, uy = blur(x), blur(y)
    vx = blur(x * x) - ux * ux
    vy = blur(y * y) - uy * uy
    vxy = blur(x * y) - ux * uy
    if clip_cs:  # pyiqa's convention: luminance term x contrast-structure term clipped at 0
        s = (2 * ux * uy + c1) / (ux * ux + uy * uy + c1) * np.maximum((2 * vxy + c2) / (vx + vy + c2), 0.0)
    else:
        s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    pad = (win - 1) // 2
    inner = s[pad:-pad, pad:-pad]
    if valid is None:
        return float(inner.mean())
    return float(inner[valid[pad:-pad, pad:-pad]].mean())


def ssim(gt: np.ndarray, out: np.ndarray, colour: Colour = "rgb", data_range: float = 1.0, valid: np.ndarray | None = None) -> float:
    gt, out = _prepare(gt, out, colour)
    if gt.ndim == 2:
        return _ssim_channel(gt, out, data_range, valid=valid)
    return float(np.mean([_ssim_channel(gt[..., c], out[..., c], data_range, valid=valid) for c in range(gt.shape[-1])]))


def quantize(img: np.ndarray, bits: int = 8) -> np.ndarray:
    """Clip to [0, 1] and round to `bits`: what a saved image holds."""
    levels = (1 << bits) - 1
    return np.round(np.clip(img, 0.0, 1.0) * levels) / levels


def ssim_pyiqa(gt: np.ndarray, out: np.ndarray, valid: np.ndarray | None = None) -> float:
    """SSIM as `pyiqa.create_metric("ssim")` computes it (see the module docstring)."""
    if gt.shape != out.shape:
        raise ValueError(f"images differ in shape: {gt.shape} vs {out.shape}")
    weights = np.array([0.299, 0.587, 0.114])
    luma = lambda img: np.round(img.astype(np.float64) @ weights * 255.0)  # noqa: E731
    return _ssim_channel(luma(gt), luma(out), 255.0, clip_cs=True, valid=valid)
