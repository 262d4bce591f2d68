"""Keep freed memory in the process for the next pair, instead of handing it back to the system.

Image work allocates and frees arrays of several to tens of MB many times per pair. glibc serves
such blocks from fresh mmaps or trims them off the heap when freed (its adaptive thresholds start
at 128 kB), so each new array's pages are faulted in and zeroed again: on this project's 2-core
machine `cv2.split` of a 1584x1056x3 float32 image took 28 ms, 6 ms with the settings below, and
`rdrf align`'s CPU per 4752x3168 pair fell ~10% (docs/NOTES.md). The price is that a process keeps
its peak heap until it exits, which for `rdrf align` is the few pairs it holds at once.

glibc's `mallopt` through ctypes: no library exposes it, and the environment variables
(MALLOC_TRIM_THRESHOLD_) only work when set before the process starts. Elsewhere a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 64 << 20  # blocks below this come from the heap and are reused: a 60 MP mask is 60 MB
TRIM_THRESHOLD = 512 << 20  # free heap kept before any is returned

_done = False


def keep_freed_memory() -> bool:
    """Once per process; True where glibc took the settings."""
    global _done
    if _done or not sys.platform.startswith("linux"):
        return _done
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others: no mallopt
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    _done = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) & bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _done
