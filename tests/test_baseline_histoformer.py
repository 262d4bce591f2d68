"""Histoformer (issue 15) on rdrf's loop: the paper configuration has the public implementation's
parameter count; widths its feed-forward network cannot split are refused; the Pearson loss is the public code's; a tiny configuration learns on a synthetic
export (slow), resumes after SIGKILL at the same step, and its run goes through `rdrf eval` and
`rdrf restore`."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from rdrf_train.loop import train
from rdrf_train.models.histoformer import Histoformer
from rdrf_train.stages.histoformer import pearson_loss
from tests.baseline_helpers import check_resumed, kill_and_resume
from tests.train_helpers import make_export

TINY = ["model.dim=12", "model.blocks=[1,1,1,1]", "model.refinement_blocks=1", "data.crop=32", "run.num_workers=0",
        "run.batch_size=2", "run.grad_clip=0.5", "tile=64", "tile_overlap=16"]


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    return make_export(tmp_path_factory.mktemp("histoformer") / "export", n_train=8, n_test=2)


def test_paper_configuration_has_the_public_parameter_count(cli):
    # sunshangquan/Histoformer basicsr/models/archs/histoformer_arch.py with Allweather_Histoformer.yml (docs/NOTES.md)
    r = cli("info", "model", "--stage", "histoformer", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["components"] == {"restorer": {"trainable": 16_615_100, "frozen": 0}}


def test_widths_the_dual_scale_ffn_cannot_split_are_refused():
    # DGFF pixel-shuffles its int(dim * expansion) channels and splits them in two: a multiple of 4
    with pytest.raises(ValueError, match=r"int\(8 \* 2.667\) = 21 must be a multiple of 4"):
        Histoformer(dim=8)
    assert Histoformer(dim=12, blocks=(1, 1, 1, 1), refinement_blocks=0)(torch.rand(1, 3, 16, 24)).shape == (1, 3, 16, 24)


def test_pearson_loss_is_half_one_minus_the_correlation():
    gt = torch.rand(2, 3, 8, 8)
    assert float(pearson_loss(gt, gt)) == pytest.approx(0.0, abs=1e-6)
    assert float(pearson_loss(-gt, gt)) == pytest.approx(1.0, abs=1e-6)
    assert float(pearson_loss(3 * gt + 1, gt)) == pytest.approx(0.0, abs=1e-6)  # scale and offset free
    flat = torch.full_like(gt, 0.5)  # no variance: r is 0 here (eps), the loss 1/2 - not NaN
    assert torch.isfinite(pearson_loss(flat, gt))


@pytest.fixture(scope="module")
def resumed(export, tmp_path_factory):
    sets = TINY + ["run.log_every=1", "run.checkpoint_every=2", "run.val_every=100", "run.keep_checkpoints=2"]
    return kill_and_resume("histoformer", export, tmp_path_factory.mktemp("histo-run") / "run", sets, 8, 4)


@pytest.mark.slow  # a kill-and-resume run: CI runs it with -m slow
def test_a_sigkilled_run_resumes_at_the_same_step(resumed):
    folder, before, resume_step = resumed
    check_resumed(folder, before, resume_step, 8, 4)


@pytest.mark.slow  # a kill-and-resume run: CI runs it with -m slow
def test_eval_and_restore_accept_a_histoformer_run(cli, resumed, export, tmp_path):
    folder, _, _ = resumed
    r = cli("eval", "--data", export, "--checkpoint", folder.path, "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["images"] == 2 and report["step"] == 8
    assert report["rows"][1]["psnr"] == pytest.approx(folder.metrics()[-1]["val_psnr"], abs=1e-3)
    odd = (np.random.default_rng(0).random((45, 77, 3)) * 255).astype(np.uint8)  # padded to a multiple of 8, cropped back
    cv2.imwrite(str(tmp_path / "odd.png"), odd)
    r = cli("restore", tmp_path / "odd.png", "--checkpoint", folder.path, "--out", tmp_path / "out")
    assert r.exit_code == 0, r.output
    assert cv2.imread(str(tmp_path / "out" / "odd.png")).shape == odd.shape


@pytest.mark.slow
def test_120_cpu_steps_lower_the_loss_and_beat_the_identity_baseline(export, tmp_path, one_thread):
    # ~40 s on the 2-core machine when nothing else runs
    steps = 120
    run = train("histoformer", export, tmp_path / "run", show_progress=False,
                overrides=TINY + [f"run.max_steps={steps}", "run.log_every=12", f"run.val_every={steps}", f"run.checkpoint_every={steps}"])
    lines = [m for m in run.metrics() if "loss" in m]
    assert lines[-1]["step"] == steps
    first, last = lines[0]["loss"], np.mean([m["loss"] for m in lines[-3:]])
    assert last < 0.6 * first, (first, last)
    assert lines[-1]["val_psnr"] > lines[-1]["val_psnr_identity"] + 2.0, lines[-1]
