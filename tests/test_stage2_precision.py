"""Stage II numerics: the control branch is copied from the prior's fp32 weights even when the
frozen prior then runs in bf16, validation runs in the precision `rdrf restore` uses, and the
prior's prediction type (epsilon or v) decides the training target and the sampler."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

pytest.importorskip("diffusers")

from rdrf_train.config import resolve_dict, validate  # noqa: E402
from rdrf_train.prior import load_prior  # noqa: E402
from rdrf_train.stages.control import ControlConfig, ControlStage  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def fake_accelerator(mixed_precision: str) -> SimpleNamespace:
    """What a stage's build reads of the Accelerator; bf16 here simulates the GPU cast on the CPU."""
    return SimpleNamespace(mixed_precision=mixed_precision, device=torch.device("cpu"), is_main_process=True)


def control_config(*overrides: str) -> ControlConfig:
    return validate(ControlConfig, resolve_dict("control", None, ["model.pretrained=tiny", *overrides]), "test")


def test_control_branch_is_copied_from_the_fp32_weights_before_the_prior_is_cast_to_bf16(capsys):
    stage = ControlStage(control_config(), fake_accelerator("bf16"))
    control = stage.build()["control"]
    assert stage.prior.unet.dtype == torch.bfloat16  # the frozen prior was cast ...
    reference = load_prior("tiny").unet  # ... and the copy holds its fp32 weights, bit for bit
    copied = control.state_dict()
    for name, value in reference.state_dict().items():
        for part in ("time_embedding.", "down_blocks.", "mid_block."):
            if name.startswith(part):
                assert copied[name].dtype == torch.float32 and torch.equal(copied[name], value), name
    assert torch.equal(control.conv_in.weight[:, -4:], reference.conv_in.weight)
