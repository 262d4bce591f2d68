"""Checking the images a shot brings in, before anything is stored: ingestion's policy on top of
schemas.imageio.

Every file is decoded in full once at ingestion: a zero-byte, truncated or foreign file must fail
here with its name, not later inside alignment or training. A JPEG is checked by PIL, which refuses
a truncated stream, where libjpeg (OpenCV) pads it with grey and only warns.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from schemas import imageio
from schemas.errors import RdrfError
from schemas.imageio import RAW_EXTS, is_jpeg, is_plain_image, is_raw


def is_supported(name: str) -> bool:
    """A file ingestion takes: a plain image or a RAW format LibRaw reads."""
    return is_raw(name) or is_plain_image(name)


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    raw: bool


def _check_jpeg(data: bytes, name: str) -> ImageInfo:
    if not data:
        raise RdrfError(f"{name}: empty file (0 bytes); expected a JPEG image")
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            return ImageInfo(width=im.width, height=im.height, raw=False)
    except (OSError, UnidentifiedImageError, SyntaxError) as exc:
        raise RdrfError(f"{name}: not a complete JPEG image ({exc}); expected a readable JPEG") from exc


def _check_raw(data: bytes, name: str) -> ImageInfo:
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
    """Validate one incoming file by decoding it in full; raises RdrfError naming it."""
    if is_raw(name):
        return _check_raw(data, name)
    if not is_plain_image(name):
        raise RdrfError(f"{name}: unsupported file type; expected JPEG/PNG/TIFF or a RAW format ({', '.join(sorted(RAW_EXTS))})")
    if is_jpeg(name):
        return _check_jpeg(data, name)
    arr = imageio.decode(data, name)
    return ImageInfo(width=arr.shape[1], height=arr.shape[0], raw=False)
