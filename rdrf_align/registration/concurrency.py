"""How many threads a pair's alignment may use, and how a process's cores are split between pairs.

Most of a pair's work is a chain (decode, features, patches, warp, masks), but some links are
independent pieces: the ~100 ECC patch measurements, the masks and the exposure/focus figures, the
parts of a scene's GT preparation. They run side by side on threads (schemas.parallel), as many as
`cv2.getNumThreads()`. One process also aligns several pairs at once (`lanes`, runner._in_process):
the cores are split between them, and each pair's OpenCV calls get that share. Measured on 2 cores
(4752x3168, docs/NOTES.md): two pairs each with one OpenCV thread use 0.76-0.86 s of CPU per pair,
two pairs whose calls each fan out over both cores 0.95-1.05 s - OpenCV's thread pool waits and
hands work over more than it gains when every core is already busy with a pair.

`rdrf align --workers N` gives each worker process its share of the cores (runner._init_worker); a
worker with one thread runs everything in order. Results are gathered in submission order and each
piece is a pure function of its inputs, so the outcome is bit-identical whatever the thread count
(tests/test_align_determinism.py).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import cv2

MAX_LANES = 4  # pairs in flight in one process at most: each holds a pair's images (~0.6 GB at 60 MP)
_lanes = 1


def threads() -> int:
    """OpenCV threads one pair may use (its lane's share of the process's)."""
    return max(1, cv2.getNumThreads())


def process_threads() -> int:
    """All the threads this process may use: what work that blocks every lane (a scene's GT
    preparation, which its other pairs wait for) should fan out over."""
    return threads() * _lanes


@contextmanager
def lanes(limit: int = MAX_LANES) -> Iterator[int]:
    """Split this process's OpenCV threads into up to `limit` lanes, one pair each; yields the
    number of lanes. OpenCV's thread count is process-wide: restored on exit."""
    global _lanes
    total = threads()
    n = max(1, min(limit, total))
    if n == 1:
        yield 1
        return
    cv2.setNumThreads(total // n)
    _lanes = n
    try:
        yield n
    finally:
        _lanes = 1
        cv2.setNumThreads(total)
