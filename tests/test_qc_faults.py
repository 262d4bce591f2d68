"""The QC on the virtual rig's faults: each kind of faulty pair ends rejected or failed, named for
what went wrong, and a good pair with a real shoot's exposure drift ends ok (bench/qc.py counts the
same over hundreds of pairs)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from hardware.sim import encode_jpeg
from hardware.sim.faults import FAULT_KINDS, render_fault
from rdrf_align.registration.exposure_focus import measure
from rdrf_align.registration.pair import SceneGT, align_pair
from schemas import imageio

W, H = 640, 427


def _align(pair):
    gt = imageio.decode(encode_jpeg(pair.gt, 95), "gt.jpg")
    lq = imageio.decode(encode_jpeg(pair.lq, pair.params.jpeg_quality), "lq.jpg")
    return align_pair(SceneGT.prepare(gt), lq)


@pytest.mark.parametrize("reflections,seed", [(False, 1), (True, 4)])
def test_good_pair_with_a_small_exposure_drift_is_ok(reflections, seed):
    pair = render_fault("good", W, H, seed, reflections=reflections, exposure_ev=-0.16)
    out = _align(pair)
    assert out.status == "ok", out.reason
    # the glass (transmission ~0.87) and the drift together, in stops
    assert -0.55 < out.figures.exposure_ev < -0.2
    assert out.figures.detail_retained > 0.4


@pytest.mark.parametrize(
    "kind,seed,status,phrase",
    [
        ("motion", 1, "rejected", "scene motion ("),
        ("exposure", 1, "rejected", "exposure changed (+"),
        ("exposure", 5, "rejected", "exposure changed (-"),
        ("focus", 2, "rejected", "scene out of focus"),
        ("camera_moved", 1, "rejected", "small valid area"),
        ("other_scene", 1, "failed", "different scenes"),
    ],
)
def test_each_fault_is_caught_by_its_check(kind, seed, status, phrase):
    pair = render_fault(kind, W, H, seed)
    out = _align(pair)
    assert out.status == status and phrase in out.reason, out.reason


def test_faults_are_deterministic_and_carry_their_truth():
    a, b = render_fault("motion", 160, 107, 3), render_fault("motion", 160, 107, 3)
    assert np.array_equal(a.gt, b.gt) and np.array_equal(a.lq, b.lq)
    assert a.truth["moved_mask"].any() and a.truth["object"] in ("car", "person", "foliage")
    moved = render_fault("camera_moved", 160, 107, 3)
    assert 0.45 <= moved.truth["valid_fraction"] <= 0.72
    assert abs(moved.homography[0, 2]) > 1 or abs(moved.homography[1, 2]) > 1
    assert abs(render_fault("exposure", 160, 107, 3).params.exposure_ev) >= 0.5
    assert render_fault("focus", 160, 107, 3).truth["blur_px"] > 0
    with pytest.raises(ValueError, match="unknown fault kind"):
        render_fault("rain", 160, 107, 3)
    assert FAULT_KINDS[0] == "good"


def test_exposure_is_blind_to_an_added_veil_and_focus_sees_blur():
    """The slope of degraded on GT in linear light ignores light a reflection adds; the fine band
    of a blurred copy keeps little of the GT's detail."""
    gt = imageio.decode(encode_jpeg(render_fault("good", W, H, 2).gt, 95), "gt.jpg")
    valid = np.full(gt.shape[:2], 255, np.uint8)
    same = measure(gt, gt, valid)
    assert abs(same.exposure_ev) < 0.02 and same.detail_retained > 0.95
    lin = (gt / 255.0) ** 2.2
    veiled = np.clip(((lin * 0.5 + 0.05) ** (1 / 2.2)) * 255 + 0.5, 0, 255).astype(np.uint8)  # -1 EV, plus a veil
    assert abs(measure(veiled, gt, valid).exposure_ev + 1.0) < 0.15
    blurred = cv2.GaussianBlur(gt, (0, 0), 2.5)
    assert measure(blurred, gt, valid).detail_retained < 0.2


def test_linear_luma_and_saturation_equal_the_per_pixel_formulas():
    """The lookup table and OpenCV's weighted channel sum give the sRGB formula's luma to float32
    rounding, and the range test exactly what a float channel max gives, for 8- and 16-bit frames
    (exposure figures must not move with the speed-ups)."""
    import cv2

    from rdrf_align.registration import exposure_focus as ef
    from schemas.imageio import to_float

    rng = np.random.default_rng(0)
    for dtype, top in ((np.uint8, 255), (np.uint16, 65535)):
        img = rng.integers(0, top + 1, (61, 83, 3)).astype(dtype)
        v = to_float(img)
        lin = np.where(v <= 0.04045, v / 12.92, np.power((v + 0.055) / 1.055, 2.4, dtype=np.float32)).astype(np.float32)
        b, g, r = cv2.split(lin)
        np.testing.assert_allclose(ef.linear_luma(img), 0.0722 * b + 0.7152 * g + 0.2126 * r, rtol=1e-6, atol=1e-7)
        assert np.array_equal(ef._unsaturated(img), v.max(axis=2) < ef.SATURATED)


def test_dense_drops_are_not_motion_and_a_moving_car_among_them_is():
    """The two sides of the scene-motion cue on bench.qc's hardest pairs: a good pair with 2,143 drops
    (the old merged-region sharpness called 8% of it motion) stays ok, and a car that drove on
    behind 1,725 drops is caught."""
    good = render_fault("good", 720, 480, 10062)
    assert good.params.drop_count > 2000
    out = _align(good)
    assert out.status == "ok", out.reason
    assert out.figures.motion_fraction < 0.004
    moved = render_fault("motion", 720, 480, 120020)
    assert moved.truth["object"] == "car" and moved.params.drop_count > 1500
    out = _align(moved)
    assert out.status == "rejected" and "scene motion (" in out.reason, out.reason


def test_motion_cue_counts_solid_in_focus_change_larger_than_a_drop():
    """Drops, however dense, leave clear glass between them; a moved object changes all of its
    footprint; a solid change without new in-focus detail (a defocused layer) is no object. On the
    masks' working grid (a 720x480 frame is analysed at 1440x960)."""
    from rdrf_align.registration.motion import scene_motion
    from schemas.settings import AlignSettings

    h, w = 960, 1440
    limit = AlignSettings().max_motion_fraction
    valid = np.full((h, w), 255, np.uint8)
    rng = np.random.default_rng(0)
    drops = np.zeros((h, w), np.uint8)
    for x, y, r in zip(rng.uniform(0, w, 1800), rng.uniform(0, h, 1800), rng.uniform(4, 18, 1800)):
        cv2.circle(drops, (int(x), int(y)), int(r), 255, -1)
    # denser than the renderer's densest good pair (28% of the frame changed)
    assert 0.35 < np.count_nonzero(drops) / drops.size < 0.45
    detailed = np.full((h, w), 0.2, np.float32)  # new detail everywhere, as drops' rims have
    flat_gt = np.zeros((h, w), np.float32)
    kept = np.zeros((h, w), bool)
    assert scene_motion(drops, detailed, flat_gt, kept, valid, 0.06) < limit
    car = np.zeros((h, w), np.uint8)
    car[600:840, 400:840] = 255  # 7.6% of the frame
    assert 0.05 < scene_motion(cv2.bitwise_or(drops, car), detailed, flat_gt, kept, valid, 0.06) < 0.12
    assert 0.05 < scene_motion(car, detailed, flat_gt, kept, valid, 0.06) < 0.08
    blurry = np.full((h, w), 0.01, np.float32)  # the same change, nothing in focus: a defocused layer
    assert scene_motion(car, blurry, flat_gt, kept, valid, 0.06) == 0.0
    assert scene_motion(car, detailed, flat_gt, np.ones((h, w), bool), valid, 0.06) == 0.0  # the GT's own detail
    small = np.zeros((h, w), np.uint8)
    cv2.circle(small, (700, 480), 40, 255, -1)  # one big drop, fully changed and "sharp": still a drop
    assert scene_motion(small, detailed, flat_gt, kept, valid, 0.06) == 0.0
