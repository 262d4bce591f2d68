"""Running independent pieces of work on threads, results in order.

OpenCV and numpy release the GIL in their kernels, so threads run image work in parallel without
processes. Used by the export (rendering pairs), `rdrf align` (pairs in flight, ECC patches, a
pair's independent steps). Each helper runs plainly in the caller's thread with one worker, and
gathers results in submission order, so the outcome never depends on the number of threads. Here
because registration and dataset never import each other and both need it.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int, window: int | None = None) -> Iterator[R]:
    """fn over items on `workers` threads, results in order, at most `window` (default 2 x workers)
    submitted and not yet yielded (bounded memory). Items are drawn lazily, in the caller's thread,
    when a slot frees up: a generator of items may do work of its own (journal the item) just before
    it is submitted."""
    if workers <= 1:
        yield from map(fn, items)
        return
    source = iter(items)
    with ThreadPoolExecutor(workers) as pool:
        pending = deque(pool.submit(fn, x) for x in islice(source, window or 2 * workers))
        while pending:
            result = pending.popleft().result()
            pending.extend(pool.submit(fn, x) for x in islice(source, 1))
            yield result


def side_by_side(*calls: Callable[[], object], workers: int) -> list:
    """The results of independent calls: the first in this thread, the others on up to workers - 1
    more threads."""
    if workers <= 1 or len(calls) < 2:
        return [c() for c in calls]
    with ThreadPoolExecutor(min(workers - 1, len(calls) - 1)) as pool:
        futures = [pool.submit(c) for c in calls[1:]]
        first = calls[0]()
        return [first] + [f.result() for f in futures]
