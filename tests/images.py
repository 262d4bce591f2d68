"""Test images: the one photo-like texture every test draws on, and a JPEG writer."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def textured(h: int, w: int, seed: int) -> np.ndarray:
    """Photo-like uint8 content (h, w, 3): blotches at several scales plus sharp shapes and text.

    Colours are random, so the channel order is the caller's: OpenCV writers take it as BGR,
    RGB code as RGB - the content has the same structure either way."""
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


def write_jpeg(path: Path, rgb: np.ndarray, quality: int = 92) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    path.write_bytes(buf.tobytes())
    return path
