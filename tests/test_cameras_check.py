"""`rdrf cameras --check`: the pre-session self-test, on libgphoto2's virtual camera and on the
per-body doubles (a Sony that is not ready)."""

from __future__ import annotations

import json

import gphoto2
import pytest
from tests.bodies import SonyBody
from tests.test_camera_bodies import sony, sony_shots

from hardware.camera import SettingRefused
from hardware.check import check_camera

VIRTUAL = """
[virtual]
width = 256
height = 170
raw = true
"""


@pytest.fixture
def ws(workspace, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    with open(workspace / "rdrf.toml", "a") as f:
        f.write(VIRTUAL)
    return workspace


def test_check_on_the_virtual_camera_reads_the_body_and_times_a_test_shot(cli, ws):
    r = cli("--workspace", ws, "cameras", "--check", "--shot", "--camera", "virtual", "--json")
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    assert got["ready"] is True and got["reasons"] == []
    assert got["libgphoto2"] == gphoto2.gp_library_version(gphoto2.GP_VERSION_SHORT)[0]
    assert got["model"] == "virtual" and got["firmware"] and got["serial"]
    assert got["settings"] == {"capturetarget": "Internal RAM"}  # the profile's setting, read back
    assert got["free_space_mb"] > 0 and got["battery"].endswith("%")
    shot = got["test_shot"]
    assert [n.rsplit(".", 1)[1] for n in shot["files"]] == ["JPG", "DNG"] and all(s > 0 for s in shot["sizes"])
    assert shot["seconds"] > 0 and shot["retries"] == 0 and shot["notes"] == []  # timed, not judged

    r = cli("--workspace", ws, "cameras", "--check", "--camera", "virtual")
    assert r.exit_code == 0, r.output
    for row in ("libgphoto2", "firmware", "free card space", "setting capturetarget", "focus mode"):
        assert row in r.stdout
    assert "not reported" in r.stdout  # vusb reports no focus mode: said, not left blank
    assert "test shot" not in r.stdout  # only with --shot


def test_a_body_that_is_not_ready_exits_1_with_the_reason(cli, ws, monkeypatch):
    from rdrf_capture import capture

    def refuse(*_a, **_k):
        raise SettingRefused("Sony ILCE-7RM4A (PC Control): 'capturetarget' reads back 'sdram'; on the body set Still Img. Save Dest.")

    monkeypatch.setattr(capture, "open_camera_and_rig", refuse)
    r = cli("--workspace", ws, "cameras", "--check", "--json")
    assert r.exit_code == 1
    got = json.loads(r.stdout)
    assert got["ready"] is False and "Still Img. Save Dest." in got["reasons"][0]
    assert got["libgphoto2"] == gphoto2.gp_library_version(gphoto2.GP_VERSION_SHORT)[0]  # still said
    assert "not ready:" in r.stderr and "Traceback" not in r.output


def test_check_on_a_sony_double_reports_af_and_missing_values_as_not_ready():
    body = SonyBody(shots=sony_shots(1), focus="DMF", pc_save="RAW & JPEG")
    result = check_camera(sony(body), shot=True)
    assert not result.ready and any("autofocus is on" in r for r in result.reasons)
    assert result.settings["capturetarget"] == "card+sdram" and result.settings["pcsaveimgformat"] == "RAW & JPEG"
    assert result.firmware == "1.00" and result.battery == "60%" and result.exposure_program == "M"
    assert result.free_space_mb is None and ("free card space", "not reported") in result.rows()
    assert result.test_shot.files == ["DSC00001.ARW", "DSC00001.JPG"]


def test_shot_without_check_is_a_usage_error(cli, ws):
    r = cli("--workspace", ws, "cameras", "--shot")
    assert r.exit_code == 2 and "--check" in r.output
