"""AGAN (Qian et al., CVPR 2018, "Attentive Generative Adversarial Network for Raindrop Removal from
a Single Image", seeds/004): the attentive generator and the attentive discriminator.

Generator = attentive-recurrent network + contextual autoencoder (seeds/004 sec. 4.1, Fig. 2, 4).
The recurrent network runs N time steps; each step reads the image and the previous attention map
(0.5 at t = 1) through a conv and five residual blocks, updates a convolutional LSTM and emits an
attention map A_t. The autoencoder (16 conv-ReLU blocks: two stride-2 downsamplings, four dilated
convolutions, two transposed-convolution upsamplings with skip connections) reads the image and
A_N and emits the restored image O plus the side outputs S_1 (1/4 size) and S_2 (1/2 size) that
the multi-scale loss compares with the downscaled ground truth.

Discriminator (sec. 4.2): six convolutions, a map head D_map whose output is supervised by A_N (fake)
and 0 (real) and multiplies the features back, two stride-4 convolutions, FC 1024 and one logit.

Layer sizes follow the public implementation (rui1996/DeRaindrop, models/generator.py and
models/discriminator.py), which is what its parameter count refers to; differences from it and from
the paper are listed in docs/NOTES.md ("Baselines (issue 15)"): the LSTM has no peephole terms (as
the public code), the discriminator returns a logit (the sigmoid moves into the loss, for a stable
log) and applies its first stride-4 convolution once (the public forward applies it twice, which
cannot run), and its FC input follows `image_size` (the public 32 * 14 * 14 is a 224 px input).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from rdrf_train.tiling import pad_to_multiple


def conv_relu(cin: int, cout: int, kernel: int = 3, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, dilation * (kernel // 2), dilation=dilation), nn.ReLU())


class ResidualBlock(nn.Module):
    """conv-ReLU-conv-ReLU added to its input, then ReLU (the public code's det_conv1..5)."""

    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(conv_relu(width, width), conv_relu(width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + x)


class Upsample(nn.Sequential):
    """2x transposed convolution, then a 2x2 average over a one-pixel reflection pad (top, left), as
    the public code smooths the checkerboard of the transposed convolution; ReLU."""

    def __init__(self, cin: int, cout: int):
        super().__init__(nn.ConvTranspose2d(cin, cout, 4, 2, 1), nn.ReflectionPad2d((1, 0, 1, 0)), nn.AvgPool2d(2, 1), nn.ReLU())


class AttentiveGenerator(ModelMixin, ConfigMixin):
    """Height and width must be multiples of 4 (two stride-2 levels); `forward_any_size` pads by
    reflection and crops back. The defaults are the paper's (and the public code's) configuration.

    Args:
        in_channels: channels of the input image (the attention map adds one).
        recurrent_width: feature width of the attentive-recurrent network and its LSTM state.
        residual_blocks: residual blocks per time step (the paper's "five layers of ResNet").
        time_steps: N, the recurrent steps, each producing an attention map A_t.
        widths: the autoencoder's widths at full, 1/2 and 1/4 resolution.
        dilations: dilation rates of the dilated convolutions at 1/4 resolution.
        out_width: width of the last hidden convolution before the RGB output.
    """

    @register_to_config
    def __init__(
        self,
        in_channels: int = 3,
        recurrent_width: int = 32,
        residual_blocks: int = 5,
        time_steps: int = 4,
        widths: tuple[int, int, int] = (64, 128, 256),
        dilations: tuple[int, ...] = (2, 4, 8, 16),
        out_width: int = 32,
    ):
        super().__init__()
        w, (c1, c2, c3) = recurrent_width, widths
        # attentive-recurrent network
        self.head = conv_relu(in_channels + 1, w)
        self.residual = nn.Sequential(*[ResidualBlock(w) for _ in range(residual_blocks)])
        self.gates = nn.Conv2d(2 * w, 4 * w, 3, 1, 1)  # input, forget, cell, output gates from [X_t, H_{t-1}]
        self.attention = nn.Conv2d(w, 1, 3, 1, 1)
        # contextual autoencoder
        self.enc1 = conv_relu(in_channels + 1, c1, kernel=5)
        self.enc2 = nn.Sequential(conv_relu(c1, c2, stride=2), conv_relu(c2, c2))
        self.enc3 = nn.Sequential(conv_relu(c2, c3, stride=2), conv_relu(c3, c3), conv_relu(c3, c3))
        self.dilated = nn.Sequential(*[conv_relu(c3, c3, dilation=d) for d in dilations])
        self.mid = nn.Sequential(conv_relu(c3, c3), conv_relu(c3, c3))
        self.side_quarter = conv_relu(c3, in_channels)  # S_1, 1/4 size
        self.up2 = Upsample(c3, c2)
        self.dec2 = conv_relu(c2, c2)
        self.side_half = conv_relu(c2, in_channels)  # S_2, 1/2 size
        self.up1 = Upsample(c2, c1)
        self.dec1 = conv_relu(c1, out_width)
        self.out = nn.Conv2d(out_width, in_channels, 3, 1, 1)

    def attend(self, image: torch.Tensor) -> list[torch.Tensor]:
        """The attention maps A_1..A_N, each (B, 1, H, W)."""
        b, _, h, w = image.shape
        width = self.config.recurrent_width
        attention = image.new_full((b, 1, h, w), 0.5)
        hidden = image.new_zeros((b, width, h, w))
        cell = image.new_zeros((b, width, h, w))
        maps = []
        for _ in range(self.config.time_steps):
            x = self.residual(self.head(torch.cat([image, attention], 1)))
            i, f, g, o = self.gates(torch.cat([x, hidden], 1)).chunk(4, dim=1)
            cell = torch.sigmoid(f) * cell + torch.sigmoid(i) * torch.tanh(g)
            hidden = torch.sigmoid(o) * torch.tanh(cell)
            attention = self.attention(hidden)
            maps.append(attention)
        return maps

    def forward(self, image: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """image (B, 3, H, W) -> (attention maps A_1..A_N, [S_1 (1/4), S_2 (1/2), O (full)])."""
        maps = self.attend(image)
        x1 = self.enc1(torch.cat([image, maps[-1]], 1))
        x2 = self.enc2(x1)
        x = self.mid(self.dilated(self.enc3(x2)))
        s1 = self.side_quarter(x)
        x = self.dec2(self.up2(x) + x2)
        s2 = self.side_half(x)
        x = self.dec1(self.up1(x) + x1)
        return maps, [s1, s2, self.out(x)]

    def forward_any_size(self, image: torch.Tensor) -> torch.Tensor:
        """The restored image O alone, for any height and width."""
        padded, (h, w) = pad_to_multiple(image, 4, mode="reflect")
        return self(padded)[1][-1][..., :h, :w]


class AttentiveDiscriminator(ModelMixin, ConfigMixin):
    """Reads square `image_size` crops (the FC layer fixes the size) and returns (D_map, logit).

    Args:
        in_channels: channels of the judged image.
        widths: widths of the six stride-1 convolutions before the map head.
        tail_widths: widths of the two stride-4 convolutions after it.
        kernel: kernel side of every convolution.
        fc_width: width of the hidden fully connected layer.
        image_size: side of the square input; sets the FC layer's input size.
    """

    @register_to_config
    def __init__(
        self,
        in_channels: int = 3,
        widths: tuple[int, ...] = (8, 16, 64, 128, 128, 128),
        tail_widths: tuple[int, int] = (64, 32),
        kernel: int = 5,
        fc_width: int = 1024,
        image_size: int = 224,
    ):
        super().__init__()
        pad = kernel // 2
        layers, c = [], in_channels
        for width in widths:
            layers.append(conv_relu(c, width, kernel))
            c = width
        self.body = nn.Sequential(*layers)
        self.map_head = nn.Conv2d(c, 1, kernel, 1, pad)
        tail, side = [], image_size
        for width in tail_widths:
            tail.append(nn.Sequential(nn.Conv2d(c, width, kernel, 4, 1), nn.ReLU()))
            c, side = width, (side + 2 - kernel) // 4 + 1
        if side < 1:
            raise ValueError(f"image_size {image_size} is too small for {len(tail_widths)} stride-4 convolutions")
        self.tail = nn.Sequential(*tail)
        self.fc = nn.Sequential(nn.Linear(c * side * side, fc_width), nn.Linear(fc_width, 1))

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """image (B, 3, S, S) -> (D_map (B, 1, S, S), logit (B,)); D(x) = sigmoid(logit)."""
        size = self.config.image_size
        if image.shape[-2:] != (size, size):
            raise ValueError(f"the discriminator reads {size}x{size} images, not {tuple(image.shape[-2:])}")
        x = self.body(image)
        attention = self.map_head(x)
        x = self.tail(x * attention)
        return attention, self.fc(x.flatten(1))[:, 0]
