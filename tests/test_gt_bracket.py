"""The GT bracket and the rig record (issue 13): a series ends with a closing GT, the drift between
the two GTs is measured and stored, live QA and `rdrf align` flag a scene whose camera moved or whose
light changed, and every captured shot records the rig (libgphoto2 version, body, settings read back).

Faults are rendered with the virtual rig's optics (hardware/sim), with their truth."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sqlalchemy import select

from hardware.sim import CATEGORIES, render_scene
from hardware.sim.faults import FAULT_EV, moved_object
from hardware.sim.params import sample_params
from hardware.sim.render import render_degraded
from hardware.virtual import VirtualCamera, VirtualRig, closing_gt_drift
from rdrf_align.registration import drift
from rdrf_align.registration.homography import corner_error
from rdrf_capture.bracket import DriftCheck
from rdrf_capture.capture import CaptureOptions, run_session
from schemas.catalogue import Shot
from schemas.views import shot_rig
from schemas.settings import BracketSettings
from schemas.workspace import Catalogue, Workspace
from tests.test_capture_session import Quiet

W, H = 480, 320
LIMITS = BracketSettings()


def _gt(scene: np.ndarray, seed: int, **update) -> tuple[np.ndarray, np.ndarray]:
    """A GT photograph of `scene` (BGR) and its truth homography (this shot's px -> the scene's px)."""
    params = sample_params(np.random.default_rng(seed), reflections=False).model_copy(
        update={"drops": False, "reflection": False, "motion_px": 0.0, "exposure_ev": 0.0, "wb_gains": (1.0, 1.0, 1.0), **update}
    )
    shot = render_degraded(scene, params, seed)
    return np.ascontiguousarray(shot.image[..., ::-1]), shot.homography


def _bracket(seed: int, **fault):
    """(opening GT, closing GT with the rig's normal drift and `fault`, truth homography closing -> opening)."""
    scene = render_scene(CATEGORIES[seed % len(CATEGORIES)], W, H, 50 + seed)
    opening, _ = _gt(scene, 100 + seed)
    normal = closing_gt_drift(np.random.default_rng(seed), 2.0)
    closing, truth = _gt(scene, 200 + seed, **{**normal, **fault})
    return opening, closing, truth


@pytest.mark.parametrize("seed", [0, 3])
def test_an_untouched_rig_drifts_by_its_noise_floor_and_is_not_flagged(seed):
    opening, closing, truth = _bracket(seed)
    d = drift.measure(opening, closing)
    assert d["registered"]
    # the measured motion is the rendered one (a few hundredths of a px at this size)
    true_motion = corner_error(truth, np.eye(3), W, H).max()
    assert abs(d["motion_px"] - true_motion) < 0.1
    assert d["motion_ref_px"] < LIMITS.max_motion_px and abs(d["exposure_ev"]) < 0.1
    assert max(abs(v) for v in d["colour_shift"]) < 0.025 and d["changed_fraction"] < 0.01
    assert 0 < d["mean_abs_diff"] < 8 and d["p99_abs_diff"] >= d["mean_abs_diff"]
    assert drift.problems(d, LIMITS) == []


def test_a_moved_camera_is_flagged_with_its_motion():
    opening, closing, truth = _bracket(1, motion_px=20.0)
    d = drift.measure(opening, closing)
    true_motion = corner_error(truth, np.eye(3), W, H).max()
    assert abs(d["motion_px"] - true_motion) < 0.1 and d["motion_ref_px"] > LIMITS.max_motion_px
    found = drift.problems(d, LIMITS)
    assert found and found[0] == (
        f"camera moved between the opening and closing GT ({d['motion_px']:.1f} px; {d['motion_ref_px']:.1f} px at 4752 wide, limit 4)"
    )
    assert drift.scene_reason("17", [d], LIMITS).startswith("scene 17: camera moved between the opening and closing GT (")


@pytest.mark.parametrize("ev", [FAULT_EV[0], -FAULT_EV[0]])
def test_a_light_change_is_flagged_in_stops(ev):
    opening, closing, _ = _bracket(2, exposure_ev=ev)
    d = drift.measure(opening, closing)
    assert abs(d["exposure_ev"] - ev) < 0.12
    assert any(p.startswith("the light changed between the opening and closing GT") for p in drift.problems(d, LIMITS))


def test_a_colour_change_and_a_moved_object_are_flagged():
    opening, closing, _ = _bracket(4, wb_gains=(1.08, 1.0, 0.93))
    d = drift.measure(opening, closing)
    assert d["colour_shift"][0] > 0.05 and d["colour_shift"][1] < -0.05
    assert any("light's colour changed" in p for p in drift.problems(d, LIMITS))

    rng = np.random.default_rng(5)
    scene = render_scene(CATEGORIES[5], W, H, 55)
    before, after, changed, _kind = moved_object(scene, rng)
    opening, _ = _gt(before, 105)
    closing, _ = _gt(after, 205, **closing_gt_drift(rng, 2.0))
    d = drift.measure(opening, closing)
    assert d["changed_fraction"] > LIMITS.max_changed_fraction
    assert any(p.startswith("something in the scene changed between the opening and closing GT") for p in drift.problems(d, LIMITS))


def test_gts_that_cannot_be_compared_are_flagged_never_taken_as_zero_drift():
    opening, _, _ = _bracket(6)
    d = drift.measure(opening, np.full_like(opening, 128))  # a flat grey frame: nothing to register
    assert d["registered"] is False and d["reason"]
    assert drift.problems(d, LIMITS)[0].startswith("the opening and closing GT could not be compared (closing GT has 0 keypoints")
    d = drift.measure(opening, opening[: H // 2])
    assert d["registered"] is False and "480x160" in d["reason"]


def test_the_bracket_reason_rejects_ok_pairs_and_joins_other_reasons():
    assert drift.with_scene_reason("ok", "", "") == ("ok", "")
    assert drift.with_scene_reason("ok", "", "scene 3: x") == ("rejected", "scene 3: x")
    assert drift.with_scene_reason("rejected", "blurred", "scene 3: x") == ("rejected", "blurred; scene 3: x")
    assert drift.scene_reason("3", None, LIMITS) == "" and drift.scene_reason("3", [], LIMITS) == ""


# --- the capture session and the commands, on the virtual camera ------------------------------------

SMALL = "\n[virtual]\nwidth = 320\nheight = 213\nraw = false\n"


class FaultyRig(VirtualRig):
    """The virtual rig with a fault between the degraded series and the closing GT."""

    def __init__(self, fault: dict, **kw):
        super().__init__(**kw)
        self.fault = fault

    def prepare(self, role, index, *, bracket=False):
        super().prepare(role, index, bracket=bracket)
        if bracket:
            self.overrides = dict(self.fault)


@pytest.fixture
def ws(workspace, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    with open(workspace / "rdrf.toml", "a") as f:
        f.write(SMALL)
    return workspace


def _capture(ws, scene: str, fault: dict | None = None, **opts):
    cat = Catalogue(Workspace(ws))
    rig = FaultyRig(fault or {}, width=320, height=213, raw=False, motion_px=2.0)
    cam = VirtualCamera(rig).open()
    op = Quiet()
    try:
        summary = run_session(cat, cam, rig, CaptureOptions(scene=scene, glass_mm=5.0, **opts), op, DriftCheck(drift.measure, drift.problems))
    finally:
        cam.close()
        rig.close()
        cat.close()
    return summary, op


def _json(cli, ws, *args):
    r = cli("--workspace", ws, *args, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_capture_records_the_rig_on_every_shot_and_ends_with_the_closing_gt(cli, ws):
    import gphoto2 as gp

    r = cli("--workspace", ws, "capture", "--camera", "virtual", "--scene", "17", "--glass", "5mm", "--lq", "2", "--yes")
    assert r.exit_code == 0, r.output
    assert "closing GT: put the light-blocking box back ON and dry the glass" in r.stderr
    assert "drift since the opening GT: camera" in r.stderr and "closing GT gt-002: drift within limits" in r.stderr
    shots = _json(cli, ws, "shots", "--scene", "17")
    assert [(s["role"], s["index"], s["bracket"]) for s in shots] == [("gt", 1, False), ("gt", 2, True), ("lq", 1, False), ("lq", 2, False)]
    version = gp.gp_library_version(gp.GP_VERSION_SHORT)[0]
    for s in shots:
        rig = s["rig"]
        assert rig["libgphoto2"] == version and rig["model"] == "virtual" and rig["firmware"]
        assert rig["settings"] and all(rig["settings"].values())  # read back from the body, not the profile
    # the pairs keep the opening GT as their target
    opening = shots[0]["shot_id"]
    assert {p["gt_shot"] for p in _json(cli, ws, "pairs")} == {opening}
    (scene,) = _json(cli, ws, "scenes")
    assert scene["bracket"] == "ok" and len(scene["gt_drift"]) == 1
    d = scene["gt_drift"][0]
    assert d["opening_gt"] == 1 and d["closing_gt"] == 2 and d["registered"] and d["flags"] == []
    assert d["motion_ref_px"] < LIMITS.max_motion_px and abs(d["exposure_ev"]) < LIMITS.max_exposure_ev
    assert _json(cli, ws, "status")["brackets"] == {"ok": 1}
    assert cli("--workspace", ws, "verify").exit_code == 0


def test_no_gt_bracket_opts_out_on_the_command_line_and_in_rdrf_toml(cli, ws):
    r = cli("--workspace", ws, "capture", "--camera", "virtual", "--scene", "5", "--glass", "5mm", "--lq", "1", "--yes", "--no-gt-bracket")
    assert r.exit_code == 0, r.output
    assert "no closing GT (--no-gt-bracket)" in r.stderr
    assert [(s["role"], s["bracket"]) for s in _json(cli, ws, "shots", "--scene", "5")] == [("gt", False), ("lq", False)]
    with open(ws / "rdrf.toml", "a") as f:
        f.write("\n[capture]\ngt_bracket = false\n")
    r = cli("--workspace", ws, "capture", "--camera", "virtual", "--scene", "6", "--glass", "5mm", "--lq", "1", "--yes")
    assert r.exit_code == 0, r.output
    assert [s["role"] for s in _json(cli, ws, "shots", "--scene", "6")] == ["gt", "lq"]
    assert {s["scene"]: s["bracket"] for s in _json(cli, ws, "scenes")} == {"5": "no bracket", "6": "no bracket"}
    # ...and --gt-bracket brings it back for one session
    r = cli("--workspace", ws, "capture", "--camera", "virtual", "--scene", "6", "--glass", "5mm", "--lq", "1", "--yes", "--gt-bracket")
    assert r.exit_code == 0, r.output
    assert [(s["role"], s["index"], s["bracket"]) for s in _json(cli, ws, "shots", "--scene", "6") if s["role"] == "gt"] == [("gt", 1, False), ("gt", 2, True)]


@pytest.mark.parametrize(
    "fault,flag",
    [
        ({"motion_px": 25.0}, "camera moved between the opening and closing GT ("),
        ({"exposure_ev": 0.7}, "the light changed between the opening and closing GT (+0."),
    ],
)
def test_live_qa_and_align_flag_a_scene_that_moved_or_whose_light_changed(cli, ws, fault, flag):
    summary, op = _capture(ws, "8", fault, lq=2)
    assert summary.error is None, summary.stopped
    closing = summary.shots[-1]
    assert closing.step.bracket and closing.qa["ok"] is False and any(f.startswith(flag) for f in closing.qa["flags"])
    assert any(flag in m for m in op.messages)  # the operator is told at once
    assert any("drift over the limits" in line for line in summary.lines())
    # an untouched scene in the same workspace stays clean
    summary, _ = _capture(ws, "9", None, lq=1)
    assert summary.shots[-1].qa["ok"] is True
    assert {s["scene"]: s["bracket"] for s in _json(cli, ws, "scenes")} == {"8": "drifted", "9": "ok"}
    assert flag in " ".join(_json(cli, ws, "status")["drifted"]["8"])

    r = cli("--workspace", ws, "align", "--all")
    assert r.exit_code == 0, r.output
    pairs = _json(cli, ws, "pairs")
    for p in pairs:
        if p["scene"] == "8":
            assert p["status"] == "rejected" and f"scene 8: {flag}" in p["reason"], p["reason"]
        else:
            assert "opening and closing GT" not in p["reason"]
    # the limits are the workspace's: loosened in rdrf.toml, a re-alignment no longer flags the scene
    with open(ws / "rdrf.toml", "a") as f:
        f.write("\n[bracket]\nmax_motion_px = 100\nmax_exposure_ev = 2.0\n")
    assert cli("--workspace", ws, "align", "--scene", "8", "--force").exit_code == 0
    assert all("opening and closing GT" not in p["reason"] for p in _json(cli, ws, "pairs"))


def test_an_imported_scene_has_no_bracket_and_no_rig_record(cli, ws, tmp_path, monkeypatch):
    from tests.images import textured, write_jpeg

    scene = textured(160, 240, 3)
    write_jpeg(tmp_path / "shoot" / "4" / "gt.jpg", scene)
    write_jpeg(tmp_path / "shoot" / "4" / "lq" / "a.jpg", np.roll(scene, 1, axis=1))
    assert cli("--workspace", ws, "import", tmp_path / "shoot").exit_code == 0
    shots = _json(cli, ws, "shots")
    assert [s["rig"] for s in shots] == [None, None] and not any(s["bracket"] for s in shots)
    from rdrf.commands.listings import _rig_cell

    assert _rig_cell(None) == "no rig record"  # the shots table's cell, never an empty string
    (rec,) = _json(cli, ws, "scenes")
    assert rec["bracket"] == "no bracket" and rec["gt_drift"] == []
    monkeypatch.setenv("COLUMNS", "160")  # the table has nine columns: wide enough not to wrap a cell
    assert "no bracket" in cli("--workspace", ws, "scenes").stdout
    assert cli("--workspace", ws, "align", "--all").exit_code == 0
    (pair,) = _json(cli, ws, "pairs")
    assert "opening and closing GT" not in pair["reason"]


def test_the_rig_is_read_again_after_a_reconnection(ws):
    """A body that went away may come back as another one or with its settings reset: the shots after
    the reconnection carry what the body reports then."""
    cat = Catalogue(Workspace(ws))
    rig = VirtualRig(width=320, height=213, raw=False)
    cam = VirtualCamera(rig).open()
    states = iter([{"libgphoto2": "2.5.34", "firmware": "1.00"}, {"libgphoto2": "2.5.34", "firmware": "1.01"}])
    cam.rig_state = lambda: next(states)
    real_capture = cam.capture
    calls = {"n": 0}

    def capture():
        calls["n"] += 1
        if calls["n"] == 2:  # the first degraded shot: the cable is pulled
            from hardware.camera import CameraGone

            raise CameraGone("the camera disconnected")
        return real_capture()

    cam.capture = capture
    cam.reconnect = lambda timeout: None
    try:
        summary = run_session(cat, cam, rig, CaptureOptions(scene="3", glass_mm=5.0, lq=1, gt_bracket=False), Quiet())
        assert summary.error is None, summary.stopped
        with cat.session() as s:
            got = {(sh.role, sh.index): shot_rig(sh)["firmware"] for sh in s.scalars(select(Shot))}
    finally:
        cam.close()
        rig.close()
        cat.close()
    assert got == {("gt", 1): "1.00", ("lq", 1): "1.01"}


def test_the_rig_record_and_the_drift_are_committed_with_the_shot(ws):
    """Nothing is written to a shot after it is catalogued: a kill at any moment leaves a shot with
    its rig record and, for a closing GT, its drift - or no shot at all."""
    from sqlalchemy import event

    inserted: list = []
    updated: list = []
    on_insert = lambda _m, _c, shot: inserted.append(shot.qa)  # noqa: E731
    on_update = lambda _m, _c, shot: updated.append(shot.id)  # noqa: E731
    event.listen(Shot, "before_insert", on_insert)
    event.listen(Shot, "before_update", on_update)
    try:
        summary, _ = _capture(ws, "12", None, lq=1)
    finally:
        event.remove(Shot, "before_insert", on_insert)
        event.remove(Shot, "before_update", on_update)
    assert summary.error is None and len(inserted) == 3 and updated == []
    assert all(qa["rig"]["libgphoto2"] for qa in inserted)
    assert inserted[-1]["bracket"] and inserted[-1]["drift"]["registered"] and inserted[-1]["drift"]["opening_gt"] == 1


def test_a_raw_only_body_brackets_on_its_raws_and_records_its_settings(workspace):
    """Without camera JPEGs both GTs are developed at half size with the opening GT's white balance;
    the drift's pixels are given at the originals' width. The rig record holds what the body reads back."""
    from tests.fakecam import Body, FakeClock, connector
    from tests.images import textured

    from hardware.dng import dng_from_rgb
    from hardware.gphoto import GPhotoCamera
    from hardware.profiles import profile_named
    from hardware.rig import ManualRig

    scene = textured(240, 360, 5)
    shots = [np.roll(scene, s, axis=1) for s in (0, 1, 4)]  # GT, degraded, closing GT moved by 4 px
    body = Body([[(f"DSC{i + 1:05d}.DNG", dng_from_rgb(img))] for i, img in enumerate(shots)])
    op = Quiet()
    clock = FakeClock()
    cam = GPhotoCamera(
        profile_named("Nikon D7100").model_copy(update={"files_per_shot": 1}),
        model="Nikon DSC D7100", connect=connector(body), sleep=clock.sleep, clock=clock, say=op.say,
    ).open()
    cat = Catalogue(Workspace(workspace))
    try:
        summary = run_session(cat, cam, ManualRig(), CaptureOptions(scene="9", glass_mm=5.0, lq=1), op, DriftCheck(drift.measure, drift.problems))
    finally:
        cat.close()
    assert summary.error is None, summary.stopped
    closing = summary.shots[-1].qa
    d = closing["drift"]
    assert closing["bracket"] and d["registered"] and d["width"] == 360
    assert abs(d["motion_px"] - 4) < 0.3 and abs(d["exposure_ev"]) < 0.05
    assert d["flags"] == [f"camera moved between the opening and closing GT ({d['motion_px']:.1f} px; {d['motion_ref_px']:.1f} px at 4752 wide, limit 4)"]
    rig = summary.shots[0].qa["rig"]
    assert rig["libgphoto2"] and rig["model"] == "Nikon DSC D7100" and rig["settings"]


def test_the_datasheet_lists_the_rigs_and_the_scenes_drift(cli, tmp_path):
    from tests.export_helpers import SceneSpec, build_workspace

    from schemas.catalogue import Scene

    ws = build_workspace(tmp_path / "ws", [SceneSpec("1", CATEGORIES[0], split="train"), SceneSpec("2", CATEGORIES[0], split="train")])
    rig = {"libgphoto2": "2.5.34", "model": "Sony ILCE-7RM4A", "serial": "123", "firmware": "2.00",
           "focus_mode": "Manual", "focus_distance": None, "settings": {"capturetarget": "card+sdram"}}
    floor = {"opening_gt": 1, "registered": True, "width": 240, "motion_px": 0.4, "motion_ref_px": 7.9, "exposure_ev": 0.02,
             "colour_shift": [0.01, -0.005], "mean_abs_diff": 2.5, "p99_abs_diff": 12.0, "changed_fraction": 0.001,
             "flags": ["camera moved between the opening and closing GT (0.4 px; 7.9 px at 4752 wide, limit 4)"]}
    cat = Catalogue(ws)
    with cat.session() as s:
        one = s.scalar(select(Scene).where(Scene.label == "1"))
        for sh in one.shots:  # scene 1 was captured; scene 2 imported (no rig record, no bracket)
            sh.qa = {"rig": rig}
        s.add(Shot(scene=one, role="gt", index=2, degradation="none", trigger="usb", original_name="DSC09.JPG",
                   qa={"rig": rig, "bracket": True, "drift": floor}))
    cat.close()
    r = cli("-w", ws.root, "export", "--split", "train", "--size", "240x160")
    assert r.exit_code == 0, r.output
    sheet = (ws.root / "exports" / "train-folder-240x160" / "README.md").read_text()
    assert "| 2.5.34 | Sony ILCE-7RM4A | 2.00 | Manual | 2 |" in sheet
    assert "| no rig record (imported) | - | - | - | 2 |" in sheet
    assert "1 of 2 exported scene(s) end their series with a closing GT (the others: no bracket); 1 drifted" in sheet
    assert "- camera motion (px, full resolution): median 0.40" in sheet
    assert "- mean |difference| after registration (8-bit levels): median 2.50" in sheet
    (scene_1, scene_2) = _json(cli, ws.root, "scenes")
    assert scene_1["bracket"] == "drifted" and scene_1["gt_drift"][0]["closing_gt"] == 2 and scene_2["bracket"] == "no bracket"


def test_a_stopped_series_is_bracketed_by_the_next_session_and_a_failed_measure_never_costs_the_shot(ws):
    class StopBeforeSecondDegraded(Quiet):
        interactive = True

        def __init__(self):
            super().__init__()
            self.prompts = 0

        def ready(self, prompt: str) -> bool:
            self.prompts += 1
            return self.prompts < 3  # GT, degraded 1, then 'q'

    def broken(*_args):
        raise RuntimeError("OpenCV said no")

    cat = Catalogue(Workspace(ws))
    rig = VirtualRig(width=320, height=213, raw=False)
    cam = VirtualCamera(rig).open()
    try:
        op = StopBeforeSecondDegraded()
        summary = run_session(cat, cam, rig, CaptureOptions(scene="2", glass_mm=5.0, lq=3), op, DriftCheck(drift.measure, drift.problems))
        assert [s.step.title for s in summary.shots] == ["GT 1", "degraded 1"]
        assert "  no closing GT: the series stopped before it; the scene's next session ends with one" in summary.lines()
        # the next session continues the series and closes it; its measurement fails, the shot is kept
        summary = run_session(cat, cam, rig, CaptureOptions(scene="2", glass_mm=5.0, lq=1), Quiet(), DriftCheck(broken, drift.problems))
        assert [s.step.title for s in summary.shots] == ["degraded 2", "closing GT 2"] and summary.error is None
        d = summary.shots[-1].qa["drift"]
        assert d["registered"] is False and "OpenCV said no" in d["reason"] and d["opening_gt"] == 1
        assert summary.shots[-1].qa["flags"][-1].startswith("the opening and closing GT could not be compared (the drift could not be measured")
        with cat.session() as s:
            assert sorted((sh.role, sh.index, bool((sh.qa or {}).get("bracket"))) for sh in s.scalars(select(Shot))) == [
                ("gt", 1, False), ("gt", 2, True), ("lq", 1, False), ("lq", 2, False)
            ]
    finally:
        cam.close()
        rig.close()
        cat.close()
