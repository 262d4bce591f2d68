"""The stage II control branch F_con (seeds/000 sec. 4.2, Fig. 4a) and the controlled UNet.

A trainable copy of the frozen UNet's encoder and middle block (as DiffBIR / ControlNet). Its input
conv takes `[c̄_s, c̄_lq, z_t]` (12 channels): the UNet's `conv_in` weights sit on the z_t slice and
the condition slices start at zero. Its 13 outputs (12 encoder skips + the middle block) pass through
zero-initialised 1x1 convs and are added to the frozen UNet's skips and middle output, so at
initialisation the controlled UNet predicts exactly what the frozen UNet predicts.

`condition` chooses how the condition latents reach the input conv (the ablations of Table 1,
see `rdrf_train.models.condition`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from diffusers import UNet2DConditionModel
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.controlnets.controlnet import zero_module
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.unets.unet_2d_blocks import UNetMidBlock2DCrossAttn, get_down_block
from diffusers.utils import BaseOutput
from torch import nn

from rdrf_train.models.condition import CONDITIONS, Condition
from rdrf_train.models.modulate_gate import ModulateGate

# The UNet config fields the copy shares (everything that shapes the encoder and middle block).
UNET_FIELDS = (
    "down_block_types", "block_out_channels", "layers_per_block", "attention_head_dim", "num_attention_heads",
    "cross_attention_dim", "transformer_layers_per_block", "use_linear_projection", "only_cross_attention",
    "norm_num_groups", "norm_eps", "act_fn", "flip_sin_to_cos", "freq_shift", "downsample_padding",
    "mid_block_scale_factor", "upcast_attention", "resnet_time_scale_shift",
)


@dataclass
class ControlOutput(BaseOutput):  # a BaseOutput, like ControlNetOutput, so DDP and pytree see its tensors
    down_block_res_samples: list[torch.Tensor]  # 12 for SD: added to the UNet's skip connections
    mid_block_res_sample: torch.Tensor  # added to the UNet's middle block output
    alpha: Optional[torch.Tensor] = None  # the gate's α (B, 1, h, w); None without Modulate&Gate


class ControlBranch(ModelMixin, ConfigMixin):
    """F_con: a copy of a UNet's encoder and middle block whose 13 outputs pass through zero convs.
    Build it with `from_unet`, which copies the UNet's config (the arguments in `UNET_FIELDS`, as
    `UNet2DConditionModel` names them) and weights.

    Args:
        condition: how c_s and c_lq reach the input conv (`rdrf_train.models.condition`).
        latent_channels: channels of z_t and of each condition latent (SD: 4).
        down_block_types ... resnet_time_scale_shift: the UNet's encoder and middle block, as in
            `UNet2DConditionModel` (SD 2.1-base's values by default).
        modulate_channels: C, the feature width of each Modulate block (paper: 32).
        modulate_layers: transformer layers in each Modulate block (paper: 2).
        modulate_heads: attention heads of those layers.
    """

    _supports_gradient_checkpointing = True

    @register_to_config
    def __init__(
        self,
        condition: Condition = "modulate_gate",
        latent_channels: int = 4,
        down_block_types: tuple[str, ...] = ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        block_out_channels: tuple[int, ...] = (320, 640, 1280, 1280),
        layers_per_block: int = 2,
        attention_head_dim: int | tuple[int, ...] = 8,
        num_attention_heads: int | tuple[int, ...] | None = None,
        cross_attention_dim: int = 1024,
        transformer_layers_per_block: int | tuple[int, ...] = 1,
        use_linear_projection: bool = False,
        only_cross_attention: bool = False,
        norm_num_groups: int = 32,
        norm_eps: float = 1e-5,
        act_fn: str = "silu",
        flip_sin_to_cos: bool = True,
        freq_shift: int = 0,
        downsample_padding: int = 1,
        mid_block_scale_factor: float = 1,
        upcast_attention: bool = False,
        resnet_time_scale_shift: str = "default",
        modulate_channels: int = 32,
        modulate_layers: int = 2,
        modulate_heads: int = 2,
    ):
        super().__init__()
        if condition not in CONDITIONS:
            raise ValueError(f"condition must be one of {CONDITIONS}, not {condition!r}")
        n = len(down_block_types)
        # diffusers' naming quirk: SD's `attention_head_dim` is really the number of heads.
        num_attention_heads = num_attention_heads or attention_head_dim
        if isinstance(num_attention_heads, int):
            num_attention_heads = (num_attention_heads,) * n
        if isinstance(attention_head_dim, int):
            attention_head_dim = (attention_head_dim,) * n
        if isinstance(transformer_layers_per_block, int):
            transformer_layers_per_block = (transformer_layers_per_block,) * n

        self.modulate_gate = (
            ModulateGate(latent_channels, modulate_channels, modulate_layers, modulate_heads) if condition == "modulate_gate" else None
        )
        conditions = 1 if condition in ("lq", "s") else 2
        self.conv_in = nn.Conv2d(latent_channels * (conditions + 1), block_out_channels[0], kernel_size=3, padding=1)

        time_embed_dim = block_out_channels[0] * 4
        self.time_proj = Timesteps(block_out_channels[0], flip_sin_to_cos, freq_shift)
        self.time_embedding = TimestepEmbedding(block_out_channels[0], time_embed_dim, act_fn=act_fn)

        self.down_blocks = nn.ModuleList()
        self.zero_convs = nn.ModuleList([zero_module(nn.Conv2d(block_out_channels[0], block_out_channels[0], 1))])
        output_channel = block_out_channels[0]
        for i, block_type in enumerate(down_block_types):
            input_channel, output_channel = output_channel, block_out_channels[i]
            is_final = i == n - 1
            self.down_blocks.append(
                get_down_block(
                    block_type,
                    num_layers=layers_per_block,
                    transformer_layers_per_block=transformer_layers_per_block[i],
                    in_channels=input_channel,
                    out_channels=output_channel,
                    temb_channels=time_embed_dim,
                    add_downsample=not is_final,
                    resnet_eps=norm_eps,
                    resnet_act_fn=act_fn,
                    resnet_groups=norm_num_groups,
                    cross_attention_dim=cross_attention_dim,
                    num_attention_heads=num_attention_heads[i],
                    attention_head_dim=attention_head_dim[i] if attention_head_dim[i] is not None else output_channel,
                    downsample_padding=downsample_padding,
                    use_linear_projection=use_linear_projection,
                    only_cross_attention=only_cross_attention,
                    upcast_attention=upcast_attention,
                    resnet_time_scale_shift=resnet_time_scale_shift,
                )
            )
            for _ in range(layers_per_block + (0 if is_final else 1)):
                self.zero_convs.append(zero_module(nn.Conv2d(output_channel, output_channel, 1)))

        self.mid_block = UNetMidBlock2DCrossAttn(
            transformer_layers_per_block=transformer_layers_per_block[-1],
            in_channels=block_out_channels[-1],
            temb_channels=time_embed_dim,
            resnet_eps=norm_eps,
            resnet_act_fn=act_fn,
            output_scale_factor=mid_block_scale_factor,
            resnet_time_scale_shift=resnet_time_scale_shift,
            cross_attention_dim=cross_attention_dim,
            num_attention_heads=num_attention_heads[-1],
            resnet_groups=norm_num_groups,
            use_linear_projection=use_linear_projection,
            upcast_attention=upcast_attention,
        )
        self.zero_conv_mid = zero_module(nn.Conv2d(block_out_channels[-1], block_out_channels[-1], 1))

    @classmethod
    def from_unet(cls, unet: UNet2DConditionModel, condition: Condition = "modulate_gate", load_weights: bool = True, **kwargs) -> "ControlBranch":
        """Copy the UNet's encoder and middle block; its conv_in goes on the z_t slice, zeros elsewhere."""
        config = {k: unet.config[k] for k in UNET_FIELDS if k in unet.config}
        branch = cls(condition=condition, latent_channels=unet.config.in_channels, **config, **kwargs)
        if load_weights:
            branch.time_embedding.load_state_dict(unet.time_embedding.state_dict())
            branch.down_blocks.load_state_dict(unet.down_blocks.state_dict())
            branch.mid_block.load_state_dict(unet.mid_block.state_dict())
            with torch.no_grad():
                branch.conv_in.weight.zero_()
                branch.conv_in.weight[:, -unet.config.in_channels :] = unet.conv_in.weight  # z_t comes last
                branch.conv_in.bias.copy_(unet.conv_in.bias)
        return branch

    def condition_input(self, z_t: torch.Tensor, c_s: Optional[torch.Tensor], c_lq: Optional[torch.Tensor]):
        """The input conv's tensor for this branch's condition mode, and the gate's α."""
        mode = self.config.condition
        need = {"modulate_gate": (c_s, c_lq), "concat": (c_s, c_lq), "lq": (c_lq,), "s": (c_s,)}[mode]
        if any(c is None for c in need):
            raise ValueError(f"condition {mode!r} needs {'c_s and c_lq' if len(need) == 2 else ('c_lq' if mode == 'lq' else 'c_s')}")
        if mode == "modulate_gate":
            c_s_bar, c_lq_bar, alpha = self.modulate_gate(c_s, c_lq, z_t)
            return torch.cat([c_s_bar, c_lq_bar, z_t], dim=1), alpha
        return torch.cat([*need, z_t], dim=1), None

    def forward(
        self,
        z_t: torch.Tensor,
        timestep: torch.Tensor | int,
        encoder_hidden_states: torch.Tensor,
        c_s: Optional[torch.Tensor] = None,
        c_lq: Optional[torch.Tensor] = None,
    ) -> ControlOutput:
        x, alpha = self.condition_input(z_t, c_s, c_lq)

        timesteps = torch.as_tensor(timestep, device=z_t.device)
        timesteps = timesteps.reshape(-1).expand(z_t.shape[0])
        emb = self.time_embedding(self.time_proj(timesteps).to(dtype=x.dtype))

        sample = self.conv_in(x)
        residuals = [sample]
        for block in self.down_blocks:
            if getattr(block, "has_cross_attention", False):
                sample, res = block(hidden_states=sample, temb=emb, encoder_hidden_states=encoder_hidden_states)
            else:
                sample, res = block(hidden_states=sample, temb=emb)
            residuals.extend(res)
        sample = self.mid_block(sample, emb, encoder_hidden_states=encoder_hidden_states)

        down = [conv(r) for conv, r in zip(self.zero_convs, residuals)]
        return ControlOutput(down, self.zero_conv_mid(sample), alpha)


def controlled_eps(
    unet: UNet2DConditionModel,
    control: ControlBranch | nn.Module,
    z_t: torch.Tensor,
    timestep: torch.Tensor | int,
    encoder_hidden_states: torch.Tensor,
    c_s: Optional[torch.Tensor],
    c_lq: Optional[torch.Tensor],
) -> torch.Tensor:
    """ε predicted by the frozen UNet steered by the control branch (which may be DDP-wrapped)."""
    out = control(z_t, timestep, encoder_hidden_states, c_s=c_s, c_lq=c_lq)
    return unet(
        z_t,
        timestep,
        encoder_hidden_states=encoder_hidden_states,
        down_block_additional_residuals=out.down_block_res_samples,
        mid_block_additional_residual=out.mid_block_res_sample,
    ).sample
