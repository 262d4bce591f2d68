"""AGAN (issue 15, seeds/004) on rdrf's loop: the paper configuration has the public implementation's
parameter count; a tiny configuration learns on a synthetic export (slow), resumes after SIGKILL at
the same step with both optimizers' state, and its run goes through `rdrf eval` and `rdrf restore`;
the perceptual loss refuses to train without VGG16 weights unless switched off; the losses are the
paper's formulas."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from rdrf_train.config import resolve_dict, validate
from rdrf_train.loop import train
from rdrf_train.models.vgg16 import VGG16Features, load_vgg16, vgg16_features
from rdrf_train.runs import RunFolder
from rdrf_train.stages.agan import AGANConfig, AGANStage
from schemas.errors import RdrfError
from tests.baseline_helpers import check_resumed, kill_and_resume
from tests.train_helpers import make_export

TINY = [
    "model.generator.recurrent_width=8", "model.generator.residual_blocks=2", "model.generator.widths=[16,32,32]",
    "model.generator.dilations=[2,4]", "model.generator.out_width=16",
    "model.discriminator.widths=[8,8,16,16]", "model.discriminator.tail_widths=[8,8]",
    "model.discriminator.fc_width=32", "model.discriminator.image_size=32", "data.crop=32",
    "run.num_workers=0", "run.batch_size=2", "optim.lr=1e-3", "discriminator_optim.lr=1e-3", "tile=64", "tile_overlap=16",
]


def write_vgg16(path: Path) -> Path:
    """Random weights in torchvision's vgg16 key layout, classifier included (the loader skips it)."""
    torch.manual_seed(0)
    state = {f"features.{k}": v for k, v in vgg16_features().state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(4, 4)
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    return make_export(tmp_path_factory.mktemp("agan") / "export", n_train=8, n_test=2)


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    return write_vgg16(tmp_path_factory.mktemp("vgg") / "vgg16.pth")


def tiny(vgg_file: Path, *more: str) -> list[str]:
    return TINY + [f"loss.vgg16_weights={json.dumps(str(vgg_file))}", *more]


def test_paper_configuration_has_the_public_parameter_counts(cli):
    # rui1996/DeRaindrop models/generator.py and models/discriminator.py, counted with torch (docs/NOTES.md)
    r = cli("info", "model", "--stage", "agan", "--json")
    assert r.exit_code == 0, r.output
    components = json.loads(r.stdout)["components"]
    assert components["generator"] == {"trainable": 6_244_362, "frozen": 0}
    assert components["discriminator"] == {"trainable": 7_737_746, "frozen": 0}
    assert components["vgg16"]["frozen"] == 260_160  # conv1_1..conv2_2, the layers the perceptual loss reads


def test_vgg16_loads_torchvision_layout_and_names_what_is_wrong(tmp_path, vgg_file):
    model = load_vgg16(vgg_file, ("relu1_2", "relu2_2"))
    state = torch.load(vgg_file, weights_only=True)
    assert torch.equal(model.features[7].weight, state["features.7.weight"])  # conv2_2, same index as torchvision
    feats = model(torch.rand(1, 3, 16, 16))
    assert [tuple(f.shape) for f in feats] == [(1, 64, 16, 16), (1, 128, 8, 8)]
    assert not any(p.requires_grad for p in model.parameters())

    partial = {k: v for k, v in state.items() if not k.startswith("features.5.")}
    torch.save(partial, tmp_path / "partial.pth")
    with pytest.raises(RdrfError, match=r"partial.pth lacks features.5.weight.*features.N.weight/bias"):
        load_vgg16(tmp_path / "partial.pth", ("relu2_2",))
    wrong = dict(state, **{"features.0.weight": torch.zeros(64, 3, 5, 5)})
    torch.save(wrong, tmp_path / "wrong.pth")
    with pytest.raises(RdrfError, match=r"features.0.weight has shape \(64, 3, 5, 5\), expected \(64, 3, 3, 3\)"):
        load_vgg16(tmp_path / "wrong.pth", ("relu1_1",))
    (tmp_path / "junk.pth").write_bytes(b"not a state dict")
    with pytest.raises(RdrfError, match="junk.pth could not be read"):
        load_vgg16(tmp_path / "junk.pth", ("relu1_1",))
    with pytest.raises(RdrfError, match="missing.pth does not exist"):
        load_vgg16(tmp_path / "missing.pth", ("relu1_1",))
    with pytest.raises(ValueError, match="unknown VGG16 layers"):
        VGG16Features(("relu9_9",))


def test_training_refuses_without_vgg16_weights_unless_perceptual_is_off(cli, export, tmp_path):
    args = ["train", "--stage", "agan", "--data", export, "--max-steps", "2"]
    sets = [x for o in TINY for x in ("--set", o)]
    r = cli(*args, "--output", tmp_path / "refused", *sets)
    assert r.exit_code == 1
    assert "perceptual loss needs VGG16 weights" in r.output and "loss.perceptual=false" in r.output
    assert "Traceback" not in r.output and not (tmp_path / "refused" / "config.toml").exists()

    r = cli(*args, "--output", tmp_path / "crop", *sets, "--set", "data.crop=64", "--set", "loss.perceptual=false")
    assert r.exit_code == 1 and "data.crop (64) must equal model.discriminator.image_size (32)" in r.output

    r = cli(*args, "--output", tmp_path / "noperc", *sets, "--set", "loss.perceptual=false", "--set", "run.checkpoint_every=2")
    assert r.exit_code == 0, r.output
    weights = RunFolder(tmp_path / "noperc").latest()[1] / "weights"
    assert (weights / "generator.safetensors").exists() and (weights / "discriminator.safetensors").exists()


def test_losses_are_the_papers():
    config = validate(AGANConfig, resolve_dict("agan"), "shipped agan.toml")
    stage = AGANStage.__new__(AGANStage)
    stage.config = config
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2, :] = 1
    maps = [torch.full((1, 1, 4, 4), v) for v in (0.5, 0.6, 0.7, 0.8)]
    # theta^(N-t) MSE(A_t, M), theta = 0.8, N = 4: each map's MSE is (v^2 + (1-v)^2) / 2
    expected = sum(0.8 ** (4 - t) * (v * v + (1 - v) ** 2) / 2 for t, v in enumerate((0.5, 0.6, 0.7, 0.8), start=1))
    assert float(stage.attention_loss(maps, mask)) == pytest.approx(expected, rel=1e-6)
    assert config.loss.multiscale == (0.6, 0.8, 1.0) and config.loss.gan_weight == 0.01 and config.loss.map_weight == 0.05


@pytest.fixture(scope="module")
def resumed(export, vgg_file, tmp_path_factory):
    """A tiny AGAN run SIGKILLed after its step-4 checkpoint and resumed to step 12."""
    sets = tiny(vgg_file, "run.log_every=1", "run.checkpoint_every=2", "run.val_every=100", "run.keep_checkpoints=2")
    return kill_and_resume("agan", export, tmp_path_factory.mktemp("agan-run") / "run", sets, 12, 4)


@pytest.mark.slow  # a kill-and-resume run: CI runs it with -m slow
def test_a_sigkilled_run_resumes_at_the_same_step_with_both_optimizers(resumed):
    folder, before, resume_step = resumed
    # the first new step's loss equals the killed run's: the generator's loss reads the discriminator
    # just stepped, so this holds only if the discriminator's weights and Adam moments came back too
    check_resumed(folder, before, resume_step, 12, 4)
    checkpoint = folder.latest()[1]
    assert (checkpoint / "optimizer.bin").exists() and (checkpoint / "optimizer_1.bin").exists()  # generator, discriminator


@pytest.mark.slow  # a kill-and-resume run: CI runs it with -m slow
def test_eval_and_restore_accept_an_agan_run(cli, resumed, export, tmp_path):
    folder, _, _ = resumed
    r = cli("eval", "--data", export, "--checkpoint", folder.path, "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["images"] == 2 and report["step"] == 12 and len(report["rows"]) == 2
    assert report["rows"][1]["psnr"] == pytest.approx(folder.metrics()[-1]["val_psnr"], abs=1e-3)  # as validated in training
    # a Table 2 row of its own in `rdrf benchmark`, scored from this run
    r = cli("benchmark", "--data", export, "--run", f"AGAN†={folder.path}", "--cache", tmp_path / "cache", "--format", "json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)["rows"]
    assert [row["method"] for row in rows] == ["Degraded input", "AGAN†"]
    assert rows[1]["scores"]["psnr"] == pytest.approx(report["rows"][1]["psnr"], abs=1e-6)
    rng = np.random.default_rng(0)
    odd = (rng.random((45, 77, 3)) * 255).astype(np.uint8)  # not a multiple of 4: padded and cropped back
    large = (rng.random((150, 170, 3)) * 255).astype(np.uint8)  # larger than the run's 64 px tile
    cv2.imwrite(str(tmp_path / "odd.png"), odd)
    cv2.imwrite(str(tmp_path / "large.png"), large)
    r = cli("restore", tmp_path / "odd.png", tmp_path / "large.png", "--checkpoint", folder.path, "--out", tmp_path / "out")
    assert r.exit_code == 0, r.output
    assert cv2.imread(str(tmp_path / "out" / "odd.png")).shape == odd.shape
    assert cv2.imread(str(tmp_path / "out" / "large.png")).shape == large.shape


@pytest.mark.slow
def test_300_cpu_steps_lower_the_loss_and_beat_the_identity_baseline(export, vgg_file, tmp_path, one_thread):
    # ~35 s on the 2-core machine when nothing else runs
    steps = 300
    run = train("agan", export, tmp_path / "run", show_progress=False,
                overrides=tiny(vgg_file, f"run.max_steps={steps}", "run.log_every=30", f"run.val_every={steps}",
                               f"run.checkpoint_every={steps}"))
    lines = [m for m in run.metrics() if "loss" in m]
    assert lines[-1]["step"] == steps
    first, last = lines[0]["loss"], np.mean([m["loss"] for m in lines[-3:]])
    assert last < 0.6 * first, (first, last)
    final = lines[-1]
    assert final["val_psnr"] > final["val_psnr_identity"] + 2.0, final
