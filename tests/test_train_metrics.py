"""PSNR/SSIM agree with scikit-image; tiled inference equals whole-image inference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from rdrf_train import metrics
from rdrf_train.tiling import tiled
from tests.train_helpers import degrade, texture


def images(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(gt, a degraded input, a good 8-bit restoration) in [0, 1]."""
    rng = np.random.default_rng(seed)
    gt = texture(rng, 90, 130)
    lq, _ = degrade(gt, rng)
    return gt, lq, metrics.quantize(gt + rng.normal(0, 0.03, gt.shape))


@pytest.mark.parametrize("seed", [0, 1])
def test_psnr_and_ssim_match_scikit_image(seed):
    gt, lq, out = images(seed)
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


def _pyiqa_ssim_written_out(gt: np.ndarray, out: np.ndarray) -> float:
    """pyiqa's `ssim` (ssim_arch.py + color_util.to_y_channel, test_y_channel=True, color_space='yiq',
    downsample=False) restated in torch: YIQ luma x 255 rounded, fspecial(11, 1.5) 'valid', relu(cs)."""
    def y255(img):
        x = torch.from_numpy(img).permute(2, 0, 1)[None].float()
        yiq = torch.tensor([[0.299, 0.587, 0.114], [0.5959, -0.2746, -0.3213], [0.2115, -0.5227, 0.3112]]).t()
        return (torch.matmul(x.permute(0, 2, 3, 1), yiq).permute(0, 3, 1, 2)[:, [0]] * 255).round()

    ax = torch.arange(11, dtype=torch.float32) - 5
    g = torch.exp(-(ax[:, None] ** 2 + ax[None, :] ** 2) / (2 * 1.5**2))
    win = (g / g.sum())[None, None]
    X, Y = y255(gt), y255(out)
    f = lambda t: torch.nn.functional.conv2d(t, win)  # noqa: E731
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu1, mu2 = f(X), f(Y)
    s1, s2, s12 = f(X * X) - mu1**2, f(Y * Y) - mu2**2, f(X * Y) - mu1 * mu2
    cs = torch.relu((2 * s12 + c2) / (s1 + s2 + c2))
    return float((((2 * mu1 * mu2 + c1) / (mu1**2 + mu2**2 + c1)) * cs).mean())


@pytest.mark.parametrize("seed", [0, 1])
def test_y_channel_and_pyiqa_conventions_match_independent_computations(seed):
    gt, lq, out = images(seed)
    bt601 = lambda img: 16.0 + 65.481 * img[..., 0] + 128.553 * img[..., 1] + 24.966 * img[..., 2]  # noqa: E731
    for img in (lq, out):
        scores = metrics.full_reference(gt, img)
        assert set(scores) == set(metrics.CONVENTIONS)
        y_gt, y_img = bt601(gt.astype(np.float64)), bt601(img.astype(np.float64))  # in [16, 235]
        assert scores["psnr_y"] == pytest.approx(peak_signal_noise_ratio(y_gt, y_img, data_range=255), abs=1e-6)
        assert scores["ssim_y"] == pytest.approx(structural_similarity(y_gt, y_img, data_range=255, gaussian_weights=True,
                                                                       sigma=1.5, use_sample_covariance=False), abs=1e-6)
        assert scores["ssim_pyiqa"] == pytest.approx(_pyiqa_ssim_written_out(gt, img), abs=1e-4)
        assert scores["psnr"] == metrics.psnr(gt, img) and scores["ssim"] == metrics.ssim(gt, img)  # RGB unchanged
    # the conventions really differ (why each is named)
    s = metrics.full_reference(gt, lq)
    assert abs(s["psnr_y"] - s["psnr"]) > 0.01 and abs(s["ssim_pyiqa"] - s["ssim_y"]) > 1e-4


def test_scores_over_the_valid_area_match_masked_independent_computations():
    """RealBlur's practice: PSNR's MSE and SSIM's map averaged over the pixels the warp covers only;
    a border the warp left black must not count."""
    gt, lq, out = images(3)
    valid = np.ones(gt.shape[:2], bool)
    valid[:, :17] = False  # the warp left the left border black
    out = out.copy()
    out[:, :17] = 0.0
    diff = (gt - out)[valid]
    assert metrics.psnr(gt, out, valid=valid) == pytest.approx(10 * np.log10(1 / np.mean(diff ** 2)), abs=1e-9)
    assert metrics.psnr(gt, out, valid=valid) > metrics.psnr(gt, out) + 3  # the black border dominated the whole-image MSE
    _, smap = structural_similarity(gt, out, data_range=1, channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                    use_sample_covariance=False, full=True)
    pad = 5  # skimage's mean leaves out the window's half-width; so does ours
    inner = valid[pad:-pad, pad:-pad]
    want = np.mean([smap[pad:-pad, pad:-pad, c][inner].mean() for c in range(3)])
    assert metrics.ssim(gt, out, valid=valid) == pytest.approx(want, abs=1e-4)
    scores = metrics.full_reference(gt, out, valid)
    assert scores["ssim_pyiqa"] > metrics.ssim_pyiqa(gt, out) and scores["psnr_y"] > metrics.psnr(gt, out, colour="y")
