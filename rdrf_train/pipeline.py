"""The whole DiffUR3 inference pipeline (seeds/000 Fig. 4a): stage I -> stage II -> fidelity decoder.

    I_s   = RM(I_lq)                                    stage I (or I_lq itself when none is given)
    c_s, c_lq = E(I_s), E(I_lq)                         frozen VAE encoder, tiled
    ẑ_0   = spaced DDPM from noise, ε from the UNet steered by the control branch, tiled
    Î     = D(ẑ_0 + fidelity features of (I_lq, I_s))  frozen VAE decoder, tiled; plain D without
                                                        a fidelity encoder (the Table 1 ablation)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch

from rdrf_train.models.control import ControlBranch
from rdrf_train.models.fidelity import FidelityEncoder
from rdrf_train.prior import Prior
from rdrf_train.sampling import LATENT_STRIDE, LATENT_TILE, VAE_FACTOR, decode_tiled, encode_tiled, sample_latent
from rdrf_train.tiling import pad_to_multiple


@dataclass
class DiffUR3Pipeline:
    prior: Prior
    control: ControlBranch
    fidelity: Optional[FidelityEncoder] = None
    stage1: Optional[Callable[[torch.Tensor], torch.Tensor]] = None  # (B,3,H,W) [0,1] -> same
    steps: int = 50
    seed: int = 0
    tile: int = LATENT_TILE
    stride: int = LATENT_STRIDE

    @property
    def device(self) -> torch.device:
        return next(self.control.parameters()).device

    @torch.no_grad()
    def restore_tensor(self, lq: torch.Tensor, on_step: Optional[Callable[[], None]] = None) -> torch.Tensor:
        """(B, 3, H, W) RGB in [0, 1], any H and W -> restored, same shape."""
        x, (h, w) = pad_to_multiple(lq.to(self.device, torch.float32), VAE_FACTOR)
        mode = self.control.config.condition
        i_s = x if self.stage1 is None else self.stage1(x).clamp(0, 1).float()
        vae = self.prior.vae
        c_s = encode_tiled(vae, i_s, self.tile, self.stride) if mode != "lq" else None
        c_lq = encode_tiled(vae, x, self.tile, self.stride) if mode != "s" else None
        generator = torch.Generator(device=self.device).manual_seed(self.seed)
        z0 = sample_latent(
            self.prior.unet, self.control, self.prior.empty_embedding, c_s, c_lq,
            steps=self.steps, generator=generator, tile=self.tile, stride=self.stride, on_step=on_step,
            prediction_type=self.prior.prediction_type,
        )
        out = decode_tiled(vae, z0, self.fidelity, x, i_s, self.tile, self.stride)
        return out[..., :h, :w]

    def __call__(self, lq: np.ndarray) -> np.ndarray:
        """(H, W, 3) float32 RGB in [0, 1] -> restored (H, W, 3) float32 in [0, 1] (the ImageRestorer protocol)."""
        x = torch.from_numpy(np.ascontiguousarray(lq, dtype=np.float32)).permute(2, 0, 1)[None]
        return self.restore_tensor(x)[0].permute(1, 2, 0).cpu().numpy().astype(np.float32)
