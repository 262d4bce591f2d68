"""A degraded shot in its GT's pixel frame, rendered on demand from the original and the homography.

`rdrf align` stores no warped image (DESIGN.md, aligned/): the export, the report and `rdrf show`
render it here, from the degraded shot's own image and the catalogue's homography (degraded pixel ->
GT pixel, full resolution, OpenCV's convention of integer pixel centres). One function does the warp,
the crop and the resize together, so an exported image is interpolated once, not warped at full size
and then resized (twice the blur, and a full-size copy for nothing). Shrinking by k or more is
preceded by an integer k x k area average of the source (a box filter, OpenCV's exact fast path), so
fine rain streaks do not alias. The warp is bicubic: after the area average a bilinear one would
add a blur k source pixels wide that the GT's area-resized copy does not have (at 4752x3168 the
raindrop masks computed on such a copy lost up to 0.1 IoU on some pairs, and one was rejected for
"scene motion"; bicubic keeps them within ~0.01 of a full-size warp reduced afterwards). The valid
area (where the warp had a degraded pixel) is derived from the homography alone. Pure numpy/OpenCV,
deterministic: the same inputs give the same bytes.

It sits in `schemas` because the dataset and report packages (which never import each other) and
registration all need it, and `schemas` is the one package they may all import.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import cv2
import numpy as np

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive), in GT pixels
Size = tuple[int, int]  # width, height


def frame_to_output(box: Box, target: Optional[Size]) -> np.ndarray:
    """3x3 taking a GT pixel to the output pixel of `box` resized to `target` (centres kept)."""
    x0, y0, x1, y1 = box
    tw, th = target if target is not None else (x1 - x0, y1 - y0)
    sx, sy = tw / (x1 - x0), th / (y1 - y0)
    return np.array([[sx, 0, (0.5 - x0) * sx - 0.5], [0, sy, (0.5 - y0) * sy - 0.5], [0, 0, 1]], np.float64)


def _decimation(src_size: Size, M: np.ndarray, out_size: Size) -> int:
    """The integer area reduction of the source that keeps at least one source pixel per output pixel
    (from the mapping's scale at the output's centre)."""
    c = np.array([[[out_size[0] / 2, out_size[1] / 2]]], np.float64)
    Minv = np.linalg.inv(M)
    pts = np.concatenate([c, c + [[[1.0, 0.0]]], c + [[[0.0, 1.0]]]], axis=1)
    q = cv2.perspectiveTransform(pts, Minv).reshape(3, 2)
    step = min(np.linalg.norm(q[1] - q[0]), np.linalg.norm(q[2] - q[0]))  # source px per output px
    if not math.isfinite(step):
        return 1
    return max(1, min(int(step + 1e-6), src_size[0] // 8, src_size[1] // 8))


def render_aligned(lq: np.ndarray, homography: Sequence[Sequence[float]] | np.ndarray, box: Box,
                   target: Optional[Size] = None) -> np.ndarray:
    """The degraded image `lq` warped into the GT frame, cut to `box` and resized to `target` (None:
    the box's size), in one interpolation (bicubic; black outside the shot). Same dtype as `lq`."""
    M = frame_to_output(box, target) @ np.asarray(homography, np.float64)
    out_size = target if target is not None else (box[2] - box[0], box[3] - box[1])
    h, w = lq.shape[:2]
    k = _decimation((w, h), M, out_size)
    if k > 1:
        src = lq[: h // k * k, : w // k * k]
        lq = cv2.resize(src, (w // k, h // k), interpolation=cv2.INTER_AREA)
        # a reduced pixel u covers full pixels [u k, u k + k): centre (u + 0.5) k - 0.5
        up = np.array([[k, 0, (k - 1) / 2], [0, k, (k - 1) / 2], [0, 0, 1]], np.float64)
        M = M @ up
    return cv2.warpPerspective(lq, M, out_size, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_CONSTANT)


def valid_area(H, src_size: Size, dst_size: Size, scale: float = 1.0) -> np.ndarray:
    """255 where a GT pixel's source lies inside the degraded frame with two pixels to spare (so the
    bicubic interpolation of `render_aligned` never reached the black border): the image of the inset
    frame, a convex quadrilateral, rasterized at `scale` (GT px per output px) without warping anything."""
    w, h = src_size
    inset = 2.0 + scale  # rasterization includes edge pixels: keep one output pixel of slack
    c = np.array([[inset, inset], [w - 1 - inset, inset], [w - 1 - inset, h - 1 - inset], [inset, h - 1 - inset]], np.float64)
    q = cv2.perspectiveTransform(c.reshape(-1, 1, 2), np.asarray(H, np.float64)).reshape(-1, 2)
    q = (q + 0.5) / scale - 0.5
    out = np.zeros((dst_size[1], dst_size[0]), np.uint8)
    if np.all(np.isfinite(q)):
        cv2.fillConvexPoly(out, np.round(q * 16).astype(np.int32), 255, lineType=cv2.LINE_8, shift=4)
    return out


def covered_quad(homography, width: int, height: int) -> np.ndarray:
    """The degraded frame's corners mapped into the GT frame (4x2 float32, degraded -> GT)."""
    corners = np.array([[[0, 0]], [[width, 0]], [[width, height]], [[0, height]]], np.float64)
    return cv2.perspectiveTransform(corners, np.asarray(homography, np.float64)).reshape(4, 2).astype(np.float32)
