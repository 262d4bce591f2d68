"""`rdrf restore`: run a trained run's restorer on image files of any size and write the results.

Inputs are read as RGB (8- or 16-bit, by `schemas.imageio`); a folder stands for the images in it
(`READABLE_IMAGE_EXTS`). Each result is written as `<out>/<stem>.png` at the input's size and bit depth. An input is
never overwritten.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, Optional

import numpy as np

from rdrf_train.stages import load_restorer
from schemas import imageio
from schemas.errors import RdrfError
from schemas.storage import durable_write

def expand_inputs(inputs: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in inputs:
        path = Path(path)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in imageio.READABLE_IMAGE_EXTS and p.is_file())
            if not found:
                raise RdrfError(f"folder {path} holds no images ({', '.join(sorted(imageio.READABLE_IMAGE_EXTS))})")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise RdrfError(f"input {path} does not exist")
    return files


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
        lq = imageio.read(src, order="rgb")
        bits = 16 if lq.dtype == np.uint16 else 8  # the result keeps the input's depth
        out = restorer(imageio.to_float(lq))
        durable_write(imageio.encode_png(imageio.from_float(out, bits), order="rgb"), dst)
        written.append(dst)
        on_image(dst)
    return written
