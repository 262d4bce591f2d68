"""Quality control: each rejection reason, from the figures and from real pairs."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.align_synth import make_pair, random_homography, textured
from rdrf_align.registration.pair import SceneGT, align_pair
from rdrf_align.registration.quality import (
    Figures,
    ShotSetup,
    assess,
    colour_mismatch,
    is_greyscale,
    setup_mismatch,
)
from schemas.errors import RdrfError
from schemas.settings import AlignSettings, parse_settings

GOOD = Figures(n_inliers=500, inlier_ratio=0.8, reproj_error=0.05, valid_fraction=0.97, motion_fraction=0.0,
               gain=[1.1, 1.1, 1.1], offset=[0.01, 0.0, 0.0], mask_coverage=0.1, exposure_ev=-0.2, detail_retained=0.7)


@pytest.mark.parametrize(
    "change,phrase",
    [
        ({"n_inliers": 6}, "too few inliers"),
        ({"inlier_ratio": 0.05}, "low inlier ratio"),
        ({"reproj_error": 2.0}, "high reprojection error"),
        ({"reproj_error": float("nan")}, "high reprojection error"),
        ({"valid_fraction": 0.5}, "small valid area"),
        ({"motion_fraction": 0.3}, "scene motion ("),
        ({"gain": [3.0, 2.9, 3.0]}, "exposure mismatch"),
        ({"offset": [0.4, 0.0, 0.0]}, "exposure mismatch"),
        ({"exposure_ev": 0.35}, "exposure changed"),
        ({"exposure_ev": -0.75}, "exposure changed"),
        ({"detail_retained": 0.1}, "out of focus"),
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
    assert out.status == "rejected" and "exposure changed" in out.reason, out.reason


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


# ---- are the two shots a pair at all (end `failed`, before any registration) ---------------------

@pytest.mark.parametrize(
    "gt,lq,phrases",
    [
        (ShotSetup("ILCE-7RM4A", 5.5), ShotSetup("ILCE-7RM4A", 8.0), ["8 mm glass", "its GT through 5.5 mm"]),
        (ShotSetup("ILCE-7RM4A", 5.5), ShotSetup("NIKON D7100", 5.5), ["NIKON D7100", "its GT with a ILCE-7RM4A"]),
        (ShotSetup("ILCE-7RM4A", 5.0), ShotSetup("NIKON D7100", 3.0), ["3 mm glass", "NIKON D7100"]),
        (ShotSetup(None, 5.5), ShotSetup(None, None), ["recorded for the GT (5.5 mm) but not for the degraded shot"]),
        (ShotSetup(None, None), ShotSetup("NIKON D7100", None), ["recorded for the degraded shot (NIKON D7100) but not for the GT"]),
    ],
)
def test_setup_mismatch_says_what_differs(gt, lq, phrases):
    reason = setup_mismatch(gt, lq)
    assert reason.startswith("not a pair: ")
    for phrase in phrases:
        assert phrase in reason, reason


@pytest.mark.parametrize(
    "gt,lq",
    [
        (ShotSetup(), ShotSetup()),  # nothing recorded for either (an import without scene.toml or EXIF)
        (ShotSetup("ILCE-7RM4A", 5.5), ShotSetup("ILCE-7RM4A", 5.5)),
        (ShotSetup(" ilce-7rm4a", 5.5), ShotSetup("ILCE-7RM4A ", 5.5 + 1e-9)),  # spelling and float noise
        (ShotSetup(None, 3.0), ShotSetup(None, 3.0)),
    ],
)
def test_same_setup_is_a_pair(gt, lq):
    assert setup_mismatch(gt, lq) == ""


def _jpeg(img: np.ndarray) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def test_greyscale_by_content():
    colour = textured(448, 640, 5)
    grey3 = cv2.cvtColor(cv2.cvtColor(colour, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    assert not is_greyscale(colour)
    assert is_greyscale(grey3) and is_greyscale(grey3[:, :, 0])
    assert is_greyscale(_jpeg(grey3))  # a grey image stored as a colour JPEG: chroma rounding only
    assert is_greyscale(grey3.astype(np.uint16) * 257)
    # a colour photograph of an almost neutral scene: sensor noise and white balance in the channels
    rng = np.random.default_rng(0)
    neutral = np.clip(grey3.astype(np.float32) * np.float32([0.97, 1.0, 1.02]) + rng.normal(0, 2, grey3.shape), 0, 255).astype(np.uint8)
    assert not is_greyscale(_jpeg(neutral))


def test_colour_mismatch_fails_the_pair():
    rng = np.random.default_rng(4)
    gt, lq = make_pair(640, 448, random_homography(640, 448, 6, rng), 4)
    grey = lambda im: cv2.cvtColor(cv2.cvtColor(im, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    out = align_pair(SceneGT.prepare(gt), grey(lq))
    assert out.status == "failed" and "degraded image is greyscale" in out.reason and out.homography is None
    out = align_pair(SceneGT.prepare(grey(gt)), lq)
    assert out.status == "failed" and "GT is greyscale" in out.reason and "colour" in out.reason
    out = align_pair(SceneGT.prepare(grey(gt)), grey(lq))  # both grey: a (greyscale) pair
    assert out.status == "ok", out.reason
    assert colour_mismatch(False, False) == colour_mismatch(True, True) == ""


@pytest.mark.parametrize("w, h", [(3000, 64), (64, 3000)])
def test_a_long_thin_strip_is_judged_like_any_frame(w, h):
    """A strip narrower than one exposure block after the masks' reduction (1500x32) still aligns and
    gets its figures; the exposure and focus checks then have nothing to measure, not an error."""
    H = np.array([[1.0, 0.0, 1.3], [0.0, 1.0, -0.4], [0.0, 0.0, 1.0]])
    gt, lq = make_pair(w, h, H, seed=5)
    out = align_pair(SceneGT.prepare(gt), lq)
    assert out.status in ("ok", "rejected", "failed") and out.reason is not None
    assert out.homography is not None and out.mask is not None and out.mask.shape == (h, w)
    assert "exposure_ev" not in out.params() and "detail_retained" not in out.params()  # not measurable, not judged
