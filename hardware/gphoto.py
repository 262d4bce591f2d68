"""The libgphoto2 driver (python-gphoto2): detection, profiles, USB and remote triggers, retries.

What libgphoto2 does not do for us (../shared/notes/capture.md):
- `wait_for_event` returns TIMEOUT at once when nothing is queued, so every wait has its own deadline;
- the second file of a RAW+JPEG shot arrives as GP_EVENT_FILE_ADDED after `capture()` returns; we read
  events until the profile's file count is reached, restarting the window on each file and cutting it
  short after CAPTURE_COMPLETE (what the gphoto2 tool does);
- a busy body (-110) is retried with exponential back-off - except the shutter press: a busy can come
  after the shutter fired, so only the event/download phase is retried, never `capture()`;
- every setting is read back after it is applied (libgphoto2 skips a property that fails to set without
  an error, config.c:12762 in 2.5.34); a required one that does not take stops the session with the
  body menu entry to change;
- before every USB press the event queue is drained: what it brings belongs to an earlier shot and is
  downloaded and handed over as that shot's strays, so no later shot is off by one;
- a file announced but not yet downloaded when the body disappears (-52/-7) is kept as pending and
  fetched after `reconnect()` if the card still has it; a file in libgphoto2's in-memory "/" (Sony PC
  control, library.c:5141-5150) is gone with the session (library.c:8213): `ShotLost`, retake the step;
- a stale link (-7/-10) gets a USB port reset before the body is opened again (python-gphoto2#167);
- the `CameraFile` is kept alive while its bytes are copied (a temporary one was seen to corrupt them).

libgphoto2 picks its I/O drivers from $IOLIBS when a port list is loaded, and the python wheel sets
that variable at import from $VCAMERADIR; `use_backend` sets both before every connection so the
virtual camera and real bodies can be driven from the same process.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Optional

from hardware.camera import (
    GP_ERROR_BAD_PARAMETERS,
    GP_ERROR_CAMERA_BUSY,
    GP_ERROR_IO,
    GP_ERROR_IO_USB_FIND,
    GP_ERROR_MODEL_NOT_FOUND,
    GP_ERROR_TIMEOUT,
    CameraBusy,
    CameraError,
    CameraGone,
    CameraIOError,
    CapturedFile,
    CapturedShot,
    DetectedCamera,
    LibraryTooOld,
    NoCamera,
    NoFile,
    SettingRefused,
    ShotLost,
    camera_error,
)
from hardware.profiles import Profile, Setting, match_profile
from schemas.errors import RdrfError

# libgphoto2 event types (gphoto2-camera.h)
EVENT_UNKNOWN, EVENT_TIMEOUT, EVENT_FILE_ADDED, EVENT_FOLDER_ADDED, EVENT_CAPTURE_COMPLETE = 0, 1, 2, 3, 4
CAPTURE_IMAGE = 0  # GP_CAPTURE_IMAGE
FILE_TYPE_NORMAL = 1  # GP_FILE_TYPE_NORMAL
EVENT_POLL_MS = 100
IDLE_SLEEP_S = 0.02  # wait_for_event returns at once when nothing is queued: do not spin
COMPLETE_GRACE_S = 0.1
DRAIN_POLL_MS = 10  # a real body blocks for the whole timeout when nothing is queued
DRAIN_MAX_S = 5.0  # a body that keeps announcing files is not drained for ever
# The libgphoto2 whose behaviour the driver and the per-body test doubles follow (tests/bodies.py):
# 2.5.31 broke Sony property queries (libgphoto2#937) and names every Sony file capt%04d.
MIN_LIBGPHOTO2 = (2, 5, 34)
IN_MEMORY = "/"  # libgphoto2's own folder for files a Sony in PC control pushed: gone with the session


def use_backend(virtual_dir: Optional[Path] = None, config_home: Optional[Path] = None):
    """Import python-gphoto2 with the USB drivers, or with libgphoto2's virtual camera serving
    `virtual_dir`. Returns the module. `config_home` is where libgphoto2 keeps host-side settings."""
    if virtual_dir is not None:
        os.environ["VCAMERADIR"] = str(virtual_dir)
    else:
        os.environ.pop("VCAMERADIR", None)
    if config_home is not None:
        os.environ["XDG_CONFIG_HOME"] = str(config_home)
    import gphoto2 as gp

    libdir = Path(gp.__file__).parent / "libgphoto2"
    iolibs = libdir / ("vusb" if virtual_dir is not None else "iolibs")
    if iolibs.is_dir():
        os.environ["IOLIBS"] = str(iolibs)
    return gp


def gp_code(exc: BaseException) -> Optional[int]:
    """libgphoto2's result code of an exception from python-gphoto2 (or a fake of it)."""
    code = getattr(exc, "code", None)
    return code if isinstance(code, int) else None


def detect(virtual_dir: Optional[Path] = None) -> list[DetectedCamera]:
    gp = use_backend(virtual_dir)
    try:
        found = gp.Camera.autodetect()
    except gp.GPhoto2Error as exc:
        raise camera_error(exc.code, "detection", "USB") from exc
    return [DetectedCamera(found.get_name(i), found.get_value(i)) for i in range(found.count())]


def choose(detected: list[DetectedCamera], wanted: str = "auto") -> DetectedCamera:
    """Pick a body by `auto` (exactly one connected), a port (`usb:001,007`) or a model / profile name."""
    if not detected:
        raise NoCamera(
            "no camera found [-105]: check that it is switched on, the USB cable is plugged in and the body's "
            "USB mode is PC Remote / PTP; `rdrf cameras` lists what libgphoto2 sees"
        )
    listing = "; ".join(f"{d.model} on {d.port}" for d in detected)
    if wanted == "auto":
        if len(detected) > 1:
            raise RdrfError(f"several cameras are connected ({listing}); choose one with --camera MODEL or --camera PORT")
        return detected[0]
    hits = [d for d in detected if d.port == wanted]
    if not hits:
        low = wanted.lower()
        hits = [d for d in detected if low in d.model.lower()]
        if not hits:
            hits = [d for d in detected if match_profile(d.model)[0].name.lower() == low]
    if not hits:
        raise NoCamera(f"no connected camera matches {wanted!r}; connected: {listing}")
    if len(hits) > 1:
        raise RdrfError(f"{wanted!r} matches several cameras ({listing}); give the port instead, e.g. --camera {hits[0].port}")
    return hits[0]


def library_version() -> Optional[str]:
    """libgphoto2's version string (e.g. "2.5.34"), as the loaded library reports it."""
    try:
        import gphoto2 as gp  # already imported (and its drivers chosen) by `use_backend`

        return str(gp.gp_library_version(gp.GP_VERSION_SHORT)[0])
    except Exception:  # a fake of python-gphoto2 in the tests, or no libgphoto2 at all
        return None


def parse_version(text: str) -> tuple[int, ...]:
    """(2, 5, 34) from "2.5.34" or "2.5.34.1-dev"; () when it names no version."""
    parts = []
    for piece in text.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit()) if piece[:1].isdigit() else ""
        if not digits:
            break
        parts.append(int(digits))
        if not piece.isdigit():
            break
    return tuple(parts)


def check_library(version: Optional[str]) -> None:
    """Refuse a libgphoto2 older than the one the driver was checked against (see MIN_LIBGPHOTO2)."""
    if version is None:
        return  # nothing loaded to ask (no python-gphoto2): connecting reports that itself
    if parse_version(version) < MIN_LIBGPHOTO2:
        floor = ".".join(map(str, MIN_LIBGPHOTO2))
        raise LibraryTooOld(
            f"libgphoto2 {version} is older than {floor}, the version rdrf's camera driver was checked against "
            "(2.5.31 breaks Sony property queries and names Sony files capt0000.arw/capt0001.jpg); install "
            "python-gphoto2's wheel with its own libgphoto2: pip install -U 'gphoto2>=2.6.2' --only-binary :all:"
        )


def body_name(name: str) -> str:
    """The body's own file name: libgphoto2 prefixes Sony files with "capt_" (library.c:5143)."""
    return name[5:] if name.startswith("capt_") and len(name) > 9 else name


def _stem(name: str) -> Optional[str]:
    """A name's stem when it identifies a shot; None for libgphoto2's counter names (capt0000.arw,
    library.c:5146-5148), which give each file of a shot another stem."""
    stem = PurePosixPath(body_name(name)).stem
    return None if stem.startswith("capt") and stem[4:].isdigit() else stem


def _widgets(cfg: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    stack = [cfg]
    while stack:
        w = stack.pop()
        out.setdefault(w.get_name(), w)
        stack.extend(w.get_children())
    return out


def _value(widgets: dict[str, Any], name: str) -> Optional[str]:
    w = widgets.get(name)
    return None if w is None else str(w.get_value())


def _root(widgets: dict[str, Any]) -> Any:
    """The top of the configuration tree `_widgets` walked (its first entry): what set_config takes."""
    return next(iter(widgets.values()))


def _choices(widget: Any) -> Optional[list[str]]:
    try:
        return [widget.get_choice(i) for i in range(widget.count_choices())]
    except Exception:  # not a radio/menu widget
        return None


def _entry(gp: Any, kind: Callable[[], Any], lookup: str, key: str, missing: str) -> Any:
    """The entry for `key` in one of libgphoto2's lists (ports, known models), loaded now; NoCamera if absent."""
    entries = kind()
    entries.load()
    try:
        return entries[getattr(entries, lookup)(key)]
    except gp.GPhoto2Error as exc:
        raise NoCamera(missing) from exc


class GPhotoCamera:
    """One body over libgphoto2, with its profile applied (see the module docstring)."""

    def __init__(
        self,
        profile: Profile,
        *,
        model: Optional[str] = None,
        port: Optional[str] = None,
        connect: Optional[Callable[[], Any]] = None,
        say: Callable[[str], None] = lambda _m: None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        library_version: Callable[[], Optional[str]] = library_version,
        reset_port: Optional[Callable[[], None]] = None,
        allow_ram_only: Optional[bool] = None,
    ):
        self.profile = profile
        self.allow_ram_only = profile.allow_ram_only if allow_ram_only is None else allow_ram_only
        self.model = model or profile.name
        self.port = port or ""
        self.serial: Optional[str] = None
        self.warnings: list[str] = []
        self.applied: dict[str, str] = {}
        self._connect_fn = connect or self._connect_usb
        self._library_version = library_version
        self._reset_port_fn = reset_port or (self._reset_usb_port if connect is None else None)
        self._opened_at: Optional[float] = None  # clock() when the session was opened
        self._last_press: Optional[float] = None  # clock() of the last shutter press
        self._stale = False  # the link failed with -7/-10: reset the port before re-opening
        self.port_resets = 0
        self._carried: list[CapturedFile] = []  # strays drained before a press that then failed
        self._say = say
        self._sleep = sleep
        self._clock = clock
        self._cam: Any = None
        self._captures = 0  # captures since the session was opened
        self._seen: set[tuple[str, str]] = set()  # files already handed out, per session
        self.pending: list[tuple[str, str]] = []  # announced, not yet downloaded (kept across reconnects)
        self.strays: list[tuple[str, str]] = []  # announced after their shot was stored: left on the card
        self.camera_s = 0.0  # time inside libgphoto2 for the shot in progress
        self._retries = 0

    # --- session ----------------------------------------------------------------------------------
    def _connect_usb(self) -> Any:
        gp = use_backend(None)
        cam = gp.Camera()
        if self.port:  # several bodies: drive this one (python-gphoto2 examples/choose-camera.py)
            missing = f"{self.model}: no USB port {self.port} any more (unplugged?); `rdrf cameras` lists the ports"
            cam.set_port_info(_entry(gp, gp.PortInfoList, "lookup_path", self.port, missing))
            if self.model:
                missing = f"libgphoto2 {gp.gp_library_version(0)[0]} does not know the model {self.model!r}"
                cam.set_abilities(_entry(gp, gp.CameraAbilitiesList, "lookup_model", self.model, missing))
        try:
            cam.init()
        except gp.GPhoto2Error as exc:
            if self.port and exc.code == GP_ERROR_BAD_PARAMETERS:  # libgphoto2's answer for a vanished port
                raise NoCamera(f"{self.model}: no camera answers on {self.port} (unplugged, or another port now?); `rdrf cameras` lists them") from exc
            raise
        return cam

    def open(self, apply_profile: bool = True) -> "GPhotoCamera":
        check_library(self._library_version())
        try:
            self._cam = self._connect_fn()
        except CameraError:
            raise
        except Exception as exc:
            code = gp_code(exc)
            if code is None:
                raise
            raise camera_error(code, "connection", self.model) from exc
        self._captures = 0
        self._seen.clear()
        self._opened_at = self._clock()
        if apply_profile:
            self._apply_profile()
        return self

    def close(self) -> None:
        cam, self._cam = self._cam, None
        if cam is not None:
            try:
                cam.exit()
            except Exception:  # a body that is already gone cannot be closed; nothing is lost
                pass

    def truth(self) -> Optional[dict]:
        return None  # a real body does not know what it photographed

    def rig_state(self) -> dict:
        """See `Camera.rig_state`: read back from the body now, not what the profile asked for."""
        version = library_version()
        cfg = self._call("reading the settings", self._cam.get_config)
        widgets = _widgets(cfg)

        def read(*names: str) -> Optional[str]:
            for name in names:
                w = widgets.get(name)
                if w is not None:
                    value = str(w.get_value())
                    return value or None
            return None

        wanted = [s.widget for s in self.profile.settings] + [c.widget for c in self.profile.checks]
        return {
            "libgphoto2": version,
            "model": self.model,
            "serial": self.serial or read("serialnumber"),
            "firmware": read("deviceversion"),
            "focus_mode": read("focusmode", "focusmode2"),
            "focus_distance": read("focusdistance"),
            "settings": {name: read(name) for name in dict.fromkeys(wanted) if name in widgets},
        }

    def body_report(self) -> dict:
        """What `rdrf cameras --check` shows beyond `rig_state`: `battery`, `free_space_mb` and
        `exposure_program`, each None where the body does not report it."""
        from hardware.check import free_space_mb

        widgets = _widgets(self._call("reading the status", self._cam.get_config))
        return {
            "battery": _value(widgets, "batterylevel") or None,
            "free_space_mb": free_space_mb(self._cam),
            "exposure_program": _value(widgets, "expprogram") or _value(widgets, "exposureprogram") or None,
        }

    def _reopen(self, apply_profile: bool = False) -> None:
        """A fresh session on the same body (vusb's capture limit): the body keeps its settings and
        libgphoto2 keeps the host-side ones (capture target), so the profile is not applied again."""
        self.close()
        self.open(apply_profile)

    def reconnect(self, timeout_s: float = 60.0, poll_s: float = 1.0) -> None:
        """Wait until the body answers again (after a USB port reset when the link went stale), re-apply
        its profile and fetch what was pending on its card."""
        self.close()
        if self._stale:
            self._reset_port()
        serial = self.serial
        deadline = self._clock() + timeout_s
        last: Optional[Exception] = None
        while True:
            try:
                if self._connect_fn == self._connect_usb:  # a re-plugged body may get another port
                    same = [d for d in detect() if d.model == self.model]
                    if not same:
                        raise NoCamera(f"{self.model}: not connected yet")
                    self.port = same[0].port
                self.open()
                if serial and self.serial and self.serial != serial:
                    self.close()
                    raise CameraError(
                        f"{self.model}: a different body came back (serial {self.serial}, expected {serial}); "
                        "reconnect the camera the session started with"
                    )
                break
            except (SettingRefused, LibraryTooOld):
                raise  # the operator must act on the body or the install: waiting does not help
            except CameraError as exc:
                last = exc
                if self._clock() >= deadline:
                    raise CameraGone(
                        f"{self.model}: did not come back within {timeout_s:.0f} s ({exc}); nothing captured so far "
                        "is lost - reconnect it and run the command again to continue the scene"
                    ) from exc
                self._sleep(poll_s)
        self._say(f"{self.model}: reconnected" + (f" (after: {last})" if last else ""))

    def _reset_port(self) -> None:
        """USB reset of a stale link (libusb_reset_device through gp_port_reset, libusb1.c:703-710);
        python-gphoto2#167 recovers long sessions this way. Best effort: a body that is really gone is
        then waited for by `reconnect`."""
        self._stale = False
        if self._reset_port_fn is None:
            return
        try:
            self._reset_port_fn()
            self.port_resets += 1
            self._say(f"{self.model}: USB port {self.port or ''} reset after a failed transfer")
        except Exception as exc:  # the port may have vanished with the body
            self._say(f"{self.model}: could not reset USB port {self.port or ''} ({exc}); waiting for the body instead")

    def _reset_usb_port(self) -> None:
        if not self.port:
            return
        gp = use_backend(None)
        info = _entry(gp, gp.PortInfoList, "lookup_path", self.port, f"{self.model}: no USB port {self.port} any more")
        port = gp.GPPort()
        port.set_info(info)
        port.open()
        try:
            port.reset()
        finally:
            port.close()

    # --- profile ----------------------------------------------------------------------------------
    def _apply_profile(self) -> None:
        """Set the profile's widgets, then read every one back from a fresh configuration: a set
        that libgphoto2 skipped or the body ignored shows only there (module docstring)."""
        self.warnings = []
        self.applied = {}
        if not self.profile.settings and not self.profile.checks:
            self._read_serial()
            return
        cfg = self._call("reading the settings", self._cam.get_config)
        widgets = _widgets(cfg)
        serial = widgets.get("serialnumber")
        if serial is not None:
            self.serial = str(serial.get_value()) or None
        refusals: list[str] = []
        wanted: list[tuple[Setting, str]] = []
        changed = False
        for s in self.profile.settings:
            w = widgets.get(s.widget)
            if w is None:
                self.warnings.append(f"{self.model} has no '{s.widget}' setting; left as it is ({s.why})")
                continue
            choices = _choices(w)
            pick = next((v for v in s.values if choices is None or v in choices), None)
            if pick is None:
                msg = f"{self.model}: none of {s.values} is offered for '{s.widget}' (offered: {choices})"
                if s.required:
                    refusals.append(f"{msg}; on the body set {s.menu}" if s.menu else msg)
                else:
                    self.warnings.append(f"{msg}; set it on the body yourself ({s.why})")
                continue
            if str(w.get_value()) != pick:
                w.set_value(pick)
                changed = True
            wanted.append((s, pick))
        if changed:
            self._call("applying the profile settings", self._cam.set_config, cfg)
        widgets = self._read_back() if changed else widgets
        for s, pick in wanted:
            got = _value(widgets, s.widget)
            if got != pick and s.fallback_widget and s.fallback_widget in widgets:
                widgets = self._set_fallback(s, pick, widgets)
                got = _value(widgets, s.widget)
            if got == pick:
                self.applied[s.widget] = pick
                continue
            if got in s.ram_only and self.allow_ram_only:
                self.applied[s.widget] = got
                self.warnings.append(
                    f"{self.model}: '{s.widget}' is {got!r}: every shot stays only in the camera's RAM until it is "
                    "downloaded - a pulled cable loses the shot (allowed: RAM-only capture)"
                )
                continue
            msg = f"{self.model}: '{s.widget}' reads back {got!r} after it was set to {pick!r} ({s.why})"
            if s.required:
                refusals.append(f"{msg}; on the body set {s.menu}" if s.menu else msg)
            else:
                self.warnings.append(msg)
        if refusals:
            raise SettingRefused("; ".join(refusals) + " - then run the command again")
        for c in self.profile.checks:
            w = widgets.get(c.widget)
            if w is not None and str(w.get_value()) not in c.ok:
                self.warnings.append(f"{self.model}: {c.warning} ('{c.widget}' is {w.get_value()!r})")

    def _read_back(self) -> dict[str, Any]:
        return _widgets(self._call("reading the settings back", self._cam.get_config))

    def _set_fallback(self, s: "Setting", pick: str, widgets: dict[str, Any]) -> dict[str, Any]:
        """Set `s` through its second widget (Sony's capture target through libgphoto2's generic
        property 'd222', which packs the value with the property's own data type)."""
        value = s.fallback_values[s.values.index(pick)]
        widgets[s.fallback_widget].set_value(value)
        self._call(f"setting '{s.fallback_widget}'", self._cam.set_config, _root(widgets))
        widgets = self._read_back()
        if _value(widgets, s.widget) == pick:
            self._say(f"{self.model}: '{s.widget}' set through the generic property '{s.fallback_widget}' = {value}")
        return widgets

    def _read_serial(self) -> None:
        try:
            cfg = self._cam.get_config()
            self.serial = str(_widgets(cfg)["serialnumber"].get_value()) or None
        except Exception:
            self.serial = None

    def set_widget(self, name: str, value: str) -> None:
        cfg = self._call(f"reading '{name}'", self._cam.get_config)
        try:
            widget = cfg.get_child_by_name(name)
        except Exception as exc:
            if gp_code(exc) == GP_ERROR_BAD_PARAMETERS:
                raise CameraError(f"{self.model} has no '{name}' setting", GP_ERROR_BAD_PARAMETERS) from exc
            raise
        widget.set_value(value)
        self._call(f"setting '{name}'", self._cam.set_config, cfg)

    # --- calls with retries -----------------------------------------------------------------------
    def _call(self, what: str, fn: Callable, *args, retry_busy: bool = True):
        """Run one libgphoto2 call: busy (-110) retried with back-off unless `retry_busy` is False
        (the shutter press), other errors explained."""
        if self._cam is None:
            raise CameraGone(f"{self.model}: not connected ({what}); waiting for it to come back")
        delay, waited = 0.05, 0.0
        start = self._clock()
        try:
            while True:
                try:
                    return fn(*args)
                except Exception as exc:
                    code = gp_code(exc)
                    if code is None:
                        raise
                    if code == GP_ERROR_CAMERA_BUSY and retry_busy and waited < self.profile.busy_retry_s:
                        self._retries += 1
                        self._sleep(delay)
                        waited += delay
                        delay = min(delay * 2, 1.0)
                        continue
                    err = camera_error(code, what, self.model)
                    if code in (GP_ERROR_IO, GP_ERROR_TIMEOUT):
                        self._stale = True
                    if code in (GP_ERROR_IO_USB_FIND, GP_ERROR_MODEL_NOT_FOUND):
                        self.close()
                    raise err from exc
        finally:
            self.camera_s += self._clock() - start

    def _download(self, folder: str, name: str) -> CapturedFile:
        cf = self._call(f"downloading {folder}/{name}", self._cam.file_get, folder, name, FILE_TYPE_NORMAL)
        data = bytes(memoryview(cf.get_data_and_size()))  # copy while `cf` is alive
        del cf
        return CapturedFile(name=body_name(name), folder=folder, data=data)

    # --- shots ------------------------------------------------------------------------------------
    def _begin(self) -> None:
        self.camera_s = 0.0
        self._retries = 0

    def _want(self) -> int:
        """Files one shot should yield in all."""
        return self.profile.files_per_shot

    def _want_from_events(self) -> int:
        """Files that come through capture() and FILE_ADDED events (0: unknown, use the whole window)."""
        return self.profile.files_per_shot

    def _pace(self) -> None:
        """The body's start-up wait after opening and its shortest interval between presses (profile)."""
        now = self._clock()
        waits = [0.0]
        if self._opened_at is not None and self.profile.startup_wait_s:
            waits.append(self._opened_at + self.profile.startup_wait_s - now)
        if self._last_press is not None and self.profile.min_interval_s:
            waits.append(self._last_press + self.profile.min_interval_s - now)
        if max(waits) > 0:
            self._sleep(max(waits))

    def _drain(self) -> tuple[list[CapturedFile], list[str]]:
        """Empty the event queue before a press. A file it brings belongs to an earlier shot (a late
        JPEG, or an object left in a Sony's RAM that would otherwise be returned as the next shot,
        library.c:4997-5026, 5113): downloaded and handed over as a stray, never as the new shot."""
        strays: list[CapturedFile] = []
        notes: list[str] = []
        end = self._clock() + DRAIN_MAX_S
        while self._clock() < end:
            kind, data = self._call("emptying the camera's event queue", self._cam.wait_for_event, DRAIN_POLL_MS)
            if kind == EVENT_TIMEOUT:
                break
            if kind != EVENT_FILE_ADDED:
                continue
            key = (data.folder, data.name)
            if key in self._seen or key in self.pending:
                continue
            self._seen.add(key)
            strays.append(self._download(*key))
            notes.append(f"{key[0].rstrip('/')}/{key[1]} of an earlier shot arrived before this press; downloaded and kept apart as a stray")
        return strays, notes

    def _collect(self, first: list[tuple[str, str]], deadline_s: float) -> list[tuple[str, str]]:
        """Read events for the rest of a shot's files (see the module docstring). With a known file
        count the window is not cut short by CAPTURE_COMPLETE (some bodies announce the JPEG after
        it). With `same_stem`, a file of another stem is a late one of an earlier shot and is kept out
        of this one (a stray) rather than mixed in; where names carry no stem (libgphoto2's capt0000
        counter names) or the profile pairs by order, a shot is the next files in arrival order."""
        found = list(first)
        want = self._want_from_events()
        stem = _stem(first[0][1]) if first and self.profile.same_stem else None
        end = self._clock() + deadline_s
        while (want == 0 or len(found) < want) and self._clock() < end:
            kind, data = self._call("waiting for the camera's events", self._cam.wait_for_event, EVENT_POLL_MS)
            if kind == EVENT_FILE_ADDED:
                key = (data.folder, data.name)
                if key in found or key in self._seen:
                    continue
                other = _stem(data.name)
                if stem and other and other != stem:
                    self.strays.append(key)
                    continue
                found.append(key)
                self.pending.append(key)
                end = self._clock() + self.profile.event_window_s
            elif kind == EVENT_CAPTURE_COMPLETE and want == 0:
                end = min(end, self._clock() + COMPLETE_GRACE_S)
            elif kind == EVENT_TIMEOUT:
                self._sleep(IDLE_SLEEP_S)
        return found

    def _fetch(self, trigger: str, captured_at: datetime, notes: Optional[list[str]] = None,
               strays: Optional[list[CapturedFile]] = None) -> CapturedShot:
        # all or nothing: a disconnection half-way leaves every file pending for after `reconnect`,
        # unless the files live in libgphoto2's memory, which a reconnection empties
        notes = list(notes or [])
        strays = list(strays or [])
        try:
            files = [self._download(folder, name) for folder, name in self.pending]
        except NoFile:  # the body does not have what it announced: nothing to fetch later either
            self.pending.clear()
            raise
        except (CameraGone, CameraIOError) as exc:
            if any(folder == IN_MEMORY for folder, _ in self.pending):
                names = ", ".join(body_name(n) for _, n in self.pending)
                self.pending.clear()
                raise self._lost(f"the download of {names}", exc) from exc
            raise
        files.extend(self._companions(files))
        self._seen.update(self.pending)
        self.pending.clear()
        if not files:
            raise NoFile(f"{self.model}: the shutter fired but no file reached the computer; check the card and the capture target")
        for key in self.strays:  # late files of an earlier shot seen while this one was collected
            try:
                strays.append(self._download(*key))
                self._seen.add(key)
                notes.append(f"{key[0].rstrip('/')}/{key[1]} arrived after its shot was stored; downloaded and kept apart as a stray")
            except CameraError as exc:
                notes.append(f"{key[0].rstrip('/')}/{key[1]} arrived after its shot was stored and could not be downloaded ({exc})")
        self.strays.clear()
        want = self._want()
        if want and len(files) < want:
            notes.append(f"only {len(files)} of {want} files arrived ({', '.join(f.name for f in files)})")
        return CapturedShot(files, trigger, captured_at, self.camera_s, self._retries, notes, strays)  # type: ignore[arg-type]

    def _lost(self, when: str, exc: CameraError) -> ShotLost:
        return ShotLost(
            f"{exc}. This step's shot did not reach the computer ({when} failed), and what the camera held in memory "
            "for it is gone once it re-connects (a copy on its card, if the capture target keeps one, is not part of "
            "the dataset): the step is shot again once the camera is back",
            exc.code if exc.code is not None else GP_ERROR_IO,
        )

    def _companions(self, files: list[CapturedFile]) -> list[CapturedFile]:
        """Files of the shot that arrive by other means than capture/events (the virtual camera's RAW)."""
        return []

    def capture(self) -> CapturedShot:
        """USB trigger: drain, one press, then the rest of the shot through events, then the downloads.
        The press is never repeated for the same shot: a busy (-110) may come after the shutter fired,
        so after one only the events are read for the shot's files."""
        self._begin()
        if self.pending:  # left over from a disconnection: deliver them first, do not fire again
            return self._fetch("usb", datetime.now(timezone.utc).replace(tzinfo=None))
        limit = self.profile.max_captures_per_init
        if limit and self._captures >= limit - 1:
            self._reopen()
        waited = 0.0
        while True:
            self._pace()
            strays, notes = self._drain()
            strays, self._carried = self._carried + strays, []
            captured_at = datetime.now(timezone.utc).replace(tzinfo=None)
            try:
                path = self._call("capture", self._cam.capture, CAPTURE_IMAGE, retry_busy=False)
            except CameraBusy as exc:
                self._last_press = self._clock()
                shot = self._after_busy(captured_at, notes, strays)
                if shot is not None:
                    return shot
                self._carried = strays  # downloaded strays travel with the next shot delivered
                waited += self.profile.event_window_s
                if waited >= self.profile.busy_retry_s:
                    raise CameraBusy(
                        f"{exc}. No file arrived after {self._retries} press(es) answered busy, each followed by "
                        f"{self.profile.event_window_s:g} s of listening for the camera's files",
                        GP_ERROR_CAMERA_BUSY,
                    ) from exc
                continue
            except (CameraGone, CameraIOError) as exc:
                self._last_press = self._clock()
                self._carried = strays
                raise self._lost("the shutter press", exc) from exc
            break
        self._last_press = self._clock()
        self._captures += 1
        first = (path.folder, path.name)
        self.pending.append(first)
        window = self.profile.event_window_s if self._want_from_events() != 1 else 0.0
        self._collect([first], window)
        return self._fetch("usb", captured_at, notes, strays)

    def _after_busy(self, captured_at: datetime, notes: list[str], strays: list[CapturedFile]) -> Optional[CapturedShot]:
        """A press answered busy: the shutter may have fired anyway, and pressing again would take a
        second exposure. Listen for the shot's files first (libgphoto2 announces objects a Sony still
        holds through wait_for_event, library.c:7085-7190); None when nothing came in the event window,
        the only case in which the caller presses again (a file arriving later is drained as a stray)."""
        self._retries += 1
        if not self._collect([], self.profile.event_window_s):
            return None
        self._captures += 1
        notes.append("the camera answered busy [-110] to the press; the shot's files came through its events (pressed once)")
        return self._fetch("usb", captured_at, notes, strays)

    def wait_for_shot(self, timeout_s: float) -> Optional[CapturedShot]:
        """Remote trigger: wait up to `timeout_s` for a FILE_ADDED, then collect and download the shot."""
        self._begin()
        if self.pending:
            return self._fetch("remote", datetime.now(timezone.utc).replace(tzinfo=None))
        end = self._clock() + timeout_s
        while self._clock() < end:
            kind, data = self._call("waiting for a shot from the remote", self._cam.wait_for_event, EVENT_POLL_MS)
            if kind == EVENT_FILE_ADDED and (data.folder, data.name) not in self._seen:
                captured_at = datetime.now(timezone.utc).replace(tzinfo=None)
                first = (data.folder, data.name)
                self.pending.append(first)
                self._collect([first], self.profile.event_window_s if self._want_from_events() != 1 else 0.0)
                return self._fetch("remote", captured_at)
            if kind == EVENT_TIMEOUT:
                self._sleep(IDLE_SLEEP_S)
        return None


def open_camera(wanted: str = "auto", *, say: Callable[[str], None] = lambda _m: None) -> GPhotoCamera:
    """Detect, choose and open a real body with its profile (an unknown body gets safe defaults)."""
    chosen = choose(detect(), wanted)
    profile, warning = match_profile(chosen.model)
    if warning:
        say(warning)
    cam = GPhotoCamera(profile, model=chosen.model, port=chosen.port, say=say)
    return cam.open()
