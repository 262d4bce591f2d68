"""A capture session on a scripted body failing at chosen moments (-110, -52, -105): the operator is
told what happened, the session retries or waits, and every shot stored before stays intact."""

from __future__ import annotations

import cv2
import numpy as np
from tests.images import textured
from tests.fakecam import Body, FakeClock, connector
from sqlalchemy import event, select

from hardware.camera import Camera
from hardware.dng import dng_from_rgb
from hardware.gphoto import GPhotoCamera
from hardware.profiles import profile_named
from hardware.rig import ManualRig, Rig
from rdrf_capture.capture import CaptureOptions, run_session
from rdrf_capture.protocol import plan
from schemas.catalogue import File, IngestJournal, Pair, Shot
from schemas.storage import sha256_file
from schemas.workspace import Catalogue, Workspace


class Quiet:
    interactive = False

    def __init__(self):
        self.messages: list[str] = []

    def say(self, m: str) -> None:
        self.messages.append(m)

    def ready(self, prompt: str) -> bool:
        return True

    def quit_requested(self) -> bool:
        return False


def jpeg(rgb: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()


def frames(n: int) -> list[list[tuple[str, bytes]]]:
    """A GT and n-1 degraded frames of one textured scene (shifted by a pixel, a little noise)."""
    scene = textured(300, 450, 5)
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        img = np.roll(scene, i % 2, axis=1).astype(np.int16) + rng.integers(-3, 4, scene.shape)
        out.append([(f"DSC{i + 1:05d}.JPG", jpeg(np.clip(img, 0, 255).astype(np.uint8)))])
    return out


def test_plan_starts_with_gt_and_continues_numbering():
    assert [(s.role, s.index) for s in plan(0, 0, gt_count=2, lq=2, bracket=False)] == [("gt", 1), ("gt", 2), ("lq", 1), ("lq", 2)]
    assert [(s.role, s.index) for s in plan(1, 5, lq=3, bracket=False)] == [("lq", 6), ("lq", 7), ("lq", 8)]


def test_plan_ends_each_series_with_a_closing_gt_numbered_after_every_gt():
    steps = plan(0, 0, gt_count=2, lq=2)
    assert [(s.role, s.index, s.bracket) for s in steps] == [
        ("gt", 1, False), ("gt", 2, False), ("lq", 1, False), ("lq", 2, False), ("gt", 3, True)
    ]
    # a continued scene (opening GT and an earlier closing GT catalogued) brackets its new series too
    assert [(s.role, s.index, s.bracket) for s in plan(2, 5, lq=2)] == [("lq", 6, False), ("lq", 7, False), ("gt", 3, True)]
    assert plan(1, 5, lq=0) == []  # no series, nothing to bracket


def test_failures_at_chosen_moments(workspace):
    shots = frames(6)
    body = Body(
        shots,
        fail={
            ("capture", 2): -110,  # lq-1: busy twice, retried with back-off
            ("capture", 3): -110,
            ("file_get", 4): -52,  # lq-3: unplugged during its download (lq-2 was file_get 3)
            ("capture", 7): -7,  # lq-4: a USB I/O error; the session re-opens the camera and shoots again
        },
    )
    plugs = []

    def replug(b: Body) -> None:  # -105 twice while the cable is out, then it is back
        plugs.append(1)
        if not b.plugged and len(plugs) >= 4:
            b.plugged = True

    clock = FakeClock()
    op = Quiet()
    cam = GPhotoCamera(
        profile_named("Nikon D7100").model_copy(update={"files_per_shot": 1}),
        model="Nikon DSC D7100",
        connect=connector(body, replug),
        sleep=clock.sleep,
        clock=clock,
        say=op.say,
    ).open()
    cat = Catalogue(Workspace(workspace))
    summary = run_session(cat, cam, ManualRig(), CaptureOptions(scene="8", gt_bracket=False, glass_mm=3.0, lq=4, reconnect_timeout_s=60), op)
    assert summary.error is None and summary.stopped is None
    assert [(r.step.role, r.index) for r in summary.shots] == [("gt", 1), ("lq", 1), ("lq", 2), ("lq", 3), ("lq", 4)]
    text = "\n".join(op.messages)
    assert "disappeared during downloading" in text and "[-52]" in text
    assert "Nikon DSC D7100: reconnected (after: " in text and "[-105]" in text  # -105 while the cable was out
    assert "waiting up to 60 s for Nikon DSC D7100" in text
    assert "USB input/output error during capture [-7]" in text
    assert body.fired == 5  # the shot cut off by the unplugging was fetched from the card, not re-shot
    lq1 = next(r for r in summary.shots if r.index == 1 and r.step.role == "lq")
    assert lq1.qa["busy_retries"] == 2

    # now the body stays busy: the session stops with the message, earlier shots untouched
    body.fail.update({("capture", i): -110 for i in range(9, 400)})
    before = _snapshot(cat)
    summary = run_session(cat, cam, ManualRig(), CaptureOptions(scene="8", gt_bracket=False, glass_mm=3.0, lq=1, max_attempts=2), op)
    assert summary.error is not None and summary.error.code == -110
    assert "busy during capture [-110]" in summary.stopped
    assert _snapshot(cat) == before
    with cat.session() as s:
        assert s.scalar(select(IngestJournal.id)) is None
        assert len(s.scalars(select(Pair)).all()) == 4
        for f in s.scalars(select(File)):
            assert sha256_file(cat.workspace.abs(f.path)) == (f.sha256, f.size)
        names = [sh.original_name for sh in s.scalars(select(Shot).order_by(Shot.id))]
    assert names == [f"DSC{i:05d}.JPG" for i in range(1, 6)]
    cat.close()


def _snapshot(cat: Catalogue) -> list:
    with cat.session() as s:
        return [(f.path, f.sha256, f.size) for f in s.scalars(select(File).order_by(File.id))]


def _nikon(body: Body, op: Quiet) -> GPhotoCamera:
    clock = FakeClock()
    return GPhotoCamera(
        profile_named("Nikon D7100").model_copy(update={"files_per_shot": 1}),
        model="Nikon DSC D7100",
        connect=connector(body),
        sleep=clock.sleep,
        clock=clock,
        say=op.say,
    ).open()


def test_operator_stops_with_q_and_the_next_session_continues(workspace):
    class StopsAtThird(Quiet):
        interactive = True
        prompts = 0

        def ready(self, prompt):
            self.prompts += 1
            return self.prompts < 3

    body = Body(frames(6))
    op = StopsAtThird()
    cat = Catalogue(Workspace(workspace))
    summary = run_session(cat, _nikon(body, op), ManualRig(), CaptureOptions(scene="2", gt_bracket=False, glass_mm=5.0, lq=4), op)
    assert summary.stopped == "stopped by the operator"
    assert [(r.step.role, r.index) for r in summary.shots] == [("gt", 1), ("lq", 1)]
    assert op.prompts == 3
    summary = run_session(cat, _nikon(body, Quiet()), ManualRig(), CaptureOptions(scene="2", gt_bracket=False, glass_mm=5.0, lq=2), Quiet())
    assert [(r.step.role, r.index) for r in summary.shots] == [("lq", 2), ("lq", 3)]
    cat.close()


def test_ctrl_c_during_a_shot_still_stores_it(workspace):
    import os
    import signal

    body = Body(frames(3))
    op = Quiet()
    cam = _nikon(body, op)
    real_capture = cam._cam.capture

    def capture_then_ctrl_c(kind):
        path = real_capture(kind)
        if body.fired == 2:  # the operator hits Ctrl-C while lq-1 is being taken
            os.kill(os.getpid(), signal.SIGINT)
        return path

    cam._cam.capture = capture_then_ctrl_c
    cat = Catalogue(Workspace(workspace))
    summary = run_session(cat, cam, ManualRig(), CaptureOptions(scene="4", gt_bracket=False, glass_mm=5.0, lq=2), op)
    assert summary.interrupted and "interrupted" in summary.stopped
    assert any("finishing the shot in progress" in m for m in op.messages)
    assert [(r.step.role, r.index) for r in summary.shots] == [("gt", 1), ("lq", 1)]
    with cat.session() as s:
        assert len(s.scalars(select(Shot)).all()) == 2 and s.scalar(select(IngestJournal.id)) is None
    cat.close()


def test_a_shot_is_catalogued_with_its_qa_in_one_transaction(workspace):
    """QA runs on the shot in memory before it is stored, and is committed with it: a kill can never
    leave a catalogued shot without its QA, and no shot row is written twice."""
    inserted: list = []
    updated: list = []

    def on_insert(_mapper, _conn, shot):
        inserted.append(shot.qa)

    def on_update(_mapper, _conn, shot):
        updated.append((shot.role, shot.index))

    body = Body(frames(4))
    cat = Catalogue(Workspace(workspace))
    event.listen(Shot, "before_insert", on_insert)
    event.listen(Shot, "before_update", on_update)
    try:
        summary = run_session(cat, _nikon(body, Quiet()), ManualRig(), CaptureOptions(scene="6", gt_bracket=False, glass_mm=5.0, lq=3), Quiet())
    finally:
        event.remove(Shot, "before_insert", on_insert)
        event.remove(Shot, "before_update", on_update)
    assert summary.error is None and len(summary.shots) == 4
    assert len(inserted) == 4 and updated == []
    assert inserted[0]["reference"] and all("motion_px" in qa for qa in inserted[1:])
    assert all(qa["trigger"] == "usb" and "timing" in qa for qa in inserted)
    with cat.session() as s:
        stored = [sh.qa for sh in s.scalars(select(Shot).order_by(Shot.id))]
    assert [r.qa for r in summary.shots] == stored
    cat.close()


def test_a_raw_only_shot_is_checked_on_its_raw(workspace):
    """Without a camera JPEG, QA develops the RAW in memory (half size, the GT's white balance)."""
    scene = textured(240, 360, 5)
    body = Body([[(f"DSC{i + 1:05d}.DNG", dng_from_rgb(np.roll(scene, i, axis=1)))] for i in range(2)])
    op = Quiet()
    cat = Catalogue(Workspace(workspace))
    summary = run_session(cat, _nikon(body, op), ManualRig(), CaptureOptions(scene="9", gt_bracket=False, glass_mm=5.0, lq=1), op)
    assert summary.error is None, summary.stopped
    lq = summary.shots[1].qa
    assert lq["motion_px"] is not None and lq["motion_px"] < 4, lq  # registered against the GT's RAW
    assert abs(lq["exposure_ev"]) < 0.1 and summary.developed == 2
    cat.close()


def test_cameras_and_rigs_implement_their_protocols(tmp_path):
    from hardware.virtual import VirtualCamera, VirtualRig

    rig = VirtualRig(width=64, height=48, raw=False, workdir=tmp_path / "rig")
    assert isinstance(_nikon(Body(frames(1)), Quiet()), Camera) and isinstance(VirtualCamera(rig), Camera)
    assert isinstance(ManualRig(), Rig) and isinstance(rig, Rig)
    assert _nikon(Body(frames(1)), Quiet()).truth() is None and VirtualCamera(rig).truth() is None  # nothing shot yet
    rig.close()
