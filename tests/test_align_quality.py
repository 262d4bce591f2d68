"""Quality control: each rejection reason, from the figures and from real pairs."""

from __future__ import annotations

import numpy as np
import pytest

from tests.align_synth import make_pair, random_homography, textured
from rdrf_align.registration.pair import SceneGT, align_pair
from rdrf_align.registration.quality import Figures, assess
from schemas.settings import AlignSettings, parse_settings
from schemas.errors import RdrfError

GOOD = Figures(n_inliers=500, inlier_ratio=0.8, reproj_error=0.05, valid_fraction=0.97, motion_fraction=0.0,
               gain=[1.1, 1.1, 1.1], offset=[0.01, 0.0, 0.0], mask_coverage=0.1)


@pytest.mark.parametrize(
    "change,phrase",
    [
        ({"n_inliers": 12}, "too few inliers"),
        ({"inlier_ratio": 0.05}, "low inlier ratio"),
        ({"reproj_error": 2.0}, "high reprojection error"),
        ({"reproj_error": float("nan")}, "high reprojection error"),
        ({"valid_fraction": 0.5}, "small valid area"),
        ({"motion_fraction": 0.3}, "scene motion outside the drops"),
        ({"gain": [2.5, 2.4, 2.5]}, "exposure mismatch"),
        ({"offset": [0.3, 0.0, 0.0]}, "exposure mismatch"),
        ({"mask_coverage": 0.9}, "differs almost everywhere"),
    ],
)
def test_each_reason(change, phrase):
    assert assess(GOOD, AlignSettings()) == ("ok", "")
    f = Figures(**{**GOOD.__dict__, **change})
    status, reason = assess(f, AlignSettings())
    assert status == "rejected" and phrase in reason


def test_settings_from_toml_section():
    q = parse_settings('[align]\nmin_inliers = 10\nmax_reproj_px = 1\nmask = "agan"\n').align
    assert q.min_inliers == 10 and q.max_reproj_px == 1.0 and q.mask == "agan"
    with pytest.raises(RdrfError, match=r"\[align\] min_inlier;"):
        parse_settings("[align]\nmin_inlier = 3\n")
    with pytest.raises(RdrfError, match=r"\[align\] min_inliers = 'many'.*valid integer"):
        parse_settings('[align]\nmin_inliers = "many"\n')


W, H = 640, 448


def _pair(seed=1, corner_px=6.0, **kw):
    Ht = random_homography(W, H, corner_px, np.random.default_rng(seed))
    return make_pair(W, H, Ht, seed, **kw)


def test_pipeline_rejects_exposure_mismatch():
    gt, lq = _pair(gain=(2.2, 2.2, 2.2), offset=(0, 0, 0))
    out = align_pair(SceneGT.prepare(gt), lq)
    assert out.status == "rejected" and "exposure mismatch" in out.reason


def test_pipeline_rejects_small_valid_area():
    w, h = W, H
    Ht = np.array([[1, 0, 200], [0, 1, 120], [0, 0, 1]], np.float64)  # tripod moved a lot
    gt, lq = make_pair(w, h, Ht, 2)
    out = align_pair(SceneGT.prepare(gt), lq)
    assert out.status == "rejected" and "small valid area" in out.reason, out.reason


def test_pipeline_rejects_scene_motion():
    gt, lq = _pair(seed=3)
    moved = lq.copy()
    obj = textured(200, 300, 77)  # a sharp object that was not there in the GT (a passer-by, close)
    moved[120:320, 150:450] = obj
    scene = SceneGT.prepare(gt)
    assert align_pair(scene, lq).status == "ok"
    out = align_pair(scene, moved)
    assert out.status == "rejected" and "scene motion" in out.reason, out.reason


def test_pipeline_thresholds_are_configurable():
    gt, lq = _pair(seed=4)
    scene = SceneGT.prepare(gt)
    assert align_pair(scene, lq).status == "ok"
    out = align_pair(scene, lq, AlignSettings(max_reproj_px=1e-6))
    assert out.status == "rejected" and "reprojection" in out.reason
