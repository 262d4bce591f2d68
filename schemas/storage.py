"""Durable, hashed file writes shared by ingestion, alignment outputs and exports.

A file is written to a uniquely named temporary file beside its target, fsynced, renamed into place
and the folder fsynced, so a crash leaves either the old state or the complete new file - never a
torn one. The SHA-256 is computed from the bytes as they are written, not by a second read.
Nothing else in rdrf renames a temporary into place: large files stream through `durable_stream`,
shared bytes go through `durable_link`.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

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


def _temporary(dest: Path) -> Path:
    return dest.with_name(f"{TMP_MARK}{uuid.uuid4().hex}-{dest.name}")


class StreamWriter:
    """The file object `durable_stream` yields: hashes what is written; `stored` is set once the
    file is in place."""

    def __init__(self, f: BinaryIO):
        self._f = f
        self._digest = hashlib.sha256()
        self.size = 0
        self.stored: Stored | None = None

    def write(self, data: bytes) -> int:
        self._digest.update(data)
        n = self._f.write(data)
        self.size += n
        return n

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self._f.flush()


@contextmanager
def durable_stream(dest: Path) -> Iterator[StreamWriter]:
    """Write `dest` durably as a stream (a tar shard, a copy), never holding it in memory:

        with durable_stream(path) as out:
            out.write(...)
        out.stored.sha256

    If the block raises, the temporary is removed and `dest` is untouched."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(dest)
    try:
        with open(tmp, "wb") as f:
            out = StreamWriter(f)
            yield out
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dest)
        fsync_dir(dest.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    out.stored = Stored(dest, out._digest.hexdigest(), out.size)


def durable_copy(src: Path, dest: Path) -> Stored:
    """Copy (never move) `src` to `dest` durably and return its hash."""
    with open(src, "rb") as f, durable_stream(dest) as out:
        while chunk := f.read(CHUNK):
            out.write(chunk)
    return out.stored


def durable_write(data: bytes, dest: Path) -> Stored:
    with durable_stream(dest) as out:
        out.write(data)
    return out.stored


def durable_link(src: Path, dest: Path) -> None:
    """Put `src`'s bytes at `dest` as a hard link (no extra disk), else - where the file system has
    no hard links - as a durable copy; atomically either way."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(dest)
    try:
        os.link(src, tmp)
        os.replace(tmp, dest)
        fsync_dir(dest.parent)
    except OSError:
        tmp.unlink(missing_ok=True)
        durable_copy(src, dest)


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
