"""AGAN re-trained on an export (seeds/000 Table 2, AGAN†): the attentive GAN of seeds/004.

The attention maps are supervised by the export's raindrop mask (the mask the export was made
with: `rdrf align --mask agan` gives AGAN's own |aligned - GT| > 30 mask, the default gives rdrf's),
so comparing the two is a re-export and a re-train. Losses (seeds/004 eqs. 4-9):

    L_G = gan_weight * log(1 - D(O)) + sum_t theta^(N-t) MSE(A_t, M)
          + sum_i lambda_i MSE(S_i, T_i) + perceptual_weight * MSE(VGG(O), VGG(T))
    L_D = -log D(R) - log(1 - D(O)) + gamma * (MSE(D_map(O), A_N) + MSE(D_map(R), 0))

with T_i the ground truth at 1/4, 1/2 and full size, R the pair's ground truth. Each step first
updates the discriminator on the generator's detached output, then returns L_G.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator

from rdrf_train.config import OptimSection, Section, TrainConfig
from rdrf_train.models.agan import AttentiveDiscriminator, AttentiveGenerator
from rdrf_train.runs import RunFolder
from rdrf_train.stages.base import Stage, checkpoint_of, count_parameters, image_metrics, load_weights
from rdrf_train.stages.restore import DRSformerRestorer
from rdrf_train.tiling import tiled
from schemas.errors import RdrfError


class GeneratorSection(Section):
    """`[model.generator]`: the `AttentiveGenerator` arguments; defaults are the paper's."""

    in_channels: int = 3
    recurrent_width: int = Field(32, ge=1)
    residual_blocks: int = Field(5, ge=0)
    time_steps: int = Field(4, ge=1, description="N")
    widths: tuple[int, int, int] = (64, 128, 256)
    dilations: tuple[int, ...] = (2, 4, 8, 16)
    out_width: int = Field(32, ge=1)

    def build(self) -> AttentiveGenerator:
        return AttentiveGenerator(**self.model_dump())


class DiscriminatorSection(Section):
    """`[model.discriminator]`: the `AttentiveDiscriminator` arguments; `image_size` must be `data.crop`."""

    in_channels: int = 3
    widths: tuple[int, ...] = (8, 16, 64, 128, 128, 128)
    tail_widths: tuple[int, int] = (64, 32)
    kernel: int = Field(5, ge=1)
    fc_width: int = Field(1024, ge=1)
    image_size: int = Field(224, ge=8)

    def build(self) -> AttentiveDiscriminator:
        return AttentiveDiscriminator(**self.model_dump())


class AGANModelSection(Section):
    generator: GeneratorSection = GeneratorSection()
    discriminator: DiscriminatorSection = DiscriminatorSection()


class AGANLossSection(Section):
    """`[loss]`: seeds/004's weights. The perceptual loss needs VGG16 weights (torchvision's state
    dict, local); `perceptual = false` is the explicit way to train without it."""

    theta: float = Field(0.8, gt=0, description="attention loss weight base: theta^(N-t) at step t")
    multiscale: tuple[float, float, float] = Field((0.6, 0.8, 1.0), description="lambda at 1/4, 1/2 and full size")
    perceptual: bool = True
    perceptual_weight: float = Field(1.0, ge=0)
    perceptual_layers: tuple[str, ...] = ("relu1_1", "relu1_2", "relu2_1", "relu2_2")
    vgg16_weights: Optional[str] = Field(None, description="torchvision vgg16 state dict (.pth or .safetensors)")
    gan_weight: float = Field(0.01, ge=0, description="weight of log(1 - D(O)) in L_G")
    map_weight: float = Field(0.05, ge=0, description="gamma: weight of L_map in L_D")


class AGANConfig(TrainConfig):
    stage: Literal["agan"] = "agan"
    model: AGANModelSection = AGANModelSection()
    loss: AGANLossSection = AGANLossSection()
    discriminator_optim: OptimSection = OptimSection()
    tile: int = 512
    tile_overlap: int = 64

    @model_validator(mode="after")
    def _crop_fits_discriminator(self) -> "AGANConfig":
        if self.data.crop != self.model.discriminator.image_size:
            raise ValueError(
                f"data.crop ({self.data.crop}) must equal model.discriminator.image_size "
                f"({self.model.discriminator.image_size}): the discriminator's FC layer reads that size"
            )
        if self.data.crop % 4:
            raise ValueError(f"data.crop ({self.data.crop}) must be a multiple of 4 (the generator's two stride-2 levels)")
        return self


def multiscale_targets(gt: torch.Tensor, outputs: list[torch.Tensor]) -> list[torch.Tensor]:
    """The ground truth at each output's size (area average, as an image is shrunk)."""
    return [gt if o.shape[-2:] == gt.shape[-2:] else F.interpolate(gt, size=o.shape[-2:], mode="area") for o in outputs]


class AGANStage(Stage):
    name = "agan"
    config_class = AGANConfig
    config: AGANConfig

    def build(self) -> dict[str, torch.nn.Module]:
        loss = self.config.loss
        self.vgg = None
        if loss.perceptual:
            if not loss.vgg16_weights:
                raise RdrfError(
                    "AGAN's perceptual loss needs VGG16 weights: set loss.vgg16_weights=PATH (torchvision's vgg16 "
                    "state dict, e.g. vgg16-397923af.pth) or switch the loss off explicitly with loss.perceptual=false"
                )
            from rdrf_train.models.vgg16 import load_vgg16

            self.vgg = load_vgg16(Path(loss.vgg16_weights), loss.perceptual_layers, self.device)
        return {"generator": self.config.model.generator.build(), "discriminator": self.config.model.discriminator.build()}

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return list(self.modules["generator"].parameters())

    def auxiliary_optimizer(self):
        return list(self.modules["discriminator"].parameters()), self.config.discriminator_optim

    def attention_loss(self, maps: list[torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
        n, theta = len(maps), self.config.loss.theta
        return sum(theta ** (n - t) * F.mse_loss(a, mask) for t, a in enumerate(maps, start=1))

    def training_step(self, batch: dict) -> torch.Tensor:
        loss = self.config.loss
        gen, disc = self.modules["generator"], self.modules["discriminator"]
        gt, mask = batch["gt"], batch["mask"]
        maps, outputs = gen(batch["lq"])
        maps = [a.float() for a in maps]
        outputs = [o.float() for o in outputs]
        restored, attention = outputs[-1], maps[-1].detach()

        # discriminator: real = the pair's GT, fake = this output (detached)
        map_real, logit_real = disc(gt)
        map_fake, logit_fake = disc(restored.detach())
        d_loss = F.softplus(-logit_real.float()).mean() + F.softplus(logit_fake.float()).mean()  # -log D(R) - log(1 - D(O))
        d_loss = d_loss + loss.map_weight * (F.mse_loss(map_fake.float(), attention) + F.mse_loss(map_real.float(), torch.zeros_like(attention)))
        self.step_auxiliary(d_loss)

        # generator, judged by the updated discriminator
        _, logit = disc(restored)
        g_loss = loss.gan_weight * (-F.softplus(logit.float())).mean()  # log(1 - D(O))
        g_loss = g_loss + self.attention_loss(maps, mask)
        g_loss = g_loss + sum(w * F.mse_loss(o, t) for w, o, t in zip(loss.multiscale, outputs, multiscale_targets(gt, outputs)))
        if self.vgg is not None and loss.perceptual_weight > 0:
            feats_o, feats_t = self.vgg(restored), self.vgg(gt)
            g_loss = g_loss + loss.perceptual_weight * sum(F.mse_loss(a, b) for a, b in zip(feats_o, feats_t)) / len(feats_o)
        return g_loss

    @torch.no_grad()
    def validation_step(self, batch: dict) -> dict[str, float]:
        model = self.accelerator.unwrap_model(self.modules["generator"])
        out = tiled(model.forward_any_size, batch["lq"], self.config.tile, self.config.tile_overlap)
        return image_metrics(batch["gt"], out, batch["lq"])

    @classmethod
    def parameter_counts(cls, config: AGANConfig, pretrained: Optional[str] = None) -> dict[str, dict[str, int]]:
        from rdrf_train.models.vgg16 import VGG16Features

        counts = {
            "generator": {"trainable": count_parameters(config.model.generator.build()), "frozen": 0},
            "discriminator": {"trainable": count_parameters(config.model.discriminator.build()), "frozen": 0},
        }
        if config.loss.perceptual:
            counts["vgg16"] = {"trainable": 0, "frozen": count_parameters(VGG16Features(config.loss.perceptual_layers))}
        return counts

    @classmethod
    def load_restorer(cls, run: RunFolder, checkpoint: Optional[Path] = None, device: str | None = None):
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        config = run.load_config(AGANConfig)
        model = load_weights(config.model.generator.build(), checkpoint_of(run, checkpoint), "generator")
        return DRSformerRestorer(model.to(device).eval(), config.tile, config.tile_overlap)
