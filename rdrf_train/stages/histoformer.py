"""Histoformer re-trained on an export (seeds/000 Table 2, Histoformer†), with its published loss:
L1 plus the Pearson correlation loss (1 - r(O, T)) / 2 per image (public code,
basicsr/models/image_restoration_model.py). Everything else - one network named `restorer`,
tiled validation and inference - is stage I's (`RestoreStage`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

import torch
import torch.nn.functional as F
from pydantic import Field

from rdrf_train.config import Section, TrainConfig
from rdrf_train.models.histoformer import Histoformer
from rdrf_train.runs import RunFolder
from rdrf_train.stages.base import checkpoint_of, load_weights
from rdrf_train.stages.restore import DRSformerRestorer, RestoreStage


class HistoformerSection(Section):
    """`[model]`: the `Histoformer` arguments (see its docstring); defaults are the paper's configuration."""

    in_channels: int = 3
    dim: int = Field(36, ge=1)
    blocks: tuple[int, int, int, int] = (4, 4, 6, 8)
    refinement_blocks: int = Field(4, ge=0)
    heads: tuple[int, int, int, int] = (1, 2, 4, 8)
    ffn_expansion: float = 2.667
    bias: bool = False
    layernorm: Literal["with_bias", "bias_free"] = "with_bias"

    def build(self) -> Histoformer:
        return Histoformer(**self.model_dump())


class HistoformerConfig(TrainConfig):
    stage: Literal["histoformer"] = "histoformer"
    model: HistoformerSection = HistoformerSection()
    pearson_weight: float = Field(1.0, ge=0, description="weight of the Pearson correlation loss beside L1")
    tile: int = 512
    tile_overlap: int = 64


def pearson_loss(out: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of (1 - r) / 2, r the correlation of each output with its target over all
    pixels and channels; an image with no variance (r undefined) is left out, as the public code."""
    x, y = out.flatten(1), gt.flatten(1)
    x, y = x - x.mean(dim=1, keepdim=True), y - y.mean(dim=1, keepdim=True)
    r = (x * y).sum(dim=1) / (x.pow(2).sum(dim=1).sqrt() * y.pow(2).sum(dim=1).sqrt() + 1e-6)
    loss = (1 - r) / 2
    finite = torch.isfinite(loss)
    return loss[finite].mean() if bool(finite.any()) else loss.new_zeros(())


class HistoformerStage(RestoreStage):
    name = "histoformer"
    config_class = HistoformerConfig
    config: HistoformerConfig

    def training_step(self, batch: dict) -> torch.Tensor:
        out = self.modules["restorer"](batch["lq"]).float()
        return F.l1_loss(out, batch["gt"]) + self.config.pearson_weight * pearson_loss(out, batch["gt"])

    @classmethod
    def load_restorer(cls, run: RunFolder, checkpoint: Optional[Path] = None, device: str | None = None):
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        config = run.load_config(HistoformerConfig)
        model = load_weights(config.model.build(), checkpoint_of(run, checkpoint), "restorer")
        return DRSformerRestorer(model.to(device).eval(), config.tile, config.tile_overlap)
