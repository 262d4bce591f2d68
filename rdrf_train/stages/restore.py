"""Stage I: DRSformer trained with L1 on (LQ, GT) crops (seeds/000 sec. 4.1, A.2)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

import numpy as np
import torch
import torch.nn.functional as F

from pydantic import Field

from rdrf_train.config import Section, TrainConfig
from rdrf_train.models.drsformer import DRSformer
from rdrf_train.runs import RunFolder
from rdrf_train.stages.base import Stage, checkpoint_of, count_parameters, image_metrics, load_weights
from rdrf_train.tiling import tiled


class DRSformerSection(Section):
    """`[model]`: the `DRSformer` arguments (see its docstring); defaults are the paper's configuration."""

    in_channels: int = 3
    out_channels: int = 3
    dim: int = Field(16, ge=1, description="C, the width of level 1")
    blocks: tuple[int, int, int, int] = Field((2, 4, 4, 8), description="sparse transformer blocks per level (N1..N4)")
    heads: tuple[int, int, int, int] = (1, 2, 4, 8)
    ffn_expansion: float = 2.66
    bias: bool = False
    layernorm: Literal["with_bias", "bias_free"] = "with_bias"
    moe_compensator: bool = Field(False, description="MEFC; off in the paper (N0 = 0)")

    def build(self) -> DRSformer:
        return DRSformer(**self.model_dump())


class RestoreConfig(TrainConfig):
    stage: Literal["restore"] = "restore"
    model: DRSformerSection = DRSformerSection()
    tile: int = 512  # inference tile side for large images (validation, `rdrf restore`)
    tile_overlap: int = 64


def load_drsformer(run: RunFolder, checkpoint: Optional[Path] = None, device: str | torch.device = "cpu") -> DRSformer:
    """The stage I network of a run, in eval mode; stage II uses this to make I_s."""
    config = run.load_config(RestoreConfig)
    return load_weights(config.model.build(), checkpoint_of(run, checkpoint), "restorer").to(device).eval()


class DRSformerRestorer:
    """numpy RGB [0, 1] -> restored numpy RGB [0, 1], tiled for large images."""

    def __init__(self, model: DRSformer, tile: int = 512, overlap: int = 64):
        self.model = model
        self.tile, self.overlap = tile, overlap
        self.device = next(model.parameters()).device

    @torch.no_grad()
    def __call__(self, lq: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(lq, dtype=np.float32)).permute(2, 0, 1)[None].to(self.device)
        y = tiled(self.model.forward_any_size, x, self.tile, self.overlap)
        return y[0].permute(1, 2, 0).clamp(0, 1).cpu().numpy()


class RestoreStage(Stage):
    name = "restore"
    config_class = RestoreConfig
    config: RestoreConfig

    def build(self) -> dict[str, torch.nn.Module]:
        return {"restorer": self.config.model.build()}

    def training_step(self, batch: dict) -> torch.Tensor:
        out = self.modules["restorer"](batch["lq"])
        return F.l1_loss(out.float(), batch["gt"])

    @torch.no_grad()
    def validation_step(self, batch: dict) -> dict[str, float]:
        model = self.accelerator.unwrap_model(self.modules["restorer"])
        out = tiled(model.forward_any_size, batch["lq"], self.config.tile, self.config.tile_overlap)  # fp32, as `rdrf restore`
        return image_metrics(batch["gt"], out, batch["lq"])

    @classmethod
    def parameter_counts(cls, config: RestoreConfig, pretrained: Optional[str] = None) -> dict[str, dict[str, int]]:
        model = config.model.build()
        return {"restorer": {"trainable": count_parameters(model), "frozen": 0}}

    @classmethod
    def load_restorer(cls, run: RunFolder, checkpoint: Optional[Path] = None, device: str | None = None):
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        config = run.load_config(RestoreConfig)
        return DRSformerRestorer(load_drsformer(run, checkpoint, device), config.tile, config.tile_overlap)
