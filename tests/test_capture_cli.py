"""`rdrf capture` end to end on the virtual rig, through libgphoto2's virtual PTP camera."""

from __future__ import annotations

import json

import pytest
from tests.fakecam import usb_bodies

from hardware import gphoto

VIRTUAL = """
[virtual]
width = 256
height = 170
raw = true

[virtual.params]
drop_count = 80
flow_traces = 0
"""


@pytest.fixture
def ws(workspace, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    with open(workspace / "rdrf.toml", "a") as f:
        f.write(VIRTUAL)
    return workspace


def shots(cli, ws, scene):
    r = cli("--workspace", ws, "shots", "--scene", scene, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_capture_scene_then_continue_the_degraded_series(cli, ws):
    r = cli("--workspace", ws, "capture", "--camera", "virtual", "--scene", "17", "--glass", "5mm", "--lq", "5", "--yes")
    assert r.exit_code == 0, r.output
    assert "light-blocking box ON" in r.stderr and "spray water" in r.stderr
    assert "scene 17: 1 GT and 5 degraded shot(s)" in r.stderr
    got = shots(cli, ws, "17")
    # the series ends with its closing GT (the GT bracket)
    assert sorted((s["role"], s["index"], s["bracket"]) for s in got) == [("gt", 1, False), ("gt", 2, True)] + [
        ("lq", i, False) for i in range(1, 6)
    ]
    for s in got:
        assert s["glass_mm"] == 5.0 and s["trigger"] == "usb" and s["camera"] == "virtual"
        kinds = sorted((f["kind"], f["path"].rsplit(".", 1)[1]) for f in s["files"])
        assert kinds == [("developed", "png"), ("original", "DNG"), ("original", "JPG")]  # RAW+JPEG, RAW developed
        assert s["qa"]["files"] == 2 and "timing" in s["qa"]
        if s["role"] == "lq":
            assert s["qa"]["motion_ref_px"] < 12 and s["degradation"] == "both"
            truth = s["qa"]["virtual_truth"]  # the rig's exact homography travels with the shot
            assert len(truth["homography"]) == 3 and truth["params"]["glass_mm"] == 5.0
    assert cli("--workspace", ws, "verify").exit_code == 0
    pairs = json.loads(cli("--workspace", ws, "pairs", "--json").stdout)
    assert len(pairs) == 5 and {p["gt_shot"] for p in pairs} == {next(s["shot_id"] for s in got if s["role"] == "gt" and s["index"] == 1)}

    r = cli("--workspace", ws, "capture", "--camera", "virtual", "--scene", "17", "--glass", "5mm", "--lq", "2", "--yes")
    assert r.exit_code == 0, r.output
    assert "continuing at 6" in r.stderr
    got = shots(cli, ws, "17")
    assert sorted((s["role"], s["index"]) for s in got if s["role"] == "lq")[-2:] == [("lq", 6), ("lq", 7)]
    assert sorted((s["index"], s["bracket"]) for s in got if s["role"] == "gt") == [(1, False), (2, True), (3, True)]
    assert cli("--workspace", ws, "verify").exit_code == 0


def test_remote_trigger_delivers_through_events(cli, ws):
    r = cli("--workspace", ws, "capture", "--camera", "virtual", "--trigger", "remote", "--scene", "3",
            "--glass", "8mm", "--lq", "1", "--category", "signs & markers", "--distance-cm", "12", "--angle-deg", "30", "--yes")
    assert r.exit_code == 0, r.output
    got = shots(cli, ws, "3")
    assert [s["trigger"] for s in got] == ["remote", "remote", "remote"]  # GT, closing GT, degraded
    assert all(len(s["files"]) == 3 for s in got)
    scenes = json.loads(cli("--workspace", ws, "scenes", "--json").stdout)
    assert scenes[0]["category"] == "signs & markers" and scenes[0]["glass_mm"] == [8.0]
    from schemas.catalogue import Setup
    from schemas.workspace import Catalogue, Workspace

    cat = Catalogue(Workspace(ws))
    with cat.session() as s:
        setups = [(u.camera_model, u.glass_mm, u.distance_cm, u.angle_deg) for u in s.query(Setup)]
    cat.close()
    assert setups == [("virtual", 8.0, 12.0, 30.0)]
    # a later session without --category photographs the same scene: QA still registers against the GT
    r = cli("--workspace", ws, "capture", "--camera", "virtual", "--scene", "3", "--glass", "8mm", "--lq", "1", "--yes")
    assert r.exit_code == 0, r.output
    assert shots(cli, ws, "3")[-1]["qa"]["inliers"] > 50


def test_bad_input_is_refused_before_anything_is_stored(cli, ws):
    for args, words, code in (
        (["--glass", "thick"], "expected a thickness in millimetres", 2),
        (["--glass", "5mm", "--category", "beach"], "expected one of", 2),
        (["--glass", "5mm", "--scene", "a/b"], "cannot name a folder on every OS: '/' is not allowed", 2),
    ):
        base = ["--workspace", ws, "capture", "--camera", "virtual", "--scene", "9", "--yes"]
        if "--scene" in args:
            base = base[:5] + base[7:]
        r = cli(*base, *args)
        assert r.exit_code == code and words in r.output, (args, r.output)
    # a choice outside the vocabulary is a usage error (exit 2), named by the option parser
    r = cli("--workspace", ws, "capture", "--camera", "virtual", "--scene", "9", "--yes", "--glass", "5mm", "--trigger", "wifi")
    assert r.exit_code == 2 and "'wifi' is not one of" in r.output and "--trigger" in r.output, r.output
    assert json.loads(cli("--workspace", ws, "shots", "--json").stdout) == []


def test_no_camera_connected(cli, ws, monkeypatch):
    monkeypatch.setattr(gphoto, "use_backend", usb_bodies())  # an empty USB, whatever this machine has plugged in
    r = cli("--workspace", ws, "cameras", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout) == []
    r = cli("--workspace", ws, "capture", "--scene", "1", "--glass", "5mm", "--yes")
    assert r.exit_code == 1 and "no camera found" in r.output
    # a typo in the label is said first (a usage error), not hidden behind the missing camera
    r = cli("--workspace", ws, "capture", "--scene", "Straße12", "--glass", "5mm", "--yes")
    assert r.exit_code == 2 and "'ß' is not allowed" in r.output and "no camera" not in r.output, r.output
    assert json.loads(cli("--workspace", ws, "shots", "--json").stdout) == []


def test_cameras_lists_each_body_with_its_profile(cli, ws, monkeypatch):
    bodies = [("Sony ILCE-7RM4A (PC Control)", "usb:002,004"), ("Canon EOS 5D", "usb:002,005")]
    monkeypatch.setattr(gphoto, "use_backend", usb_bodies(*bodies))
    r = cli("--workspace", ws, "cameras", "--json")
    assert r.exit_code == 0, r.output
    found = json.loads(r.stdout)
    assert [(c["model"], c["port"], c["profile"]) for c in found] == [
        ("Sony ILCE-7RM4A (PC Control)", "usb:002,004", "Sony ILCE-7RM4A"),
        ("Canon EOS 5D", "usb:002,005", None),  # unknown body: safe defaults, with a warning
    ]
    assert found[1]["warning"]


def test_capture_never_overwrites_a_scenes_category(cli, ws, tmp_path):
    from tests.images import textured, write_jpeg

    write_jpeg(tmp_path / "shoot" / "4" / "gt.jpg", textured(48, 64, 0))
    write_jpeg(tmp_path / "shoot" / "4" / "lq" / "a.jpg", textured(48, 64, 1))
    (tmp_path / "shoot" / "4" / "scene.toml").write_text('category = "signs & markers"\n')
    assert cli("--workspace", ws, "import", tmp_path / "shoot").exit_code == 0
    before = shots(cli, ws, "4")
    r = cli("--workspace", ws, "capture", "--camera", "virtual", "--scene", "4", "--glass", "5mm", "--lq", "1",
            "--category", "streets & traffic", "--yes")
    assert r.exit_code == 1 and "scene 4 is catalogued as 'signs & markers'" in r.output, r.output
    assert shots(cli, ws, "4") == before
