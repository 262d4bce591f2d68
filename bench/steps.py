"""Timing training steps, shared by the step benches: a warm-up step that is not counted (allocators,
kernels), CUDA synchronised around each step so its time is the step's, each step printed."""

from __future__ import annotations

import sys
import time
from typing import Callable

import torch


def time_steps(step: Callable[[], None], steps: int, device: torch.device) -> list[float]:
    """Seconds of each of `steps` calls of `step` after one warm-up call."""
    times = []
    for _ in range(steps + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
        print(f"  step {len(times) - 1 or 'warm-up'}: {times[-1]:.3f} s", file=sys.stderr, flush=True)
    return times[1:]
