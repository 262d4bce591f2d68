"""How many threads a pair's alignment may use: those OpenCV is allowed.

Most of a pair's work is a chain (decode, features, patches, warp, masks), but some links are
independent pieces: the ~100 ECC patch measurements, the masks and the exposure/focus figures, the
parts of a scene's GT preparation, and the next pair itself (runner._in_process). They run side by
side on threads (schemas.parallel), as many as `cv2.getNumThreads()`: `rdrf align --workers N`
gives each worker process its share of the cores (runner._init_worker), and a worker with one
thread runs everything in order, in its own thread, as before. Results are gathered in submission
order and each piece is a pure function of its inputs, so the outcome is bit-identical whatever
the thread count (tests/test_align_determinism.py).
"""

from __future__ import annotations

import cv2


def threads() -> int:
    return max(1, cv2.getNumThreads())
