"""WeatherDiff64 (issue 15) on rdrf's loop: the paper configuration has the public implementation's
parameter count; the overlapping-patch DDIM sampler returns the clean image exactly when the network's
outputs are exact, for each prediction type (any image size, smaller than a patch included); an
unknown prediction type is refused by name; the noise-prediction loss falls; a run resumes after
SIGKILL at the same step and goes through `rdrf eval` and `rdrf restore` (whose `--steps` sets the
DDIM steps). The tiny configuration in x0 prediction (`diffusion.prediction_type = "sample"`) beats
the identity row after 300 CPU steps (slow); in the paper's epsilon prediction it does not in a CPU
test's budget (docs/NOTES.md)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from rdrf_train.loop import train
from rdrf_train.stages.weatherdiff import (DiffusionSection, alphas_cumprod, random_patches, restore_overlapping,
                                          training_target)
from tests.baseline_helpers import check_resumed, kill_and_resume
from tests.train_helpers import make_export

TINY = ["model.ch=16", "model.ch_mult=[1,2]", "model.num_res_blocks=1", "model.attn_resolutions=[8]", "model.resolution=16",
        "diffusion.patches_per_image=4", "diffusion.sampling_steps=4", "diffusion.grid_stride=8", "diffusion.ema_rate=0.9",
        "data.crop=32", "run.num_workers=0", "run.batch_size=4", "optim.lr=2e-3", "run.val_max_images=1"]
X0 = ["diffusion.prediction_type=sample", "optim.lr=4e-3"]  # learns "x0 ~ condition" first, then improves on it


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    return make_export(tmp_path_factory.mktemp("weatherdiff") / "export", n_train=8, n_test=2)


def test_paper_configuration_has_the_public_parameter_count(cli):
    # IGITUGraz/WeatherDiffusion models/unet.py DiffusionUNet with configs/raindrop.yml (docs/NOTES.md)
    r = cli("info", "model", "--stage", "weatherdiff", "--json")
    assert r.exit_code == 0, r.output
    components = json.loads(r.stdout)["components"]
    assert components["unet"] == {"trainable": 109_736_835, "frozen": 0}
    assert components["ema"] == {"trainable": 0, "frozen": 109_736_835}


class ExactModel(torch.nn.Module):
    """Outputs the exact target (noise, x0 or v) of x_t for a clean image passed as the condition
    (x0 = condition): the noise is recovered from x_t = sqrt(a_bar) x0 + sqrt(1 - a_bar) noise."""

    def __init__(self, d: DiffusionSection):
        super().__init__()
        self.a_bar, self.kind = alphas_cumprod(d), d.prediction_type

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = self.a_bar[int(t[0])]
        x0, xt = x[:, :3], x[:, 3:]
        return training_target(x0, (xt - a.sqrt() * x0) / (1 - a).sqrt(), a, self.kind)


@pytest.mark.parametrize("kind", ["epsilon", "sample", "v_prediction"])
@pytest.mark.parametrize("size", [(40, 52), (16, 16), (9, 30)])
def test_overlapping_patch_sampler_is_exact_with_exact_outputs(size, kind):
    d = DiffusionSection(grid_stride=8, sampling_steps=5, prediction_type=kind)
    clean = torch.rand(1, 3, *size)
    out = restore_overlapping(ExactModel(d), clean, d, 5, 16, torch.Generator().manual_seed(0))
    assert out.shape == clean.shape
    assert torch.allclose(out, clean, atol=1e-4)
    wrong = restore_overlapping(ExactModel(d), clean.flip(-1), d, 5, 16, torch.Generator().manual_seed(0))
    assert not torch.allclose(wrong, clean, atol=1e-2)  # the condition decides the result


class Arbitrary(torch.nn.Module):
    """A fixed, wrong network: the DDIM trajectory then depends on both (x0, noise) conversions."""

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return 0.3 * x[:, :3] - 0.6 * x[:, 3:] + 4e-4 * t.view(-1, 1, 1, 1)


@pytest.mark.parametrize("timesteps", [1000, 50])  # the paper's; one where most output pixels are not clamped
@pytest.mark.parametrize("kind", ["epsilon", "sample", "v_prediction"])
def test_one_window_sampler_is_diffusers_ddim(kind, timesteps):
    # exact outputs give x0 whatever x_t is, so they cannot check the noise estimate the next x_t is
    # built from: diffusers' DDIMScheduler (eta 0, no clipping, final alpha 1) on the same noise can
    from diffusers import DDIMScheduler

    d = DiffusionSection(prediction_type=kind, timesteps=timesteps)
    lq = torch.rand(1, 3, 16, 16)
    out = restore_overlapping(Arbitrary(), lq, d, 5, 16, torch.Generator().manual_seed(0))
    sched = DDIMScheduler(num_train_timesteps=d.timesteps, beta_start=d.beta_start, beta_end=d.beta_end, beta_schedule="linear",
                          clip_sample=False, set_alpha_to_one=True, prediction_type=kind)
    sched.set_timesteps(5)
    x = torch.randn(lq.shape, generator=torch.Generator().manual_seed(0))
    for t in sched.timesteps:
        x = sched.step(Arbitrary()(torch.cat([lq * 2 - 1, x], 1), t.float()[None]), t, x, eta=0.0).prev_sample
    assert torch.allclose(out, ((x + 1) / 2).clamp(0, 1), atol=1e-4)


def test_the_targets_are_diffusers_ddim_conventions():
    # v = sqrt(a_bar) noise - sqrt(1 - a_bar) x0, as DDIMScheduler.get_velocity; x_t itself is
    # sqrt(a_bar) x0 + sqrt(1 - a_bar) noise, as DDIMScheduler.add_noise
    from diffusers import DDIMScheduler

    d = DiffusionSection()
    sched = DDIMScheduler(num_train_timesteps=d.timesteps, beta_start=d.beta_start, beta_end=d.beta_end, beta_schedule="linear")
    x0, noise, t = torch.rand(3, 3, 8, 8) * 2 - 1, torch.randn(3, 3, 8, 8), torch.tensor([0, 420, 999])
    a = alphas_cumprod(d)[t].view(-1, 1, 1, 1)
    assert torch.allclose(training_target(x0, noise, a, "v_prediction"), sched.get_velocity(x0, noise, t), atol=1e-5)
    assert torch.equal(training_target(x0, noise, a, "sample"), x0) and torch.equal(training_target(x0, noise, a, "epsilon"), noise)


def test_an_unknown_prediction_type_is_refused_naming_it_and_the_allowed_ones(cli, export, tmp_path):
    r = cli("train", "--stage", "weatherdiff", "--data", export, "--output", tmp_path / "run", "--set", "diffusion.prediction_type=x0")
    assert r.exit_code == 1, r.output  # as every invalid training config
    assert "diffusion.prediction_type" in r.output and "'epsilon', 'sample' or 'v_prediction'" in r.output, r.output
    assert not (tmp_path / "run").exists()


def test_patches_are_cut_at_the_same_place_from_lq_and_gt():
    lq = torch.arange(2 * 3 * 20 * 24, dtype=torch.float32).reshape(2, 3, 20, 24)
    a, b = random_patches([lq, lq + 0.5], 8, 5)
    assert a.shape == (10, 3, 8, 8) and torch.equal(b, a + 0.5)


def test_the_noise_prediction_loss_falls(export, tmp_path, one_thread):
    steps = 60
    run = train("weatherdiff", export, tmp_path / "run", show_progress=False,
                overrides=TINY + [f"run.max_steps={steps}", "run.log_every=6", "run.val_every=1000", f"run.checkpoint_every={steps}"])
    lines = [m for m in run.metrics() if "loss" in m]
    assert lines[-1]["step"] == steps and np.mean([m["loss"] for m in lines[-3:]]) < 0.5 * lines[0]["loss"], lines


@pytest.fixture(scope="module")
def resumed(export, tmp_path_factory):
    sets = TINY + ["run.log_every=1", "run.checkpoint_every=2", "run.val_every=1000", "run.keep_checkpoints=2"]
    return kill_and_resume("weatherdiff", export, tmp_path_factory.mktemp("wd-run") / "run", sets, 12, 4)


@pytest.mark.slow  # a kill-and-resume run: CI runs it with -m slow
def test_a_sigkilled_run_resumes_at_the_same_step(resumed):
    folder, before, resume_step = resumed
    check_resumed(folder, before, resume_step, 12, 4)
    weights = folder.latest()[1] / "weights"
    assert (weights / "unet.safetensors").exists() and (weights / "ema.safetensors").exists()


@pytest.mark.slow  # a kill-and-resume run: CI runs it with -m slow
def test_eval_and_restore_accept_a_weatherdiff_run(cli, resumed, export, tmp_path):
    folder, _, _ = resumed
    r = cli("eval", "--data", export, "--checkpoint", folder.path, "--json", "--steps", "2")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["step"] == 12
    odd = (np.random.default_rng(0).random((13, 45, 3)) * 255).astype(np.uint8)  # smaller than a patch in height
    cv2.imwrite(str(tmp_path / "odd.png"), odd)
    for name in ("a", "b"):
        r = cli("restore", tmp_path / "odd.png", "--checkpoint", folder.path, "--steps", "2", "--out", tmp_path / name)
        assert r.exit_code == 0, r.output
    a, b = cv2.imread(str(tmp_path / "a" / "odd.png")), cv2.imread(str(tmp_path / "b" / "odd.png"))
    assert a.shape == odd.shape and np.array_equal(a, b)  # seeded noise: the same restoration twice


@pytest.mark.slow
def test_300_cpu_steps_of_x0_prediction_lower_the_loss_and_beat_the_identity_baseline(cli, export, tmp_path, one_thread):
    # ~40 s on the 2-core machine when nothing else runs; 24.1 vs 20.3 dB in trial runs (docs/NOTES.md)
    steps = 300
    run = train("weatherdiff", export, tmp_path / "run", show_progress=False,
                overrides=TINY + X0 + [f"run.max_steps={steps}", "run.log_every=30", "run.val_every=1000", f"run.checkpoint_every={steps}"])
    lines = [m for m in run.metrics() if "loss" in m]
    assert lines[-1]["step"] == steps
    first, last = lines[0]["loss"], np.mean([m["loss"] for m in lines[-3:]])
    assert last < 0.6 * first, (first, last)
    r = cli("eval", "--data", export, "--checkpoint", run.path, "--json")
    assert r.exit_code == 0, r.output
    identity, restored = json.loads(r.stdout)["rows"]
    assert restored["psnr"] > identity["psnr"] + 2.0, (identity, restored)
