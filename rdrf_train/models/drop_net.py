"""The raindrop-mask network of `rdrf align` (rdrf_align/registration/drop_net.py runs it with OpenCV).

A plain stack of 3x3 convolutions with ReLU and one 1x1 output: no normalisation, no pooling, no
upsampling, so the ONNX graph is a handful of Conv/Relu nodes any runtime executes the same way.
The dilations widen the receptive field to 1 + 2 * sum(dilations) pixels (31 with the defaults):
wider than the drops the renderer sprays at the network's grid (2-25 px), so it sees each drop's
outline against its surroundings.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn


class DropNet(ModelMixin, ConfigMixin):
    """Cue maps (B, in_channels, H, W) -> logit of water on the glass (B, 1, H, W), same size.

    Args:
        in_channels: input maps (rdrf_align.registration.drop_net.FEATURES).
        width: channels of every hidden layer.
        dilations: one 3x3 convolution per entry, with that dilation (padding keeps the size).
    """

    @register_to_config
    def __init__(self, in_channels: int = 8, width: int = 16, dilations: tuple[int, ...] = (1, 2, 4, 8)):
        super().__init__()
        chans = [in_channels] + [width] * len(dilations)
        self.hidden = nn.ModuleList(nn.Conv2d(a, b, 3, padding=d, dilation=d) for a, b, d in zip(chans, chans[1:], dilations))
        self.out = nn.Conv2d(width, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.hidden:
            x = F.relu(conv(x))
        return self.out(x)
