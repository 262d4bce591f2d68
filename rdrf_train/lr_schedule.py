"""The learning-rate schedule: optional linear warm-up, constant, then cosine annealing to `min_lr`.

The paper (A.2): 3e-4 for the first 100k of 300k iterations, then cosine annealing to 1e-6 over
the remaining 200k. `lr_at(step)` is the rate used for optimizer step `step` (0-based), a pure
function of the config, so a resumed run can be checked against it.
"""

from __future__ import annotations

import math

from rdrf_train.config import OptimSection, ScheduleSection


def lr_factor(step: int, total: int, base_lr: float, sched: ScheduleSection) -> float:
    if sched.warmup_steps and step < sched.warmup_steps:
        return (step + 1) / sched.warmup_steps
    flat_end = max(sched.warmup_steps, int(round(total * sched.constant_fraction)))
    if step < flat_end or total <= flat_end:
        return 1.0
    progress = min(1.0, (step - flat_end) / max(1, total - flat_end - 1))
    floor = min(1.0, sched.min_lr / base_lr)
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def lr_at(step: int, total: int, optim: OptimSection, sched: ScheduleSection) -> float:
    return optim.lr * lr_factor(step, total, optim.lr, sched)


def make_lr_scheduler(optimizer, total: int, optim: OptimSection, sched: ScheduleSection):
    from torch.optim.lr_scheduler import LambdaLR

    return LambdaLR(optimizer, lambda step: lr_factor(step, total, optim.lr, sched))
