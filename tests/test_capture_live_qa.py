"""Live QA on frames the virtual rig rendered with a known camera motion, exposure and blur."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from hardware.sim import encode_jpeg
from hardware.virtual import VirtualRig
from rdrf_capture.live_qa import assess, decode_for_qa, exposure_settings_changed, prepare
from schemas.imageio import jpeg_size

W, H = 960, 640


def frame(data: bytes):
    return prepare(decode_for_qa(data), jpeg_size(data))


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    rig = VirtualRig(width=W, height=H, raw=False, workdir=tmp_path_factory.mktemp("rig"))
    rig.set_scene("qa", "building facades & structures")
    rig.prepare("gt", 1)
    gt = rig.render().jpeg
    yield rig, frame(gt)
    rig.close()


def shoot(rig: VirtualRig, index: int, motion_px: float, **overrides) -> bytes:
    rig.motion_px = motion_px
    rig.overrides = overrides
    rig.prepare("lq", index)
    return rig.render().jpeg


def test_sixty_pixel_movement_is_flagged_two_pixels_pass(scene):
    rig, ref = scene
    small = assess(ref, frame(shoot(rig, 1, 2.0)))
    assert small["ok"], small["flags"]
    assert small["motion_ref_px"] < 6
    big = assess(ref, frame(shoot(rig, 2, 60.0)))
    assert not big["ok"]
    assert big["motion_ref_px"] > 20 and "camera moved" in big["flags"][0]
    true = np.abs(cv2.perspectiveTransform(np.float64([[[0, 0], [W - 1, 0], [W - 1, H - 1], [0, H - 1]]]), rig.history[-1].homography)[0]
                  - [[0, 0], [W - 1, 0], [W - 1, H - 1], [0, H - 1]]).max()
    assert abs(big["motion_px"] - true) < 0.5 * true  # a similarity model: within half of the true corner motion


def test_exposure_white_balance_and_blur_are_flagged(scene):
    rig, ref = scene
    bright = assess(ref, frame(shoot(rig, 3, 2.0, exposure_ev=1.0)))
    assert any("exposure differs" in f for f in bright["flags"]) and 0.7 < bright["exposure_ev"] < 1.3
    tint = assess(ref, frame(shoot(rig, 4, 2.0, wb_gains=(1.45, 1.0, 0.7))))
    assert any("white balance" in f for f in tint["flags"])
    sharp = decode_for_qa(shoot(rig, 5, 2.0))
    shaken = cv2.GaussianBlur(sharp, (0, 0), 1.0)  # ~5 px of blur at 4752 wide
    blurred = assess(ref, prepare(shaken, (W, H)))
    assert any("blurred" in f for f in blurred["flags"]), blurred
    assert assess(ref, prepare(sharp, (W, H)))["ok"]


def test_missing_raw_and_changed_exif_exposure(scene):
    rig, ref = scene
    q = assess(ref, frame(shoot(rig, 6, 2.0)), files=1, files_expected=2,
               exif_gt={"iso": 100, "shutter_s": 0.01, "aperture": 8}, exif_shot={"iso": 400, "shutter_s": 0.01, "aperture": 8})
    assert not q["ok"]
    assert any("only 1 of 2 files" in f for f in q["flags"]) and any("ISO 100 -> 400" in f for f in q["flags"])
    assert exposure_settings_changed({"iso": 100}, {"iso": None}) is None


def test_unrelated_frame_fails_registration(scene):
    _rig, ref = scene
    other = VirtualRig(width=W, height=H, raw=False)
    other.set_scene("elsewhere", "public & open spaces")
    other.prepare("gt", 1)
    q = assess(ref, frame(other.render().jpeg))
    other.close()
    assert not q["ok"] and "no registration" in q["flags"][0]


def test_decode_for_qa_uses_reduced_jpeg_decoding():
    img = np.zeros((2000, 3000, 3), np.uint8)
    data = encode_jpeg(img, 90)
    assert jpeg_size(data) == (3000, 2000)
    assert decode_for_qa(data, 1024).shape == (1000, 1500, 3)  # 1/2 scale from the DCT, not a full decode


def test_limits_come_from_the_workspace_settings(scene):
    from schemas.settings import CaptureQASettings, parse_settings

    rig, ref = scene
    loose = parse_settings("[capture.qa]\nmax_motion_px = 200\nmin_inliers = 5\n").capture.qa
    assert loose.max_motion_px == 200 and loose.min_inliers == 5 and loose.max_exposure_ev == CaptureQASettings().max_exposure_ev
    q = assess(ref, frame(shoot(rig, 7, 60.0)), loose)
    assert not any("camera moved" in f for f in q["flags"])


def test_a_typo_in_capture_qa_is_refused_with_the_key_named(tmp_path):
    """A misspelt limit used to be ignored silently, leaving the default in force."""
    from schemas.errors import RdrfError
    from schemas.settings import load_settings

    toml = tmp_path / "rdrf.toml"
    toml.write_text("[capture.qa]\nmax_motion = 30\n")
    with pytest.raises(RdrfError) as err:
        load_settings(toml)
    assert str(toml) in str(err.value) and "[capture.qa] max_motion" in str(err.value) and "max_motion_px" in str(err.value)
