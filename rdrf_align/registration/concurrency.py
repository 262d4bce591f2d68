"""Running a pair's independent steps side by side on the threads OpenCV is allowed.

Most of a pair's work is a chain (decode, features, patches, warp, masks), but some links are
independent pieces: the ~100 ECC patch measurements, the masks and the exposure/focus figures, the
parts of a scene's GT preparation. OpenCV and numpy release the GIL in their kernels, so threads
run them in parallel. The pool follows `cv2.getNumThreads()`: `rdrf align --workers N` gives each
worker process its share of the cores (runner._init_worker), and a worker with one thread runs
everything in order, in its own thread, as before. Results are gathered in submission order and
each piece is a pure function of its inputs, so the outcome is bit-identical whatever the thread
count (tests/test_align_determinism.py).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, TypeVar

import cv2

T = TypeVar("T")
R = TypeVar("R")

_POOL: tuple[int, ThreadPoolExecutor] | None = None


def threads() -> int:
    return max(1, cv2.getNumThreads())


def _pool() -> ThreadPoolExecutor | None:
    global _POOL
    n = threads()
    if n < 2:
        return None
    if _POOL is None or _POOL[0] != n:
        if _POOL is not None:
            _POOL[1].shutdown(wait=False)
        _POOL = (n, ThreadPoolExecutor(n, thread_name_prefix="rdrf-pair"))
    return _POOL[1]


def ordered_map(fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """[fn(x) for x in items], spread over the threads; in order."""
    pool = _pool()
    if pool is None:
        return [fn(x) for x in items]
    return list(pool.map(fn, items))


def side_by_side(*calls: Callable[[], object]) -> list:
    """The results of independent calls, the first in this thread and the rest in the pool."""
    pool = _pool()
    if pool is None or len(calls) < 2:
        return [c() for c in calls]
    futures = [pool.submit(c) for c in calls[1:]]
    first = calls[0]()
    return [first] + [f.result() for f in futures]
