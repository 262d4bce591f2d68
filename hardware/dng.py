"""Bayer DNG files from an image, which LibRaw develops back to it.

The virtual rig needs them at run time (vusb refuses to serve .ARW/.NEF, so a DNG stands in for the
body's RAW), and the tests use them to exercise the RAW paths on real RAW files.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

BITS = 12
# Identity camera matrix: the mosaic's channels are already sRGB primaries.
_COLOR_MATRIX = [[10000, 10000], [0, 10000], [0, 10000], [0, 10000], [10000, 10000], [0, 10000], [0, 10000], [0, 10000], [10000, 10000]]


def mosaic(linear: np.ndarray) -> np.ndarray:
    """An RGGB mosaic (12-bit values in uint16) sampling linear RGB in [0, 1]; odd edges are cropped."""
    h, w = linear.shape[:2]
    h, w = h - h % 2, w - w % 2
    lin = np.clip(linear[:h, :w], 0, 1) * (2**BITS - 1)
    m = np.empty((h, w), np.uint16)
    m[0::2, 0::2] = lin[0::2, 0::2, 0]
    m[0::2, 1::2] = lin[0::2, 1::2, 1]
    m[1::2, 0::2] = lin[1::2, 0::2, 1]
    m[1::2, 1::2] = lin[1::2, 1::2, 2]
    return m


def dng_bytes(mosaic: np.ndarray, *, model: str = "rdrf virtual camera", neutral: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> bytes:
    """An uncompressed DNG of `mosaic`; `neutral` is the as-shot white balance (AsShotNeutral) it records."""
    from pidng.core import RAW2DNG, DNGTags, Tag
    from pidng.defs import CalibrationIlluminant, CFAPattern, DNGVersion, Orientation, PhotometricInterpretation

    h, w = mosaic.shape
    t = DNGTags()
    for tag, value in (
        (Tag.ImageWidth, w),
        (Tag.ImageLength, h),
        (Tag.TileWidth, w),
        (Tag.TileLength, h),
        (Tag.Orientation, Orientation.Horizontal),
        (Tag.PhotometricInterpretation, PhotometricInterpretation.Color_Filter_Array),
        (Tag.SamplesPerPixel, 1),
        (Tag.BitsPerSample, BITS),
        (Tag.CFARepeatPatternDim, [2, 2]),
        (Tag.CFAPattern, CFAPattern.RGGB),
        (Tag.BlackLevel, 0),
        (Tag.WhiteLevel, 2**BITS - 1),
        (Tag.ColorMatrix1, _COLOR_MATRIX),
        (Tag.CalibrationIlluminant1, CalibrationIlluminant.D65),
        (Tag.AsShotNeutral, [[int(n * 1000), 1000] for n in neutral]),
        (Tag.Make, "rdrf"),
        (Tag.Model, model),
        (Tag.DNGVersion, DNGVersion.V1_4),
        (Tag.DNGBackwardVersion, DNGVersion.V1_2),
    ):
        t.set(tag, value)
    with tempfile.TemporaryDirectory(prefix="rdrf-dng-") as d:
        r = RAW2DNG()
        r.options(t, path=d, compress=False)
        r.convert(mosaic, filename="shot")
        return (Path(d) / "shot.dng").read_bytes()


def dng_from_rgb(rgb: np.ndarray, model: str = "rdrf virtual camera") -> bytes:
    """The DNG of an sRGB uint8 frame (linearised, then sampled through the Bayer filter)."""
    from hardware.sim.camera import to_linear

    return dng_bytes(mosaic(to_linear(rgb)), model=model)
