"""Seconds per training step of a baseline's paper configuration (issue 15) at its training crop and
batch, as the shipped TOML sets them: the stage's own `training_step` (both optimizers for AGAN),
backward and the optimizer step, on random tensors. The first, warm-up step is not counted; prints
each step, then the median. AGAN's perceptual loss reads VGG16: random weights in torchvision's
layout are written to a temporary file (the time is the same as with ImageNet's).

`--micro-batches K` runs the recipe's batch as K micro-batches whose gradients add up before the one
optimizer step: the same arithmetic per step in 1/K of the activation memory, for recipes whose batch
does not fit this machine (Histoformer's 8 x 128 px, WeatherDiff's 16 images x 16 patches). Not for
AGAN, whose discriminator steps inside `training_step`.

    .venv/bin/python -m bench.baseline_step --stage agan [--steps 3] [--device cpu|cuda] [--threads N]
                                            [--micro-batches K] [--set section.key=value ...]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import torch
from accelerate import Accelerator

from bench.steps import time_steps as timed
from rdrf_train.config import resolve_dict, validate
from rdrf_train.loop import auxiliary_stepper, make_auxiliary_optimizer
from rdrf_train.stages import get_stage


def stage_overrides(stage: str, scratch: Path) -> list[str]:
    if stage == "agan":
        from rdrf_train.models.vgg16 import vgg16_features

        path = scratch / "vgg16.pth"
        torch.save({f"features.{k}": v for k, v in vgg16_features().state_dict().items()}, path)
        return [f'loss.vgg16_weights="{path}"']
    return []


def time_steps(stage_name: str, steps: int, device: str, overrides: list[str], micro: int = 1) -> tuple[list[float], int, int]:
    stage_cls = get_stage(stage_name)
    cfg = validate(stage_cls.config_class, resolve_dict(stage_name, None, overrides), "bench")
    acc = Accelerator(cpu=device == "cpu", mixed_precision="no")
    stage = stage_cls(cfg, acc)
    stage.modules = {k: m.to(acc.device).train() for k, m in stage.build().items()}
    o = cfg.optim
    params = stage.trainable_parameters()
    opt = torch.optim.AdamW(params, lr=o.lr, betas=o.betas, weight_decay=o.weight_decay, eps=o.eps)
    aux = stage.auxiliary_optimizer()
    if aux:
        aux_opt = make_auxiliary_optimizer(*aux)
        stage.step_auxiliary = auxiliary_stepper(acc, aux_opt, torch.optim.lr_scheduler.LambdaLR(aux_opt, lambda s: 1.0), aux[0], cfg.run.grad_clip)
    batch, size = cfg.run.batch_size, cfg.data.crop
    gen = torch.Generator().manual_seed(0)
    data = {k: torch.rand(batch, c, size, size, generator=gen).to(acc.device) for k, c in (("gt", 3), ("lq", 3), ("mask", 1))}
    data["mask"] = (data["mask"] > 0.8).float()

    if aux and micro > 1:
        raise SystemExit(f"--micro-batches: {stage_name} steps a second optimizer inside its training step; run it whole")
    if batch % micro:
        raise SystemExit(f"--micro-batches {micro} does not divide the batch of {batch}")
    parts = [{k: v[i * batch // micro : (i + 1) * batch // micro] for k, v in data.items()} for i in range(micro)]

    def step() -> None:
        for part in parts:  # gradients add up; the loss is each micro-batch's share of the batch mean
            acc.backward(stage.training_step(part) / micro)
        if cfg.run.grad_clip > 0:
            acc.clip_grad_norm_(params, cfg.run.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)

    return timed(step, steps, acc.device), batch, size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stage", required=True)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (CPU)")
    ap.add_argument("--micro-batches", type=int, default=1, help="split the batch into this many gradient-accumulated parts (memory)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="config override section.key=value")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as scratch:
        overrides = stage_overrides(args.stage, Path(scratch)) + args.overrides
        times, batch, size = time_steps(args.stage, args.steps, args.device, overrides, args.micro_batches)
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"cpu, {torch.get_num_threads()} threads"
    parts = f" in {args.micro_batches} micro-batches" if args.micro_batches > 1 else ""
    print(f"{args.stage}: {statistics.median(times):.3f} s/step (median of {len(times)}), batch {batch}{parts}, crop {size}, {device}")


if __name__ == "__main__":
    main()
