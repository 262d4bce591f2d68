"""Decoding and encoding images: the one place that knows OpenCV's flags, channel orders and depths.

Every stage reads the same files (originals, developed RAW, aligned outputs, exports), so they
decode them the same way: 3 channels (grey expanded, alpha dropped), 8 or 16 bits kept as stored,
no EXIF rotation (the catalogue's pixel frame is the file's). Each stage keeps only its policy
(which order, which scale, what to do with a bad file); errors name the file.

It sits in `schemas` because every package may import it and it imports nothing of ours but the
error type.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path, PurePosixPath
from typing import Literal, Optional

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from schemas.errors import RdrfError

Order = Literal["bgr", "rgb"]

# File kinds by extension (lower case, with the dot).
JPEG_EXTS = frozenset({".jpg", ".jpeg"})
# Read as they are by the catalogue; everything else a shot brings is RAW and is developed.
PLAIN_IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff"})
# What a user may point `rdrf restore` or `rdrf synth --backgrounds` at.
READABLE_IMAGE_EXTS = PLAIN_IMAGE_EXTS | {".bmp", ".webp"}
# What LibRaw reads (the common bodies); anything else is refused by name.
RAW_EXTS = frozenset(
    {".arw", ".nef", ".nrw", ".dng", ".cr2", ".cr3", ".crw", ".raf", ".orf", ".rw2", ".pef", ".srw", ".3fr", ".iiq", ".erf", ".mrw", ".x3f"}
)

# The most pixels an image may have: above every camera sensor (the largest have about 150 million),
# below PIL's decompression-bomb limit (~179 million) and OpenCV's CV_IO_MAX_IMAGE_PIXELS (2^30), so
# a header claiming more is refused here, by file name, before any decoder allocates for it.
MAX_PIXELS = 170_000_000
# How much of a file the header check reads (a JPEG's size follows its EXIF and previews).
_HEADER_BYTES = 1 << 22

# OpenCV logs warnings of its own (codec fallbacks) to the terminal; errors reach us as exceptions.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)

# libjpeg decodes at 1/8, 1/4, 1/2 scale for a fraction of a full decode.
_REDUCED = ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4), (2, cv2.IMREAD_REDUCED_COLOR_2))


def suffix(name: str | Path) -> str:
    return PurePosixPath(str(name)).suffix.lower()


def is_jpeg(name: str | Path) -> bool:
    return suffix(name) in JPEG_EXTS


def is_raw(name: str | Path) -> bool:
    return suffix(name) in RAW_EXTS


def is_plain_image(name: str | Path) -> bool:
    return suffix(name) in PLAIN_IMAGE_EXTS


def full_scale(img: np.ndarray) -> float:
    """The value of white: 65535 for 16-bit pixels, 255 for 8-bit."""
    return 65535.0 if img.dtype == np.uint16 else 255.0


def to_uint8(img: np.ndarray) -> np.ndarray:
    """16-bit -> 8-bit by rounding x/257 (65535 -> 255 exactly); 8-bit unchanged."""
    if img.dtype == np.uint8:
        return img
    if img.dtype == np.uint16:
        return ((img.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    raise RdrfError(f"{img.dtype} images are not supported; expected 8- or 16-bit")


def _three_channels(img: np.ndarray, name: str, order: Order) -> np.ndarray:
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB if order == "rgb" else cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB if order == "rgb" else cv2.COLOR_BGRA2BGR)
    if img.shape[2] != 3:
        raise RdrfError(f"{name}: {img.shape[2]} channels; expected RGB")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB) if order == "rgb" else img


def png_size(data: bytes) -> Optional[tuple[int, int]]:
    """(width, height) from a PNG's IHDR chunk; None when not a PNG."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR" or len(data) < 24:
        return None
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def header_size(data: bytes) -> Optional[tuple[int, int]]:
    """(width, height) as the file's header states it, without decoding the pixels; None when the
    header cannot be read (the decoder then says why). PIL's decompression-bomb limit raises
    `Image.DecompressionBombError`."""
    size = jpeg_size(data) or png_size(data)
    if size is not None:
        return size
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                return im.size
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError):
        return None


def file_size(path: Path | str, what: str = "image") -> tuple[int, int]:
    """(width, height) of an image file from its header alone (PIL reads only what it needs), for
    planning work over thousands of files without decoding them; an unreadable header names the file."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                return im.size
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise RdrfError(f"{path} ({what}): not a readable image ({exc}); run `rdrf verify`") from exc


def check_pixels(data: bytes, name: str) -> None:
    """Refuse, naming the file, an image whose header claims more than MAX_PIXELS pixels."""
    limit = f"rdrf reads images of at most {MAX_PIXELS / 1e6:.0f} million pixels (camera sensors have up to about 150)"
    try:
        size = header_size(data[:_HEADER_BYTES])
    except Image.DecompressionBombError as exc:
        raise RdrfError(f"{name}: the header claims too many pixels ({exc}); {limit} - a damaged or foreign file?") from exc
    if size is not None and size[0] * size[1] > MAX_PIXELS:
        w, h = size
        raise RdrfError(f"{name}: the header claims {w}x{h} pixels ({w * h / 1e6:,.0f} million); {limit} - a damaged or foreign file?")


def decode(data: bytes | np.ndarray, name: str, order: Order = "bgr", channels: Literal[1, 3, "as-stored"] = 3) -> np.ndarray:
    """Decode image bytes keeping the bit depth (uint8 or uint16).

    Args:
        data: the file's bytes.
        name: what to call the file in an error (its path).
        order: channel order of a 3-channel result ("bgr" as OpenCV holds it, or "rgb").
        channels: 3 (grey expanded, alpha dropped), 1 (a single-channel image such as a mask;
            a colour image gives its per-pixel maximum) or "as-stored".
    """
    buf = data if isinstance(data, np.ndarray) else np.frombuffer(data, np.uint8)
    if buf.size == 0:
        raise RdrfError(f"{name}: empty file (0 bytes); expected a JPEG, PNG or TIFF image")
    check_pixels(buf[:_HEADER_BYTES].tobytes(), name)
    try:
        img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED | cv2.IMREAD_ANYDEPTH)
    except cv2.error as exc:
        raise RdrfError(f"{name}: cannot be decoded as an image ({str(exc).strip().splitlines()[-1]}); expected a JPEG, PNG or TIFF") from exc
    if img is None or img.size == 0:
        raise RdrfError(f"{name}: cannot be decoded as an image (truncated or not an image); expected a JPEG, PNG or TIFF")
    if img.dtype not in (np.uint8, np.uint16):
        raise RdrfError(f"{name}: {img.dtype} samples are not supported; expected 8- or 16-bit images")
    if channels == "as-stored":
        return img
    if channels == 1:
        if img.ndim == 3:
            img = img[:, :, :3].max(axis=2) if img.shape[2] >= 3 else img[:, :, 0]
        return img
    return _three_channels(img, name, order)


def read(path: Path | str, order: Order = "bgr", channels: Literal[1, 3, "as-stored"] = 3) -> np.ndarray:
    """`decode` of a file on disk; a missing file is an error naming it."""
    path = Path(path)
    if not path.is_file():
        raise RdrfError(f"{path}: file not found; expected an image (run `rdrf verify` if the catalogue names it)")
    return decode(np.fromfile(str(path), np.uint8), str(path), order=order, channels=channels)


def jpeg_size(data: bytes) -> Optional[tuple[int, int]]:
    """(width, height) from a JPEG's SOF header without decoding it; None when not a JPEG."""
    if len(data) < 4 or data[:2] != b"\xff\xd8":
        return None
    i = 2
    n = len(data)
    while i + 9 < n:
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            return int.from_bytes(data[i + 7 : i + 9], "big"), int.from_bytes(data[i + 5 : i + 7], "big")
        i += 2 + length
    return None


def decode_reduced(data: bytes, name: str, min_width: int, order: Order = "bgr") -> np.ndarray:
    """An 8-bit 3-channel decode at least about `min_width` wide, as cheaply as the format allows.

    A JPEG is decoded by libjpeg at 1/2, 1/4 or 1/8 scale when that still covers `min_width`
    (a thumbnail of a 60 MP shot costs a fraction of a full decode); other formats are decoded in
    full. The caller resizes to its exact size.
    """
    size = jpeg_size(data)
    if size is None:
        return to_uint8(decode(data, name, order=order))
    flag = cv2.IMREAD_COLOR
    for factor, f in _REDUCED:
        if size[0] / factor >= min_width:
            flag = f
            break
    # like `decode`, the file's own pixel frame: an EXIF orientation tag is not applied
    img = cv2.imdecode(np.frombuffer(data, np.uint8), flag | cv2.IMREAD_IGNORE_ORIENTATION)
    if img is None or img.size == 0:
        raise RdrfError(f"{name}: cannot be decoded as an image (truncated or not a JPEG)")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB) if order == "rgb" else img


def encode_png(img: np.ndarray, order: Order = "bgr", level: int = 1, huffman_only: bool = False, bilevel: bool = False,
               rle: bool = False) -> bytes:
    """Lossless, deterministic PNG bytes (fixed zlib level; OpenCV writes no timestamps).

    Args:
        img: (H, W) or (H, W, 3) uint8 or uint16.
        order: channel order of `img`.
        level: zlib level. 1: on a 1080x720 photo ~1.7x faster than 3 for ~5% more bytes.
        huffman_only: PNG filters plus Huffman coding only - on a 15 MP photo ~13% larger than
            level 1 and ~40% faster to encode.
        bilevel: a 1-bit greyscale PNG of a binary (0/255) mask, which decodes as 0/255 uint8 - on a
            15 MP raindrop mask ~5x smaller and ~5x faster to encode than 8 bits.
        rle: zlib's run-length strategy (for masks: as fast as level 1, ~25% smaller).
    """
    if img.ndim == 3 and order == "rgb":
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_PNG_COMPRESSION, int(level)]
    if huffman_only:
        params += [cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY]
    if bilevel:
        params += [cv2.IMWRITE_PNG_BILEVEL, 1]
    if rle:
        params += [cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]
    ok, buf = cv2.imencode(".png", img, params)
    if not ok:
        raise RdrfError(f"could not encode a {img.shape} {img.dtype} image as PNG")
    return buf.tobytes()


def encode_jpeg(img: np.ndarray, quality: int = 92, order: Order = "bgr") -> bytes:
    """Baseline JPEG bytes of an 8-bit image (figures, thumbnails, the virtual camera's JPEGs)."""
    if img.ndim == 3 and order == "rgb":
        img = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(img), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RdrfError(f"could not encode a {img.shape} {img.dtype} image as JPEG")
    return buf.tobytes()


def to_float(img: np.ndarray) -> np.ndarray:
    """float32 in [0, 1] of an 8- or 16-bit image."""
    return img.astype(np.float32) * np.float32(1.0 / full_scale(img))


def channel_max(x: np.ndarray) -> np.ndarray:
    """The largest of the three channels of (..., 3) values, per pixel or sample: maxima of strided
    views, 2.5x faster than cv2.split and cv2.max; numpy's reduction over a short last axis is ~30x
    slower."""
    return np.maximum(np.maximum(x[..., 0], x[..., 1]), x[..., 2])


def from_float(img: np.ndarray, bits: int = 8) -> np.ndarray:
    """An 8- or 16-bit image from float values in [0, 1], clipped and rounded (as saved)."""
    levels = (1 << bits) - 1
    return np.round(np.clip(img, 0.0, 1.0) * levels).astype(np.uint16 if bits == 16 else np.uint8)
