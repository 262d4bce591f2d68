"""Reading and checking the images a shot brings in, before anything is stored.

Every file is decoded in full once at ingestion: a zero-byte, truncated or foreign file must fail
here with its name, not later inside alignment or training.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import PurePosixPath

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from schemas.errors import RdrfError
from schemas.views import PLAIN_IMAGE_EXTS

# What LibRaw reads (the common bodies); anything else is refused by name.
RAW_EXTS = frozenset(
    {".arw", ".nef", ".nrw", ".dng", ".cr2", ".cr3", ".crw", ".raf", ".orf", ".rw2", ".pef", ".srw", ".3fr", ".iiq", ".erf", ".mrw", ".x3f"}
)


def suffix(name: str) -> str:
    return PurePosixPath(name).suffix.lower()


def is_raw(name: str) -> bool:
    return suffix(name) in RAW_EXTS


def is_supported(name: str) -> bool:
    return suffix(name) in RAW_EXTS or suffix(name) in PLAIN_IMAGE_EXTS


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    raw: bool


def _check_jpeg(data: bytes, name: str) -> ImageInfo:
    """A full decode by PIL: libjpeg pads a truncated stream with grey and only warns; PIL refuses it."""
    if not data:
        raise RdrfError(f"{name}: empty file (0 bytes); expected a JPEG image")
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            return ImageInfo(width=im.width, height=im.height, raw=False)
    except (OSError, UnidentifiedImageError, SyntaxError) as exc:
        raise RdrfError(f"{name}: not a complete JPEG image ({exc}); expected a readable JPEG") from exc


def decode_plain(data: bytes, name: str) -> np.ndarray:
    """Decode a JPEG/PNG/TIFF fully to RGB (uint8 or uint16); truncation is an error, not grey rows."""
    if not data:
        raise RdrfError(f"{name}: empty file (0 bytes); expected a JPEG, PNG or TIFF image")
    if suffix(name) in (".jpg", ".jpeg"):
        _check_jpeg(data, name)
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED | cv2.IMREAD_ANYDEPTH)
    if arr is None or arr.size == 0:
        raise RdrfError(f"{name}: cannot be decoded as an image (truncated or not an image); expected a JPEG, PNG or TIFF")
    if arr.ndim == 2:
        arr = cv2.cvtColor(arr, cv2.COLOR_GRAY2RGB)
    elif arr.shape[2] == 4:
        arr = cv2.cvtColor(arr, cv2.COLOR_BGRA2RGB)
    else:
        arr = cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
    if arr.dtype not in (np.uint8, np.uint16):
        raise RdrfError(f"{name}: {arr.dtype} samples are not supported; expected 8- or 16-bit images")
    return arr


def check_raw(data: bytes, name: str) -> ImageInfo:
    import rawpy

    if not data:
        raise RdrfError(f"{name}: empty file (0 bytes); expected a RAW file LibRaw can read")
    try:
        with rawpy.imread(io.BytesIO(data)) as raw:
            raw.raw_image_visible  # forces unpacking: a truncated file fails here
            sizes = raw.sizes
            return ImageInfo(width=sizes.width, height=sizes.height, raw=True)
    except (rawpy.LibRawError, ValueError, OSError) as exc:
        raise RdrfError(f"{name}: unreadable RAW file ({type(exc).__name__}: {exc}); expected a RAW file LibRaw can read") from exc


def check_image(data: bytes, name: str) -> ImageInfo:
    """Validate one incoming file by decoding it; raises RdrfError naming it."""
    if is_raw(name):
        return check_raw(data, name)
    if suffix(name) not in PLAIN_IMAGE_EXTS:
        raise RdrfError(f"{name}: unsupported file type; expected JPEG/PNG/TIFF or a RAW format ({', '.join(sorted(RAW_EXTS))})")
    if suffix(name) in (".jpg", ".jpeg"):
        return _check_jpeg(data, name)
    arr = decode_plain(data, name)
    return ImageInfo(width=arr.shape[1], height=arr.shape[0], raw=False)
