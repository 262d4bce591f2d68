"""DRSformer as the paper configures it, the schedule, and layered configs."""

from __future__ import annotations

import math

import pytest
import torch

from rdrf_train.config import OptimSection, ScheduleSection, parse_override, resolve_dict, validate
from rdrf_train.models.drsformer import DRSformer, TopKSparseAttention
from rdrf_train.stages.base import count_parameters
from rdrf_train.lr_schedule import lr_at
from rdrf_train.stages.restore import RestoreConfig
from schemas.errors import RdrfError


def test_paper_configuration_has_about_3_7m_parameters():
    model = DRSformer()
    assert count_parameters(model) == 3_716_804
    assert count_parameters(DRSformer(moe_compensator=True)) > 3_716_804


def test_any_size_in_any_size_out_and_global_residual():
    model = DRSformer(dim=8, blocks=(1, 1, 1, 1))
    x = torch.rand(1, 3, 37, 50)
    with torch.no_grad():
        assert model.forward_any_size(x).shape == x.shape
        torch.nn.init.zeros_(model.output.weight)  # a zero last conv leaves only the global residual
        assert torch.equal(model(x[..., :16, :24]), x[..., :16, :24])


def test_top_k_attention_equals_explicit_top_k_masks():
    torch.manual_seed(0)
    attn = TopKSparseAttention(dim=24, heads=2, bias=False)
    torch.nn.init.normal_(attn.mix)
    x = torch.randn(2, 24, 9, 11)
    # the reference: DRSformer's formulation with scattered top-k index masks
    b, c, h, w = x.shape
    q, k, v = attn.qkv_dwconv(attn.qkv(x)).chunk(3, dim=1)
    q, k, v = (t.reshape(b, 2, c // 2, h * w) for t in (q, k, v))
    scores = (torch.nn.functional.normalize(q, dim=-1) @ torch.nn.functional.normalize(k, dim=-1).transpose(-2, -1)) * attn.temperature
    ch = scores.shape[-1]
    out = 0
    for weight, kk in zip(attn.mix, (int(ch / 2), int(ch * 2 / 3), int(ch * 3 / 4), int(ch * 4 / 5))):
        mask = torch.zeros_like(scores).scatter_(-1, scores.topk(kk, dim=-1).indices, 1.0)
        out = out + weight * (torch.where(mask > 0, scores, float("-inf")).softmax(-1) @ v)
    ref = attn.project_out(out.reshape(b, c, h, w))
    assert torch.allclose(attn(x), ref, atol=1e-5)


def test_schedule_is_constant_for_a_third_then_cosine_to_1e_6():
    o, s = OptimSection(), ScheduleSection()
    total = 300_000
    assert lr_at(0, total, o, s) == 3e-4 and lr_at(99_999, total, o, s) == 3e-4
    assert lr_at(total - 1, total, o, s) == pytest.approx(1e-6)
    mid = lr_at(100_000 + 100_000, total, o, s)
    assert mid == pytest.approx(1e-6 + (3e-4 - 1e-6) * 0.5 * (1 + math.cos(math.pi * 100_000 / 199_999)))
    lrs = [lr_at(i, total, o, s) for i in range(100_000, total, 997)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


def test_shipped_default_is_the_paper_recipe_and_overrides_apply(tmp_path):
    cfg = validate(RestoreConfig, resolve_dict("restore"), "default")
    assert (cfg.data.crop, cfg.run.batch_size, cfg.optim.lr, cfg.run.max_steps) == (256, 4, 3e-4, 300_000)
    assert cfg.data.hflip and cfg.data.vflip and cfg.model.blocks == (2, 4, 4, 8) and cfg.model.heads == (1, 2, 4, 8)
    user = tmp_path / "mine.toml"
    user.write_text('[run]\nbatch_size = 2\n[model]\ndim = 8\n')
    cfg = validate(RestoreConfig, resolve_dict("restore", user, ["data.crop=64", "model.blocks=[1,1,1,1]"]), "x")
    assert (cfg.run.batch_size, cfg.model.dim, cfg.data.crop, cfg.model.blocks) == (2, 8, 64, (1, 1, 1, 1))
    assert cfg.optim.lr == 3e-4  # untouched keys keep the default
    assert parse_override("data.scale=[0.5, 1.0]") == {"data": {"scale": [0.5, 1.0]}}
    with pytest.raises(RdrfError, match="run.batch_sise"):
        validate(RestoreConfig, resolve_dict("restore", None, ["run.batch_sise=2"]), "cli")
    with pytest.raises(RdrfError, match="section.key=value"):
        parse_override("max_steps")


@pytest.mark.parametrize("k, dilation, bias", [(3, 1, True), (5, 1, False), (3, 2, False)])
def test_depthwise_conv_gradients_equal_the_library_kernels(k, dilation, bias):
    """The depthwise convolution's hand-written weight gradient (a correlation computed as another
    depthwise convolution) against autograd through F.conv2d, in fp64 so only the formula can differ."""
    from rdrf_train.models.drsformer import depthwise_conv

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(6, 6, k, padding=dilation * (k // 2), dilation=dilation, groups=6, bias=bias).double()
    x = torch.randn(3, 6, 11, 14, dtype=torch.float64, requires_grad=True)
    up = torch.randn(3, 6, 11, 14, dtype=torch.float64)
    (depthwise_conv(conv, x) * up).sum().backward()
    mine = [x.grad.clone()] + [p.grad.clone() for p in conv.parameters()]
    x.grad = None
    conv.zero_grad()
    (conv(x) * up).sum().backward()
    theirs = [x.grad] + [p.grad for p in conv.parameters()]
    for a, b in zip(mine, theirs):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.slow  # ~15 s (CI runs -m slow)
def test_fast_formulation_equals_the_previous_one_to_fp32_rounding():
    from rdrf_train.models.drsformer import pairwise_grouped_conv
    from tests.drsformer_reference import previous_formulation

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(12, 6, 5, padding=2, groups=6, bias=True)
    x = torch.randn(2, 12, 9, 13)
    assert torch.allclose(pairwise_grouped_conv(conv, x), conv(x), rtol=1e-5, atol=1e-6)

    model = DRSformer(dim=8, blocks=(1, 2, 1, 1), heads=(1, 2, 2, 4), bias=True)
    for name, p in model.named_parameters():
        if name.endswith("mix"):
            torch.nn.init.normal_(p)
    assert list(model.state_dict()) == list(DRSformer(dim=8, blocks=(1, 2, 1, 1), heads=(1, 2, 2, 4), bias=True).state_dict())
    x = torch.rand(2, 3, 32, 40, requires_grad=True)
    new = model(x)
    (new ** 2).mean().backward()
    new_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    with previous_formulation():
        old = model(x)
        (old ** 2).mean().backward()
    assert torch.allclose(new, old, rtol=1e-5, atol=1e-5), (new - old).abs().max()
    for (name, p), g in zip(model.named_parameters(), new_grads):
        assert torch.allclose(g, p.grad, rtol=1e-4, atol=1e-6), name
