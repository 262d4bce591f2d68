"""WeatherDiff64 (Ozdenizci & Legenstein, TPAMI 2023, "Restoring Vision in Adverse Weather Conditions
with Patch-Based Denoising Diffusion Models"; RaindropDiff64 in seeds/000 Table 2): the noise
predictor, a DDPM U-Net (Ho et al.'s, as ermongroup/ddim writes it) that reads the degraded patch
concatenated with the noisy clean patch and predicts the noise (or, as a training option of the
stage, `diffusion.prediction_type`, the clean patch or v: the network is the same).

Layer sizes and order follow the public code (IGITUGraz/WeatherDiffusion, models/unet.py) so its
configuration (configs/raindrop.yml: 64 px patches, ch 128, ch_mult [1, 1, 2, 2, 4, 4], two
residual blocks per level, attention at 16 px, conditional: 6 input channels) has the same
parameters. Sampling over overlapping patches lives in `rdrf_train.stages.weatherdiff`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """DDPM's sinusoidal embedding (sin half, then cos half; frequencies 10000^(-i/(dim/2 - 1)))."""
    half = dim // 2
    freqs = torch.exp(torch.arange(half, dtype=torch.float32, device=t.device) * -(math.log(10000) / (half - 1)))
    args = t.float()[:, None] * freqs[None, :]
    emb = torch.cat([torch.sin(args), torch.cos(args)], dim=1)
    return F.pad(emb, (0, 1)) if dim % 2 else emb


def group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(32 if channels % 32 == 0 else math.gcd(channels, 32), channels, eps=1e-6)


class ResnetBlock(nn.Module):
    def __init__(self, cin: int, cout: int, temb: int, dropout: float):
        super().__init__()
        self.norm1 = group_norm(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.temb_proj = nn.Linear(temb, cout)
        self.norm2 = group_norm(cout)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x))) + self.temb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.shortcut(x) + h


class AttnBlock(nn.Module):
    """Single-head self-attention over all pixels, residual."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = group_norm(channels)
        self.q, self.k, self.v = (nn.Conv2d(channels, channels, 1) for _ in range(3))
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        n = self.norm(x)
        q, k, v = (m(n).reshape(b, c, h * w).transpose(1, 2) for m in (self.q, self.k, self.v))
        out = F.scaled_dot_product_attention(q, k, v)
        return x + self.proj_out(out.transpose(1, 2).reshape(b, c, h, w))


class Downsample(nn.Module):
    """Stride-2 3x3 conv after padding right and bottom by one (as the DDPM code)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class PatchDiffusionUNet(ModelMixin, ConfigMixin):
    """Noise prediction eps(cat[lq, x_t], t) (or x0 / v: the stage decides what the output is trained
    as) on square patches of side `resolution` (a multiple of 2^(len(ch_mult) - 1)). The defaults
    are WeatherDiff64's configuration.

    Args:
        in_channels: channels of the image; the network reads twice as many (condition + noisy image).
        out_channels: channels of the output (the predicted noise, x0 or v).
        ch: base width; level i is ch * ch_mult[i] wide, the timestep embedding 4 * ch.
        ch_mult: width multipliers per resolution level (one 2x downsampling between levels).
        num_res_blocks: residual blocks per level in the encoder (the decoder has one more).
        attn_resolutions: patch sides (in pixels of that level) at which self-attention follows
            each residual block.
        dropout: dropout inside the residual blocks.
        resolution: the patch side the network is built for (sets where attention is).
    """

    @register_to_config
    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        ch: int = 128,
        ch_mult: tuple[int, ...] = (1, 1, 2, 2, 4, 4),
        num_res_blocks: int = 2,
        attn_resolutions: tuple[int, ...] = (16,),
        dropout: float = 0.0,
        resolution: int = 64,
    ):
        super().__init__()
        temb = ch * 4
        self.temb = nn.Sequential(nn.Linear(ch, temb), nn.SiLU(), nn.Linear(temb, temb))
        self.conv_in = nn.Conv2d(2 * in_channels, ch, 3, padding=1)
        levels = len(ch_mult)
        self.down_blocks, self.down_attn, self.downsample = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        skips, res, c = [ch], resolution, ch
        for i in range(levels):
            blocks, attn = nn.ModuleList(), nn.ModuleList()
            for _ in range(num_res_blocks):
                blocks.append(ResnetBlock(c, ch * ch_mult[i], temb, dropout))
                c = ch * ch_mult[i]
                attn.append(AttnBlock(c) if res in attn_resolutions else nn.Identity())
                skips.append(c)
            self.down_blocks.append(blocks)
            self.down_attn.append(attn)
            if i != levels - 1:
                self.downsample.append(Downsample(c))
                skips.append(c)
                res //= 2
        self.mid1 = ResnetBlock(c, c, temb, dropout)
        self.mid_attn = AttnBlock(c)
        self.mid2 = ResnetBlock(c, c, temb, dropout)
        self.up_blocks, self.up_attn, self.upsample = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        for i in reversed(range(levels)):
            blocks, attn = nn.ModuleList(), nn.ModuleList()
            for _ in range(num_res_blocks + 1):
                blocks.append(ResnetBlock(c + skips.pop(), ch * ch_mult[i], temb, dropout))
                c = ch * ch_mult[i]
                attn.append(AttnBlock(c) if res in attn_resolutions else nn.Identity())
            self.up_blocks.append(blocks)
            self.up_attn.append(attn)
            if i != 0:
                self.upsample.append(Upsample(c))
                res *= 2
        self.norm_out = group_norm(c)
        self.conv_out = nn.Conv2d(c, out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x: (B, 2C, S, S) = cat[condition, x_t] in [-1, 1]; t: (B,) timesteps -> predicted noise (or x0 / v) (B, C, S, S)."""
        temb = self.temb(timestep_embedding(t, self.config.ch))
        hs = [self.conv_in(x)]
        for i, (blocks, attn) in enumerate(zip(self.down_blocks, self.down_attn)):
            for block, a in zip(blocks, attn):
                hs.append(a(block(hs[-1], temb)))
            if i < len(self.downsample):
                hs.append(self.downsample[i](hs[-1]))
        h = self.mid2(self.mid_attn(self.mid1(hs[-1], temb)), temb)
        for i, (blocks, attn) in enumerate(zip(self.up_blocks, self.up_attn)):
            for block, a in zip(blocks, attn):
                h = a(block(torch.cat([h, hs.pop()], dim=1), temb))
            if i < len(self.upsample):
                h = self.upsample[i](h)
        return self.conv_out(F.silu(self.norm_out(h)))
