"""Stage II sampling: spaced DDPM from Gaussian noise, tiled in latent space, and a tiled VAE.

The schedule is SD's 1000-step scaled-linear one (β 0.00085 -> 0.012); sampling uses 50 of its
steps spread evenly (the paper's spaced DDPM, A.2; diffusers' `DDPMScheduler` with
`timestep_spacing="linspace"`, `clip_sample=False` is DiffBIR's spacing).

Images larger than a tile (64 latent pixels = 512 px, SD's native size) are processed in
overlapping windows (stride 32, `rdrf_train.tiling.tiled_map`) whose outputs are blended with
Gaussian weights: at every step the
ε of each window is predicted and the blend goes through one scheduler step on the whole latent
(as DiffBIR does); encoding and decoding are tiled the same way, so memory does not grow with the
image. Everything is laid out on the latent grid: a pixel tensor is the same window times 8.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch
from diffusers import DDPMScheduler

from rdrf_train.models.control import controlled_eps
from rdrf_train.models.fidelity import decode_latent
from rdrf_train.tiling import tiled_map

NUM_TRAIN_TIMESTEPS = 1000
LATENT_TILE = 64
LATENT_STRIDE = 32
VAE_FACTOR = 8


def make_noise_scheduler(prediction_type: str = "epsilon", num_train_timesteps: int = NUM_TRAIN_TIMESTEPS) -> DDPMScheduler:
    """The noise schedule for training (add_noise) and spaced sampling (set_timesteps(50)); the
    prior's `prediction_type` says what its UNet predicts (`rdrf_train.prior.PREDICTION_TYPES`)."""
    return DDPMScheduler(
        num_train_timesteps=num_train_timesteps,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        timestep_spacing="linspace",
        clip_sample=False,
        prediction_type=prediction_type,
    )


def training_target(scheduler: DDPMScheduler, z0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """What the UNet learns to predict for z_t = add_noise(z0, noise, t): the noise (epsilon) or the
    velocity (v-prediction, SD 2.x 768-v)."""
    if scheduler.config.prediction_type == "v_prediction":
        return scheduler.get_velocity(z0, noise, t)
    return noise


@torch.no_grad()
def encode_tiled(vae, image: torch.Tensor, tile: int = LATENT_TILE, stride: int = LATENT_STRIDE) -> torch.Tensor:
    """RGB in [0, 1] (B, 3, H, W), H and W multiples of 8 -> scaled latent (posterior mode)."""
    scale = vae.config.scaling_factor

    def encode(x: torch.Tensor) -> torch.Tensor:
        return vae.encode((x * 2 - 1).to(vae.dtype)).latent_dist.mode() * scale

    grid = (image.shape[-2] // VAE_FACTOR, image.shape[-1] // VAE_FACTOR)
    return tiled_map(encode, grid, [(image, VAE_FACTOR)], tile, stride, out_factor=1)


@torch.no_grad()
def decode_tiled(
    vae,
    latent: torch.Tensor,
    fidelity=None,
    i_lq: Optional[torch.Tensor] = None,
    i_s: Optional[torch.Tensor] = None,
    tile: int = LATENT_TILE,
    stride: int = LATENT_STRIDE,
) -> torch.Tensor:
    """Scaled latent -> RGB in [0, 1], guided by the fidelity encoder's features of (I_lq, I_s) when given."""

    def decode(z, lq, s):
        features = None if fidelity is None else fidelity(lq, s)
        return decode_latent(vae, z.to(vae.dtype), features)

    out = tiled_map(decode, latent.shape[-2:], [(latent, 1), (i_lq, VAE_FACTOR), (i_s, VAE_FACTOR)], tile, stride, VAE_FACTOR)
    return ((out.float() + 1) / 2).clamp(0, 1)


@torch.no_grad()
def sample_latent(
    unet,
    control,
    prompt_embedding: torch.Tensor,
    c_s: Optional[torch.Tensor],
    c_lq: Optional[torch.Tensor],
    steps: int = 50,
    generator: Optional[torch.Generator] = None,
    tile: int = LATENT_TILE,
    stride: int = LATENT_STRIDE,
    on_step: Optional[Callable[[], None]] = None,
    prediction_type: str = "epsilon",
) -> torch.Tensor:
    """ẑ_0 by spaced DDPM from Gaussian noise, steered by the condition latents (either may be None
    for the single-condition ablations); the scheduler reads the UNet's output as `prediction_type`."""
    reference = c_s if c_s is not None else c_lq
    scheduler = make_noise_scheduler(prediction_type)
    scheduler.set_timesteps(steps, device=reference.device)
    z = torch.randn(reference.shape, generator=generator, device=reference.device, dtype=torch.float32)
    z = z * scheduler.init_noise_sigma
    dtype = next(unet.parameters()).dtype
    for t in scheduler.timesteps:

        def eps(z_tile, cs_tile, clq_tile):
            emb = prompt_embedding.expand(z_tile.shape[0], -1, -1).to(dtype)
            cast = (lambda x: None if x is None else x.to(dtype))
            return controlled_eps(unet, control, z_tile.to(dtype), t, emb, cast(cs_tile), cast(clq_tile))

        noise = tiled_map(eps, z.shape[-2:], [(z, 1), (c_s, 1), (c_lq, 1)], tile, stride, 1)
        z = scheduler.step(noise.float(), t, z, generator=generator).prev_sample
        if on_step is not None:
            on_step()
    return z
