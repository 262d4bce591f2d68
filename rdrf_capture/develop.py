"""RAW development with identical parameters for every shot of a scene.

The paper's pairs differ only by the glass: so all shots of a scene are developed with the GT's
as-shot white balance, no auto-brightness and 16-bit output, and half-size when asked (which gives
4752x3168 from a Sony ILCE-7RM4A's 9504x6336).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np

from schemas.errors import RdrfError


@dataclass(frozen=True)
class DevelopParams:
    white_balance: tuple[float, float, float, float]
    half_size: bool = False


def as_shot_white_balance(data: bytes, name: str) -> tuple[float, float, float, float]:
    import rawpy

    try:
        with rawpy.imread(io.BytesIO(data)) as raw:
            wb = tuple(float(v) for v in raw.camera_whitebalance)
    except (rawpy.LibRawError, ValueError, OSError) as exc:
        raise RdrfError(f"{name}: unreadable RAW file ({exc})") from exc
    if not any(wb):  # no as-shot WB recorded: fall back to daylight multipliers
        with rawpy.imread(io.BytesIO(data)) as raw:
            wb = tuple(float(v) for v in raw.daylight_whitebalance)
    if wb[3] == 0:  # three-colour bodies report G2 as 0: it is the same green as G1
        wb = (wb[0], wb[1], wb[2], wb[1])
    return wb  # type: ignore[return-value]


def develop(data: bytes, name: str, params: DevelopParams) -> np.ndarray:
    """RGB uint16, sRGB gamma, white balance fixed by `params` (never the camera's auto)."""
    import rawpy

    try:
        with rawpy.imread(io.BytesIO(data)) as raw:
            return raw.postprocess(
                user_wb=list(params.white_balance),
                use_camera_wb=False,
                use_auto_wb=False,
                no_auto_bright=True,
                output_bps=16,
                half_size=params.half_size,
                output_color=rawpy.ColorSpace.sRGB,
            )
    except (rawpy.LibRawError, ValueError, OSError) as exc:
        raise RdrfError(f"{name}: RAW development failed ({exc})") from exc


def encode_png16(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise RdrfError("could not encode the developed image as PNG")
    return buf.tobytes()
