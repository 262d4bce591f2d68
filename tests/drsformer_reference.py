"""DRSformer's previous formulation of its two hot spots, kept as the reference the rewrites in
`rdrf_train.models.drsformer` are checked against (tests) and timed against (`bench.train_step`):
the grouped convolutions with two input channels per group, and four products with v."""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
import torch.nn.functional as F

from rdrf_train.models.drsformer import MixedScaleFeedForward, TopKSparseAttention


def ffn_forward(self: MixedScaleFeedForward, x: torch.Tensor) -> torch.Tensor:
    x = self.project_in(x)
    a3, b3 = F.relu(self.dwconv3x3(x)).chunk(2, dim=1)
    a5, b5 = F.relu(self.dwconv5x5(x)).chunk(2, dim=1)
    a = F.relu(self.dwconv3x3_1(torch.cat([a3, a5], dim=1)))
    b = F.relu(self.dwconv5x5_1(torch.cat([b3, b5], dim=1)))
    return self.project_out(torch.cat([a, b], dim=1))


def attention_forward(self: TopKSparseAttention, x: torch.Tensor) -> torch.Tensor:
    b, c, h, w = x.shape
    q, k, v = self.qkv_dwconv(self.qkv(x)).chunk(3, dim=1)
    q, k, v = (t.reshape(b, self.heads, c // self.heads, h * w) for t in (q, k, v))
    q = F.normalize(q, dim=-1)
    k = F.normalize(k, dim=-1)
    attn = (q @ k.transpose(-2, -1)) * self.temperature
    ch = attn.shape[-1]
    ranked = attn.detach().sort(dim=-1, descending=True).values
    out = 0
    for weight, fraction in zip(self.mix, self.K_FRACTIONS):
        kth = ranked[..., int(ch * fraction) - 1 : int(ch * fraction)]
        sparse = attn.masked_fill(attn < kth, float("-inf")).softmax(dim=-1)
        out = out + weight * (sparse @ v)
    return self.project_out(out.reshape(b, c, h, w))


@contextlib.contextmanager
def previous_formulation() -> Iterator[None]:
    """Within: every DRSformer computes as before the rewrites (same parameters)."""
    saved = MixedScaleFeedForward.forward, TopKSparseAttention.forward
    MixedScaleFeedForward.forward, TopKSparseAttention.forward = ffn_forward, attention_forward
    try:
        yield
    finally:
        MixedScaleFeedForward.forward, TopKSparseAttention.forward = saved
