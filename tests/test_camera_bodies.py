"""The driver against doubles that behave as libgphoto2 2.5.34 does for each body (tests/bodies.py):
one test per defect of issue 13 (numbered as there), showing it fixed."""

from __future__ import annotations

import pytest
from tests.bodies import NikonBody, SonyBody

from hardware.camera import CameraBusy, CameraGone, CameraIOError, LibraryTooOld, NoFile, SettingRefused, ShotLost, camera_error
from hardware.gphoto import GPhotoCamera, body_name, check_library
from hardware.profiles import profile_named

SONY_MODEL = "Sony ILCE-7RM4A (PC Control)"


def sony_shots(n: int, start: int = 1) -> list[list[tuple[str, bytes]]]:
    return [[(f"DSC{i:05d}.ARW", b"ARW" + bytes([i]) * 64), (f"DSC{i:05d}.JPG", b"JPG" + bytes([i]) * 32)] for i in range(start, start + n)]


def nikon_shots(n: int) -> list[list[tuple[str, bytes]]]:
    return [[(f"DSC_{i:04d}.NEF", b"NEF" + bytes([i]) * 64), (f"DSC_{i:04d}.JPG", b"JPG" + bytes([i]) * 32)] for i in range(1, n + 1)]


def ready_sony(**kw) -> SonyBody:
    """A Sony set up as the operator would before a session: MF, M, PC save RAW & JPEG."""
    kw.setdefault("focus", "Manual")
    kw.setdefault("pc_save", "RAW & JPEG")
    return SonyBody(**kw)


def sony(body: SonyBody, *, version: str = "2.5.34", on_connect=None, profile=None, **kw) -> GPhotoCamera:
    return GPhotoCamera(
        profile or profile_named("Sony ILCE-7RM4A"),
        model=SONY_MODEL,
        connect=body.connector(on_connect),
        sleep=body.clock.sleep,
        clock=body.clock,
        library_version=lambda: version,
        **kw,
    ).open()


def nikon(body: NikonBody, **kw) -> GPhotoCamera:
    return GPhotoCamera(
        profile_named("Nikon D7100"),
        model="Nikon DSC D7100",
        connect=body.connector(),
        sleep=body.clock.sleep,
        clock=body.clock,
        library_version=lambda: "2.5.34",
        **kw,
    ).open()


def data(shot) -> list[tuple[str, bytes]]:
    return [(f.name, f.data) for f in shot.files]


# --- 1. no card copy on Sony, and nobody noticed ---------------------------------------------------
def test_1_sony_capture_target_is_read_back_and_set_through_the_generic_property():
    body = ready_sony(shots=sony_shots(1))  # starts in "sdram"; ignores the empty-payload set
    cam = sony(body)
    assert body.dest == 0x11 and cam.applied["capturetarget"] == "card+sdram"  # through 'd222' = 17
    shot = cam.capture()
    assert body.card == ["DSC00001.ARW", "DSC00001.JPG"]  # the card keeps a copy
    assert data(shot) == sony_shots(1)[0]


def test_1_sony_without_a_card_copy_refuses_with_the_body_menu_entry():
    body = ready_sony(shots=sony_shots(1), generic_d222=False)
    with pytest.raises(SettingRefused, match=r"'capturetarget' reads back 'sdram' .*Still Img\. Save Dest\. = \"PC\+Camera\""):
        sony(body)
    assert body.fired == 0
    # the operator accepts RAM-only capture: a plain warning, and the session goes on
    cam = sony(body, allow_ram_only=True)
    assert cam.applied["capturetarget"] == "sdram"
    assert any("a pulled cable loses the shot" in w for w in cam.warnings)
    # "card" alone never reaches the PC (capture would wait 35 s and fail): refused even then
    with pytest.raises(SettingRefused, match=r"reads back 'card'"):
        sony(ready_sony(shots=sony_shots(1), generic_d222=False, dest=0x10), allow_ram_only=True)


# --- 2. reconnect cannot recover a Sony shot ------------------------------------------------------
def test_2_sony_disconnect_mid_download_is_a_lost_shot_retaken_after_reconnect():
    body = ready_sony(shots=sony_shots(2), fail={("file_get", 2): -7})  # the cable comes out during the JPEG
    plugs = []

    def replug(b: SonyBody) -> None:
        plugs.append(1)
        if len(plugs) >= 3:
            b.plugged = True

    cam = sony(body, on_connect=replug)
    with pytest.raises(ShotLost, match=r"\[-7\].*did not reach the computer.*shot again") as err:
        cam.capture()
    assert err.value.recoverable and isinstance(err.value, CameraGone)  # the session reconnects, then retakes
    assert cam.pending == []  # nothing to fetch after a re-open: libgphoto2's "/" is empty then
    cam.reconnect(timeout_s=30)
    shot = cam.capture()
    assert data(shot) == sony_shots(2)[1]  # a new exposure, complete; no -108, no half shot
    assert body.fired == 2


# --- 3. version floor; names that share no stem ----------------------------------------------------
def test_3_old_libgphoto2_is_refused_and_counter_names_pair_by_order():
    with pytest.raises(LibraryTooOld, match=r"libgphoto2 2\.5\.31 is older than 2\.5\.34.*gphoto2>=2\.6\.2"):
        sony(ready_sony(shots=sony_shots(1)), version="2.5.31")
    check_library("2.5.34")
    check_library("2.5.35.1")
    body = ready_sony(shots=sony_shots(2), reports_names=False)  # capt0000.arw / capt0001.jpg
    cam = sony(body)
    first, second = cam.capture(), cam.capture()
    assert [f.data for f in first.files] == [d for _, d in sony_shots(2)[0]]
    assert first.names == ["capt0000.arw", "capt0001.jpg"] and second.names == ["capt0002.arw", "capt0003.jpg"]
    assert not first.strays and not first.notes
    assert body_name("capt_DSC01234.ARW") == "DSC01234.ARW"


def test_3_pyproject_requires_the_wheel_with_libgphoto2_2_5_34():
    import tomllib
    from pathlib import Path

    deps = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["dependencies"]
    assert "gphoto2>=2.6.2" in deps


# --- 4. silent settings ---------------------------------------------------------------------------
def test_4_a_quality_the_body_refused_and_a_jpeg_only_pc_save_are_caught():
    with pytest.raises(SettingRefused, match=r"'imagequality' reads back 'RAW'.*File Format"):
        sony(ready_sony(shots=sony_shots(1), quality_takes=False))
    with pytest.raises(SettingRefused, match=r"'pcsaveimgformat' reads back 'JPEG Only'.*RAW\+J PC Save Img"):
        sony(ready_sony(shots=sony_shots(1), pc_save="JPEG Only", pc_save_takes=False))
    body = ready_sony(shots=sony_shots(1), pc_save="JPEG Only")  # takes the set: checked, then two files
    cam = sony(body)
    assert body.pc_save == "RAW & JPEG" and body.quality == "RAW+JPEG (X.Fine)"
    assert cam.applied == {"capturetarget": "card+sdram", "imagequality": "RAW+JPEG (X.Fine)", "pcsaveimgformat": "RAW & JPEG"}
    assert len(cam.capture().files) == 2


# --- 5. checks that never fired -------------------------------------------------------------------
def test_5_sony_exposure_and_dmf_checks_fire():
    cam = sony(ready_sony(shots=sony_shots(1), focus="DMF", expprogram="A"))
    text = "\n".join(cam.warnings)
    assert "autofocus is on" in text and "'DMF'" in text
    assert "not in M" in text and "'expprogram' is 'A'" in text
    assert sony(ready_sony(shots=sony_shots(1))).warnings == []  # Manual + M: nothing to say


# --- 6. errors ------------------------------------------------------------------------------------
def test_6_busy_after_the_shutter_fired_is_never_a_second_exposure():
    body = ready_sony(shots=sony_shots(2), busy_after_fire={1})
    cam = sony(body)
    shot = cam.capture()
    assert body.fired == 1 and body.failures.calls["capture"] == 1  # pressed once
    assert data(shot) == sony_shots(2)[0]
    assert any("busy [-110]" in n and "pressed once" in n for n in shot.notes)
    assert data(cam.capture()) == sony_shots(2)[1]  # and the next shot is the next exposure


def test_6_objects_left_in_ram_are_drained_as_strays_not_returned_as_the_next_shot():
    body = ready_sony(shots=sony_shots(2, start=11))
    body.ram.extend(sony_shots(1, start=10)[0])  # two objects of an earlier exposure still in the body
    cam = sony(body)
    shot = cam.capture()
    assert data(shot) == sony_shots(1, start=11)[0]  # not DSC00010: nothing is off by one
    assert [(f.name, f.data) for f in shot.strays] == sony_shots(1, start=10)[0]
    assert len([n for n in shot.notes if "kept apart as a stray" in n]) == 2
    assert data(cam.capture()) == sony_shots(1, start=12)[0] and body.discarded == []


def test_6_error_codes_say_what_happened_and_what_to_do():
    io = camera_error(-7, "downloading /capt_DSC00001.JPG", SONY_MODEL)
    assert "link failed" in str(io) and "cable" in str(io) and "resets the USB port" in str(io)
    generic = camera_error(-1, "capture", SONY_MODEL)
    assert isinstance(generic, NoFile) and generic.recoverable  # the step is shot again, the session goes on
    assert "full card" in str(generic) and "Still Img. Save Dest." in str(generic)
    assert "libgphoto2 error -1" not in str(generic)
    flipped = ready_sony(shots=sony_shots(1))
    cam = sony(flipped)
    flipped.dest = 0x10  # someone set "Camera Only" on the body mid-session: capture polls 35 s, then -1
    with pytest.raises(NoFile, match=r"\[-1: a generic failure\].*within 35 s"):
        cam.capture()
    busy = ready_sony(shots=sony_shots(3), fail={("capture", i): -110 for i in range(1, 50)})
    cam = sony(busy)
    with pytest.raises(CameraBusy, match=r"busy during capture \[-110\].*No file arrived after \d+ press"):
        cam.capture()
    assert busy.fired == 0


# --- 7. start-up wait, minimum interval, stale links ----------------------------------------------
def test_7_startup_wait_and_minimum_interval_come_from_the_profile():
    body = ready_sony(shots=sony_shots(3))
    cam = sony(body)
    opened = body.clock.t
    cam.capture()
    assert body.clock.sleeps[0] == pytest.approx(3.0, abs=0.05)  # rdrf waits, libgphoto2 need not
    first = cam._last_press
    cam.capture()
    assert cam._last_press - first >= 1.0  # no second press within a second
    assert cam._last_press - opened >= 4.0


def test_7_a_stale_link_gets_a_port_reset_before_the_body_is_opened_again():
    resets = []
    body = NikonBody(shots=nikon_shots(2), fail={("file_get", 2): -7})
    cam = nikon(body, reset_port=lambda: resets.append(body.plugged))
    with pytest.raises(CameraIOError, match=r"\[-7\]"):  # on the card: kept pending, not lost
        cam.capture()
    body.plugged = True
    cam.reconnect(timeout_s=10)
    assert resets == [True] and cam.port_resets == 1
    shot = cam.capture()  # the Nikon's shot is still on the card: fetched, not retaken
    assert data(shot) == nikon_shots(2)[0] and body.fired == 1


# --- Nikon D7100 as the source says it behaves ------------------------------------------------------
def test_nikon_card_paths_second_file_by_events_and_busy_polled_inside_libgphoto2():
    body = NikonBody(shots=nikon_shots(2), busy_polls=4, focus="AF-S")
    cam = nikon(body)
    assert body.target == "Memory card" and body.quality == "NEF+Fine"
    assert any("autofocus is on" in w for w in cam.warnings)
    shot = cam.capture()
    assert data(shot) == nikon_shots(2)[0] and shot.files[0].folder == "/store_00010001/DCIM/100D7100"
    assert shot.retries == 0 and not shot.notes


def test_2_a_capture_session_retakes_the_step_whose_sony_shot_was_lost_and_keeps_strays(workspace):
    from sqlalchemy import select
    from tests.test_capture_session import Quiet, frames

    from hardware.rig import ManualRig
    from rdrf_capture.capture import CaptureOptions, run_session
    from schemas.catalogue import File, Shot
    from schemas.workspace import Catalogue, Workspace

    shots = frames(5)
    body = ready_sony(shots=shots[1:], fail={("file_get", 3): -7})  # file_get 1: the stray, 2: GT, 3: lq-1
    body.ram.append(shots[0][0])  # an object an earlier session left in the body's memory
    plugs = []

    def replug(b: SonyBody) -> None:
        plugs.append(1)
        if len(plugs) >= 3:
            b.plugged = True

    op = Quiet()
    cam = sony(body, on_connect=replug, profile=profile_named("Sony ILCE-7RM4A").model_copy(update={"files_per_shot": 1}), say=op.say)
    cat = Catalogue(Workspace(workspace))
    summary = run_session(cat, cam, ManualRig(), CaptureOptions(scene="8", glass_mm=3.0, lq=2, reconnect_timeout_s=60, gt_bracket=False), op)
    assert summary.error is None, summary.stopped
    text = "\n".join(op.messages)
    assert "did not reach the computer" in text and "shot again" in text
    with cat.session() as s:
        stored = [(sh.role, sh.index, sh.original_name) for sh in s.scalars(select(Shot).order_by(Shot.id))]
        assert all(s.scalars(select(File).where(File.shot_id == sh.id)).first() for sh in s.scalars(select(Shot)))
    # DSC00003 (lq-1's first exposure) was lost with the link: lq-1 is the retake, DSC00004
    assert stored == [("gt", 1, "DSC00002.JPG"), ("lq", 1, "DSC00004.JPG"), ("lq", 2, "DSC00005.JPG")]
    kept = list((workspace / "strays" / "8").iterdir())
    assert [p.name.split("-", 1)[1] for p in kept] == ["DSC00001.JPG"] and kept[0].read_bytes() == shots[0][0][1]
    cat.close()


def test_7_the_usb_port_reset_uses_python_gphoto2s_port_api_on_the_bodys_port(monkeypatch):
    from types import SimpleNamespace

    from hardware import gphoto

    calls = []

    class PortInfoList(list):
        def load(self):
            self.extend(["usb:001,007 info"])

        def lookup_path(self, path):
            calls.append(("lookup", path))
            return 0

    class GPPort:
        def set_info(self, info):
            calls.append(("set_info", info))

        def open(self):
            calls.append(("open",))

        def reset(self):
            calls.append(("reset",))

        def close(self):
            calls.append(("close",))

    fake = SimpleNamespace(PortInfoList=PortInfoList, GPPort=GPPort, GPhoto2Error=Exception)
    monkeypatch.setattr(gphoto, "use_backend", lambda *_a, **_k: fake)
    cam = GPhotoCamera(profile_named("Sony ILCE-7RM4A"), model=SONY_MODEL, port="usb:001,007")
    cam._reset_usb_port()  # what `reconnect` calls after -7/-10 on a real body (gp_port_reset, libusb1.c:703-710)
    assert calls == [("lookup", "usb:001,007"), ("set_info", "usb:001,007 info"), ("open",), ("reset",), ("close",)]
