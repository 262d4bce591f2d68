"""The libgphoto2 driver against a scripted card-keeping body (tests/fakecam.py, a Nikon D7100 over
PTP): retries, events, RAW+JPEG, errors, reconnection. Per-body behaviour: tests/test_camera_bodies.py."""

from __future__ import annotations

import pytest
from tests.fakecam import Body, FakeClock, connector

from hardware.camera import CameraBusy, CameraClaimed, CameraGone, NoCamera, camera_error
from hardware.gphoto import GPhotoCamera
from hardware.profiles import profile_named


def raw_jpeg_shots(n: int) -> list[list[tuple[str, bytes]]]:
    return [[(f"DSC_{i:04d}.NEF", b"RAW" + bytes([i]) * 100), (f"DSC_{i:04d}.JPG", b"JPG" + bytes([i]) * 50)] for i in range(1, n + 1)]


def nikon(body: Body, clock: FakeClock | None = None, on_connect=None) -> GPhotoCamera:
    clock = clock or FakeClock()
    return GPhotoCamera(
        profile_named("Nikon D7100"),
        model="Nikon DSC D7100",
        connect=connector(body, on_connect),
        sleep=clock.sleep,
        clock=clock,
    ).open()


def test_profile_applied_first_offered_value_and_af_warning():
    body = Body(raw_jpeg_shots(1))
    cam = nikon(body)
    assert cam.applied == {"capturetarget": "Memory card", "imagequality": "NEF+Fine"}
    assert body.set_configs == 1
    assert cam.serial == "00042"
    assert any("autofocus is on" in w for w in cam.warnings)


def test_usb_capture_collects_raw_and_jpeg_through_events():
    body = Body(raw_jpeg_shots(2))
    cam = nikon(body)
    shot = cam.capture()
    assert [(f.name, f.data) for f in shot.files] == body.shots[0]
    assert shot.trigger == "usb" and not shot.notes
    assert cam.capture().names == ["DSC_0002.NEF", "DSC_0002.JPG"]


def test_busy_is_retried_with_growing_back_off():
    # a busy press that brought no file is pressed again; busy downloads are retried with back-off
    body = Body(raw_jpeg_shots(1), fail={("capture", 1): -110, ("file_get", 1): -110, ("file_get", 2): -110})
    clock = FakeClock()
    cam = nikon(body, clock)
    shot = cam.capture()
    assert shot.names == ["DSC_0001.NEF", "DSC_0001.JPG"]
    assert shot.retries == 3
    busy_sleeps = [s for s in clock.sleeps if s >= 0.05]
    assert busy_sleeps[:2] == [0.05, 0.1]  # exponential back-off
    assert body.fired == 1  # retried, not fired twice


def test_busy_for_too_long_gives_up_with_a_clear_message():
    body = Body(raw_jpeg_shots(1), fail={("capture", i): -110 for i in range(1, 200)})
    cam = nikon(body)
    with pytest.raises(CameraBusy, match=r"busy during capture \[-110\]"):
        cam.capture()
    assert body.fired == 0


def test_remote_shot_arrives_by_events_and_the_wait_has_its_own_deadline():
    body = Body(raw_jpeg_shots(1))
    clock = FakeClock()
    cam = nikon(body, clock)
    assert cam.wait_for_shot(2.0) is None  # TIMEOUT comes back at once: the driver must not spin
    assert 1.9 < clock.t < 3.0 and len(clock.sleeps) > 10
    cam._cam.remote_press()
    shot = cam.wait_for_shot(2.0)
    assert shot.trigger == "remote" and shot.names == ["DSC_0001.NEF", "DSC_0001.JPG"]


def test_missing_second_file_is_noted_after_the_event_window():
    body = Body([[("DSC_0001.NEF", b"RAW")]])
    cam = nikon(body)
    shot = cam.capture()
    assert shot.names == ["DSC_0001.NEF"]
    assert shot.notes == ["only 1 of 2 files arrived (DSC_0001.NEF)"]


def test_unplugged_mid_download_keeps_the_shot_and_fetches_it_after_reconnect():
    # -52 on the second download: the body is gone; it comes back on the third connection attempt
    body = Body(raw_jpeg_shots(2), fail={("file_get", 2): -52})
    attempts = []

    def replug(b: Body):
        attempts.append(1)
        if len(attempts) >= 4:  # the first is the initial open
            b.plugged = True

    cam = nikon(body, on_connect=replug)
    with pytest.raises(CameraGone, match=r"disappeared .*\[-52\].*plug it back in"):
        cam.capture()
    assert cam.pending == [(body.folder, "DSC_0001.NEF"), (body.folder, "DSC_0001.JPG")]
    cam.reconnect(timeout_s=30)
    shot = cam.capture()  # delivers the pending shot, does not fire again
    assert [(f.name, f.data) for f in shot.files] == body.shots[0]
    assert body.fired == 1
    assert cam.capture().names == ["DSC_0002.NEF", "DSC_0002.JPG"]


def test_reconnect_gives_up_after_its_timeout():
    body = Body(raw_jpeg_shots(1), fail={("capture", 1): -52})
    cam = nikon(body)
    with pytest.raises(CameraGone):
        cam.capture()
    with pytest.raises(CameraGone, match="did not come back within 5 s"):
        cam.reconnect(timeout_s=5)


def test_no_camera_and_claimed_usb_at_open():
    with pytest.raises(NoCamera, match=r"no camera found .*\[-105\].*switched on"):
        nikon(Body([], fail={("connect", 1): -105}))
    with pytest.raises(CameraClaimed, match=r"\[-53\].*gvfs"):
        nikon(Body([], fail={("connect", 1): -53}))


def test_every_error_code_has_an_actionable_message():
    for code, words in {-105: "USB mode", -110: "busy", -52: "unplugged", -53: "gio mount", -7: "cable", -10: "in time",
                        -108: "does not have it"}.items():
        err = camera_error(code, "capture", "Nikon DSC D7100")
        assert "Nikon DSC D7100" in str(err) and words in str(err) and err.code == code


def test_a_late_file_of_an_earlier_shot_is_not_mixed_into_the_next():
    body = Body(raw_jpeg_shots(2))
    cam = nikon(body)
    from tests.fakecam import Path_

    from hardware.gphoto import EVENT_FILE_ADDED

    body.card["DSC_0000.JPG"] = b"late"
    cam._cam.events.append((EVENT_FILE_ADDED, Path_(body.folder, "DSC_0000.JPG")))  # queued before the shutter
    shot = cam.capture()
    assert shot.names == ["DSC_0001.NEF", "DSC_0001.JPG"]
    assert shot.notes == [f"{body.folder}/DSC_0000.JPG of an earlier shot arrived before this press; downloaded and kept apart as a stray"]
    assert [(f.name, f.data) for f in shot.strays] == [("DSC_0000.JPG", b"late")]


def test_capture_complete_does_not_cut_the_wait_for_the_announced_second_file():
    body = Body(raw_jpeg_shots(1))
    cam = nikon(body)
    real = cam._cam.capture

    def complete_first(kind):
        path = real(kind)
        cam._cam.events.sort(key=lambda e: e[0] != 4)  # CAPTURE_COMPLETE before the JPEG's FILE_ADDED
        cam._cam.events[1:1] = [(1, None)] * 30  # and a few idle polls in between
        return path

    cam._cam.capture = complete_first
    assert cam.capture().names == ["DSC_0001.NEF", "DSC_0001.JPG"]


def test_announced_file_missing_on_the_body_is_retryable_and_forgotten():
    from hardware.camera import NoFile

    body = Body(raw_jpeg_shots(2), fail={("file_get", 1): -108})
    cam = nikon(body)
    with pytest.raises(NoFile, match=r"\[-108\]"):
        cam.capture()
    assert cam.pending == []
    assert cam.capture().names == ["DSC_0002.NEF", "DSC_0002.JPG"]  # the retry fires a new shot
