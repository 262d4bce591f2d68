"""Histoformer (Sun et al., ECCV 2024, "Restoring Images in Adverse Weather Conditions via Histogram
Transformer"): the all-weather restorer seeds/000 Table 2 re-trains as Histoformer†.

A Restormer-style 4-level U-Net whose blocks pair
- dynamic-range histogram self-attention (DHSA): half the channels are sorted along rows and then
  columns (pixels of similar intensity brought together), the value map is sorted per channel and
  q/k/v gathered in that order, then attention runs across channels over intensity bins made two
  ways - contiguous runs of the sorted pixels ("bin-wise", one bin per head) and every n-th pixel
  ("frequency-wise") - and the two results multiply; the sorts are undone afterwards;
- a dual-scale gated feed-forward network (DGFF): the expanded features are pixel-shuffled to twice
  the resolution, half go through a 5x5 depthwise conv, half through a dilated 3x3 depthwise conv
  whose Mish gates the first, then pixel-unshuffled back.
Layer norms carry no learned parameters, the encoder also reads the image downsampled at each level,
and the output is added to the input. Layer sizes and the computation follow the public code
(sunshangquan/Histoformer, basicsr/models/archs/histoformer_arch.py); its paper configuration
(Allweather/Options/Allweather_Histoformer.yml) is the default here: dim 36, blocks {4, 4, 6, 8},
4 refinement blocks, heads {1, 2, 4, 8}, FFN expansion 2.667.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from rdrf_train.tiling import pad_to_multiple


class ChannelNorm(nn.Module):
    """Layer norm over channels at each pixel without learned scale or shift (as the public code,
    whose weights are commented out); `with_bias` centres, bias-free only scales."""

    def __init__(self, with_bias: bool):
        super().__init__()
        self.with_bias = with_bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        var = x.var(dim=1, keepdim=True, unbiased=False)
        if not self.with_bias:
            return x / torch.sqrt(var + 1e-5)
        return (x - x.mean(dim=1, keepdim=True)) / torch.sqrt(var + 1e-5)


class DualScaleGatedFFN(nn.Module):
    """DGFF: 1x1 expansion, pixel shuffle, 5x5 and dilated-3x3 depthwise branches, Mish gate."""

    def __init__(self, dim: int, expansion: float, bias: bool):
        super().__init__()
        hidden = int(dim * expansion)
        if hidden % 4:
            raise ValueError(f"the FFN width int({dim} * {expansion}) = {hidden} must be a multiple of 4 (pixel shuffle, two branches)")
        quarter = hidden // 4
        self.project_in = nn.Conv2d(dim, hidden * 2, 1, bias=bias)
        self.dwconv5 = nn.Conv2d(quarter, quarter, 5, padding=2, groups=quarter, bias=bias)
        self.dwconv_dilated = nn.Conv2d(quarter, quarter, 3, padding=2, dilation=2, groups=quarter, bias=bias)
        self.project_out = nn.Conv2d(hidden, dim, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = F.pixel_shuffle(self.project_in(x), 2).chunk(2, dim=1)
        x = F.mish(self.dwconv_dilated(b)) * self.dwconv5(a)
        return self.project_out(F.pixel_unshuffle(x, 2))


def softmax_plus_one(x: torch.Tensor) -> torch.Tensor:
    """exp(x) / (1 + sum exp(x)): the public code's softmax, which may attend to nothing."""
    e = x.exp()
    return e / (e.sum(dim=-1, keepdim=True) + 1)


class HistogramAttention(nn.Module):
    """DHSA over (B, C, H, W) with `heads` heads; the number of bins equals the number of heads."""

    def __init__(self, dim: int, heads: int, bias: bool):
        super().__init__()
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.qkv = nn.Conv2d(dim, dim * 5, 1, bias=bias)
        self.qkv_dwconv = nn.Conv2d(dim * 5, dim * 5, 3, padding=1, groups=dim * 5, bias=bias)
        self.project_out = nn.Conv2d(dim, dim, 1, bias=bias)

    def binned_attention(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, contiguous: bool) -> torch.Tensor:
        """(B, C, N) sorted sequences -> (B, C, N). Bins: `contiguous` runs of N/heads sorted pixels,
        or every heads-th pixel; each head attends across (its channels x bins)."""
        b, c, n = q.shape
        f = self.heads
        pad = (-n) % f
        if pad:
            q, k, v = (F.pad(t, (0, pad)) for t in (q, k, v))
        m = (n + pad) // f

        def split(t: torch.Tensor) -> torch.Tensor:  # (B, C, f*m) -> (B, heads, c_per_head * f, m)
            t = t.reshape(b, f, c // f, f, m) if contiguous else t.reshape(b, f, c // f, m, f).transpose(-1, -2)
            return t.reshape(b, f, (c // f) * f, m)

        qh, kh, vh = F.normalize(split(q), dim=-1), F.normalize(split(k), dim=-1), split(v)
        out = softmax_plus_one(qh @ kh.transpose(-2, -1) * self.temperature) @ vh
        out = out.reshape(b, f, c // f, f, m)
        out = out.reshape(b, c, f * m) if contiguous else out.transpose(-1, -2).reshape(b, c, f * m)
        return out[..., :n]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        half = c // 2
        sorted_h, idx_h = x[:, :half].sort(dim=-2)
        sorted_hw, idx_w = sorted_h.sort(dim=-1)
        x = torch.cat([sorted_hw, x[:, half:]], dim=1)
        q1, k1, q2, k2, v = self.qkv_dwconv(self.qkv(x)).chunk(5, dim=1)
        v, idx = v.reshape(b, c, -1).sort(dim=-1)
        gather = lambda t: torch.gather(t.reshape(b, c, -1), 2, idx)  # noqa: E731
        out1 = self.binned_attention(gather(q1), gather(k1), v, contiguous=True)
        out2 = self.binned_attention(gather(q2), gather(k2), v, contiguous=False)
        unsort = lambda t: torch.scatter(t, 2, idx, t).reshape(b, c, h, w)  # noqa: E731  (as the public code)
        out = self.project_out(unsort(out1) * unsort(out2))
        first = out[:, :half]
        first = torch.scatter(first, -1, idx_w, first)
        first = torch.scatter(first, -2, idx_h, first)
        return torch.cat([first, out[:, half:]], dim=1)


class HistogramBlock(nn.Module):
    def __init__(self, dim: int, heads: int, expansion: float, bias: bool, with_bias_norm: bool):
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} must be a multiple of its {heads} heads")
        self.norm_attn = ChannelNorm(with_bias_norm)
        self.attn = HistogramAttention(dim, heads, bias)
        self.norm_ffn = ChannelNorm(with_bias_norm)
        self.ffn = DualScaleGatedFFN(dim, expansion, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm_attn(x))
        return x + self.ffn(self.norm_ffn(x))


def image_skip(channels: int, bias: bool) -> nn.Sequential:
    """The image at the next level: 2x2 average, 1x1 conv, 3x3 depthwise conv."""
    return nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(channels, channels, 1, bias=bias),
                         nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=bias))


class Histoformer(ModelMixin, ConfigMixin):
    """Input height and width must be multiples of 8 (three 2x downsamplings); `forward_any_size`
    pads by reflection and crops back. The defaults are the paper's configuration.

    Args:
        in_channels: channels of the input image (the output has the same and adds to it).
        dim: width of level 1; levels 2-4 are 2x, 4x and 8x; the decoder's level 1 and the
            refinement run at 2x.
        blocks: histogram transformer blocks per level (encoder and decoder of levels 1-3, latent).
        refinement_blocks: blocks after the decoder, at full resolution.
        heads: attention heads (and intensity bins) per level.
        ffn_expansion: the DGFF's hidden width as a multiple of its level's width.
        bias: biases in the convolutions of the blocks and level joins.
        layernorm: "with_bias" (centred) or "bias_free" channel norms.
    """

    @register_to_config
    def __init__(
        self,
        in_channels: int = 3,
        dim: int = 36,
        blocks: tuple[int, int, int, int] = (4, 4, 6, 8),
        refinement_blocks: int = 4,
        heads: tuple[int, int, int, int] = (1, 2, 4, 8),
        ffn_expansion: float = 2.667,
        bias: bool = False,
        layernorm: Literal["with_bias", "bias_free"] = "with_bias",
    ):
        super().__init__()
        if layernorm not in ("with_bias", "bias_free"):
            raise ValueError(f"layernorm must be 'with_bias' or 'bias_free', not {layernorm!r}")
        c = in_channels

        def level(width: int, n: int, h: int) -> nn.Sequential:
            return nn.Sequential(*[HistogramBlock(width, h, ffn_expansion, bias, layernorm == "with_bias") for _ in range(n)])

        def down(width: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(width, width // 2, 3, padding=1, bias=False), nn.PixelUnshuffle(2))

        def up(width: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(width, width * 2, 3, padding=1, bias=False), nn.PixelShuffle(2))

        d = dim
        self.patch_embed = nn.Conv2d(c, d, 3, padding=1, bias=False)
        self.encoder1 = level(d, blocks[0], heads[0])
        self.down1 = down(d)
        self.skip1 = image_skip(c, bias)
        self.join1 = nn.Conv2d(2 * d + c, 2 * d, 1, bias=bias)
        self.encoder2 = level(2 * d, blocks[1], heads[1])
        self.down2 = down(2 * d)
        self.skip2 = image_skip(c, bias)
        self.join2 = nn.Conv2d(4 * d + c, 4 * d, 1, bias=bias)
        self.encoder3 = level(4 * d, blocks[2], heads[2])
        self.down3 = down(4 * d)
        self.skip3 = image_skip(c, bias)
        self.join3 = nn.Conv2d(8 * d + c, 8 * d, 1, bias=bias)
        self.latent = level(8 * d, blocks[3], heads[3])
        self.up3 = up(8 * d)
        self.reduce3 = nn.Conv2d(8 * d, 4 * d, 1, bias=bias)
        self.decoder3 = level(4 * d, blocks[2], heads[2])
        self.up2 = up(4 * d)
        self.reduce2 = nn.Conv2d(4 * d, 2 * d, 1, bias=bias)
        self.decoder2 = level(2 * d, blocks[1], heads[1])
        self.up1 = up(2 * d)
        self.decoder1 = level(2 * d, blocks[0], heads[0])
        self.refinement = level(2 * d, refinement_blocks, heads[0])
        self.output = nn.Conv2d(2 * d, c, 3, padding=1, bias=bias)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        e1 = self.encoder1(self.patch_embed(image))
        s1 = self.skip1(image)
        e2 = self.encoder2(self.join1(torch.cat([self.down1(e1), s1], 1)))
        s2 = self.skip2(s1)
        e3 = self.encoder3(self.join2(torch.cat([self.down2(e2), s2], 1)))
        s3 = self.skip3(s2)
        x = self.latent(self.join3(torch.cat([self.down3(e3), s3], 1)))
        x = self.decoder3(self.reduce3(torch.cat([self.up3(x), e3], 1)))
        x = self.decoder2(self.reduce2(torch.cat([self.up2(x), e2], 1)))
        x = self.refinement(self.decoder1(torch.cat([self.up1(x), e1], 1)))
        return self.output(x) + image

    def forward_any_size(self, image: torch.Tensor) -> torch.Tensor:
        padded, (h, w) = pad_to_multiple(image, 8, mode="reflect")
        return self(padded)[..., :h, :w]
