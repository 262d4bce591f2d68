"""The run folder across restarts and what `rdrf train` prints without a terminal: metrics.jsonl never
repeats a step, a resumed run continues the uninterrupted run's random stream, and a log file gets
plain progress lines."""

from __future__ import annotations

import shutil

import pytest

from rdrf_train.loop import train
from rdrf_train.runs import RunFolder
from tests.train_helpers import make_export

pytestmark = pytest.mark.usefixtures("one_thread")

TINY_STAGE1 = ["model.dim=8", "model.blocks=[1,1,1,1]", "run.num_workers=0", "run.batch_size=2", "data.crop=32",
               "run.val_every=1000", "run.log_every=1"]


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    return make_export(tmp_path_factory.mktemp("runs") / "export", n_train=4, n_test=1, size=(64, 80))


def logged_steps(run: RunFolder) -> list[int]:
    return [m["step"] for m in run.metrics() if "loss" in m]


def test_a_restart_that_finds_no_checkpoint_starts_metrics_afresh(export, tmp_path):
    out = tmp_path / "run"
    train("restore", export, out, overrides=[*TINY_STAGE1, "run.max_steps=3"], show_progress=False)
    shutil.rmtree(RunFolder(out).checkpoints_dir)  # as if killed before its first checkpoint
    train("restore", export, out, overrides=["run.max_steps=3"], show_progress=False)
    assert logged_steps(RunFolder(out)) == [1, 2, 3]


def test_train_prints_plain_progress_lines_without_a_terminal(cli, export, tmp_path):
    args = ["train", "--stage", "restore", "--data", export, "--max-steps", "4",
            *[x for o in [*TINY_STAGE1, "run.log_every=2"] for x in ("--set", o)]]
    r = cli(*args, "--output", tmp_path / "a")
    assert r.exit_code == 0, r.output
    lines = [line for line in r.stderr.splitlines() if line.startswith("step ")]
    assert [line.split()[1] for line in lines] == ["2/4", "4/4"], r.stderr
    assert all(k in lines[0] for k in ("loss ", "lr ", " s/step", "ETA ")), lines[0]
    r = cli("-q", *args, "--output", tmp_path / "b")
    assert r.exit_code == 0 and "step 2/4" not in r.stderr


STAGE2 = ["model.pretrained=tiny", "data.crop=32", "data.scale=[1.0, 1.0]", "run.batch_size=1", "run.num_workers=0",
          "run.log_every=1", "run.val_every=1000", "run.checkpoint_every=2", "optim.lr=2e-3",
          "data.val_crop=32", "model.val_steps=1"]


def test_a_resumed_stage2_run_draws_the_noise_of_the_uninterrupted_run(export, tmp_path, capsys):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    train("control", export, whole, overrides=[*STAGE2, "run.max_steps=4"], show_progress=False)
    train("control", export, parts, overrides=[*STAGE2, "run.max_steps=2"], show_progress=False)
    train("control", export, parts, overrides=["run.max_steps=4"], show_progress=False)  # resumes mid-epoch (4 pairs, batch 1)
    loss = lambda run: {m["step"]: m["loss"] for m in RunFolder(run).metrics() if "loss" in m}  # noqa: E731
    assert loss(parts) == loss(whole)  # bit for bit: same weights, same timesteps, same noise
