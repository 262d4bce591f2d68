"""The Camera protocol the capture workflow drives, and the errors a tethered body raises.

A camera delivers *shots*: every file one press of the shutter produced (RAW and JPEG), already
downloaded into memory. Whether the shutter was fired over USB or by the wireless remote, the workflow
sees the same `CapturedShot`; the driver (gphoto.py, virtual.py) hides PTP, events and retries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Optional, Protocol, runtime_checkable

from pydantic import BaseModel

from hardware.profiles import Profile, match_profile
from schemas.errors import RdrfError
from schemas.vocabulary import CaptureTrigger


@dataclass(frozen=True)
class CapturedFile:
    name: str  # the camera's file name, e.g. "DSC01234.ARW"
    folder: str  # where it lies on the camera, e.g. "/store_00010001/DCIM/100MSDCF"
    data: bytes


@dataclass
class CapturedShot:
    files: list[CapturedFile]
    trigger: CaptureTrigger
    captured_at: datetime  # host clock when the shutter was fired (or the first file announced)
    camera_s: float = 0.0  # seconds spent inside libgphoto2 (capture, events, downloads)
    retries: int = 0  # busy (-110) retries this shot needed
    notes: list[str] = field(default_factory=list)
    # files of an earlier shot that arrived before this one was fired (drained, downloaded, kept apart)
    strays: list[CapturedFile] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.files]


@dataclass(frozen=True)
class DetectedCamera:
    model: str  # libgphoto2's model name, e.g. "Sony ILCE-7RM4A (PC Control)"
    port: str  # e.g. "usb:001,007"


@runtime_checkable
class Camera(Protocol):
    """A connected body with its profile applied. Not thread-safe; one per capture session."""

    model: str
    port: str
    serial: Optional[str]
    profile: Profile  # what the body was set to and what one shot yields (files_per_shot)

    def capture(self) -> CapturedShot:
        """Fire the shutter over USB (no touch, no vibration) and return every file of the shot."""
        ...

    def wait_for_shot(self, timeout_s: float) -> Optional[CapturedShot]:
        """Wait up to `timeout_s` for a shot fired on the body (wireless remote); None if none came."""
        ...

    def reconnect(self, timeout_s: float) -> None:
        """Wait for the same body to come back (re-plugged, switched on) and re-apply its profile."""
        ...

    def truth(self) -> Optional[dict]:
        """What produced the last shot, when the camera knows it (the virtual rig's exact motion and
        parameters, recorded so alignment can be scored); None for a real body."""
        ...

    def rig_state(self) -> dict:
        """What the body reports about itself now, recorded with every shot so a dataset says how each
        image was made: `libgphoto2` (library version), `model`, `serial`, `firmware` (PTP
        deviceversion), `focus_mode`, `focus_distance` (None where the body does not report one) and
        `settings` (each profile setting and check read back from the body, widget -> value)."""
        ...

    def close(self) -> None: ...


# --- errors ---------------------------------------------------------------------------------------
# libgphoto2 result codes (gphoto2-port-result.h / gphoto2-result.h); kept here so the fake camera
# in the tests and the messages do not need libgphoto2 itself.
GP_ERROR = -1
GP_ERROR_IO = -7
GP_ERROR_TIMEOUT = -10
GP_ERROR_IO_USB_CLAIM = -53
GP_ERROR_IO_USB_FIND = -52
GP_ERROR_BAD_PARAMETERS = -2
GP_ERROR_MODEL_NOT_FOUND = -105
GP_ERROR_CAMERA_BUSY = -110
GP_ERROR_FILE_NOT_FOUND = -108


class CameraError(RdrfError):
    """A camera failure the operator can act on. `code` is libgphoto2's result code, if any."""

    code: Optional[int] = None
    recoverable = False  # True: the body may come back (reconnect) and the session go on

    def __init__(self, message: str, code: Optional[int] = None):
        super().__init__(message)
        if code is not None:
            self.code = code


class NoCamera(CameraError):
    code = GP_ERROR_MODEL_NOT_FOUND


class CameraBusy(CameraError):
    code = GP_ERROR_CAMERA_BUSY
    recoverable = True


class CameraGone(CameraError):
    code = GP_ERROR_IO_USB_FIND
    recoverable = True


class ShotLost(CameraGone):
    """The link failed while the shot existed only in memory (a Sony in PC control keeps its files in
    libgphoto2's in-memory "/" of the session that received them, gone after a re-open): the step must
    be retaken once the body is back. Never a shot without its files."""

    recoverable = True


class CameraClaimed(CameraError):
    code = GP_ERROR_IO_USB_CLAIM


class CameraIOError(CameraError):
    code = GP_ERROR_IO
    recoverable = True


class NoFile(CameraError):
    """The shutter fired (or was meant to) but no file reached the host."""

    recoverable = True


class SettingRefused(CameraError):
    """A required profile setting did not read back as set: the operator changes it on the body."""


class LibraryTooOld(CameraError):
    """libgphoto2 older than the version whose behaviour the driver was checked against."""


GVFS_REMEDY = (
    "another program holds the camera's USB interface. Close other camera software (Shotwell, darktable, "
    "digiKam, a file manager showing the camera); on a Linux desktop it is usually gvfs: run "
    "`gio mount -s gphoto2` and `systemctl --user stop gvfs-gphoto2-volume-monitor` (or end "
    "gvfsd-gphoto2 and gvfs-gphoto2-volume-monitor by their process ids), then try again"
)


def camera_error(code: int, what: str, body: str) -> CameraError:
    """The operator-facing error for libgphoto2 result `code` during `what` (e.g. "capture") on `body`."""
    if code == GP_ERROR_MODEL_NOT_FOUND:
        return NoCamera(
            f"{body}: no camera found during {what} [-105]; check that it is switched on, the USB cable is "
            "plugged in and the body's USB mode is PC Remote / PTP (not Mass Storage)",
            code,
        )
    if code == GP_ERROR_CAMERA_BUSY:
        return CameraBusy(
            f"{body}: the camera stayed busy during {what} [-110] (still writing to the card, or a menu is "
            "open); let it finish, close the menu and try again",
            code,
        )
    if code == GP_ERROR_IO_USB_FIND:
        return CameraGone(
            f"{body}: the camera disappeared during {what} [-52] (unplugged, switched off or asleep); "
            "plug it back in or wake it - the session waits for it",
            code,
        )
    if code == GP_ERROR_IO_USB_CLAIM:
        return CameraClaimed(f"{body}: could not claim the USB device during {what} [-53]: {GVFS_REMEDY}", code)
    if code == GP_ERROR_IO:
        return CameraIOError(
            f"{body}: USB input/output error during {what} [-7]: the link failed (cable pulled or loose, an unpowered "
            "hub, or a link gone stale in a long session); check the cable and use a port on the computer - the "
            "session resets the USB port, re-opens the camera and goes on",
            code,
        )
    if code == GP_ERROR_FILE_NOT_FOUND:
        return NoFile(
            f"{body}: the camera announced a file but does not have it during {what} [-108] (card full, "
            "capture target changed, or the body deleted it); check the card and shoot again",
            code,
        )
    if code == GP_ERROR_TIMEOUT:
        return CameraIOError(f"{body}: the camera did not answer in time during {what} [-10]", code)
    if code == GP_ERROR:
        return NoFile(
            f"{body}: libgphoto2 gave up during {what} [-1: a generic failure]: a USB write error, a full card, or "
            "(Sony) no picture reached the computer within 35 s - the capture target is not PC+Camera, or autofocus "
            "found nothing; check the card and the body's Still Img. Save Dest., then the step is shot again",
            code,
        )
    return CameraError(f"{body}: libgphoto2 error {code} during {what}", code)


def listing(detected: DetectedCamera) -> "CameraListing":
    profile, warning = match_profile(detected.model)
    return CameraListing(model=detected.model, port=detected.port, profile=profile.name if profile.known else None, warning=warning)


class CameraListing(BaseModel):
    """A detected body as `rdrf cameras --json` prints it."""

    model: str
    port: str
    profile: Optional[str] = None  # None: unknown body, safe defaults
    warning: Optional[str] = None
