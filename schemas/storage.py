"""Durable, hashed file writes shared by ingestion, alignment outputs and exports.

A file is written to a uniquely named temporary file beside its target, fsynced, renamed into place
and the folder fsynced, so a crash leaves either the old state or the complete new file - never a
torn one. The SHA-256 is computed from the bytes as they are written, not by a second read.
Nothing else in rdrf renames a temporary into place: large files stream through `durable_stream`,
shared bytes go through `durable_link`.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator, Optional

from schemas.errors import WorkspaceError

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


def free_bytes(path: Path) -> Optional[int]:
    """Free bytes on the file system that holds (or would hold) `path`; None when unknown."""
    folder = next((p for p in (path, *path.parents) if p.exists()), path)
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def no_space_message(path: Path, needed: Optional[int] = None) -> str:
    """`path` could not be written for lack of space: what it needed and what the disk has."""
    need = f"{needed:,} bytes needed, " if needed is not None else ""
    free = free_bytes(path)
    have = f"{free:,} bytes free" if free is not None else "free space unknown"
    return f"{path}: no space left on the device ({need}{have}); free some space and run the command again"


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


# A full disk or an exhausted quota: the write cannot succeed until the user frees space.
NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})


@contextmanager
def durable_stream(dest: Path, size: int | None = None) -> Iterator[StreamWriter]:
    """Write `dest` durably as a stream (a tar shard, a copy), never holding it in memory:

        with durable_stream(path) as out:
            out.write(...)
        out.stored.sha256

    If the block raises, the temporary is removed and `dest` is untouched; a full disk is a
    WorkspaceError naming `dest`, the `size` it needed (when the caller knows it) and the free space."""
    tmp = _temporary(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            out = StreamWriter(f)
            yield out
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dest)
        fsync_dir(dest.parent)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in NO_SPACE:
            raise WorkspaceError(no_space_message(dest, size)) from exc
        raise
    out.stored = Stored(dest, out._digest.hexdigest(), out.size)


def durable_copy(src: Path, dest: Path) -> Stored:
    """Copy (never move) `src` to `dest` durably and return its hash."""
    with open(src, "rb") as f, durable_stream(dest, size=os.fstat(f.fileno()).st_size) as out:
        while chunk := f.read(CHUNK):
            out.write(chunk)
    return out.stored


def durable_write(data: bytes, dest: Path) -> Stored:
    with durable_stream(dest, size=len(data)) as out:
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
