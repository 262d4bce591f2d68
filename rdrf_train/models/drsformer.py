"""DRSformer (Chen et al., CVPR 2023, "Learning a Sparse Transformer Network for Effective Image
Deraining"): DiffUR3's stage I restoration model (seeds/000 sec. 4.1, A.2).

A Restormer-style 4-level U-Net working at full resolution with pixel (un)shuffle between levels.
Each level stacks sparse transformer blocks: top-k sparse attention across channels (four top-k
masks whose outputs are mixed by learned weights) and a mixed-scale (3x3 and 5x5 depthwise)
feed-forward network. The output is added to the input (global residual).

The paper's configuration: C = 16, blocks per level {2, 4, 4, 8}, heads {1, 2, 4, 8}, and N0 = 0,
which we read as "no mixture-of-experts feature compensator" (MEFC): it is implemented here and
switched by `moe_compensator`, off by default. That configuration has 3,716,804 parameters
(3,870,916 with the compensator).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from rdrf_train.tiling import pad_to_multiple


class LayerNorm2d(nn.Module):
    """LayerNorm over channels at every pixel (Restormer's, with or without bias)."""

    def __init__(self, dim: int, with_bias: bool):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim)) if with_bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        var = x.var(dim=1, keepdim=True, unbiased=False)
        if self.bias is None:  # bias-free: scale only, no centring
            return x / torch.sqrt(var + 1e-5) * self.weight[:, None, None]
        mu = x.mean(dim=1, keepdim=True)
        return (x - mu) / torch.sqrt(var + 1e-5) * self.weight[:, None, None] + self.bias[:, None, None]


class _DepthwiseConv(torch.autograd.Function):
    """A stride-1 depthwise convolution whose weight gradient is itself computed as a depthwise
    convolution: grad_w[c, i, j] = sum over (b, y, x) of grad_out[b, c, y, x] * x_pad[b, c, y + i*d,
    x + j*d], i.e. the padded input (batch folded into channels) correlated with the output gradient
    as a (H x W) kernel, strided by the dilation. The same products and sums as PyTorch's CPU kernel,
    whose weight gradient for depthwise convolutions is 3-4x slower than this (at 170x128x128, 5x5:
    0.32 s against 0.085 s, one thread) and was most of DRSformer's CPU training step."""

    @staticmethod
    def forward(ctx, x, weight, bias, padding: int, dilation: int):
        ctx.save_for_backward(x, weight)
        ctx.has_bias, ctx.padding, ctx.dilation = bias is not None, padding, dilation
        return F.conv2d(x, weight, bias, 1, padding, dilation, groups=x.shape[1])

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        b, c, h, w = x.shape
        p, d = ctx.padding, ctx.dilation
        grad = grad.contiguous()
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.ops.aten.convolution_backward(
                grad, x, weight, None, [1, 1], [p, p], [d, d], False, [0, 0], c, [True, False, False])[0]
        if ctx.needs_input_grad[1]:
            xs = x.transpose(0, 1).reshape(1, c * b, h, w)
            gs = grad.transpose(0, 1).reshape(c * b, 1, *grad.shape[2:])
            corr = F.conv2d(xs, gs, None, d, p, 1, groups=c * b)  # (1, c*b, k, k)
            grad_w = corr.view(c, b, *corr.shape[2:]).sum(dim=1, keepdim=True).to(weight.dtype)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad.sum(dim=(0, 2, 3))
        return grad_x, grad_w, grad_b, None, None


def depthwise_conv(conv: nn.Conv2d, x: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """`conv(x)` for a stride-1 depthwise convolution (or `weight` in its place, shaped (C, 1, k, k)),
    with the fast weight gradient of `_DepthwiseConv` on the CPU in fp32/fp64; elsewhere (CUDA, autocast)
    the library's own kernels, which have no such gap."""
    weight = conv.weight if weight is None else weight
    pad, dil = conv.padding[0], conv.dilation[0]
    fast = (x.device.type == "cpu" and torch.is_grad_enabled() and not torch.is_autocast_enabled("cpu")
            and x.dtype in (torch.float32, torch.float64) and conv.stride == (1, 1)
            and conv.padding[0] == conv.padding[1] and conv.dilation[0] == conv.dilation[1])
    if fast:
        return _DepthwiseConv.apply(x, weight, conv.bias if weight is conv.weight else None, pad, dil)
    return F.conv2d(x, weight, conv.bias if weight is conv.weight else None, conv.stride, conv.padding, conv.dilation, groups=x.shape[1])


def pairwise_grouped_conv(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """`conv(x)` for a grouped convolution with two input channels and one output channel per group,
    computed as a depthwise convolution (each input channel with its own half of the kernel) and
    the sum of each pair: the same products and sums, but CPU kernels for depthwise convolutions
    are several times faster than for 2-channel groups (these two convolutions were ~60% of
    DRSformer's CPU training time). The weights keep their shape (out, 2, k, k)."""
    out_channels, per_group = conv.weight.shape[:2]
    depthwise = conv.weight.reshape(out_channels * per_group, 1, *conv.weight.shape[2:])
    y = depthwise_conv(conv, x, depthwise)
    y = y.unflatten(1, (out_channels, per_group)).sum(dim=2)
    return y if conv.bias is None else y + conv.bias[:, None, None]


class MixedScaleFeedForward(nn.Module):
    """MSFN: two parallel depthwise branches (3x3 and 5x5) that exchange halves, then fuse."""

    def __init__(self, dim: int, expansion: float, bias: bool):
        super().__init__()
        hidden = int(dim * expansion)
        self.project_in = nn.Conv2d(dim, hidden * 2, 1, bias=bias)
        self.dwconv3x3 = nn.Conv2d(hidden * 2, hidden * 2, 3, padding=1, groups=hidden * 2, bias=bias)
        self.dwconv5x5 = nn.Conv2d(hidden * 2, hidden * 2, 5, padding=2, groups=hidden * 2, bias=bias)
        self.dwconv3x3_1 = nn.Conv2d(hidden * 2, hidden, 3, padding=1, groups=hidden, bias=bias)
        self.dwconv5x5_1 = nn.Conv2d(hidden * 2, hidden, 5, padding=2, groups=hidden, bias=bias)
        self.project_out = nn.Conv2d(hidden * 2, dim, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.project_in(x)
        a3, b3 = F.relu(depthwise_conv(self.dwconv3x3, x)).chunk(2, dim=1)
        a5, b5 = F.relu(depthwise_conv(self.dwconv5x5, x)).chunk(2, dim=1)
        a = F.relu(pairwise_grouped_conv(self.dwconv3x3_1, torch.cat([a3, a5], dim=1)))
        b = F.relu(pairwise_grouped_conv(self.dwconv5x5_1, torch.cat([b3, b5], dim=1)))
        return self.project_out(torch.cat([a, b], dim=1))


class TopKSparseAttention(nn.Module):
    """TKSA: channel ("transposed") attention keeping only the top-k scores per row, for four k
    (1/2, 2/3, 3/4 and 4/5 of the channels per head), mixed by learned weights."""

    K_FRACTIONS = (1 / 2, 2 / 3, 3 / 4, 4 / 5)

    def __init__(self, dim: int, heads: int, bias: bool):
        super().__init__()
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.qkv = nn.Conv2d(dim, dim * 3, 1, bias=bias)
        self.qkv_dwconv = nn.Conv2d(dim * 3, dim * 3, 3, padding=1, groups=dim * 3, bias=bias)
        self.project_out = nn.Conv2d(dim, dim, 1, bias=bias)
        self.mix = nn.Parameter(torch.full((len(self.K_FRACTIONS),), 0.2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = depthwise_conv(self.qkv_dwconv, self.qkv(x)).chunk(3, dim=1)
        q, k, v = (t.reshape(b, self.heads, c // self.heads, h * w) for t in (q, k, v))
        q = F.normalize(q, dim=-1)
        k = F.normalize(k, dim=-1)
        attn = (q @ k.transpose(-2, -1)) * self.temperature  # (b, heads, c', c')
        ch = attn.shape[-1]
        # Sorting once gives every top-k mask: keep scores >= the k-th largest of their row.
        ranked = attn.detach().sort(dim=-1, descending=True).values
        mixed = 0
        for weight, fraction in zip(self.mix, self.K_FRACTIONS):
            kth = ranked[..., int(ch * fraction) - 1 : int(ch * fraction)]
            mixed = mixed + weight * attn.masked_fill(attn < kth, float("-inf")).softmax(dim=-1)
        # sum_i w_i (A_i v) = (sum_i w_i A_i) v: one product with the (c' x hw) values instead of
        # four, and no four value-sized intermediates kept for backward.
        out = mixed @ v
        return self.project_out(out.reshape(b, c, h, w))


class SparseTransformerBlock(nn.Module):
    def __init__(self, dim: int, heads: int, expansion: float, bias: bool, with_bias_norm: bool):
        super().__init__()
        self.norm1 = LayerNorm2d(dim, with_bias_norm)
        self.attn = TopKSparseAttention(dim, heads, bias)
        self.norm2 = LayerNorm2d(dim, with_bias_norm)
        self.ffn = MixedScaleFeedForward(dim, expansion, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


# ---- mixture-of-experts feature compensator (MEFC), off in the paper's configuration -------------


class SeparableConv(nn.Sequential):
    def __init__(self, c: int, k: int):
        p = k // 2
        super().__init__(
            nn.Conv2d(c, c, k, padding=p, groups=c, bias=False), nn.Conv2d(c, c, 1, bias=False), nn.ReLU(),
            nn.Conv2d(c, c, k, padding=p, groups=c, bias=False), nn.Conv2d(c, c, 1, bias=False),
        )


class DilatedConv(nn.Sequential):
    def __init__(self, c: int, k: int):
        super().__init__(
            nn.Conv2d(c, c, k, padding=k - 1, dilation=2, groups=c, bias=False), nn.Conv2d(c, c, 1, bias=False)
        )


def _experts(c: int) -> nn.ModuleList:
    return nn.ModuleList(
        [SeparableConv(c, k) for k in (1, 3, 5, 7)]
        + [DilatedConv(c, k) for k in (3, 5, 7)]
        + [nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)]
    )


class ExpertLayer(nn.Module):
    """Eight experts weighted per sample, fused by a 1x1 conv."""

    def __init__(self, c: int):
        super().__init__()
        self.experts = _experts(c)
        self.fuse = nn.Sequential(nn.Conv2d(c * len(self.experts), c, 1, bias=False), nn.ReLU())

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:  # weights (b, n_experts)
        outs = [e(x) * weights[:, i, None, None, None] for i, e in enumerate(self.experts)]
        return self.fuse(torch.cat(outs, dim=1))


class FeatureCompensator(nn.Module):
    """MEFC: a pooled router picks soft expert weights for each of `steps` residual expert layers."""

    def __init__(self, c: int, steps: int = 4):
        super().__init__()
        n = 8
        self.steps = steps
        self.router = nn.Sequential(nn.Linear(c, steps * n * 2), nn.ReLU(), nn.Linear(steps * n * 2, steps * n))
        self.preprocess = nn.Sequential(nn.Conv2d(c, c, 1, bias=False), nn.ReLU())
        self.layers = nn.ModuleList([ExpertLayer(c) for _ in range(steps)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.router(x.mean(dim=(2, 3))).view(x.shape[0], self.steps, -1).softmax(dim=-1)
        x = self.preprocess(x)
        for i, layer in enumerate(self.layers):
            x = F.relu(layer(x, weights[:, i]) + x)
        return x


# ---- the network -------------------------------------------------------------------------------


class Downsample(nn.Sequential):
    def __init__(self, c: int):
        super().__init__(nn.Conv2d(c, c // 2, 3, padding=1, bias=False), nn.PixelUnshuffle(2))


class Upsample(nn.Sequential):
    def __init__(self, c: int):
        super().__init__(nn.Conv2d(c, c * 2, 3, padding=1, bias=False), nn.PixelShuffle(2))


class DRSformer(ModelMixin, ConfigMixin):
    """Input height and width must be multiples of 8 (three pixel-unshuffles); `forward_any_size`
    pads by reflection and crops back. The defaults are the paper's configuration.

    Args:
        in_channels: channels of the input image.
        out_channels: channels of the output (equal to `in_channels`: the output adds to the input).
        dim: C, the width of level 1; levels 2-4 are 2C, 4C and 8C wide.
        blocks: sparse transformer blocks per level (N1..N4); the decoder mirrors levels 1-3.
        heads: attention heads per level.
        ffn_expansion: the feed-forward network's hidden width, as a multiple of its level's width.
        bias: biases in the convolutions and projections.
        layernorm: "with_bias" or "bias_free" (Restormer's two LayerNorms).
        moe_compensator: the mixture-of-experts feature compensator (MEFC) after the patch embedding
            and before the output conv; off in the paper's configuration (N0 = 0).
    """

    @register_to_config
    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        dim: int = 16,
        blocks: tuple[int, int, int, int] = (2, 4, 4, 8),
        heads: tuple[int, int, int, int] = (1, 2, 4, 8),
        ffn_expansion: float = 2.66,
        bias: bool = False,
        layernorm: Literal["with_bias", "bias_free"] = "with_bias",
        moe_compensator: bool = False,
    ):
        super().__init__()
        if layernorm not in ("with_bias", "bias_free"):
            raise ValueError(f"layernorm must be 'with_bias' or 'bias_free', not {layernorm!r}")
        c, nb, hd = dim, blocks, heads

        def level(width: int, n: int, heads: int) -> nn.Sequential:
            return nn.Sequential(
                *[SparseTransformerBlock(width, heads, ffn_expansion, bias, layernorm == "with_bias") for _ in range(n)]
            )

        self.patch_embed = nn.Conv2d(in_channels, c, 3, padding=1, bias=bias)
        self.compensator_in = FeatureCompensator(c) if moe_compensator else nn.Identity()
        self.encoder1 = level(c, nb[0], hd[0])
        self.down1_2 = Downsample(c)
        self.encoder2 = level(c * 2, nb[1], hd[1])
        self.down2_3 = Downsample(c * 2)
        self.encoder3 = level(c * 4, nb[2], hd[2])
        self.down3_4 = Downsample(c * 4)
        self.latent = level(c * 8, nb[3], hd[3])
        self.up4_3 = Upsample(c * 8)
        self.reduce3 = nn.Conv2d(c * 8, c * 4, 1, bias=bias)
        self.decoder3 = level(c * 4, nb[2], hd[2])
        self.up3_2 = Upsample(c * 4)
        self.reduce2 = nn.Conv2d(c * 4, c * 2, 1, bias=bias)
        self.decoder2 = level(c * 2, nb[1], hd[1])
        self.up2_1 = Upsample(c * 2)  # level 1 of the decoder keeps 2C channels (no reduction)
        self.decoder1 = level(c * 2, nb[0], hd[0])
        self.compensator_out = FeatureCompensator(c * 2) if moe_compensator else nn.Identity()
        self.output = nn.Conv2d(c * 2, out_channels, 3, padding=1, bias=bias)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        e1 = self.encoder1(self.compensator_in(self.patch_embed(image)))
        e2 = self.encoder2(self.down1_2(e1))
        e3 = self.encoder3(self.down2_3(e2))
        z = self.latent(self.down3_4(e3))
        d3 = self.decoder3(self.reduce3(torch.cat([self.up4_3(z), e3], dim=1)))
        d2 = self.decoder2(self.reduce2(torch.cat([self.up3_2(d3), e2], dim=1)))
        d1 = self.decoder1(torch.cat([self.up2_1(d2), e1], dim=1))
        return self.output(self.compensator_out(d1)) + image

    def forward_any_size(self, image: torch.Tensor) -> torch.Tensor:
        padded, (h, w) = pad_to_multiple(image, 8, mode="reflect")
        return self(padded)[..., :h, :w]
