"""Durable, hashed file writes shared by ingestion, alignment outputs and exports.

A file is written to a uniquely named temporary file beside its target, fsynced, renamed into place
and the folder fsynced, so a crash leaves either the old state or the complete new file - never a
torn one. The SHA-256 is computed from the bytes as they are written, not by a second read.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

TMP_MARK = ".rdrf-tmp-"
CHUNK = 1 << 20


@dataclass(frozen=True)
class Stored:
    path: Path
    sha256: str
    size: int


def is_temporary(path: Path) -> bool:
    """Leftovers of an interrupted write; never catalogued, safe to delete."""
    return TMP_MARK in path.name


def clear_temporaries(folder: Path) -> int:
    """Remove the torn temporaries an interrupted write left in `folder` (never a finished file)."""
    removed = 0
    if folder.is_dir():
        for p in folder.iterdir():
            if p.is_file() and is_temporary(p):
                p.unlink(missing_ok=True)
                removed += 1
    return removed


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_stream(src: BinaryIO, dest: Path) -> Stored:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f"{TMP_MARK}{uuid.uuid4().hex}-{dest.name}")
    digest = hashlib.sha256()
    size = 0
    try:
        with open(tmp, "wb") as out:
            while chunk := src.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dest)
        fsync_dir(dest.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return Stored(dest, digest.hexdigest(), size)


def durable_copy(src: Path, dest: Path) -> Stored:
    """Copy (never move) `src` to `dest` durably and return its hash."""
    with open(src, "rb") as f:
        return _write_stream(f, dest)


def durable_write(data: bytes, dest: Path) -> Stored:
    import io

    return _write_stream(io.BytesIO(data), dest)


def sha256_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
