"""Stage II training on the tiny prior through the shared loop: the control branch and the fidelity
encoder train with finite, falling loss, resume from their checkpoints, and a fidelity run restores
images through the whole pipeline (stage I -> control -> fidelity decoder)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytest.importorskip("diffusers")

from safetensors.torch import load_file  # noqa: E402

from rdrf_train.loop import train  # noqa: E402
from rdrf_train.runs import RunFolder  # noqa: E402
from rdrf_train.stages import get_stage  # noqa: E402
from rdrf_train.stages.control import ControlConfig  # noqa: E402
from schemas.errors import RdrfError  # noqa: E402
from tests.train_helpers import make_export  # noqa: E402

COMMON = [
    "model.pretrained=tiny",
    "data.crop=64",
    "data.scale=[1.0, 1.0]",
    "data.val_crop=64",
    "run.batch_size=4",
    "run.num_workers=0",
    "run.log_every=1",
    "run.val_every=1000",
    "model.val_steps=2",
    "model.sample_steps=2",
    "optim.lr=2e-3",
]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    return make_export(tmp_path_factory.mktemp("stage2") / "export", n_train=4, n_test=1, size=(64, 80))


def losses(run: RunFolder) -> list[float]:
    return [m["loss"] for m in run.metrics() if "loss" in m]


def falling(values: list[float], k: int = 3) -> bool:
    return float(np.mean(values[-k:])) < float(np.mean(values[:k]))


@pytest.fixture(scope="module")
def stage1_run(export, tmp_path_factory):
    """A (barely trained, small) stage I run: stage II computes I_s with it on the fly."""
    out = tmp_path_factory.mktemp("runs") / "stage1"
    overrides = ["run.max_steps=1", "run.batch_size=2", "run.num_workers=0", "run.val_every=1000", "data.crop=64",
                 "model.dim=8", "model.blocks=[1,1,1,1]"]
    train("restore", export, out, overrides=overrides, show_progress=False)
    return RunFolder(out)


@pytest.fixture(scope="module")
def control_run(export, stage1_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "control"
    overrides = [*COMMON, "run.max_steps=6", "run.checkpoint_every=4", f"model.stage1={stage1_run.path}"]
    train("control", export, out, overrides=overrides, show_progress=False)
    return RunFolder(out)


def test_control_branch_trains_with_finite_falling_loss_and_resumes(export, control_run):
    first = losses(control_run)
    assert len(first) == 6 and all(np.isfinite(first))
    start = load_file(str(control_run.checkpoint_dir(4) / "weights" / "control.safetensors"))
    assert any(torch.count_nonzero(v) for k, v in start.items() if k.startswith("zero_conv"))  # the residuals opened

    train("control", export, control_run.path, overrides=["run.max_steps=12"], show_progress=False)
    records = control_run.metrics()
    resume = [r for r in records if r.get("event") == "resume"]
    assert resume and resume[-1]["step"] == 6 and resume[-1]["lr"] == pytest.approx(2e-3)
    steps = [r["step"] for r in records if "loss" in r]
    assert steps == list(range(1, 13))
    all_losses = losses(control_run)
    assert all(np.isfinite(all_losses)) and falling(all_losses)
    assert control_run.latest()[0] == 12


def test_fidelity_encoder_trains_and_its_run_restores_through_the_whole_pipeline(export, control_run, tmp_path):
    out = tmp_path / "fidelity"
    train(
        "fidelity", export, out,
        overrides=[*COMMON, "run.max_steps=8", f"model.control={control_run.path}"], show_progress=False,
    )
    run = RunFolder(out)
    values = losses(run)
    assert len(values) == 8 and all(np.isfinite(values)) and falling(values)
    final = run.metrics()[-1]
    assert final["val_psnr"] > final["val_psnr_plain_decoder"]  # the features already help the decoder

    restorer = get_stage("fidelity").load_restorer(run, device="cpu")
    assert restorer.fidelity is not None and restorer.steps == 2
    assert restorer.stage1 is not None  # the control run's stage I, inherited
    lq = np.random.default_rng(0).random((50, 70, 3), dtype=np.float32)
    assert restorer(lq).shape == lq.shape


def test_stage2_without_a_prior_says_how_to_give_one(export, tmp_path):
    with pytest.raises(RdrfError, match="model.pretrained is not set"):
        train("control", export, tmp_path / "run", overrides=["run.max_steps=1", "run.num_workers=0", "run.batch_size=2"], show_progress=False)


def test_stage1_of_the_wrong_kind_is_refused(export, control_run, tmp_path):
    with pytest.raises(RdrfError, match="not a stage I"):
        train("control", export, tmp_path / "run", overrides=[*COMMON, "run.max_steps=1", f"model.stage1={control_run.path}"],
              show_progress=False)


def test_control_run_config_records_the_recipe(control_run):
    config = control_run.load_config(ControlConfig)
    assert config.model.condition == "modulate_gate" and config.model.modulate_channels == 32
    assert config.schedule.constant_fraction == 1.0  # fixed learning rate (A.2)
    # metrics.jsonl, as a user reads it: one JSON object a line, the logged steps in order from 1
    records = [json.loads(line) for line in control_run.metrics_path.read_text().splitlines()]
    logged = [r for r in records if "loss" in r]
    assert [r["step"] for r in logged] == list(range(1, len(logged) + 1)) and len(logged) >= 6
    assert all({"step", "loss", "lr", "epoch", "sec_per_step"} <= set(r) for r in logged)
