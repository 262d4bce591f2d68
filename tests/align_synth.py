"""Synthetic pairs with known truth for the alignment tests (the virtual rig's renderer is heavier;
bench/align.py uses it at full resolution)."""

from __future__ import annotations

import cv2
import numpy as np

from tests.images import textured  # noqa: F401  (the alignment tests take it from here too)


def random_homography(w: int, h: int, corner_px: float, rng: np.random.Generator) -> np.ndarray:
    """degraded px -> GT px, moving each frame corner by up to `corner_px`."""
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = src + rng.uniform(-corner_px, corner_px, (4, 2)).astype(np.float32)
    return cv2.getPerspectiveTransform(src, dst).astype(np.float64)


def view(canvas: np.ndarray, H: np.ndarray, w: int, h: int, margin: int) -> np.ndarray:
    """What a camera sees when its pixel x shows canvas point H x + margin (GT = canvas crop)."""
    T = np.array([[1, 0, margin], [0, 1, margin], [0, 0, 1]], np.float64)
    return cv2.warpPerspective(canvas, T @ H, (w, h), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT)


def make_pair(w: int, h: int, H: np.ndarray, seed: int, gain=(1.12, 1.1, 1.14), offset=(-0.02, -0.01, -0.03), noise=1.5):
    """(gt, degraded) with the degraded shot = warped canvas, photometric drift and noise, JPEG. The
    default drift is what the glass does: a little darker (transmission), dark tones a little lifted
    (a faint veil), about -0.3 EV in linear light."""
    m = max(w, h) // 4
    canvas = textured(h + 2 * m, w + 2 * m, seed)
    gt = canvas[m : m + h, m : m + w].copy()
    lq = view(canvas, H, w, h, m).astype(np.float32)
    g = np.array(gain, np.float32)
    o = np.array(offset, np.float32) * 255
    inv = (lq - o) / g  # GT = gain * degraded + offset  =>  degraded = (GT - offset) / gain
    rng = np.random.default_rng(seed + 1)
    lq = np.clip(inv + rng.normal(0, noise, lq.shape), 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", lq, [cv2.IMWRITE_JPEG_QUALITY, 95])
    return gt, cv2.imdecode(buf, cv2.IMREAD_COLOR)


def add_drops(gt: np.ndarray, n: int, rmin: int, rmax: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Raindrops painted onto a GT-frame image: each a flipped, minified, blurred view of a wider area
    with a darker rim. Returns (image, mask 255=drop)."""
    rng = np.random.default_rng(seed)
    h, w = gt.shape[:2]
    out = gt.astype(np.float32)
    blurred = cv2.GaussianBlur(gt, (0, 0), 3).astype(np.float32)
    mask = np.zeros((h, w), np.uint8)
    for _ in range(n):
        r = int(rng.integers(rmin, rmax + 1))
        cx, cy = int(rng.integers(r, w - r)), int(rng.integers(r, h - r))
        ax, ay = r, int(r * rng.uniform(0.7, 1.0))
        k = 3  # the drop shows a k-times wider area, flipped
        x0, x1 = max(0, cx - k * ax), min(w, cx + k * ax)
        y0, y1 = max(0, cy - k * ay), min(h, cy + k * ay)
        src = blurred[y0:y1, x0:x1][::-1, ::-1]
        view = cv2.resize(src, (2 * ax + 1, 2 * ay + 1), interpolation=cv2.INTER_AREA)
        yy, xx = np.mgrid[-ay : ay + 1, -ax : ax + 1]
        rr = np.sqrt((xx / ax) ** 2 + (yy / ay) ** 2)
        inside = rr <= 1
        shade = np.where(rr > 0.75, 0.6, 1.0)[..., None] * (1.0 + 0.15 * np.exp(-((xx + ax / 3) ** 2 + (yy + ay / 3) ** 2) / (0.05 * ax * ax)))[..., None]
        ys, xs = slice(cy - ay, cy + ay + 1), slice(cx - ax, cx + ax + 1)
        patch = out[ys, xs]
        patch[inside] = np.clip(view * shade, 0, 255)[inside]
        mask[ys, xs][inside] = 255
    return np.clip(out, 0, 255).astype(np.uint8), mask
