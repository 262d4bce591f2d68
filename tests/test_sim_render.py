"""The virtual rig's truth is exact: homography, raindrop mask, reflection layer, determinism."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from hardware.sim import CATEGORIES, DegradationParams, encode_jpeg, load_background, render_degraded, render_scene, sample_params
from hardware.sim.camera import to_linear
from schemas.errors import RdrfError

W, H = 480, 320


@pytest.fixture(scope="module")
def gt() -> np.ndarray:
    return render_scene("streets & traffic", W, H, seed=11)


def _clean(**changes) -> DegradationParams:
    """A shot with every effect off; tests switch on the one they examine."""
    base = dict(
        drops=False, reflection=False, noise=False, transmission=1.0, glass_tint=(1.0, 1.0, 1.0),
        exposure_ev=0.0, wb_gains=(1.0, 1.0, 1.0), motion_px=0.0,
    )
    return DegradationParams(**(base | changes))


@pytest.mark.parametrize("category", CATEGORIES)
def test_every_category_renders_deterministic_detailed_scenes(category):
    a = render_scene(category, 320, 224, seed=5)
    assert a.shape == (224, 320, 3) and a.dtype == np.uint8
    assert np.array_equal(a, render_scene(category, 320, 224, seed=5))
    assert not np.array_equal(a, render_scene(category, 320, 224, seed=6))
    # Enough structure for SIFT matching, as on a real photograph.
    keypoints = cv2.SIFT_create().detect(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), None)
    assert len(keypoints) >= 60, f"{category}: only {len(keypoints)} SIFT keypoints"


def test_unknown_category_is_refused():
    with pytest.raises(ValueError, match="unknown scene category"):
        render_scene("beaches", 64, 64, seed=1)


def test_true_homography_maps_degraded_background_onto_gt(gt):
    shot = render_degraded(gt, _clean(motion_px=300.0), seed=3)  # 300 reference px = 30 px at this width
    corners = np.array([[[0, 0], [W - 1, 0], [W - 1, H - 1], [0, H - 1]]], np.float64)
    moved = np.abs(cv2.perspectiveTransform(corners, shot.homography) - corners).max()
    assert 10 < moved <= 30.5, "the camera moved by the requested amount"

    back = cv2.warpPerspective(shot.image, shot.homography, (W, H), flags=cv2.INTER_CUBIC)
    inside = cv2.erode(shot.valid, np.ones((9, 9), np.uint8)) > 0
    # Two resamplings soften the finest texture: compare at the scale interpolation leaves intact.
    soft = lambda im: cv2.GaussianBlur(im.astype(np.float32), (0, 0), 1.0)  # noqa: E731
    err = np.abs(soft(back) - soft(gt))[inside].mean()
    err_identity = np.abs(soft(shot.image) - soft(gt))[inside].mean()
    assert err < 1.0, f"warping with the true homography leaves a mean error of {err:.2f} grey levels"
    assert err_identity > 4 * err, "the test would pass without the homography"


def test_raindrop_mask_covers_the_drops_and_nothing_else(gt):
    wet = _clean(drops=True, drop_count=250, flow_traces=3, drop_blur_px=12.0)
    shot = render_degraded(gt, wet, seed=4)
    dry = render_degraded(gt, _clean(), seed=4)
    change = np.abs(to_linear(shot.image) - to_linear(dry.image)).max(axis=2)
    mask = shot.raindrop_mask > 0
    # Outside the mask the water layer is below the threshold opacity, so it changes little ...
    assert change[~mask].max() <= wet.mask_threshold + 2 / 255
    # ... and every clearly changed pixel is inside the mask.
    assert (change > 0.15).sum() > 500
    assert mask[change > 0.15].all()
    # Each drop's centre is in the mask, and the mask is drops, not the whole frame.
    big = shot.drops[shot.drops[:, 2] >= 3]
    assert len(big) > 20
    assert mask[big[:, 1].astype(int).clip(0, H - 1), big[:, 0].astype(int).clip(0, W - 1)].all()
    assert 0.02 < mask.mean() < 0.8


def test_mask_is_in_the_gt_frame(gt):
    wet = dict(drops=True, drop_count=200, drop_blur_px=8.0)
    still = render_degraded(gt, _clean(**wet), seed=8)
    moved = render_degraded(gt, _clean(motion_px=250.0, **wet), seed=8)  # same drops on the glass, camera moved
    expected = cv2.warpPerspective(still.raindrop_alpha, moved.homography, (W, H), flags=cv2.INTER_LINEAR)
    a, b = expected >= 0.1, moved.raindrop_mask > 0
    assert (a & b).sum() / (a | b).sum() > 0.95
    assert not np.array_equal(still.raindrop_mask, moved.raindrop_mask)


def test_reflection_layer_is_what_was_added(gt):
    params = _clean(reflection=True, reflection_strength=0.3)
    shot = render_degraded(gt, params, seed=9)
    dry = render_degraded(gt, _clean(), seed=9)
    added = to_linear(shot.image) - to_linear(dry.image)
    unclipped = to_linear(shot.image).max(axis=2) < 0.98
    assert np.abs(added - shot.reflection)[unclipped].max() < 0.02
    assert shot.reflection.mean() > 0.01


def test_thicker_glass_and_steeper_angle_widen_the_double_image():
    thin, thick = DegradationParams(glass_mm=3, glass_angle_deg=30), DegradationParams(glass_mm=8, glass_angle_deg=30)
    assert thick.ghost_px() > 2 * thin.ghost_px()
    assert DegradationParams(glass_angle_deg=60).fresnel()[0] > DegradationParams(glass_angle_deg=10).fresnel()[0]


def test_same_seed_same_bytes(gt):
    params = sample_params(np.random.default_rng(21))
    a = render_degraded(gt, params, seed=21)
    b = render_degraded(gt, params, seed=21)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.raindrop_mask, b.raindrop_mask)
    assert np.array_equal(a.homography, b.homography)
    assert encode_jpeg(a.image, 90) == encode_jpeg(b.image, 90)
    assert not np.array_equal(a.image, render_degraded(gt, params, seed=22).image)


def test_sampled_params_span_the_protocol():
    rng = np.random.default_rng(0)
    shots = [sample_params(rng, glass_mm=8) for _ in range(300)]
    counts = [p.drop_count for p in shots]
    assert min(counts) < 100 and max(counts) > 1000, "sparse to dense"
    motions = [p.motion_px for p in shots]
    assert min(motions) < 3 and max(motions) > 25, "a few px to tens of px"
    strengths = [p.reflection_strength for p in shots]
    assert min(strengths) < 0.06 and max(strengths) > 0.3, "weak to strong reflections"
    assert any(p.flow_traces for p in shots) and not all(p.flow_traces for p in shots)
    assert {p.glass_mm for p in shots} == {8}
    assert sample_params(rng, motion_px=4.0).motion_px == 4.0
    assert not sample_params(rng, reflections=False).reflection


def test_load_background_crops_and_resizes(tmp_path):
    photo = np.zeros((300, 600, 3), np.uint8)
    photo[:, 150:450] = (255, 0, 0)  # RGB red in the central square
    cv2.imwrite(str(tmp_path / "p.png"), photo[..., ::-1])
    out = load_background(tmp_path / "p.png", 90, 60)
    assert out.shape == (60, 90, 3)
    assert out[30, 45].tolist() == [255, 0, 0]
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    with pytest.raises(RdrfError, match="bad.jpg"):
        load_background(tmp_path / "bad.jpg", 90, 60)
