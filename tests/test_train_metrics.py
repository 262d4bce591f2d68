"""PSNR/SSIM agree with scikit-image; tiled inference equals whole-image inference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from rdrf_train import metrics
from rdrf_train.tiling import tiled
from tests.train_helpers import degrade, texture


@pytest.mark.parametrize("seed", [0, 1])
def test_psnr_and_ssim_match_scikit_image(seed):
    rng = np.random.default_rng(seed)
    gt = texture(rng, 90, 130)
    lq, _ = degrade(gt, rng)
    out = metrics.quantize(gt + rng.normal(0, 0.03, gt.shape))
    for img in (lq, out):
        ref_psnr = peak_signal_noise_ratio(gt, img, data_range=1)
        ref_ssim = structural_similarity(gt, img, data_range=1, channel_axis=-1, gaussian_weights=True,
                                         sigma=1.5, use_sample_covariance=False)
        assert abs(metrics.psnr(gt, img) - ref_psnr) < 1e-3
        assert abs(metrics.ssim(gt, img) - ref_ssim) < 1e-4
        y_ref = structural_similarity(metrics.to_luma(gt), metrics.to_luma(img), data_range=1, gaussian_weights=True,
                                      sigma=1.5, use_sample_covariance=False)
        assert abs(metrics.ssim(gt, img, colour="y") - y_ref) < 1e-4
    assert metrics.psnr(gt, out) > metrics.psnr(gt, lq)
    assert metrics.psnr(gt, gt) == float("inf") and metrics.ssim(gt, gt) == pytest.approx(1.0)


def test_tiled_inference_covers_every_pixel_and_matches_a_local_network():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 3, 3, padding=1, padding_mode="replicate")
    image = torch.rand(1, 3, 150, 230)
    whole = conv(image).detach()
    out = tiled(conv, image, tile=64, overlap=16)
    assert out.shape == image.shape
    # A 3x3 network differs only within a pixel of a tile border, and blending hides most of that.
    assert (out - whole).abs().mean() < 2e-3
    small = image[..., :60, :60]
    assert torch.equal(tiled(conv, small, tile=64, overlap=16), conv(small))  # small images run whole


def test_lpips_loads_local_weight_files_and_measures_distance(tmp_path):
    from rdrf_train.lpips import LPIPS, load_lpips, lpips_distance
    from schemas.errors import RdrfError

    with pytest.raises(RdrfError, match="no AlexNet weights"):
        load_lpips(tmp_path)
    torch.manual_seed(0)
    ref = LPIPS()
    for conv in ref.lins:  # LPIPS's linear weights are non-negative
        conv.weight.data.abs_()
    torch.save({f"features.{k}": v for k, v in ref.features.state_dict().items()} | {"classifier.1.weight": torch.zeros(2)},
               tmp_path / "alexnet.pth")
    with pytest.raises(RdrfError, match="no alex.pth"):
        load_lpips(tmp_path)
    torch.save({f"lin{i}.model.1.weight": c.weight.data.clone() for i, c in enumerate(ref.lins)}, tmp_path / "alex.pth")
    model = load_lpips(tmp_path)
    assert torch.equal(model.features[3].weight, ref.features[3].weight) and torch.equal(model.lins[4].weight, ref.lins[4].weight)
    rng = np.random.default_rng(0)
    gt = texture(rng, 96, 96)
    near = np.clip(gt + rng.normal(0, 0.02, gt.shape), 0, 1).astype(np.float32)
    far = np.clip(gt + rng.normal(0, 0.2, gt.shape), 0, 1).astype(np.float32)
    assert lpips_distance(model, gt, gt) == pytest.approx(0.0, abs=1e-7)
    assert 0 < lpips_distance(model, gt, near) < lpips_distance(model, gt, far)
    assert lpips_distance(model, gt, far) == pytest.approx(lpips_distance(model, far, gt), rel=1e-5)
