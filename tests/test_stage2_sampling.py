"""Stage II sampling: the spaced DDPM schedule, Gaussian-weighted tiling, and the whole pipeline
returning images of the input size (one larger than a tile) with the tiny prior."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("diffusers")

from rdrf_train.models.control import ControlBranch  # noqa: E402
from rdrf_train.models.fidelity import FidelityEncoder  # noqa: E402
from rdrf_train.pipeline import DiffUR3Pipeline  # noqa: E402
from rdrf_train.prior import load_prior  # noqa: E402
from rdrf_train.sampling import decode_tiled, encode_tiled, make_noise_scheduler  # noqa: E402
from rdrf_train.tiling import tile_starts, tiled_map  # noqa: E402


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny():
    return load_prior("tiny")


def test_spaced_ddpm_is_50_evenly_spread_steps_of_the_scaled_linear_schedule():
    s = make_noise_scheduler()
    assert s.config.num_train_timesteps == 1000 and not s.config.clip_sample
    assert s.betas[0].item() == pytest.approx(0.00085) and s.betas[-1].item() == pytest.approx(0.012)
    assert torch.allclose(s.betas, torch.linspace(0.00085**0.5, 0.012**0.5, 1000) ** 2)
    s.set_timesteps(50)
    t = s.timesteps.tolist()
    assert len(t) == 50 and t[0] == 999 and t[-1] == 0 and t == sorted(t, reverse=True)
    assert max(a - b for a, b in zip(t, t[1:])) <= 21


@pytest.mark.parametrize("size,tile,stride", [(135, 64, 32), (90, 64, 32), (64, 64, 32), (40, 64, 32), (100, 30, 7)])
def test_windows_cover_every_position(size, tile, stride):
    starts = tile_starts(size, tile, stride)
    covered = np.zeros(size, bool)
    for s in starts:
        covered[s : s + min(tile, size)] = True
    assert covered.all() and starts[0] == 0 and max(starts) + min(tile, size) == size


def test_tiled_map_blends_windows_back_to_the_exact_whole():
    x = torch.randn(1, 3, 37, 53)
    y = torch.randn(1, 3, 37 * 8, 53 * 8)
    # a per-pixel function is unchanged by tiling: the Gaussian weights sum back to one
    out = tiled_map(lambda a, b: a * 2 + b[..., ::8, ::8], (37, 53), [(x, 1), (y, 8)], tile=16, stride=8)
    assert torch.allclose(out, x * 2 + y[..., ::8, ::8], atol=1e-5)
    up = tiled_map(lambda a: a.repeat_interleave(8, -1).repeat_interleave(8, -2), (37, 53), [(x, 1)], 16, 8, out_factor=8)
    assert up.shape == (1, 3, 296, 424)
    assert torch.allclose(up[..., ::8, ::8], x, atol=1e-5)


def test_tiled_vae_matches_whole_image_vae_on_a_one_tile_image(tiny):
    img = torch.rand(1, 3, 64, 48)
    z = encode_tiled(tiny.vae, img)
    assert torch.equal(z, tiny.encode(img))
    assert decode_tiled(tiny.vae, z).shape == (1, 3, 64, 48)


@pytest.mark.parametrize("shape", [(43, 61, 3), (160, 136, 3)])
def test_pipeline_returns_images_of_the_input_size(tiny, shape):
    torch.manual_seed(0)
    tile = 16  # latent pixels (128 px); the real default is 64 (512 px), same code
    pipe = DiffUR3Pipeline(tiny, ControlBranch.from_unet(tiny.unet), FidelityEncoder.from_vae(tiny.vae), steps=2, tile=tile, stride=8)
    lq = np.random.default_rng(0).random(shape, dtype=np.float32)
    out = pipe(lq)
    assert out.shape == shape and out.dtype == np.float32
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    latent = (-(-shape[0] // 8), -(-shape[1] // 8))
    windows = len(tile_starts(latent[0], tile, 8)) * len(tile_starts(latent[1], tile, 8))
    assert windows == (1 if shape[0] < 8 * tile else 4)  # the second is larger than a tile
    assert np.array_equal(out, pipe(lq))  # seeded: the same input gives the same output


def test_single_condition_ablations_sample(tiny):
    lq = np.random.default_rng(1).random((32, 40, 3), dtype=np.float32)
    for condition in ("lq", "s", "concat"):
        pipe = DiffUR3Pipeline(tiny, ControlBranch.from_unet(tiny.unet, condition), None, steps=2)
        assert pipe(lq).shape == lq.shape
