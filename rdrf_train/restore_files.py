"""`rdrf restore`: run a trained run's restorer on image files of any size and write the results.

Inputs are read as RGB (8- or 16-bit, any format OpenCV reads); a folder stands for the images in
it. Each result is written as `<out>/<stem>.png` at the input's size and bit depth. An input is
never overwritten.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, Optional

import cv2
import numpy as np

from rdrf_train.stages import load_restorer
from schemas.errors import RdrfError
from schemas.storage import durable_write

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}


def expand_inputs(inputs: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in inputs:
        path = Path(path)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            if not found:
                raise RdrfError(f"folder {path} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise RdrfError(f"input {path} does not exist")
    return files


def read_rgb(path: Path) -> tuple[np.ndarray, int]:
    """(H, W, 3) float32 RGB in [0, 1] and the bit depth (8 or 16)."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise RdrfError(f"{path} is not an image OpenCV can read")
    bits = 16 if img.dtype == np.uint16 else 8
    if img.dtype not in (np.uint8, np.uint16):
        raise RdrfError(f"{path} has {img.dtype} pixels; expected 8- or 16-bit")
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    elif img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    else:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return img.astype(np.float32) / ((1 << bits) - 1), bits


def encode_png(rgb: np.ndarray, bits: int = 8) -> bytes:
    levels = (1 << bits) - 1
    dtype = np.uint16 if bits == 16 else np.uint8
    arr = np.round(np.clip(rgb, 0, 1) * levels).astype(dtype)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(arr, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RdrfError("could not encode a PNG")
    return buf.tobytes()


def restore_files(
    inputs: Iterable[Path],
    checkpoint: Path,
    out_dir: Path,
    device: Optional[str] = None,
    on_image: Callable[[Path], None] = lambda p: None,
    steps: Optional[int] = None,
) -> list[Path]:
    files = expand_inputs(inputs)
    _, _, restorer = load_restorer(Path(checkpoint), device, steps)
    out_dir = Path(out_dir)
    targets = [out_dir / f"{f.stem}.png" for f in files]
    seen: dict[Path, Path] = {}
    for src, dst in zip(files, targets):
        if dst.resolve() == src.resolve():
            raise RdrfError(f"restoring {src} would overwrite it; choose another --out folder")
        if dst in seen:
            raise RdrfError(f"inputs {seen[dst]} and {src} would both be written to {dst}")
        seen[dst] = src
    written = []
    for src, dst in zip(files, targets):
        lq, bits = read_rgb(src)
        out = restorer(lq)
        durable_write(encode_png(out, bits), dst)
        written.append(dst)
        on_image(dst)
    return written
