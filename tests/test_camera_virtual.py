"""The virtual camera: real PTP capture and download through libgphoto2's vusb driver."""

from __future__ import annotations

import ast
import hashlib
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from tests.images import textured

from hardware.camera import DetectedCamera
from hardware.gphoto import GPhotoCamera, detect, use_backend
from hardware.profiles import profile_named
from hardware.virtual import FRAME_JPEG, VirtualCamera, VirtualRig

sha = lambda b: hashlib.sha256(b).hexdigest()  # noqa: E731


@pytest.fixture(autouse=True)
def _gphoto_settings_in_tmp(tmp_path, monkeypatch):
    """libgphoto2 writes host-side settings under $XDG_CONFIG_HOME/gphoto: never the user's."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("VCAMERADIR", raising=False)


@pytest.fixture
def rig(tmp_path):
    # sparse drops keep 40 renders quick; the camera path does not care what the frame shows
    r = VirtualRig(width=192, height=128, raw=False, workdir=tmp_path / "rig", params={"drop_count": 30, "flow_traces": 0})
    r.set_scene("40", "signs & markers")
    yield r
    r.close()


def test_forty_shots_each_download_byte_exact_the_frame_the_rig_rendered(rig):
    cam = VirtualCamera(rig).open()
    got = []
    for i in range(1, 41):
        rig.prepare("gt" if i == 1 else "lq", i)
        shot = cam.capture()
        assert len(shot.files) == 1 and shot.files[0].name.endswith(".JPG")
        got.append(sha(shot.files[0].data))
    cam.close()
    rendered = [f.sha256["jpeg"] for f in rig.history]
    assert got == rendered
    assert len(set(rendered)) == 40  # every shot is a new frame (noise, drops, glass angle)


def test_vusb_store_limit_is_handled_by_reopening(tmp_path):
    """vusb declares its store full after 26 captures per session; the profile re-opens before."""
    folder = tmp_path / "store"
    folder.mkdir()
    data = cv2.imencode(".jpg", textured(64, 96, 1))[1].tobytes()
    (folder / "a.jpg").write_bytes(data)

    def connect():
        cam = use_backend(folder, tmp_path / "xdg").Camera()
        cam.init()
        return cam

    cam = GPhotoCamera(profile_named("virtual").model_copy(update={"files_per_shot": 1}), connect=connect).open()
    for _ in range(60):
        assert cam.capture().files[0].data == data
    cam.close()


def test_remote_shot_through_events_with_dng_as_raw(tmp_path):
    rig = VirtualRig(width=320, height=216, raw=True, workdir=tmp_path / "rig")
    rig.set_scene("41", "streets & traffic")
    cam = VirtualCamera(rig).open()
    assert cam.applied == {"capturetarget": "Internal RAM"}
    rig.prepare("lq", 1)
    assert cam.wait_for_shot(0.3) is None  # nothing fired yet
    rig.press_remote()
    shot = cam.wait_for_shot(5.0)
    cam.close()
    assert shot.trigger == "remote"
    jpg, dng = shot.files
    assert jpg.name.endswith(".JPG") and dng.name == jpg.name[:-4] + ".DNG"
    assert sha(jpg.data) == rig.history[-1].sha256["jpeg"] and sha(dng.data) == rig.history[-1].sha256["raw"]
    import rawpy

    with rawpy.imread(__import__("io").BytesIO(dng.data)) as raw:  # a real DNG LibRaw develops
        rgb = raw.postprocess(gamma=(2.222, 4.5), no_auto_bright=True, output_bps=8, use_camera_wb=True)
    decoded = cv2.imdecode(np.frombuffer(jpg.data, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
    assert rgb.shape[:2] == decoded.shape[:2]
    rig.close()


def test_a_capture_duplicates_the_one_jpeg_in_the_store(rig):
    cam = VirtualCamera(rig).open()
    rig.prepare("gt", 1)
    shot = cam.capture()
    assert shot.files[0].data == (rig.store / FRAME_JPEG).read_bytes()
    cam.close()


def _usb_in_a_fresh_process() -> list[DetectedCamera]:
    """What libgphoto2 sees on USB in a process that never loaded vusb: whatever is plugged in."""
    code = "from hardware.gphoto import detect; print(repr([(d.model, d.port) for d in detect()]))"
    env = {k: v for k, v in os.environ.items() if k not in ("VCAMERADIR", "IOLIBS")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    return [DetectedCamera(model, port) for model, port in ast.literal_eval(out.strip().splitlines()[-1])]


def test_real_usb_detection_is_restored_after_the_virtual_camera(rig):
    VirtualCamera(rig).open().close()
    virtual = detect(rig.store)
    assert len(virtual) == 1  # vusb answers in this process...
    # ...and afterwards the USB drivers are back: the same bodies as a process that never saw vusb
    assert detect() == _usb_in_a_fresh_process()
    assert detect(rig.store) == virtual and detect() == _usb_in_a_fresh_process()  # and it switches back and forth


def test_rig_state_reads_back_the_library_version_and_the_profile_settings_from_the_body(rig):
    cam = VirtualCamera(rig).open()
    try:
        state = cam.rig_state()
    finally:
        cam.close()
    import gphoto2 as gp

    assert state["libgphoto2"] == gp.gp_library_version(gp.GP_VERSION_SHORT)[0]
    assert state["model"] == "virtual" and state["firmware"]  # vcamera's deviceversion
    assert set(state["settings"]) <= {s.widget for s in cam.profile.settings} | {c.widget for c in cam.profile.checks}
    assert state["settings"] and all(v for v in state["settings"].values())
