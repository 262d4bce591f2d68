"""Reading and writing the images alignment works on (BGR, uint8 or uint16, as OpenCV holds them).

Alignment reads each image once at full resolution and derives every reduced copy from that array:
decoding twice (a reduced JPEG decode plus a full one) costs more than one decode and a resize.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from schemas.errors import RdrfError


def read_image(path: Path) -> np.ndarray:
    """A 3-channel BGR array, uint8 or uint16; alpha dropped, grey expanded."""
    data = np.fromfile(str(path), np.uint8) if Path(path).is_file() else None
    if data is None:
        raise RdrfError(f"{path}: file not found; expected the image the catalogue names (run `rdrf verify`)")
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED | cv2.IMREAD_ANYDEPTH) if data.size else None
    if img is None or img.size == 0:
        raise RdrfError(f"{path}: cannot be decoded as an image; expected a JPEG, PNG or TIFF")
    if img.dtype not in (np.uint8, np.uint16):
        raise RdrfError(f"{path}: {img.dtype} pixels; expected 8- or 16-bit integer RGB")
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    elif img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    elif img.shape[2] != 3:
        raise RdrfError(f"{path}: {img.shape[2]} channels; expected RGB")
    return img


def full_scale(img: np.ndarray) -> float:
    return 65535.0 if img.dtype == np.uint16 else 255.0


def gray_float(img: np.ndarray) -> np.ndarray:
    """Luma in [0, 1] as float32 (the intensity registration compares)."""
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    return gray.astype(np.float32) * np.float32(1.0 / full_scale(img))


def gray_u8(img: np.ndarray) -> np.ndarray:
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    if gray.dtype == np.uint16:
        gray = (gray >> 8).astype(np.uint8)
    return gray


def shrink(img: np.ndarray, factor: float) -> np.ndarray:
    """Area-averaged reduction by `factor` (>= 1)."""
    if factor <= 1.0:
        return img
    h, w = img.shape[:2]
    size = (max(1, round(w / factor)), max(1, round(h / factor)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def encode_png(img: np.ndarray) -> bytes:
    """Lossless PNG (training data must not be re-compressed lossily). Photos: PNG filters plus
    Huffman coding only - on a 15 MP frame ~13% larger than zlib level 1 and ~40% faster, and
    encoding is the largest single cost of aligning a pair. Masks: level 1, they shrink 50x."""
    params = [cv2.IMWRITE_PNG_COMPRESSION, 1]
    if img.ndim == 3:
        params += [cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY]
    ok, buf = cv2.imencode(".png", img, params)
    if not ok:
        raise RdrfError("could not encode a PNG (out of memory?)")
    return buf.tobytes()
