"""Exposure and body facts from EXIF (JPEG, TIFF and the TIFF-based RAW formats)."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Optional

import exifread

# exifread logs "PNG file does not have exif data." and the like for every file without EXIF; EXIF is
# optional here (missing fields stay None), so its chatter never reaches the terminal.
logging.getLogger("exifread").setLevel(logging.CRITICAL)


@dataclass
class Exposure:
    iso: Optional[float] = None
    shutter_s: Optional[float] = None
    aperture: Optional[float] = None
    captured_at: Optional[datetime] = None
    camera_model: Optional[str] = None
    camera_serial: Optional[str] = None
    lens: Optional[str] = None
    focal_length_mm: Optional[float] = None


def _number(tag) -> Optional[float]:
    if tag is None:
        return None
    try:
        value = tag.values[0] if isinstance(tag.values, (list, tuple)) else tag.values
        return float(value.num) / float(value.den) if hasattr(value, "num") else float(value)
    except (ZeroDivisionError, ValueError, TypeError, IndexError):
        return None


def _text(tag) -> Optional[str]:
    text = str(tag).strip() if tag is not None else ""
    return text or None


def read_exposure(data: bytes) -> Exposure:
    """Best effort: missing or odd EXIF gives None fields, never an error."""
    try:
        tags = exifread.process_file(io.BytesIO(data), details=False)
    except Exception:  # exifread raises many kinds on foreign data; EXIF is optional
        return Exposure()
    when = None
    stamp = _text(tags.get("EXIF DateTimeOriginal") or tags.get("Image DateTime"))
    if stamp:
        try:
            when = datetime.strptime(stamp, "%Y:%m:%d %H:%M:%S")
        except ValueError:
            when = None
    return Exposure(
        iso=_number(tags.get("EXIF ISOSpeedRatings") or tags.get("EXIF PhotographicSensitivity")),
        shutter_s=_number(tags.get("EXIF ExposureTime")),
        aperture=_number(tags.get("EXIF FNumber")),
        captured_at=when,
        camera_model=_text(tags.get("Image Model")),
        camera_serial=_text(tags.get("EXIF BodySerialNumber")),
        lens=_text(tags.get("EXIF LensModel")),
        focal_length_mm=_number(tags.get("EXIF FocalLength")),
    )
