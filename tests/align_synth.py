"""Synthetic pairs with known truth for the alignment tests (the virtual rig's renderer is heavier;
bench/align.py uses it at full resolution)."""

from __future__ import annotations

import cv2
import numpy as np


def textured(h: int, w: int, seed: int) -> np.ndarray:
    """Photo-like BGR uint8 content: blotches at several scales plus sharp shapes and text."""
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.float32)
    for scale, amp in ((3, 0.25), (12, 0.35), (48, 0.6), (160, 0.8)):
        noise = rng.random((max(h // scale, 2), max(w // scale, 2), 3)).astype(np.float32)
        img += cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC) * amp
    img = np.clip(img / 2.0 * 255, 0, 255).astype(np.uint8)
    for _ in range(max(20, h * w // 8000)):
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        c = tuple(int(v) for v in rng.integers(0, 256, 3))
        r = int(rng.integers(3, max(4, w // 40)))
        if rng.random() < 0.5:
            cv2.rectangle(img, (x, y), (x + r, y + r // 2 + 1), c, -1)
        else:
            cv2.circle(img, (x, y), r // 2 + 1, c, -1)
    for i in range(max(5, w // 100)):
        cv2.putText(img, f"R{i}D", (int(rng.integers(0, w)), int(rng.integers(0, h))), cv2.FONT_HERSHEY_SIMPLEX,
                    max(0.4, w / 1500), (255, 255, 255), max(1, w // 1000))
    return cv2.GaussianBlur(img, (0, 0), 0.7)


def random_homography(w: int, h: int, corner_px: float, rng: np.random.Generator) -> np.ndarray:
    """degraded px -> GT px, moving each frame corner by up to `corner_px`."""
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = src + rng.uniform(-corner_px, corner_px, (4, 2)).astype(np.float32)
    return cv2.getPerspectiveTransform(src, dst).astype(np.float64)


def view(canvas: np.ndarray, H: np.ndarray, w: int, h: int, margin: int) -> np.ndarray:
    """What a camera sees when its pixel x shows canvas point H x + margin (GT = canvas crop)."""
    T = np.array([[1, 0, margin], [0, 1, margin], [0, 0, 1]], np.float64)
    return cv2.warpPerspective(canvas, T @ H, (w, h), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT)


def make_pair(w: int, h: int, H: np.ndarray, seed: int, gain=(0.88, 0.9, 0.86), offset=(0.02, 0.01, 0.03), noise=1.5):
    """(gt, degraded) with the degraded shot = warped canvas, photometric drift and noise, JPEG."""
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
