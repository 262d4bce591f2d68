"""Writing what a pair leaves under aligned/ (its masks and maps), crash-safely."""

from __future__ import annotations

from pathlib import Path

from schemas.errors import RdrfError
from schemas.storage import Stored, durable_write


def write_output(data: bytes, root: Path, rel: str) -> Stored:
    """Write one output durably (temporary + fsync + rename). A full or read-only disk is the
    workspace's problem, not the pair's: it stops the run with the path, and what was aligned so far stays."""
    try:
        return durable_write(data, root / rel)
    except OSError as exc:
        raise RdrfError(
            f"{root / rel}: cannot write ({exc.strerror or exc}); the pairs aligned so far are kept - "
            "free some space and run `rdrf align` again to finish the rest"
        ) from None
