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
    return cv2.transform(lin, _LUMA_BGR)


_LUMA_BGR = np.array([[0.0722, 0.7152, 0.2126]], np.float32)


def _unsaturated(img: np.ndarray) -> np.ndarray:
    """Pixels whose every channel is below SATURATED of full scale (one OpenCV range test: numpy's
    reduction over the last axis of a frame was the slowest step of a pair's alignment)."""
    limit = SATURATED * full_scale(img)
    if img.dtype.kind == "f":  # inRange's bounds are inclusive: the largest value below the limit
        low, top = -np.inf, float(np.nextafter(np.float32(limit), np.float32(0)))
    else:
        low, top = 0.0, float(np.ceil(limit) - 1)
    return cv2.inRange(img, (low,) * 3, (top,) * 3) > 0


class _Blocks:
    """Means over the whole side x side blocks of 2-D arrays, by OpenCV's integer area reduction (one
    pass over the frame, no per-block copies)."""

    def __init__(self, shape: tuple[int, ...], side: int):
        self.side, self.rows, self.cols = side, shape[0] // side, shape[1] // side

    def mean(self, x: np.ndarray) -> np.ndarray:
        s = self.side
        if not self.rows or not self.cols:  # a frame narrower than one block (a long thin strip)
            return np.zeros(0, np.float32)
        return cv2.resize(x[: self.rows * s, : self.cols * s], (self.cols, self.rows), interpolation=cv2.INTER_AREA).ravel()


@dataclass(frozen=True)
class _Band:
    """A GT band and its per-block mean and variance: a regression on it needs only the degraded
    shot's side per pair."""

    image: np.ndarray
    mean: np.ndarray
    var: np.ndarray

    @classmethod
    def of(cls, image: np.ndarray, blocks: _Blocks) -> "_Band":
        m = blocks.mean(image)
        return cls(image, m, np.maximum(blocks.mean(cv2.multiply(image, image)) - m * m, 0.0))

    def regress(self, a: np.ndarray, blocks: _Blocks) -> tuple[np.ndarray, np.ndarray]:
        """Per block: slope of `a` on this band, and their correlation."""
        ma = blocks.mean(a)
        va = np.maximum(blocks.mean(cv2.multiply(a, a)) - ma * ma, 0.0)
        cov = blocks.mean(cv2.multiply(a, self.image)) - ma * self.mean
        return cov / np.maximum(self.var, 1e-12), cov / np.sqrt(np.maximum(self.var * va, 1e-18))


@dataclass(frozen=True)
class GTBands:
    """What `measure` needs from the GT's reduced copy: it depends on the GT alone, so a scene computes
    it once for all its degraded shots (`prepare_gt`)."""

    shape: tuple[int, ...]
    unsaturated: np.ndarray  # bool
    coarse: _Band  # linear luma blurred at COARSE_SIGMA
    fine: _Band  # linear luma minus its blur at FINE_SIGMA
    textured: np.ndarray  # per block: coarse-band std > TEXTURED x its mean

    @property
    def blocks(self) -> _Blocks:
        return _Blocks(self.shape, block_side(self.shape))


def block_side(shape: tuple[int, ...]) -> int:
    return max(16, round(max(shape[:2]) / BLOCKS_ACROSS))


def prepare_gt(gt_s: np.ndarray) -> GTBands:
    lg = linear_luma(gt_s)
    blocks = _Blocks(gt_s.shape, block_side(gt_s.shape))
    coarse = _Band.of(cv2.GaussianBlur(lg, (0, 0), COARSE_SIGMA), blocks)
    fine = _Band.of(cv2.subtract(lg, cv2.GaussianBlur(lg, (0, 0), FINE_SIGMA)), blocks)
    textured = np.sqrt(coarse.var) > TEXTURED * (coarse.mean + 1e-3)
    return GTBands(gt_s.shape, _unsaturated(gt_s), coarse, fine, textured)


def measure(aligned_s: np.ndarray, gt_s: np.ndarray | GTBands, valid_s: np.ndarray) -> ExposureFocus:
    """Exposure (stops, degraded vs GT, glass included) and fine detail retained, from reduced copies
    (the GT's as its reduced copy or the scene's `prepare_gt` of it)."""
    g = gt_s if isinstance(gt_s, GTBands) else prepare_gt(gt_s)
    blocks = g.blocks
    la = linear_luma(aligned_s)
    usable = cv2.erode(valid_s, np.ones((7, 7), np.uint8)) > 0
    usable &= _unsaturated(aligned_s) & g.unsaturated
    whole = blocks.mean(usable.astype(np.float32)) > 0.999
    slope, corr = g.coarse.regress(cv2.GaussianBlur(la, (0, 0), COARSE_SIGMA), blocks)
    textured = whole & g.textured
    agree = textured & (corr > AGREE)
    ev = float(np.log2(np.median(slope[agree]))) if agree.sum() >= MIN_BLOCKS and np.median(slope[agree]) > 0 else float("nan")
    fine, _ = g.fine.regress(cv2.subtract(la, cv2.GaussianBlur(la, (0, 0), FINE_SIGMA)), blocks)
    coarse = float(np.median(slope[textured])) if textured.sum() >= MIN_BLOCKS else 0.0
    detail = float(np.median(fine[textured])) / coarse if coarse > 0 else float("nan")
    return ExposureFocus(ev, detail, int(agree.sum()))
