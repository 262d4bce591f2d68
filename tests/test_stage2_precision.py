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


def test_validation_runs_in_fp32_like_rdrf_restore_and_leaves_the_prior_in_bf16(capsys):
    from rdrf_train.pipeline import DiffUR3Pipeline
    from rdrf_train.stages.base import image_metrics

    config = control_config("model.val_steps=2")
    accelerator = fake_accelerator("bf16")
    accelerator.unwrap_model = lambda module: module
    stage = ControlStage(config, accelerator)
    stage.modules = stage.build()
    g = torch.Generator().manual_seed(0)
    batch = {"gt": torch.rand(1, 3, 64, 64, generator=g), "lq": torch.rand(1, 3, 64, 64, generator=g)}
    got = stage.validation_step(batch)
    assert stage.prior.unet.dtype == stage.prior.vae.dtype == torch.bfloat16  # cast back for training

    fp32 = load_prior("tiny")  # as `rdrf restore` builds the pipeline: fp32 throughout
    pipe = DiffUR3Pipeline(fp32, stage.modules["control"], None, None, steps=2, seed=config.run.seed)
    assert got == image_metrics(batch["gt"], pipe.restore_tensor(batch["lq"]), batch["lq"])


def test_stage1_validation_ignores_autocast_and_matches_its_restorer():
    from rdrf_train.stages.restore import DRSformerRestorer, RestoreConfig, RestoreStage
    from rdrf_train import metrics

    config = validate(RestoreConfig, resolve_dict("restore", None, ["model.dim=8", "model.blocks=[1,1,1,1]"]), "test")
    assert config.run.mixed_precision == "no"  # stage I trains in fp32 unless bf16 is chosen
    accelerator = fake_accelerator("bf16")
    accelerator.unwrap_model = lambda module: module
    accelerator.autocast = lambda: torch.autocast("cpu", dtype=torch.bfloat16)
    stage = RestoreStage(config, accelerator)
    stage.modules = stage.build()
    g = torch.Generator().manual_seed(0)
    batch = {"gt": torch.rand(1, 3, 40, 48, generator=g), "lq": torch.rand(1, 3, 40, 48, generator=g)}
    got = stage.validation_step(batch)
    restored = DRSformerRestorer(stage.modules["restorer"].eval(), config.tile, config.tile_overlap)(batch["lq"][0].permute(1, 2, 0).numpy())
    assert got["psnr"] == metrics.psnr(batch["gt"][0].permute(1, 2, 0).numpy(), metrics.quantize(restored))


@pytest.fixture(scope="module")
def v_prior(tmp_path_factory):
    """The tiny prior saved as a v-prediction model (its scheduler config says so)."""
    prior = load_prior("tiny", keep_text_encoder=True)
    prior.prediction_type = "v_prediction"
    folder = tmp_path_factory.mktemp("prior") / "tiny-v"
    prior.save(folder)
    return folder


def test_a_v_prediction_prior_trains_towards_the_velocity_and_samples_with_it(v_prior, monkeypatch, capsys):
    import torch.nn.functional as F

    from rdrf_train import sampling
    from rdrf_train.models.control import controlled_eps
    from rdrf_train.pipeline import DiffUR3Pipeline

    stage = ControlStage(control_config(f"model.pretrained={str(v_prior)!r}"), fake_accelerator("no"))
    stage.accelerator.autocast = lambda: torch.autocast("cpu", enabled=False)
    stage.modules = stage.build()
    assert stage.prior.prediction_type == "v_prediction" and stage.noise_schedule.config.prediction_type == "v_prediction"
    g = torch.Generator().manual_seed(0)
    batch = {"gt": torch.rand(2, 3, 32, 32, generator=g), "lq": torch.rand(2, 3, 32, 32, generator=g)}

    torch.manual_seed(1)
    loss = stage.training_step(batch)
    torch.manual_seed(1)  # the same draws, by hand
    z0 = stage.prior.encode(batch["gt"])
    noise = torch.randn_like(z0)
    t = torch.randint(0, 1000, (2,))
    z_t = stage.noise_schedule.add_noise(z0, noise, t)
    c_s, c_lq = stage.conditions(batch["lq"])
    pred = controlled_eps(stage.prior.unet, stage.modules["control"], z_t, t, stage.prior.prompt_embedding(2), c_s, c_lq)
    assert torch.equal(loss, F.mse_loss(pred, stage.noise_schedule.get_velocity(z0, noise, t)))

    made = []
    original = sampling.make_noise_scheduler
    monkeypatch.setattr(sampling, "make_noise_scheduler", lambda *a, **k: made.append(original(*a, **k)) or made[-1])
    DiffUR3Pipeline(stage.prior, stage.modules["control"], steps=2).restore_tensor(batch["lq"][:1])
    assert made and all(s.config.prediction_type == "v_prediction" for s in made)


def test_a_prior_of_another_prediction_type_is_refused_by_name(v_prior, tmp_path):
    import json
    import shutil

    from schemas.errors import RdrfError

    folder = tmp_path / "tiny-sample"
    shutil.copytree(v_prior, folder)
    config = folder / "scheduler" / "scheduler_config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "prediction_type": "sample"}))
    with pytest.raises(RdrfError, match=r"tiny-sample: its scheduler's prediction_type is 'sample'.*epsilon or v_prediction"):
        load_prior(folder)
