"""Modulate&Gate (seeds/000 sec. 4.2.1-4.2.2, eq. 3-4, Fig. 4b).

The condition latents c_s (stage I output) and c_lq (degraded image) never change over the sampling
steps while the noisy latent z_t does, so each condition is *modulated* by z_t, and a spatial *gate*
then decides, per latent pixel, how much to trust c_s versus c_lq (raindrops only spoil parts of
the LQ image, so c_lq is clean elsewhere):

    f_c, f_z = Conv(c_s), Conv(z_t)                     # C = 32 features each
    f_cross  = CrAttn([f_c, f_z])                       # two transformer layers over the concatenation
    ĉ_s      = Conv(f_cross + f_z)                      # back to 4 channels          (eq. 3)

    α        = SpAttn([ĉ_s, ĉ_lq])                      # conv, activation, conv, sigmoid -> (B, 1, h, w)
    c̄_s      = α · ĉ_s,   c̄_lq = (1 - α) · ĉ_lq                                      (eq. 4)

Reading of "CrAttn": the concatenation [f_c, f_z] is a 2C-dim token per latent pixel; two standard
transformer layers (attention + feed-forward, diffusers' `BasicTransformerBlock`) attend across all
of them, so condition and noise features of every position exchange information, and a linear map
takes the result back to C so it can be added to f_z ("aligns the dimensions of f_cross and f_z").
"""

from __future__ import annotations

import torch
from diffusers.models.attention import BasicTransformerBlock
from torch import nn


class Modulate(nn.Module):
    """Eq. 3: a condition latent modulated by the noisy latent."""

    def __init__(self, latent_channels: int = 4, channels: int = 32, num_layers: int = 2, num_heads: int = 2):
        super().__init__()
        self.cond_conv = nn.Conv2d(latent_channels, channels, 3, padding=1)
        self.noise_conv = nn.Conv2d(latent_channels, channels, 3, padding=1)
        dim = 2 * channels
        self.transformer = nn.ModuleList(
            [BasicTransformerBlock(dim, num_heads, dim // num_heads, activation_fn="geglu") for _ in range(num_layers)]
        )
        self.proj_out = nn.Linear(dim, channels)
        self.conv_out = nn.Conv2d(channels, latent_channels, 3, padding=1)

    def forward(self, condition: torch.Tensor, z_t: torch.Tensor) -> torch.Tensor:
        f_c, f_z = self.cond_conv(condition), self.noise_conv(z_t)
        b, c, h, w = f_z.shape
        tokens = torch.cat([f_c, f_z], dim=1).flatten(2).transpose(1, 2)  # (B, h*w, 2C)
        for layer in self.transformer:
            tokens = layer(tokens)
        f_cross = self.proj_out(tokens).transpose(1, 2).reshape(b, c, h, w)
        return self.conv_out(f_cross + f_z)


class SpatialGate(nn.Module):
    """Eq. 4: α = sigmoid(Conv(act(Conv([a, b])))); returns (α·a, (1-α)·b, α).

    Also the Gate block in front of the fidelity encoder (sec. 4.3), there on I_s and I_lq.
    """

    def __init__(self, channels_each: int = 4, hidden: int = 32):
        super().__init__()
        self.conv1 = nn.Conv2d(2 * channels_each, hidden, 3, padding=1)
        self.act = nn.ReLU()
        self.conv2 = nn.Conv2d(hidden, 1, 3, padding=1)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        alpha = torch.sigmoid(self.conv2(self.act(self.conv1(torch.cat([a, b], dim=1)))))
        return alpha * a, (1 - alpha) * b, alpha


class ModulateGate(nn.Module):
    """Both conditions modulated by z_t (one Modulate block each), then gated against each other."""

    def __init__(self, latent_channels: int = 4, channels: int = 32, num_layers: int = 2, num_heads: int = 2):
        super().__init__()
        self.modulate_s = Modulate(latent_channels, channels, num_layers, num_heads)
        self.modulate_lq = Modulate(latent_channels, channels, num_layers, num_heads)
        self.gate = SpatialGate(latent_channels, channels)

    def forward(self, c_s: torch.Tensor, c_lq: torch.Tensor, z_t: torch.Tensor):
        """-> (c̄_s, c̄_lq, α)."""
        return self.gate(self.modulate_s(c_s, z_t), self.modulate_lq(c_lq, z_t))
