"""Checking the images a shot brings in, before anything is stored: ingestion's policy on top of
schemas.imageio.

Every file is decoded in full once at ingestion: a zero-byte, truncated or foreign file must fail
here with its name, not later inside alignment or training. A JPEG is checked by PIL, which refuses
a truncated stream, where libjpeg (OpenCV) pads it with grey and only warns.
"""

from __future__ import annotations

import io
import warnings
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
    channels: int = 3  # as stored: 1 for a greyscale file (a RAW counts as colour)


def _check_jpeg(data: bytes, name: str) -> ImageInfo:
    if not data:
        raise RdrfError(f"{name}: empty file (0 bytes); expected a JPEG image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PIL's warnings: the checks below speak for the file
            with Image.open(io.BytesIO(data)) as im:
                im.load()
                return ImageInfo(width=im.width, height=im.height, raw=False, channels=len(im.getbands()))
    except UnidentifiedImageError as exc:
        raise RdrfError(f"{name}: not a JPEG image (its bytes are no image format PIL knows); expected a readable JPEG") from exc
    except (OSError, SyntaxError) as exc:
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
    imageio.check_pixels(data, name)
    if is_jpeg(name):
        return _check_jpeg(data, name)
    arr = imageio.decode(data, name, channels="as-stored")
    channels = 1 if arr.ndim == 2 else arr.shape[2]
    if channels not in (1, 3, 4):
        raise RdrfError(f"{name}: {channels} channels; expected a grey, RGB or RGBA image")
    return ImageInfo(width=arr.shape[1], height=arr.shape[0], raw=False, channels=channels)
