"""Dual-pixel renders (issue 16): drops and reflections move between the half-aperture views in
proportion to their defocus; the focused scene does not; the combined image is the views' mean."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from hardware.sim import DegradationParams, render_degraded, render_scene
from hardware.sim.camera import disk_kernel, horizontal_shift, to_linear

WIDTH, HEIGHT = 640, 427


@pytest.fixture(scope="module")
def world() -> np.ndarray:
    return render_scene("building facades & structures", WIDTH, HEIGHT, 3)


def _params(blur: float, **extra) -> DegradationParams:
    return DegradationParams(drop_count=12, drop_radius_px=(60, 90), drop_shape_mix=(1, 0, 0), drop_blur_px=blur,
                             reflection=False, motion_px=0, noise=False, **extra)


def _drop_disparity(world: np.ndarray, blur: float) -> float:
    """Median over the drops of the shift between the views' drop layers (each view minus the dry scene)."""
    params = _params(blur)
    shot = render_degraded(world, params, 5, dual_pixel=True)
    dry = render_degraded(world, params.model_copy(update={"drops": False}), 5).image.astype(np.float32)
    left = (shot.views["left"].astype(np.float32) - dry).mean(axis=2)
    right = (shot.views["right"].astype(np.float32) - dry).mean(axis=2)
    radius = blur * WIDTH / 4752
    shifts = []
    for x, y, r in shot.drops:
        half = int(2 * r + 2 * radius + 6)
        x0, y0 = int(x) - half, int(y) - half
        if x0 >= 0 and y0 >= 0 and x0 + 2 * half <= WIDTH and y0 + 2 * half <= HEIGHT:
            win = np.s_[y0 : y0 + 2 * half, x0 : x0 + 2 * half]
            shifts.append(horizontal_shift(left[win], right[win], 12))
    assert len(shifts) >= 5
    return float(np.median(shifts))


def test_drops_shift_between_views_in_proportion_to_defocus_and_the_scene_does_not(world):
    shifts = {blur: _drop_disparity(world, blur) for blur in (30, 60)}
    for blur, shift in shifts.items():
        expected = 2 * 4 * (blur * WIDTH / 4752) / (3 * np.pi)  # between the two half-disk centroids
        assert 0.6 * expected < shift < 1.4 * expected, (blur, shift, expected)
    assert shifts[60] > 1.6 * shifts[30]

    shot = render_degraded(world, _params(40), 5, dual_pixel=True)
    left, right = (shot.views[h].astype(np.float32).mean(axis=2) for h in ("left", "right"))
    near_drops = cv2.dilate(np.maximum(*shot.view_masks.values()), np.ones((31, 31), np.uint8))
    background = []
    for y in range(40, HEIGHT - 40, 60):
        for x in range(40, WIDTH - 40, 60):
            if not near_drops[y - 30 : y + 30, x - 30 : x + 30].any():
                background.append(horizontal_shift(left[y - 30 : y + 30, x - 30 : x + 30], right[y - 30 : y + 30, x - 30 : x + 30], 6))
    assert len(background) >= 10
    assert max(abs(s) for s in background) < 0.1


def test_reflection_shifts_between_views_and_the_combined_image_is_their_mean(world):
    params = DegradationParams(drops=False, reflection_strength=0.4, reflection_blur_px=40, motion_px=0, noise=False)
    reflected = render_scene("streets & traffic", WIDTH // 2, HEIGHT // 2, 9)
    shot = render_degraded(world, params, 7, reflection_scene=reflected, dual_pixel=True)
    clean = render_degraded(world, params.model_copy(update={"reflection": False}), 7).image.astype(np.float32)
    left, right = ((shot.views[h].astype(np.float32) - clean).mean(axis=2) for h in ("left", "right"))
    shift = horizontal_shift(left[40:-40, 40:-40], right[40:-40, 40:-40], 12)
    expected = 2 * 4 * (40 * WIDTH / 4752) / (3 * np.pi)
    assert 0.6 * expected < shift < 1.4 * expected, (shift, expected)
    # In linear light the combined picture is the mean of the views (sRGB rounding aside).
    mean = (to_linear(shot.views["left"]) + to_linear(shot.views["right"])) / 2
    assert np.abs(mean - to_linear(shot.image)).max() < 0.01


def test_half_disks_make_the_full_disk_and_dual_pixel_leaves_ordinary_renders_alone(world):
    for r in (0.8, 3.0, 7.5):
        left, right, full = disk_kernel(r, "left"), disk_kernel(r, "right"), disk_kernel(r)
        np.testing.assert_allclose((left + right) / 2, full, atol=1e-7)
        cols = np.arange(full.shape[1]) - full.shape[1] // 2
        assert (left.sum(axis=0) * cols).sum() < 0 < (right.sum(axis=0) * cols).sum()
    params = _params(30, reflection_strength=0.2).model_copy(update={"reflection": True, "noise": True})
    plain = render_degraded(world, params, 11)
    dual = render_degraded(world, params, 11, dual_pixel=True)
    assert not plain.views and set(dual.views) == {"left", "right"}
    np.testing.assert_array_equal(plain.raindrop_mask, dual.raindrop_mask)  # same drops, same truth
    np.testing.assert_array_equal(plain.homography, dual.homography)
    assert dual.view_masks["left"].any() and not np.array_equal(dual.view_masks["left"], dual.view_masks["right"])
