"""What the two stage II stages (`control`, `fidelity`) share: their common `[model]` keys, the frozen
prior, stage I as a frozen function making I_s, trained weights from a checkpoint, the prior's
architecture for `rdrf info model`, and the validation metrics."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Optional

import torch
from pydantic import Field

from rdrf_train.config import Section
from rdrf_train.runs import resolve_checkpoint
from schemas.errors import RdrfError


class Stage2ModelSection(Section):
    pretrained: str = Field(
        "", description="SD 2.1-base: a local diffusers folder or single-file checkpoint; 'tiny' = random small models (meaningless images)"
    )
    stage1: str = Field("", description="stage I run (or checkpoint) making I_s; empty: I_s = I_lq (said in the log)")
    gradient_checkpointing: bool = Field(True, description="on GPU: trade compute for memory")
    sample_steps: int = Field(50, ge=1, description="spaced DDPM steps at inference (paper: 50)")
    val_steps: int = Field(50, ge=1, description="spaced DDPM steps when validating during training")


def frozen_dtype(accelerator) -> torch.dtype:
    """Frozen parts run in the mixed-precision dtype (as diffusers' ControlNet training); trained ones stay fp32."""
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(str(accelerator.mixed_precision), torch.float32)


def require_prior(spec: str, where: str):
    from rdrf_train.prior import load_prior

    if not spec:
        raise RdrfError(
            f"{where}: model.pretrained is not set; give a local stable-diffusion-2-1-base folder "
            f"(--set model.pretrained=DIR) or 'tiny' for random small models (meaningless images)"
        )
    return load_prior(spec)


def load_stage1(spec: str, device, notify: Optional[Callable[[str], None]] = None) -> Optional[Callable[[torch.Tensor], torch.Tensor]]:
    """Stage I as a frozen tensor function (B,3,H,W) [0,1] -> same, tiled like stage I's own inference."""
    if not spec:
        (notify or (lambda msg: print(msg, file=sys.stderr)))("stage II without a stage I run (model.stage1 is empty): I_s = I_lq")
        return None
    from rdrf_train.stages.restore import RestoreConfig, load_drsformer
    from rdrf_train.tiling import tiled

    run, checkpoint = resolve_checkpoint(Path(spec))
    if run.stage_name() != "restore":
        raise RdrfError(f"model.stage1 = {spec} is a {run.stage_name()!r} run, not a stage I ('restore') run")
    config = run.load_config(RestoreConfig)
    model = load_drsformer(run, checkpoint, device).requires_grad_(False)

    def stage1(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return tiled(model.forward_any_size, x, config.tile, config.tile_overlap).clamp(0, 1)

    return stage1


def prior_architecture(spec: Optional[str]):
    """(unet, vae, text_encoder) to count: built from config (meta tensors) unless tiny."""
    from rdrf_train.prior import SD21_BASE_CONFIG, TINY, build_from_config, build_tiny

    spec = spec or "sd21-base-config"
    if spec == TINY:
        return build_tiny()[:3]
    if spec == "sd21-base-config" or Path(spec).is_file():
        return build_from_config(SD21_BASE_CONFIG, meta=True)
    if Path(spec).is_dir():
        return build_from_config(Path(spec), meta=True)
    raise RdrfError(f"--pretrained {spec!r}: not a folder, a checkpoint file, 'tiny' or 'sd21-base-config'")


