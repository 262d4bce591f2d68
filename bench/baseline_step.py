"""Seconds per training step of a baseline's paper configuration (issue 15) at its training crop and
batch, as the shipped TOML sets them: the stage's own `training_step` (both optimizers for AGAN),
backward and the optimizer step, on random tensors. The first, warm-up step is not counted; prints
each step, then the median. AGAN's perceptual loss reads VGG16: random weights in torchvision's
layout are written to a temporary file (the time is the same as with ImageNet's).

    .venv/bin/python -m bench.baseline_step --stage agan [--steps 3] [--device cpu|cuda] [--threads N]
                                            [--set section.key=value ...]
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


def time_steps(stage_name: str, steps: int, device: str, overrides: list[str]) -> tuple[list[float], int, int]:
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

    def step() -> None:
        loss = stage.training_step(data)
        acc.backward(loss)
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
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="config override section.key=value")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as scratch:
        overrides = stage_overrides(args.stage, Path(scratch)) + args.overrides
        times, batch, size = time_steps(args.stage, args.steps, args.device, overrides)
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"cpu, {torch.get_num_threads()} threads"
    print(f"{args.stage}: {statistics.median(times):.3f} s/step (median of {len(times)}), batch {batch}, crop {size}, {device}")


if __name__ == "__main__":
    main()
