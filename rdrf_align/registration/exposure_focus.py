"""Exposure and focus of the degraded shot relative to its GT, from local fits in linear light.

Through the glass, a scene point's light is multiplied by the glass transmission and the exposure
(and white balance) of the shot, and the reflection adds light that is smooth (defocused) across a
small block. So in each small block of the aligned pair, in linear light,

    degraded ~= slope * GT + constant,  slope = transmission x 2^EV

and the slope is blind to the reflection (the constant) and to the sensor noise (it is a regression
of the degraded shot on the GT). The photometric model's gain (photometric.py) is a global fit in
the encoded values: a reflection's added light lowers it, dense drops pull it, and the tone curve
makes a stop of exposure worth a different gain at every brightness, so it cannot say how many
stops the exposure changed. This module can:

- `exposure_ev`: log2 of the median slope over blocks where degraded and GT agree (correlation
  near 1: no drop, no moving object, no misalignment there) - the exposure drift plus the glass's
  transmission (about -0.15 to -0.25 EV for clean 3-8 mm float glass), in stops;
- `detail_retained`: the same regression on the fine band (the image minus its blur), relative to
  the coarse slope: the fraction of the scene's fine detail the degraded shot still shows. About
  0.5-0.8 for an in-focus shot (interpolation, JPEG and water take some), near 0 when the scene
  behind the glass is out of focus. A median over all textured blocks, so drops (which blur what
  they cover) and the odd bad block do not decide it while they cover less than half the frame.

Both work on the reduced copies the masks use (at most 1600 px on the long side).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from schemas.imageio import full_scale, to_float

BLOCKS_ACROSS = 30  # block side = long side / this (24 px at 720 wide), at least 16 px
COARSE_SIGMA = 2.0  # px of the reduced copy: the band exposure is measured in
FINE_SIGMA = 1.0  # the fine band is the image minus its blur at this scale
AGREE = 0.95  # blocks with this correlation (coarse band) measure the exposure
TEXTURED = 0.1  # a block's coarse-band std / mean: enough texture for a slope
MIN_BLOCKS = 5
SATURATED = 0.98  # of full scale: clipped pixels say nothing about the exposure


@dataclass(frozen=True)
class ExposureFocus:
    exposure_ev: float  # NaN when too few blocks could be measured
    detail_retained: float  # NaN likewise
    blocks: int  # blocks that measured the exposure


_LINEAR: dict[np.dtype, np.ndarray] = {}


def _linear_table(dtype: np.dtype) -> np.ndarray:
    """The sRGB decoding of every code value of `dtype` (float32): a table, so a frame costs a lookup
    per pixel instead of a power (the same float32 arithmetic, so the same values)."""
    if dtype not in _LINEAR:
        v = to_float(np.arange(int(full_scale(np.zeros(1, dtype))) + 1, dtype=dtype))
        _LINEAR[dtype] = np.where(v <= 0.04045, v / 12.92, np.power((v + 0.055) / 1.055, 2.4, dtype=np.float32)).astype(np.float32)
    return _LINEAR[dtype]


def linear_luma(img: np.ndarray) -> np.ndarray:
    """Luma in linear light (float32), decoding the sRGB transfer curve both shots were encoded with."""
    table = _linear_table(img.dtype)
    lin = cv2.LUT(img, table) if img.dtype == np.uint8 else table.take(img)
    b, g, r = cv2.split(lin)
    return 0.0722 * b + 0.7152 * g + 0.2126 * r


def _unsaturated(img: np.ndarray) -> np.ndarray:
    """Pixels whose every channel is below SATURATED of full scale (channel max with OpenCV: numpy's
    reduction over the last axis of a frame was the slowest step of a pair's alignment)."""
    b, g, r = cv2.split(img)
    return cv2.max(cv2.max(b, g), r) < SATURATED * full_scale(img)


def _blocks(x: np.ndarray, side: int) -> np.ndarray:
    """(n_blocks, side * side) view of the whole blocks of a 2-D array."""
    h, w = x.shape
    hb, wb = h // side, w // side
    return x[: hb * side, : wb * side].reshape(hb, side, wb, side).transpose(0, 2, 1, 3).reshape(hb * wb, side * side)


def _regress(a: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: slope of a on g, and their correlation."""
    da, dg = a - a.mean(axis=1, keepdims=True), g - g.mean(axis=1, keepdims=True)
    vg, va, cov = (dg * dg).mean(axis=1), (da * da).mean(axis=1), (da * dg).mean(axis=1)
    return cov / np.maximum(vg, 1e-12), cov / np.sqrt(np.maximum(vg * va, 1e-18))


@dataclass(frozen=True)
class GTBands:
    """What `measure` needs from the GT's reduced copy: it depends on the GT alone, so a scene computes
    it once for all its degraded shots (`prepare_gt`)."""

    shape: tuple[int, ...]
    unsaturated: np.ndarray  # bool
    coarse: np.ndarray  # linear luma blurred at COARSE_SIGMA
    fine: np.ndarray  # linear luma minus its blur at FINE_SIGMA


def prepare_gt(gt_s: np.ndarray) -> GTBands:
    lg = linear_luma(gt_s)
    return GTBands(gt_s.shape, _unsaturated(gt_s), cv2.GaussianBlur(lg, (0, 0), COARSE_SIGMA), lg - cv2.GaussianBlur(lg, (0, 0), FINE_SIGMA))


def measure(aligned_s: np.ndarray, gt_s: np.ndarray | GTBands, valid_s: np.ndarray) -> ExposureFocus:
    """Exposure (stops, degraded vs GT, glass included) and fine detail retained, from reduced copies
    (the GT's as its reduced copy or the scene's `prepare_gt` of it)."""
    g = gt_s if isinstance(gt_s, GTBands) else prepare_gt(gt_s)
    side = max(16, round(max(g.shape[:2]) / BLOCKS_ACROSS))
    la = linear_luma(aligned_s)
    usable = cv2.erode(valid_s, np.ones((7, 7), np.uint8)) > 0
    usable &= _unsaturated(aligned_s) & g.unsaturated
    whole = _blocks(usable.astype(np.float32), side).mean(axis=1) > 0.999
    ca = cv2.GaussianBlur(la, (0, 0), COARSE_SIGMA)
    cg_b = _blocks(g.coarse, side)[whole]
    slope, corr = _regress(_blocks(ca, side)[whole], cg_b)
    textured = cg_b.std(axis=1) > TEXTURED * (cg_b.mean(axis=1) + 1e-3)
    agree = textured & (corr > AGREE)
    ev = float(np.log2(np.median(slope[agree]))) if agree.sum() >= MIN_BLOCKS and np.median(slope[agree]) > 0 else float("nan")
    fa = la - cv2.GaussianBlur(la, (0, 0), FINE_SIGMA)
    fine, _ = _regress(_blocks(fa, side)[whole][textured], _blocks(g.fine, side)[whole][textured])
    coarse = float(np.median(slope[textured])) if textured.sum() >= MIN_BLOCKS else 0.0
    detail = float(np.median(fine)) / coarse if coarse > 0 else float("nan")
    return ExposureFocus(ev, detail, int(agree.sum()))
