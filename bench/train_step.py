"""Seconds per stage I training step and peak memory, DRSformer's previous formulation against the
current one (`rdrf_train.models.drsformer`: grouped convs with 2 input channels per group computed
as depthwise + pairwise sum; the four sparse attention maps mixed before one product with v;
depthwise weight gradients computed as depthwise convolutions).

The paper's configuration (C=16, blocks {2,4,4,8}, heads {1,2,4,8}), AdamW + L1 + gradient
clipping - the same `RestoreStage.training_step` the loop runs - on random crops (256x256, batch 4
by default; smaller `--size`/`--batch` for a loaded CPU). Each formulation runs in its own process
so its peak memory (max RSS on CPU, max allocated on CUDA) is its own; the first, warm-up step is
not counted. Prints each step as it completes, then both medians and the ratios.

    .venv/bin/python -m bench.train_step [--steps 5] [--size 256] [--batch 4] [--device cpu|cuda]
                                         [--bf16] [--threads N] [--formulation old|new|both]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys

import torch
from accelerate import Accelerator

from bench.steps import time_steps as timed
from rdrf_train.config import resolve_dict, validate
from rdrf_train.stages.restore import RestoreConfig, RestoreStage


def time_steps(steps: int, device: str, bf16: bool, size: int, batch: int) -> list[float]:
    cfg = validate(RestoreConfig, resolve_dict("restore", None, []), "bench")
    acc = Accelerator(cpu=device == "cpu", mixed_precision="bf16" if bf16 else "no")
    stage = RestoreStage(cfg, acc)
    modules = stage.build()
    opt = torch.optim.AdamW(modules["restorer"].parameters(), lr=3e-4)
    model, opt = acc.prepare(modules["restorer"], opt)
    stage.modules = {"restorer": model}
    gen = torch.Generator().manual_seed(0)
    data = {k: torch.rand(batch, c, size, size, generator=gen).to(acc.device) for k, c in (("gt", 3), ("lq", 3), ("mask", 1))}

    def step() -> None:
        with acc.autocast():
            loss = stage.training_step(data)
        acc.backward(loss)
        acc.clip_grad_norm_(model.parameters(), 0.01)
        opt.step()
        opt.zero_grad(set_to_none=True)

    return timed(step, steps, acc.device)


def peak_memory_gib(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def run_one(a: argparse.Namespace) -> None:
    """One formulation in this process; prints a JSON result line last."""
    if a.formulation == "old":
        from tests.drsformer_reference import previous_formulation

        context = previous_formulation()
    else:
        context = contextlib.nullcontext()
    with context:
        times = time_steps(a.steps, a.device, a.bf16, a.size, a.batch)
    print(json.dumps({"formulation": a.formulation, "median_s": statistics.median(times), "min_s": min(times),
                      "max_s": max(times), "peak_gib": peak_memory_gib(a.device)}), flush=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--formulation", choices=("old", "new", "both"), default="both")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.formulation != "both":
        run_one(a)
        return
    print(f"DRSformer paper config, {a.size}x{a.size} batch {a.batch}, device {a.device}, bf16 {a.bf16}, "
          f"torch threads {a.threads or torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    results = {}
    for formulation in ("old", "new"):
        argv = [sys.executable, "-m", "bench.train_step", *sys.argv[1:], "--formulation", formulation]
        print(f"{formulation} formulation:", flush=True)
        done = subprocess.run(argv, stdout=subprocess.PIPE, text=True, check=True)
        results[formulation] = json.loads(done.stdout.strip().splitlines()[-1])
    for name, r in results.items():
        print(f"{name}: {r['median_s']:.3f} s/step (median of {a.steps}; min {r['min_s']:.3f}, max {r['max_s']:.3f}), "
              f"peak memory {r['peak_gib']:.2f} GiB")
    old, new = results["old"], results["new"]
    print(f"new/old: time {new['median_s'] / old['median_s']:.2f}x (speed-up {old['median_s'] / new['median_s']:.2f}x), "
          f"peak memory {new['peak_gib'] / old['peak_gib']:.2f}x")


if __name__ == "__main__":
    main()
