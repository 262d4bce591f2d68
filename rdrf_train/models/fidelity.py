"""The fidelity encoder (seeds/000 sec. 4.3, Fig. 5) and the VAE decoder it guides.

Decoding the sampled latent with the plain VAE decoder loses fine structure (text, edges). The
fidelity encoder has the VAE encoder's architecture except its first conv, which takes I_s and I_lq
through a Gate block (the same spatial gate as eq. 4). Its features are added into the frozen VAE
decoder at the matching resolutions through zero-initialised 1x1 convs, so before training the
guided decoder is exactly the plain one. It is trained alone (after the control branch): the GT's
latent is decoded with the features of (I_lq, I_s) and compared to the GT with L1.

Where features go (SD: 4 levels, 8x): the encoder's middle output joins the decoder after its
middle block (H/8); the encoder's last activations before each downsampling (H/4, H/2, H) join the
decoder after the up block that produced that resolution. The encoder's output head (to latent
moments) would be unused and is left out.
"""

from __future__ import annotations

from typing import Optional

import torch
from diffusers import AutoencoderKL
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.autoencoders.vae import Encoder
from diffusers.models.controlnets.controlnet import zero_module
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from rdrf_train.models.modulate_gate import SpatialGate


class FidelityEncoder(ModelMixin, ConfigMixin):
    """The VAE encoder's architecture behind a Gate on (I_s, I_lq), with zero convs into the decoder.
    Build it with `from_vae`, which copies the VAE's config and encoder weights.

    Args:
        in_channels: channels of I_s and of I_lq (RGB: 3); the first conv takes both gated images.
        block_out_channels: widths of the encoder levels, as `AutoencoderKL` names them.
        down_block_types: the encoder's blocks, as `AutoencoderKL` names them.
        layers_per_block: resnets per encoder level.
        norm_num_groups: GroupNorm groups.
        act_fn: activation.
        gate_channels: hidden channels of the Gate block in front of the encoder.
    """

    _supports_gradient_checkpointing = True

    @register_to_config
    def __init__(
        self,
        in_channels: int = 3,
        block_out_channels: tuple[int, ...] = (128, 256, 512, 512),
        down_block_types: tuple[str, ...] = ("DownEncoderBlock2D",) * 4,
        layers_per_block: int = 2,
        norm_num_groups: int = 32,
        act_fn: str = "silu",
        gate_channels: int = 32,
    ):
        super().__init__()
        n = len(block_out_channels)
        self.gate = SpatialGate(in_channels, gate_channels)
        self.encoder = Encoder(
            in_channels=2 * in_channels,
            down_block_types=tuple(down_block_types),
            block_out_channels=tuple(block_out_channels),
            layers_per_block=layers_per_block,
            norm_num_groups=norm_num_groups,
            act_fn=act_fn,
        )
        del self.encoder.conv_norm_out, self.encoder.conv_act, self.encoder.conv_out
        decoder_channels = list(reversed(block_out_channels))
        self.zero_convs = nn.ModuleList([zero_module(nn.Conv2d(block_out_channels[-1], decoder_channels[0], 1))])
        for i in range(n - 1):  # after decoder up block i: resolution of encoder level n-2-i
            self.zero_convs.append(zero_module(nn.Conv2d(block_out_channels[n - 2 - i], decoder_channels[i], 1)))

    @classmethod
    def from_vae(cls, vae: AutoencoderKL, load_weights: bool = True, **kwargs) -> "FidelityEncoder":
        """Same architecture as the VAE encoder, started from its weights; the conv_in takes the VAE's
        kernel on both the gated I_s and the gated I_lq, so it first sees their α-blend."""
        c = vae.config
        model = cls(
            in_channels=c.in_channels, block_out_channels=tuple(c.block_out_channels), down_block_types=tuple(c.down_block_types),
            layers_per_block=c.layers_per_block, norm_num_groups=c.norm_num_groups, act_fn=c.act_fn, **kwargs,
        )
        if load_weights:
            state = {k: v for k, v in vae.encoder.state_dict().items() if not k.startswith(("conv_in.", "conv_norm_out.", "conv_out."))}
            missing, unexpected = model.encoder.load_state_dict(state, strict=False)
            assert not unexpected and set(missing) == {"conv_in.weight", "conv_in.bias"}, (missing, unexpected)
            with torch.no_grad():
                model.encoder.conv_in.weight.copy_(vae.encoder.conv_in.weight.repeat(1, 2, 1, 1))
                model.encoder.conv_in.bias.copy_(vae.encoder.conv_in.bias)
        return model

    def _run(self, fn, *args):
        if torch.is_grad_enabled() and self.encoder.gradient_checkpointing:
            return self.encoder._gradient_checkpointing_func(fn, *args)
        return fn(*args)

    def forward(self, i_lq: torch.Tensor, i_s: torch.Tensor, return_alpha: bool = False):
        """RGB in [0, 1], (B, 3, H, W), H and W multiples of 8 -> features for `decode_latent`."""
        x_s, x_lq, alpha = self.gate(i_s * 2 - 1, i_lq * 2 - 1)
        h = self.encoder.conv_in(torch.cat([x_s, x_lq], dim=1))
        levels = []
        for block in self.encoder.down_blocks:
            for resnet in block.resnets:
                h = self._run(resnet, h, None)
            levels.append(h)
            for down in block.downsamplers or []:
                h = down(h)
        h = self._run(self.encoder.mid_block, h)
        n = len(levels)
        features = [self.zero_convs[0](h)] + [self.zero_convs[1 + i](levels[n - 2 - i]) for i in range(n - 1)]
        return (features, alpha) if return_alpha else features


def decode_latent(vae: AutoencoderKL, latent: torch.Tensor, features: Optional[list[torch.Tensor]] = None) -> torch.Tensor:
    """Scaled latent -> RGB in [-1, 1] through the VAE decoder, adding fidelity features when given
    (without them this is `vae.decode(latent / scaling_factor)`)."""
    decoder = vae.decoder
    checkpoint = torch.is_grad_enabled() and decoder.gradient_checkpointing

    def run(fn, *args):
        return decoder._gradient_checkpointing_func(fn, *args) if checkpoint else fn(*args)

    z = latent / vae.config.scaling_factor
    if vae.post_quant_conv is not None:
        z = vae.post_quant_conv(z)
    h = decoder.conv_in(z)
    h = run(decoder.mid_block, h, None)
    if features is not None:
        h = h + features[0].to(h.dtype)
    for i, up in enumerate(decoder.up_blocks):
        h = run(up, h, None)
        if features is not None and i + 1 < len(features):
            h = h + features[i + 1].to(h.dtype)
    h = decoder.conv_act(decoder.conv_norm_out(h))
    return decoder.conv_out(h)
