"""Scene motion: did something in the scene move between the GT and the degraded shot?

A moved car, person or branch is in focus behind the glass and changes *all* of its footprint: the
GT shows it at one place and the background at the other, so the change there is solid, wider than
any drop, and carries in-focus detail that is not the GT's. Water on the glass is made of compact,
defocused lenses: even dense drops leave the scene visible between them, a cluster of drops is many
blobs with clear glass in the gaps, and the merged regions the mask's closing makes of them are
mostly unchanged pixels. What looked like the best cue - sharpness over a merged region - is not:
each drop shows a flipped, minified view of the scene and its rim, which is as detailed as an
in-focus scene at these sizes (measured: good dense-drop regions 24-92 % "sharp", moving objects
21-92 %, docs/NOTES.md).

So the figure is the area of *solid change*: the hysteresis change mask with gaps narrower than
`bridge` closed (an object's own pixels that happen to match the old background) and holes up to
half a drop filled (a drop's interior may look like the scene), then the pixels whose surrounding
`window` (wider than most drops) is at least `solid` changed. A component of that counts when it is
larger than the largest drop (one drop's lens cannot be that big) and a quarter of it shows
in-focus detail that the GT has not there (`sharp_change`, minus where the GT's own detail still
shows through: a tinted sign under a reflection has changed colours, not content). Every size is a
fraction of the long side, so the cue is the same from 720x480 to 9504x6336.

Measured on bench.qc's 200 good and 40 moving-object pairs (720x480, seed sets 0 and 1): good
pairs <= 0.0044 of the valid area (198 of them 0), moving objects >= 0.0074 (the next 0.016); the
old merged-region cue gave good pairs up to 0.092 and objects from 0.047. The in-focus share does
not separate anything on the renderer (0 instead of 0.25: the same extremes): it is the guard
against a solid change that is defocused (a water film, a strong blurred reflection). The limit is
density: drop-sized blobs dropped at random stay under 0.006 while they change up to ~45% of the
frame (the renderer's densest good pairs: 28%), and read as solid above ~50%.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np


@dataclass(frozen=True)
class MotionParams:
    bridge: float = 0.002  # gaps closed inside a changed region, / long side
    hole: float = 0.03  # holes filled up to this diameter (half the largest drop), / long side
    window: float = 0.04  # a pixel is solid change when this window around it ...
    solid: float = 0.9  # ... is at least this much changed
    sharp_share: float = 0.25  # a solid component is in focus when this share of it has new sharp detail


def sharp_change(da: np.ndarray, dg: np.ndarray, changed: np.ndarray) -> np.ndarray:
    """Changed pixels whose degraded side is about as detailed as the scene there (or detailed where
    the GT is flat). Raindrops are out-of-focus lenses and reflections are defocused; something
    that moved in the scene is in focus."""
    return (changed > 0) & (da > np.maximum(0.6 * dg, 0.04))


def _fill_small_holes(mask: np.ndarray, max_px: int) -> np.ndarray:
    """`mask` (0/255) with every enclosed hole of at most `max_px` pixels filled."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(cv2.bitwise_not(mask), connectivity=4)
    h, w = mask.shape
    x, y, bw, bh, area = (stats[:, i] for i in range(5))
    inner = (x > 0) & (y > 0) & (x + bw < w) & (y + bh < h) & (area <= max_px)  # touches no border
    inner[0] = False  # label 0 is the mask itself (the zeros of its inverse)
    fill = np.where(inner, 255, 0).astype(np.uint8).take(labels)
    return cv2.bitwise_or(mask, fill)


def solid_change(changed: np.ndarray, params: MotionParams = MotionParams()) -> np.ndarray:
    """0/255: where the change is solid over a window wider than most drops (module docstring)."""
    long_side = max(changed.shape)
    r = max(1, round(params.bridge * long_side))
    m = cv2.morphologyEx(changed, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    m = _fill_small_holes(m, round(np.pi / 4 * (params.hole * long_side) ** 2))
    k = max(3, round(params.window * long_side)) | 1
    density = cv2.blur(m, (k, k), borderType=cv2.BORDER_REFLECT)  # uint8: 255 x the changed share
    return cv2.compare(density, params.solid * 255, cv2.CMP_GE)


def scene_motion(
    changed: np.ndarray,
    da: np.ndarray | Callable[[], np.ndarray],
    dg: np.ndarray,
    kept: np.ndarray,
    valid: np.ndarray,
    max_drop: float,
    params: MotionParams = MotionParams(),
) -> float:
    """The share of the valid area that changed solidly, in components larger than a drop, with
    in-focus detail the GT has not there: a moved object (module docstring).

    Args:
        changed: uint8 0/255, the mask's change map before any closing (masks.analyse's hysteresis).
        da: the aligned shot's local detail (`masks.detail`), same grid, or a function making it:
            it is needed only where some change is solid, which most pairs never reach.
        dg: the GT's local detail, same grid.
        kept: bool, where the GT's own fine detail still shows through (no new content there).
        valid: uint8, the valid area on that grid.
        max_drop: the largest drop diameter, / long side (`MaskParams.max_drop`).
        params: the cue's scales and shares.
    """
    if not np.count_nonzero(changed) or not np.count_nonzero(valid):
        return 0.0
    # on a half-size grid, where a pixel changed when any of its 2x2 block did (valid when all are):
    # the scales are tens of pixels, and this costs a quarter
    block = np.ones((2, 2), np.uint8)
    changed = cv2.dilate(changed, block, anchor=(0, 0))[::2, ::2]
    valid = cv2.erode(valid, block, anchor=(0, 0))[::2, ::2]
    dg, kept = dg[::2, ::2], kept[::2, ::2]
    n_valid = int(np.count_nonzero(valid))
    solid = cv2.bitwise_and(solid_change(changed, params), valid)
    drop_px = np.pi / 4 * (max_drop * max(changed.shape)) ** 2
    if np.count_nonzero(solid) <= drop_px:  # no component can be larger than a drop: skip labelling
        return 0.0
    n, labels, stats, _ = cv2.connectedComponentsWithStats(solid, connectivity=8)
    area = stats[:, cv2.CC_STAT_AREA]
    da = (da() if callable(da) else da)[::2, ::2]
    new_detail = sharp_change(da, dg, solid) & ~kept
    sharp = np.bincount(labels[new_detail], minlength=n)
    moving = (area > drop_px) & (sharp >= params.sharp_share * area)
    moving[0] = False
    return float(area[moving].sum()) / n_valid
