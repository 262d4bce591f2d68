"""Dual-pixel shots at import (DPRRN, issue 16): left/right image pairs and Canon Dual Pixel RAW.

A dual-pixel sensor splits each pixel into a left and a right photodiode, so one press of the
shutter gives two half-aperture views; their sum is the ordinary picture. rdrf keeps a shot's views
as files of the shot (kinds view_left / view_right) beside its combined image, which alignment uses.

- Image pairs: files named `NAME_L.<ext>` and `NAME_R.<ext>` are the views of shot NAME; `NAME.<ext>`
  beside them is its combined image. Without one, the combined image is computed from the views
  (`combined_from_views`) and stored as a derived file under developed/, never as an original.
- Canon DPRAW: LibRaw exposes the file's frames through `shot_select` (rawpy.imread(..., shot_select=N)).
  Frame 0 is the ordinary RAW (both photodiodes summed); frame 1 is one photodiode alone; the
  other photodiode is frame 0 minus frame 1, per CFA site, black level taken out once
  (`other_view`). Where frame 0 is clipped at the white level the difference is unknown: those
  sites are set to white and counted (docs/NOTES.md "Dual-pixel (issue 16)" says where this was read).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from schemas import imageio
from schemas.errors import RdrfError
from schemas.vocabulary import View

VIEW_NAME = re.compile(r"^(?P<base>.+)_(?P<side>[LR])$")
SIDE: dict[str, View] = {"L": "left", "R": "right"}


def view_of(path: Path) -> tuple[str, View] | None:
    """(shot name, side) of a view file named NAME_L.<ext> / NAME_R.<ext>; None for any other file."""
    m = VIEW_NAME.match(path.stem)
    return (m["base"], SIDE[m["side"]]) if m else None


def pair_views(files: list[Path], where: Path) -> tuple[list[Path], dict[str, dict[View, Path]]]:
    """Split a folder's files into ordinary files and the views of each dual-pixel shot (by shot
    name). A view without its partner, or two files for one view, is refused naming them."""
    plain: list[Path] = []
    views: dict[str, dict[View, Path]] = {}
    for p in files:
        found = view_of(p)
        if found is None:
            plain.append(p)
            continue
        base, side = found
        if side in views.setdefault(base, {}):
            raise RdrfError(f"{where}: {views[base][side].name} and {p.name} are both the {side} view of shot {base}; expected one file per view")
        if imageio.is_raw(p.name):
            raise RdrfError(f"{p}: a dual-pixel view must be an image (JPEG/PNG/TIFF); a Canon Dual Pixel RAW is one file "
                            "holding both views - import it with --dual-pixel-raw")
        views[base][side] = p
    for base, sides in views.items():
        if len(sides) != 2:
            have = next(iter(sides.values()))
            missing = "R" if "left" in sides else "L"
            raise RdrfError(f"{have}: dual-pixel view without its partner; expected {base}_{missing}{have.suffix} beside it")
    return plain, views


def _srgb_to_linear(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(y: np.ndarray) -> np.ndarray:
    return np.where(y <= 0.0031308, y * 12.92, 1.055 * np.power(np.maximum(y, 0.0), 1 / 2.4) - 0.055)


def combined_from_views(left: np.ndarray, right: np.ndarray, names: tuple[str, str]) -> np.ndarray:
    """The ordinary picture of a dual-pixel shot from its two views: their mean in linear light (the
    sensor sums the two photodiodes; views scaled to the same exposure average instead). The views are
    taken as sRGB-encoded, as cameras and RAW developers write them; the result keeps their dtype."""
    if left.shape != right.shape or left.dtype != right.dtype:
        raise RdrfError(
            f"{names[0]} is {left.shape[1]}x{left.shape[0]} {left.dtype} but {names[1]} is {right.shape[1]}x{right.shape[0]} "
            f"{right.dtype}; the two views of a dual-pixel shot must have one size and bit depth"
        )
    scale = imageio.full_scale(left)
    mean = (_srgb_to_linear(left / scale) + _srgb_to_linear(right / scale)) / 2
    return np.clip(np.rint(_linear_to_srgb(mean) * scale), 0, scale).astype(left.dtype)


def combined_png(left: Path, right: Path) -> bytes:
    """`combined_from_views` of two view files, as lossless PNG bytes (channel order kept as decoded)."""
    a, b = imageio.read(left), imageio.read(right)
    return imageio.encode_png(combined_from_views(a, b, (str(left), str(right))), level=3)


# ---- Canon Dual Pixel RAW --------------------------------------------------------------------


@dataclass
class DualPixelRaw:
    """The two frames of a DPRAW file as LibRaw unpacks them (Bayer mosaics, uint16)."""

    combined: np.ndarray  # frame 0: both photodiodes summed
    one_view: np.ndarray  # frame 1: one photodiode
    black: np.ndarray  # per-site black level, the mosaic's shape (or broadcastable to it)
    white: int


def other_view(combined: np.ndarray, one_view: np.ndarray, black: np.ndarray | int, white: int) -> tuple[np.ndarray, int]:
    """The other photodiode's mosaic: (combined - black) - (one_view - black) + black, per site; and
    how many sites are unknown because the combined frame is clipped there (set to `white`).

    Both frames are read with their black level, so the black is subtracted from each and added back
    once. A site where the view is brighter than the sum (noise at black) is clamped at black."""
    if combined.shape != one_view.shape:
        raise RdrfError(f"the Dual Pixel RAW's frames differ in size ({combined.shape} vs {one_view.shape}); expected one sensor read twice")
    c = combined.astype(np.int32)
    other = c - one_view.astype(np.int32) + np.asarray(black, np.int32)
    other = np.clip(other, np.asarray(black, np.int32), white)
    clipped = c >= white
    other[clipped] = white
    return other.astype(combined.dtype), int(np.count_nonzero(clipped))


def read_dual_pixel_raw(data: bytes, name: str) -> DualPixelRaw:
    """Both frames of a Canon Dual Pixel RAW through rawpy's `shot_select`; a RAW with one frame is
    refused naming the file (LibRaw: 'Request for nonexisting image number')."""
    import rawpy

    try:
        with rawpy.imread(io.BytesIO(data), shot_select=0) as raw:
            combined = raw.raw_image_visible.copy()
            black = _black_mosaic(raw)
            white = int(raw.white_level)
        with rawpy.imread(io.BytesIO(data), shot_select=1) as raw:
            one = raw.raw_image_visible.copy()
    except rawpy.LibRawRequestForNonexistentImageError:
        raise RdrfError(f"{name}: this RAW file holds one image, not the two of a Canon Dual Pixel RAW (LibRaw has no "
                        "frame 1 to select); import it without --dual-pixel-raw, or shoot in Dual Pixel RAW mode") from None
    except (rawpy.LibRawError, ValueError, OSError) as exc:
        raise RdrfError(f"{name}: unreadable RAW file ({exc}); expected a Canon Dual Pixel RAW (.CR2/.CR3)") from None
    return DualPixelRaw(combined, one, black, white)


def _black_mosaic(raw) -> np.ndarray:
    """The black level of every visible site (LibRaw's per-channel levels laid over the CFA pattern)."""
    levels = np.asarray(raw.black_level_per_channel, np.int32)
    colors = raw.raw_colors_visible
    return levels[colors]


OTHER: dict[str, View] = {"left": "right", "right": "left"}


def check_dual_pixel_raw(path: Path) -> dict:
    """Before anything is stored: the file has the two frames of a Dual Pixel RAW (else an error
    naming it); what its shot's QA records about them (clipped sites of the combined frame)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RdrfError(f"{path}: cannot read ({exc.strerror})") from None
    frames = read_dual_pixel_raw(data, str(path))
    _, clipped = other_view(frames.combined, frames.one_view, frames.black, frames.white)
    return {"clipped_sites": clipped, "sites": int(frames.combined.size)}
