"""Registration recovers known homographies to a small fraction of a pixel, big and small frames."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.align_synth import make_pair, random_homography, textured, view
from rdrf_align.registration.pair import SceneGT, align_pair
from rdrf_align.registration.homography import RegistrationFailed, corner_error, prepare_reference, register
from schemas.warp import render_aligned


@pytest.mark.parametrize("w,h,corner_px,seed", [(1600, 1064, 12, 1), (800, 640, 4, 2)])
def test_recovers_known_homography(w, h, corner_px, seed):
    Ht = random_homography(w, h, corner_px, np.random.default_rng(seed))
    gt, lq = make_pair(w, h, Ht, seed)
    reg = register(prepare_reference(gt), lq)
    err = corner_error(reg.homography, Ht, w, h)
    assert reg.refined and err.mean() < 0.08 and err.max() < 0.2, err
    assert reg.reproj_error < 0.2 and reg.n_inliers >= 100


def test_small_image_strong_viewpoint_change():
    """720x480 seen from a rotated, zoomed, oblique viewpoint: 12 deg, 0.8x, strong keystone."""
    w, h = 720, 480
    c = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    R = cv2.getRotationMatrix2D((w / 2, h / 2), 12, 0.8)
    d = cv2.transform(c[None], R)[0] + np.float32([[40, -10], [-25, 30], [20, 15], [-30, -35]])
    Ht = cv2.getPerspectiveTransform(c, d).astype(np.float64)  # degraded -> GT
    gt, lq = make_pair(w, h, Ht, 5)
    reg = register(prepare_reference(gt), lq)
    err = corner_error(reg.homography, Ht, w, h)
    assert err.mean() < 0.15 and err.max() < 0.4, err


def test_uint16_input_and_warp_validity():
    w, h = 640, 448
    Ht = random_homography(w, h, 10, np.random.default_rng(3))
    gt8, lq8 = make_pair(w, h, Ht, 3)
    gt, lq = gt8.astype(np.uint16) * 257, lq8.astype(np.uint16) * 257
    out = align_pair(SceneGT.prepare(gt), lq)
    assert out.status == "ok", out.reason
    assert out.aligned is None and out.mask.dtype == np.uint8  # no full-size warp for the default mask
    assert corner_error(out.homography, Ht, w, h).max() < 0.3
    # the valid area (derived from the homography) is exactly where the rendered warp puts degraded pixels
    aligned = render_aligned(np.full_like(lq, 60000), out.homography, (0, 0, w, h))
    assert aligned.dtype == np.uint16 and np.all(aligned[out.valid > 0] == 60000)


def test_featureless_and_unrelated_images_fail():
    w, h = 640, 448
    flat = np.full((h, w, 3), 90, np.uint8)
    img = textured(h, w, 1)
    with pytest.raises(RegistrationFailed, match="featureless"):
        register(prepare_reference(flat), img)
    with pytest.raises(RegistrationFailed, match="featureless"):
        register(prepare_reference(img), flat)
    with pytest.raises(RegistrationFailed, match="homography"):
        register(prepare_reference(img), textured(h, w, 2))


def test_no_overlap_fails():
    """The degraded frame looks at canvas far away from the GT's crop."""
    w, h = 640, 448
    canvas = textured(3 * h, 3 * w, 4)
    gt = canvas[:h, :w].copy()
    T = np.array([[1, 0, 2 * w], [0, 1, 2 * h], [0, 0, 1]], np.float64)
    lq = view(canvas, T, w, h, 0)
    with pytest.raises(RegistrationFailed):
        register(prepare_reference(gt), lq)


def test_dense_drops_over_a_plain_scene_register_through_the_affine_fallback(monkeypatch):
    """A virtual-rig pair with ~2,000 drops over a low-texture scene: the GT has ~300 keypoints, the
    drops give the degraded shot 1,500, and only ~14 of 92 matches are true. MAGSAC's best homography
    then folds the frame; the affine fallback finds the true matches and the patches confirm it."""
    from hardware.sim import encode_jpeg
    from hardware.sim.faults import render_fault
    from schemas import imageio

    p = render_fault("good", 720, 480, 110003)
    gt = imageio.decode(encode_jpeg(p.gt, 95), "gt.jpg")
    lq = imageio.decode(encode_jpeg(p.lq, p.params.jpeg_quality), "lq.jpg")
    ref = prepare_reference(gt)
    reg = register(ref, lq)
    assert reg.coarse_model == "affine" and reg.refined
    assert corner_error(reg.homography, p.degraded.homography, 720, 480).max() < 1.0
    # without the fallback this pair is lost
    import rdrf_align.registration.homography as hg

    real = hg._coarse
    monkeypatch.setattr(hg, "_coarse", lambda r, l8, f, model="homography": real(r, l8, f) if model == "homography" else (None, 0, 0, float("nan"), hg.NO_MATCHES))
    with pytest.raises(RegistrationFailed, match="plausible"):
        register(prepare_reference(gt), lq)


def test_small_frames_fit_the_features_with_the_patches():
    """At 720x480 SIFT runs at full resolution: its inliers join the patch measurements in the final
    fit, so a part of the frame the patches could not measure (a virtual-rig pair whose bottom rows
    lost their patches to drops and a reflection) is no longer extrapolated - it was 1.45 px off at
    the bottom-right corner with the patches alone."""
    from hardware.sim import encode_jpeg
    from hardware.sim.faults import render_fault
    from schemas import imageio

    p = render_fault("good", 720, 480, 110019)
    gt = imageio.decode(encode_jpeg(p.gt, 95), "gt.jpg")
    lq = imageio.decode(encode_jpeg(p.lq, p.params.jpeg_quality), "lq.jpg")
    reg = register(prepare_reference(gt), lq)
    assert reg.factor == 1 and reg.refined
    assert corner_error(reg.homography, p.degraded.homography, 720, 480).max() < 0.5
