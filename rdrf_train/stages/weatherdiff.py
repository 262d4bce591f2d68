"""WeatherDiff64 re-trained on an export (seeds/000 Table 2, RaindropDiff64†): a conditional DDPM on
64x64 patches, sampled over overlapping patches (IGITUGraz/WeatherDiffusion: models/ddm.py,
utils/sampling.py, models/restoration.py, configs/raindrop.yml).

Training: each training crop gives `patches_per_image` random 64 px patches (the original cuts
16 from each whole image); images in [-1, 1]; timesteps drawn in antithetic pairs (t, T - 1 - t);
loss = squared noise error summed over a patch, averaged over patches; an EMA of the weights
(rate 0.999), which is what restores. `diffusion.prediction_type` (diffusers' names) trains the
same network on x0 or v instead of the noise; the sampler converts its output to (x0, noise) by the
same type, so everything else is one code path.

Restoration: DDIM (eta 0) on `sampling_steps` evenly spaced timesteps; at every step the network
output (noise, x0 or v) over the whole image is the plain average of 64 px windows every
`grid_stride` pixels - `rdrf_train.tiling.tiled_map` with a flat window, which also adds a window
flush with the far edges (the original resizes images to multiples of 16 instead). Images smaller
than a patch are padded (replicate) and cropped back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

import numpy as np
import torch
from pydantic import Field, model_validator

from rdrf_train.config import Section, TrainConfig
from rdrf_train.models.weatherdiff import PatchDiffusionUNet
from rdrf_train.runs import RunFolder
from rdrf_train.stages.base import Stage, checkpoint_of, count_parameters, image_metrics, load_weights
from rdrf_train.tiling import tiled_map


class PatchUNetSection(Section):
    """`[model]`: the `PatchDiffusionUNet` arguments; defaults are WeatherDiff64's (configs/raindrop.yml)."""

    in_channels: int = 3
    out_channels: int = 3
    ch: int = Field(128, ge=1)
    ch_mult: tuple[int, ...] = (1, 1, 2, 2, 4, 4)
    num_res_blocks: int = Field(2, ge=1)
    attn_resolutions: tuple[int, ...] = (16,)
    dropout: float = Field(0.0, ge=0, lt=1)
    resolution: int = Field(64, ge=8, description="patch side in pixels")

    def build(self) -> PatchDiffusionUNet:
        return PatchDiffusionUNet(**self.model_dump())


PredictionType = Literal["epsilon", "sample", "v_prediction"]


class DiffusionSection(Section):
    """`[diffusion]`: noise schedule, patch sampling in training, and the patch-overlap sampler."""

    beta_start: float = Field(1e-4, gt=0, lt=1)
    beta_end: float = Field(0.02, gt=0, lt=1)
    timesteps: int = Field(1000, ge=2)
    patches_per_image: int = Field(16, ge=1, description="random patches cut from each training crop per step")
    sampling_steps: int = Field(25, ge=1, description="DDIM steps when restoring (rdrf restore/eval --steps)")
    grid_stride: int = Field(16, ge=1, description="r: pixels between overlapping sampling windows")
    ema_rate: float = Field(0.999, ge=0, lt=1)
    seed: int = Field(0, description="seed of the initial noise when restoring (results are repeatable)")
    prediction_type: PredictionType = Field(
        "epsilon", description="what the U-Net predicts, as diffusers' DDIMScheduler: 'epsilon' (the noise; "
        "WeatherDiff64's), 'sample' (the clean patch x0) or 'v_prediction' (v = sqrt(a_bar) eps - sqrt(1 - a_bar) x0)")


class WeatherDiffConfig(TrainConfig):
    stage: Literal["weatherdiff"] = "weatherdiff"
    model: PatchUNetSection = PatchUNetSection()
    diffusion: DiffusionSection = DiffusionSection()

    @model_validator(mode="after")
    def _patches_fit(self) -> "WeatherDiffConfig":
        r = self.model.resolution
        if self.data.crop < r:
            raise ValueError(f"data.crop ({self.data.crop}) must be at least the patch side model.resolution ({r})")
        if r % 2 ** (len(self.model.ch_mult) - 1):
            raise ValueError(f"model.resolution ({r}) must be a multiple of 2^{len(self.model.ch_mult) - 1} (the U-Net's downsamplings)")
        if self.diffusion.sampling_steps > self.diffusion.timesteps:
            raise ValueError(f"diffusion.sampling_steps ({self.diffusion.sampling_steps}) exceeds diffusion.timesteps ({self.diffusion.timesteps})")
        return self


def alphas_cumprod(d: DiffusionSection, device=None) -> torch.Tensor:
    """The linear beta schedule's cumulative alpha products, (T,) float32 (computed in float64)."""
    betas = np.linspace(d.beta_start, d.beta_end, d.timesteps, dtype=np.float64)
    return torch.from_numpy(np.cumprod(1 - betas)).float().to(device)


def training_target(x0: torch.Tensor, noise: torch.Tensor, a_bar: torch.Tensor, kind: PredictionType) -> torch.Tensor:
    """What the network must output for x_t = sqrt(a_bar) x0 + sqrt(1 - a_bar) noise."""
    if kind == "epsilon":
        return noise
    if kind == "sample":
        return x0
    return a_bar.sqrt() * noise - (1 - a_bar).sqrt() * x0


def split_prediction(out: torch.Tensor, xt: torch.Tensor, a_bar: torch.Tensor, kind: PredictionType) -> tuple[torch.Tensor, torch.Tensor]:
    """Network output at x_t -> (x0, noise) estimates (diffusers' DDIMScheduler.step conversions).
    With 'sample' or 'v_prediction' a conditional network is right about x0 from the first steps (it
    starts from "x0 ~ condition"); with 'epsilon' x0 = (x_t - sqrt(1 - a_bar) eps) / sqrt(a_bar)
    multiplies the noise error by up to 1 / sqrt(a_bar_T) (~150 for WeatherDiff64's schedule)."""
    if kind == "epsilon":
        return (xt - (1 - a_bar).sqrt() * out) / a_bar.sqrt(), out
    if kind == "sample":
        return out, (xt - a_bar.sqrt() * out) / (1 - a_bar).sqrt()
    return a_bar.sqrt() * xt - (1 - a_bar).sqrt() * out, a_bar.sqrt() * out + (1 - a_bar).sqrt() * xt


def random_patches(images: list[torch.Tensor], size: int, n: int) -> list[torch.Tensor]:
    """n random size x size patches at the same places in each (B, C, H, W) tensor -> (B * n, C, size, size)."""
    b, _, h, w = images[0].shape
    ys = torch.randint(0, h - size + 1, (b, n)).tolist()
    xs = torch.randint(0, w - size + 1, (b, n)).tolist()
    return [torch.stack([t[i, :, y:y + size, x:x + size] for i in range(b) for y, x in zip(ys[i], xs[i])]) for t in images]


@torch.no_grad()
def restore_overlapping(model: PatchDiffusionUNet, lq: torch.Tensor, d: DiffusionSection, steps: int, patch: int,
                        generator: torch.Generator) -> torch.Tensor:
    """(1, 3, H, W) in [0, 1] -> restored (1, 3, H, W) in [0, 1] by DDIM over averaged overlapping patches."""
    h, w = lq.shape[-2:]
    cond = torch.nn.functional.pad(lq * 2 - 1, (0, max(patch - w, 0), 0, max(patch - h, 0)), mode="replicate")
    a_bar = alphas_cumprod(d, lq.device)
    x = torch.randn(cond.shape, generator=generator, device=generator.device).to(lq.device)
    seq = list(range(0, d.timesteps, d.timesteps // steps))
    flat = torch.ones(patch, patch, device=lq.device)
    x0 = x
    for i, j in zip(reversed(seq), reversed([-1] + seq[:-1])):
        at, at_next = a_bar[i], (a_bar[j] if j >= 0 else torch.ones((), device=lq.device))
        t = torch.full((1,), float(i), device=lq.device)
        out = tiled_map(lambda c, xt: model(torch.cat([c, xt], 1), t), tuple(cond.shape[-2:]), [(cond, 1), (x, 1)],
                        patch, d.grid_stride, window=flat)
        x0, eps = split_prediction(out, x, at, d.prediction_type)
        x = at_next.sqrt() * x0 + (1 - at_next).sqrt() * eps
    return ((x0[..., :h, :w] + 1) / 2).clamp(0, 1)


class WeatherDiffRestorer:
    """numpy RGB [0, 1] -> restored numpy RGB [0, 1]; `steps` (DDIM steps) is settable (`--steps`)."""

    def __init__(self, model: PatchDiffusionUNet, config: WeatherDiffConfig):
        self.model, self.config = model, config
        self.steps = config.diffusion.sampling_steps
        self.device = next(model.parameters()).device

    def __call__(self, lq: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(lq, dtype=np.float32)).permute(2, 0, 1)[None].to(self.device)
        gen = torch.Generator(device=self.device).manual_seed(self.config.diffusion.seed)
        y = restore_overlapping(self.model, x, self.config.diffusion, self.steps, self.config.model.resolution, gen)
        return y[0].permute(1, 2, 0).cpu().numpy()


class WeatherDiffStage(Stage):
    name = "weatherdiff"
    config_class = WeatherDiffConfig
    config: WeatherDiffConfig

    def build(self) -> dict[str, torch.nn.Module]:
        unet = self.config.model.build()
        ema = self.config.model.build()
        ema.load_state_dict(unet.state_dict())
        self.a_bar = alphas_cumprod(self.config.diffusion, self.device)
        return {"unet": unet, "ema": ema.requires_grad_(False)}

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return list(self.modules["unet"].parameters())

    @torch.no_grad()
    def after_optimizer_step(self) -> None:
        rate = self.config.diffusion.ema_rate
        unet = self.accelerator.unwrap_model(self.modules["unet"])
        for e, p in zip(self.accelerator.unwrap_model(self.modules["ema"]).parameters(), unet.parameters()):
            e.mul_(rate).add_(p.detach(), alpha=1 - rate)

    def training_step(self, batch: dict) -> torch.Tensor:
        d, size = self.config.diffusion, self.config.model.resolution
        lq, gt = random_patches([batch["lq"], batch["gt"]], size, d.patches_per_image)
        cond, x0 = lq * 2 - 1, gt * 2 - 1
        n = x0.shape[0]
        t = torch.randint(0, d.timesteps, (n // 2 + 1,), device=x0.device)
        t = torch.cat([t, d.timesteps - t - 1])[:n]
        noise = torch.randn_like(x0)
        a = self.a_bar[t].view(-1, 1, 1, 1)
        xt = x0 * a.sqrt() + noise * (1 - a).sqrt()
        pred = self.modules["unet"](torch.cat([cond, xt], 1), t.float()).float()
        return (training_target(x0, noise, a, d.prediction_type) - pred).square().sum(dim=(1, 2, 3)).mean()

    @torch.no_grad()
    def validation_step(self, batch: dict) -> dict[str, float]:
        model = self.accelerator.unwrap_model(self.modules["ema"])
        d = self.config.diffusion
        gen = torch.Generator(device=self.device).manual_seed(d.seed)
        out = restore_overlapping(model, batch["lq"].float(), d, d.sampling_steps, self.config.model.resolution, gen)
        return image_metrics(batch["gt"], out, batch["lq"])

    @classmethod
    def parameter_counts(cls, config: WeatherDiffConfig, pretrained: Optional[str] = None) -> dict[str, dict[str, int]]:
        n = count_parameters(config.model.build())
        return {"unet": {"trainable": n, "frozen": 0}, "ema": {"trainable": 0, "frozen": n}}

    @classmethod
    def load_restorer(cls, run: RunFolder, checkpoint: Optional[Path] = None, device: str | None = None):
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        config = run.load_config(WeatherDiffConfig)
        model = load_weights(config.model.build(), checkpoint_of(run, checkpoint), "ema")
        return WeatherDiffRestorer(model.to(device).eval(), config)
