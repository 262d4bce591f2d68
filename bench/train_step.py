"""Seconds per stage I training step: DRSformer in the paper's configuration (C=16, blocks
{2,4,4,8}, heads {1,2,4,8}), 256x256 crops, batch 4, AdamW + L1 + gradient clipping - the same
`RestoreStage.training_step` the loop runs. Also the tiny test configuration in the same run, as a
reference. Each step's time is printed as it completes (the paper configuration takes a while on
a CPU); the first, warm-up step is not counted.

    .venv/bin/python -m bench.train_step [--steps 5] [--device cpu|cuda] [--bf16] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from accelerate import Accelerator

from rdrf_train.config import validate, resolve_dict
from rdrf_train.stages.restore import RestoreConfig, RestoreStage


def time_steps(overrides: list[str], steps: int, device: str, bf16: bool, size: int, batch: int, label: str) -> list[float]:
    cfg = validate(RestoreConfig, resolve_dict("restore", None, overrides), "bench")
    acc = Accelerator(cpu=device == "cpu", mixed_precision="bf16" if bf16 else "no")
    stage = RestoreStage(cfg, acc)
    modules = stage.build()
    stage.modules = modules
    opt = torch.optim.AdamW(stage.trainable_parameters(), lr=3e-4)
    model, opt = acc.prepare(modules["restorer"], opt)
    stage.modules = {"restorer": model}
    gen = torch.Generator().manual_seed(0)
    batch_data = {k: torch.rand(batch, c, size, size, generator=gen).to(acc.device) for k, c in (("gt", 3), ("lq", 3), ("mask", 1))}
    times = []
    for _ in range(steps + 1):  # the first step warms up allocators and kernels
        if acc.device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        loss = stage.training_step(batch_data)
        acc.backward(loss)
        acc.clip_grad_norm_(stage.trainable_parameters(), 0.01)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if acc.device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
        print(f"  {label}: step {len(times) - 1 or 'warm-up'}: {times[-1]:.3f} s", flush=True)
    return times[1:]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--threads", type=int, default=None)
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    print(f"device {a.device}, torch threads {torch.get_num_threads()}, bf16 {a.bf16}, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    tiny = time_steps(["model.dim=8", "model.blocks=[1,1,1,1]"], a.steps, a.device, a.bf16, 32, 2, "tiny")
    print(f"tiny test config (C=8, blocks 1,1,1,1), 32x32 batch 2: {statistics.median(tiny):.3f} s/step (median of {len(tiny)})")
    paper = time_steps([], a.steps, a.device, a.bf16, 256, 4, "paper")
    med = statistics.median(paper)
    print(f"paper config (C=16, blocks 2,4,4,8), 256x256 batch 4: {med:.3f} s/step (median of {len(paper)}; "
          f"min {min(paper):.3f}, max {max(paper):.3f}); 300k steps would take {med * 300_000 / 86400:.1f} days")
    print(f"ratio paper/tiny: {med / statistics.median(tiny):.0f}x")
    if a.device.startswith("cuda"):
        print(f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
    else:
        import resource

        print(f"peak process memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.1f} GiB")


if __name__ == "__main__":
    main()
