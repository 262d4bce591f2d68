"""The photometric model recovers gain and offset, unmoved by raindrops and reflections."""

from __future__ import annotations

import numpy as np

from tests.align_synth import add_drops, textured
from rdrf_align.registration.photometric import fit_photometric


def test_recovers_gain_and_offset_despite_drops():
    gt = textured(400, 600, 7)
    dropped, mask = add_drops(gt, 40, 8, 25, seed=1)
    gain = np.array([0.85, 0.95, 1.1])  # BGR
    offset = np.array([0.03, -0.02, 0.01])
    # degraded = (GT - offset) / gain, so GT = gain * degraded + offset
    lq = np.clip((dropped / 255.0 - offset) / gain * 255 + np.random.default_rng(0).normal(0, 1.5, gt.shape), 0, 255).astype(np.uint8)
    valid = np.full(gt.shape[:2], 255, np.uint8)
    p = fit_photometric(lq, gt, valid)
    assert (mask > 0).mean() > 0.1
    np.testing.assert_allclose(p.gain, gain, atol=0.02)
    np.testing.assert_allclose(p.offset, offset, atol=0.01)
    g_rgb, o_rgb = p.rgb()
    assert g_rgb == [round(float(x), 5) for x in p.gain[::-1]]


def test_ignores_invalid_and_saturated_pixels():
    gt = textured(300, 400, 8)
    lq = (gt.astype(np.float64) * 0.8).astype(np.uint8)
    valid = np.full(gt.shape[:2], 255, np.uint8)
    lq[:, :150] = 0  # the black border outside the warp
    valid[:, :150] = 0
    p = fit_photometric(lq, gt, valid)
    np.testing.assert_allclose(p.gain, 1 / 0.8, atol=0.03)
    np.testing.assert_allclose(p.offset, 0, atol=0.01)


def test_a_bright_reflection_over_a_third_of_the_frame_does_not_halve_the_gain():
    """Reflected window panes lift a third of the frame by 60 levels: matching the two images'
    quantiles alone started the fit at gain 0.66 and ended it at 0.37 with every pixel an inlier."""
    gt = textured(300, 450, 13)
    panes = np.zeros(gt.shape[:2], np.float32)
    for x in range(20, 400, 110):
        for y in range(20, 240, 100):
            panes[y : y + 60, x : x + 70] = 1.0
    assert 0.25 < panes.mean() < 0.45
    lq = np.clip(gt * 0.85 + 60 * panes[..., None] + np.random.default_rng(2).normal(0, 2, gt.shape), 0, 255).astype(np.uint8)
    valid = np.full(gt.shape[:2], 255, np.uint8)
    p = fit_photometric(lq, gt, valid)
    np.testing.assert_allclose(p.gain, 1 / 0.85, atol=0.03)
    np.testing.assert_allclose(p.offset, 0, atol=0.01)
