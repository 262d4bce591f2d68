"""Real DNG files from a known Bayer mosaic (pidng), so RAW paths are tested on RAW, not JPEG."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from pidng.core import RAW2DNG, DNGTags, Tag
from pidng.defs import CalibrationIlluminant, CFAPattern, DNGVersion, Orientation, PhotometricInterpretation, PreviewColorSpace

BITS = 12


def mosaic_from_rgb(rgb: np.ndarray) -> np.ndarray:
    """RGGB mosaic (12-bit in uint16) sampling a linear RGB image in [0, 1]."""
    h, w, _ = rgb.shape
    lin = np.clip(rgb, 0, 1) * (2**BITS - 1)
    m = np.empty((h, w), np.uint16)
    m[0::2, 0::2] = lin[0::2, 0::2, 0]
    m[0::2, 1::2] = lin[0::2, 1::2, 1]
    m[1::2, 0::2] = lin[1::2, 0::2, 1]
    m[1::2, 1::2] = lin[1::2, 1::2, 2]
    return m


def dng_bytes(mosaic: np.ndarray, *, model: str = "Virtual RDRF", neutral=(0.5, 1.0, 0.8)) -> bytes:
    h, w = mosaic.shape
    t = DNGTags()
    t.set(Tag.ImageWidth, w)
    t.set(Tag.ImageLength, h)
    t.set(Tag.TileWidth, w)
    t.set(Tag.TileLength, h)
    t.set(Tag.Orientation, Orientation.Horizontal)
    t.set(Tag.PhotometricInterpretation, PhotometricInterpretation.Color_Filter_Array)
    t.set(Tag.SamplesPerPixel, 1)
    t.set(Tag.BitsPerSample, BITS)
    t.set(Tag.CFARepeatPatternDim, [2, 2])
    t.set(Tag.CFAPattern, CFAPattern.RGGB)
    t.set(Tag.BlackLevel, 0)
    t.set(Tag.WhiteLevel, 2**BITS - 1)
    t.set(Tag.ColorMatrix1, [[10000, 10000], [0, 10000], [0, 10000], [0, 10000], [10000, 10000], [0, 10000], [0, 10000], [0, 10000], [10000, 10000]])
    t.set(Tag.CalibrationIlluminant1, CalibrationIlluminant.D65)
    t.set(Tag.AsShotNeutral, [[int(n * 1000), 1000] for n in neutral])
    t.set(Tag.Make, "rdrf")
    t.set(Tag.Model, model)
    t.set(Tag.DNGVersion, DNGVersion.V1_4)
    t.set(Tag.DNGBackwardVersion, DNGVersion.V1_2)
    t.set(Tag.PreviewColorSpace, PreviewColorSpace.sRGB)
    with tempfile.TemporaryDirectory() as d:
        r = RAW2DNG()
        r.options(t, path=d, compress=False)
        r.convert(mosaic, filename="shot")
        return (Path(d) / "shot.dng").read_bytes()
