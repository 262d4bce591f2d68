"""Bringing a GT / degraded / mask triple to the export size together (pure numpy/OpenCV).

The paper trains on images resized to 1080x720 (seeds/000 A.2), which is the 3:2 shape of its
4752x3168 captures. A frame of another shape is centre-cropped to the target's aspect ratio before
resizing, because both alternatives hurt training: stretching changes the raindrop and reflection
geometry the model learns, and padding adds black borders that look like content (and that a random
crop would happily pick). Shapes within 1% of the target ratio are resized without cropping (a few
pixels of rounding in a sensor's size is not worth losing a border). `fit="refuse"` makes a mismatch
an error instead, for curators who want to decide per scene.

Warping a degraded shot onto its GT leaves black borders where the shot did not cover the GT frame.
A model trained on them learns to invent borders, so by default the crop box of a scene is also
shrunk, about its centre and keeping its aspect ratio, until it lies inside the area every ok pair of
the scene covers. That area is computed from the homographies (the image of the degraded frame under
H, a convex quadrilateral), not from the valid-mask files, so planning an export decodes nothing.

GT, degraded, mask and reflection map always share one crop box and one output size, so the pair stays aligned.
Images are resized with INTER_AREA when shrinking (no aliasing of fine rain streaks) and INTER_CUBIC
when enlarging; masks with nearest neighbour so they stay binary.
"""

from __future__ import annotations

import re
from typing import Optional, Sequence

import cv2
import numpy as np

from schemas.errors import RdrfError
from schemas.imageio import to_uint8
from schemas.vocabulary import Fit
from schemas.warp import Box

PAPER_SIZE = "1080x720"
ASPECT_TOLERANCE = 0.01


MIN_SIDE = 8  # smaller than a JPEG block or a training crop is no image to learn from


def parse_size(text: str) -> Optional[tuple[int, int]]:
    """'1080x720' -> (1080, 720); 'original' -> None (keep the captured size)."""
    if text == "original":
        return None
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m:
        raise RdrfError(f"size {text!r} is not WIDTHxHEIGHT (e.g. {PAPER_SIZE}) or 'original'", exit_code=2)
    if int(m.group(1)) < MIN_SIDE or int(m.group(2)) < MIN_SIDE:
        raise RdrfError(f"size {text!r} is too small: at least {MIN_SIDE}x{MIN_SIDE} pixels (the paper trains at {PAPER_SIZE})", exit_code=2)
    return int(m.group(1)), int(m.group(2))


def crop_box(width: int, height: int, target: Optional[tuple[int, int]], fit: Fit = "crop", what: str = "image") -> Box:
    """The centred window of a width x height frame that has the target's aspect ratio."""
    full = (0, 0, width, height)
    if target is None:
        return full
    tw, th = target
    ratio, want = width / height, tw / th
    if abs(ratio / want - 1.0) <= ASPECT_TOLERANCE:
        return full
    if fit == "refuse":
        raise RdrfError(
            f"{what}: {width}x{height} (aspect {ratio:.3f}) does not have the aspect ratio of {tw}x{th} ({want:.3f}); "
            f"use --fit crop to centre-crop it, or --size original"
        )
    if ratio > want:  # too wide: keep the full height
        w = int(round(height * want))
        x0 = (width - w) // 2
        return (x0, 0, x0 + w, height)
    h = int(round(width / want))
    y0 = (height - h) // 2
    return (0, y0, width, y0 + h)


def inside_all(box: Box, quads: Sequence[np.ndarray], margin: float = 3.0) -> Box:
    """The largest box with `box`'s centre and aspect ratio whose corners lie at least `margin` px
    inside every quadrilateral (the warp's covered areas; 3 px: the bicubic warp of
    schemas.warp.render_aligned reaches 2 source pixels). Returns `box` when it already fits."""
    if not quads:
        return box
    x0, y0, x1, y1 = box
    cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2

    def fits(s: float) -> bool:
        pts = [(cx - s * hw, cy - s * hh), (cx + s * hw, cy - s * hh), (cx + s * hw, cy + s * hh), (cx - s * hw, cy + s * hh)]
        return all(cv2.pointPolygonTest(q, p, True) >= margin for q in quads for p in pts)

    if fits(1.0):
        return box
    lo, hi = 0.0, 1.0
    for _ in range(30):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    w = int(2 * lo * hw)
    h = int(round(w * hh / hw))
    if w < 8 or h < 8:
        raise RdrfError(f"the degraded shots cover almost none of the GT frame (crop {w}x{h}); check their homographies")
    nx0, ny0 = int(round(cx - w / 2)), int(round(cy - h / 2))
    return (nx0, ny0, nx0 + w, ny0 + h)


def resize_image(img: np.ndarray, box: Box, target: Optional[tuple[int, int]]) -> np.ndarray:
    """Crop a 3-channel image to `box`, resize to `target` (in the source bit depth, for
    precision), return 8-bit."""
    x0, y0, x1, y1 = box
    img = img[y0:y1, x0:x1]
    if target is not None and (img.shape[1], img.shape[0]) != target:
        shrink = target[0] < img.shape[1]
        img = cv2.resize(img, target, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    return to_uint8(np.ascontiguousarray(img))


def resize_mask(mask: np.ndarray, box: Box, target: Optional[tuple[int, int]]) -> np.ndarray:
    """Crop and nearest-neighbour resize; any non-zero value is a raindrop pixel -> 255."""
    if mask.ndim == 3:
        mask = mask.max(axis=2)
    x0, y0, x1, y1 = box
    mask = np.where(mask[y0:y1, x0:x1] > 0, 255, 0).astype(np.uint8)
    if target is not None and (mask.shape[1], mask.shape[0]) != target:
        mask = cv2.resize(mask, target, interpolation=cv2.INTER_NEAREST)
    return np.ascontiguousarray(mask)


def resize_map(small: np.ndarray, full: tuple[int, int], box: Box, target: Optional[tuple[int, int]]) -> np.ndarray:
    """A small map covering the whole `full` (width, height) GT frame (the reflection layer) sampled
    bilinearly at the export's pixels: the part under `box`, at `target` size (the box's size when
    None). One affine resampling, pixel centres matched, so it lies on the exported GT exactly."""
    mh, mw = small.shape[:2]
    x0, y0, x1, y1 = box
    out_w, out_h = target if target is not None else (x1 - x0, y1 - y0)
    sx, sy = full[0] / mw, full[1] / mh  # GT pixels per map pixel
    bx, by = (x1 - x0) / out_w, (y1 - y0) / out_h  # GT pixels per output pixel
    # output pixel u -> GT x0 + (u + 0.5) * bx - 0.5 -> map (that + 0.5) / sx - 0.5
    m = np.array([[bx / sx, 0.0, (x0 + 0.5 * bx) / sx - 0.5], [0.0, by / sy, (y0 + 0.5 * by) / sy - 0.5]])
    src = small if small.ndim == 2 else small.max(axis=2)
    out = cv2.warpAffine(src, m, (out_w, out_h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(out)
