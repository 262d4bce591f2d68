"""Per-body doubles of python-gphoto2's `Camera`, behaving as libgphoto2 2.5.34 does for each body.

Read from libgphoto2 v2.5.34 (tag v2.5.34; paths under camlibs/ptp2/ unless said otherwise) and the
property dumps in camlibs/ptp2/cameras/ (sony-a7m4.txt, sony-a7c.txt, sony-a7r4.txt, nikon-d7100.txt).
A double answers what the library answers, including the places where it says OK and nothing happened;
the tests in test_camera_bodies.py show the driver's fix for each defect of issue 13 against them.

- `SonyPCControl`: "Sony ILCE-7RM4A (PC Control)" (library.c:1379).
- `NikonPTP`: "Nikon DSC D7100" (library.c:1752), a body that keeps its files on the card.

One `*Body` holds what survives a session (the card, the body's settings, the objects in its RAM);
each `connect()` opens a new session object, as `gp.Camera().init()` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

from tests.fakecam import CameraFile, FakeClock, GPError, Path_, Widget

from hardware.gphoto import EVENT_CAPTURE_COMPLETE, EVENT_FILE_ADDED, EVENT_TIMEOUT

# Sony "Still Img. Save Dest." (property 0xD222): config.c:10755-10759
SONY_DEST = {0x0001: "sdram", 0x0010: "card", 0x0011: "card+sdram"}
SONY_DEST_CHOICES = ["1", "17", "16"]  # the generic widget 'd222' lists the enumeration (sony-a7r4.txt:48)
SONY_QUALITY = ["RAW", "RAW+JPEG (X.Fine)", "RAW+JPEG (Fine)", "RAW+JPEG (Std)", "Extra Fine", "Fine"]  # sony-a7m4.txt:236-241
SONY_PC_SAVE = ["Disabled", "RAW & JPEG", "JPEG Only", "RAW Only", "RAW & HEIF", "HEIF Only"]  # config.c:7383-7390
SONY_FOCUS = ["Automatic", "AF-A", "AF-C", "DMF", "Manual"]  # sony-a7c.txt:362-366; only "Manual" is code 1
EXPPROGRAM = ["M", "P", "A", "S"]


def _tree(sections: dict[str, list[Widget]]) -> Widget:
    return Widget("main", children=[Widget(name, children=ws) for name, ws in sections.items()])


class _Failures:
    """Failures at chosen moments: (method, call number in the body's life) -> libgphoto2 code."""

    def __init__(self, fail: dict):
        self.fail = fail
        self.calls: dict[str, int] = {}

    def check(self, body, method: str) -> None:
        n = self.calls[method] = self.calls.get(method, 0) + 1
        code = self.fail.get((method, n))
        if code is not None:
            if code in (-52, -7):  # the cable came out: nothing more answers until it is back
                body.unplug()
            raise GPError(code)
        if not body.plugged and method != "connect":
            raise GPError(-52)


def _connector(body, session: Callable[[], object], on_connect: Optional[Callable] = None):
    """What `GPhotoCamera(connect=...)` calls: a fresh libgphoto2 session on `body`, or the error an
    unplugged body gives at init (-105, GP_ERROR_MODEL_NOT_FOUND); `on_connect` may re-plug it."""

    def connect():
        if on_connect:
            on_connect(body)
        body.failures.check(body, "connect")
        if not body.plugged:
            raise GPError(-105)
        body.inits += 1
        return session()

    return connect


@dataclass
class SonyBody:
    """A Sony in PC Remote mode. `shots`: per press, the body's (file name, bytes) in the order the
    objects appear in its RAM (RAW first is an assumption: the real order is one of the things only
    the body can tell, docs/NOTES.md)."""

    shots: list[list[tuple[str, bytes]]]
    clock: FakeClock = field(default_factory=FakeClock)
    dest: int = 0x0001  # same-generation bodies start in "sdram" (sony-a7m4.txt:78, sony-a7c.txt:135)
    dest_takes_empty_payload: bool = False  # capturetarget is sent with data type 0 (config.c:11587, ptp-pack.c:1084)
    generic_d222: bool = True  # libgphoto2 also lists 0xD222 as the generic widget 'd222' (config.c:12393)
    quality: str = "RAW"
    quality_takes: bool = True  # False: the body keeps its value; the set still returns OK (config.c:7469-7493)
    pc_save: Optional[str] = "JPEG Only"  # None: the body does not advertise "RAW+J PC Save Image"
    pc_save_takes: bool = True
    focus: str = "AF-C"
    expprogram: str = "M"
    reports_names: bool = True  # oi.Filename present: "capt_DSC01234.ARW", else capt%04d.arw/.jpg (library.c:5142-5149)
    fail: dict = field(default_factory=dict)
    busy_after_fire: set = field(default_factory=set)  # capture call numbers answering -110 once the shutter fired
    ram: list = field(default_factory=list)  # objects in the body's memory (property 0xD215 = 0x8000 + len)
    card: list = field(default_factory=list)
    fired: int = 0
    plugged: bool = True
    inits: int = 0
    discarded: list = field(default_factory=list)  # objects libgphoto2 cleaned out of RAM before a press

    def __post_init__(self):
        self.failures = _Failures(self.fail)

    def unplug(self) -> None:
        self.plugged = False
        self.ram.clear()  # "Camera on-off does not delete RAM. Just USB reconnection helps." (library.c:4997-5001)

    def connector(self, on_connect: Optional[Callable[["SonyBody"], None]] = None):
        return _connector(self, lambda: SonyPCControl(self), on_connect)


class SonyPCControl:
    """One libgphoto2 session on a Sony in PC control (camera_sony_capture, library.c:4936-5152):

    - capture(): for the ILCE-7RM4A (and a few others) libgphoto2 first waits until 3 s after the
      session opened, dropping the events that arrive meanwhile (library.c:4948-4976); then, if exactly one object waits in RAM (0xD215 == 0x8001) libgphoto2 downloads and drops
      it; with more it gives up cleaning ("unknown type", library.c:5003-5026) and the next object
      returned is an old one (library.c:5113-5118). With "card" as destination nothing reaches the PC:
      it polls 35 s and returns -1 (library.c:5089-5135). The file is stored in libgphoto2's own "/"
      as capt_<name> (library.c:5141-5150) - in this session object only.
    - wait_for_event(): an object still in RAM is pushed into "/" and announced as FILE_ADDED (the
      second file of RAW+JPEG, library.c:7085-7190); with nothing queued it blocks for the timeout.
    - file_get(): only what this session put in "/"; a new session lists nothing there
      (library.c:8213): -108.
    - set_config(): capturetarget goes with an empty payload the body ignores, a failed property is
      skipped without an error (config.c:12762); imagequality returns OK whatever the body did.
    """

    def __init__(self, body: SonyBody):
        self.body = body
        self.fs: dict[str, bytes] = {}  # libgphoto2's in-memory "/"
        self.capcnt = 0
        self.started = body.clock.t

    def _name(self, name: str) -> str:
        if self.body.reports_names:
            return f"capt_{name}"
        ext = "arw" if name.upper().endswith(".ARW") else "jpg"
        out = f"capt{self.capcnt:04d}.{ext}"
        self.capcnt += 1
        return out

    def _push(self) -> Path_:
        name, data = self.body.ram.pop(0)
        local = self._name(name)
        self.fs[local] = data
        return Path_("/", local)

    def capture(self, _kind):
        b = self.body
        b.failures.check(b, "capture")
        if b.clock.t - self.started < 3.0:
            b.clock.sleep(3.0 - (b.clock.t - self.started))
        if len(b.ram) == 1:  # 0x8001: cleaned by downloading it (library.c:5007-5019)
            b.discarded.append(b.ram.pop(0))
        files = b.shots[b.fired]
        b.fired += 1
        if b.dest & 0x10:
            b.card.extend(n for n, _ in files)
        if not b.dest & 0x01:  # "card" only: 0xD215 never reaches 0x8000 within 35 s
            b.clock.sleep(35.0)
            raise GPError(-1)
        b.ram.extend(files)
        if b.failures.calls["capture"] in b.busy_after_fire:
            raise GPError(-110)
        return self._push()

    def wait_for_event(self, ms):
        b = self.body
        b.failures.check(b, "wait_for_event")
        if b.ram:
            return EVENT_FILE_ADDED, self._push()
        b.clock.sleep(ms / 1000)  # a real body blocks for the timeout when nothing is queued
        return EVENT_TIMEOUT, None

    def file_get(self, folder, name, _kind):
        self.body.failures.check(self.body, "file_get")
        if folder != "/" or name not in self.fs:
            raise GPError(-108)
        return CameraFile(self.fs[name])

    def get_config(self):
        b = self.body
        self.body.failures.check(b, "get_config")
        settings = [Widget("capturetarget", SONY_DEST[b.dest], ["sdram", "card+sdram", "card"])]
        capture = [
            Widget("imagequality", b.quality, list(SONY_QUALITY)),
            Widget("focusmode", b.focus, list(SONY_FOCUS)),
            Widget("expprogram", b.expprogram, list(EXPPROGRAM)),
        ]
        if b.pc_save is not None:
            capture.append(Widget("pcsaveimgformat", b.pc_save, list(SONY_PC_SAVE)))
        status = [Widget("serialnumber", "00000000000000003282933003163946"), Widget("deviceversion", "1.00"),
                  Widget("batterylevel", "60%")]
        sections = {"settings": settings, "status": status, "capturesettings": capture}
        if b.generic_d222:
            sections["other"] = [Widget("d222", str(b.dest), list(SONY_DEST_CHOICES))]
        return _tree(sections)

    def set_config(self, cfg):
        b = self.body
        b.failures.check(b, "set_config")
        stack = [cfg]
        while stack:
            w = stack.pop()
            stack.extend(w.get_children())
            if not w.changed():
                continue
            w.set_changed(False)
            if w.name == "capturetarget" and b.dest_takes_empty_payload:
                b.dest = {v: k for k, v in SONY_DEST.items()}[w.value]
            elif w.name == "d222":  # packed with the property's own type (config.c:12841-12880)
                b.dest = int(w.value)
            elif w.name == "imagequality" and b.quality_takes:
                b.quality = w.value
            elif w.name == "pcsaveimgformat" and b.pc_save_takes:
                b.pc_save = w.value

    def exit(self):
        pass


@dataclass
class NikonBody:
    """A Nikon D7100 with "Memory card" as capture target: files on the card at their real paths, the
    second file of NEF+JPEG through events; libgphoto2 polls DeviceBusy itself before the press
    (nikon_capture's device-ready loop), so the host sees the wait, not -110."""

    shots: list[list[tuple[str, bytes]]]
    clock: FakeClock = field(default_factory=FakeClock)
    folder: str = "/store_00010001/DCIM/100D7100"
    target: str = "Internal RAM"  # host-side; libgphoto2 applies it at every capture (nikon-d7100.txt:285-290)
    quality: str = "JPEG Normal"
    focus: str = "Manual"
    expprogram: str = "M"
    busy_polls: int = 0  # DeviceBusy answers before each press, waited out inside libgphoto2
    fail: dict = field(default_factory=dict)
    card: dict = field(default_factory=dict)
    fired: int = 0
    plugged: bool = True
    inits: int = 0

    def __post_init__(self):
        self.failures = _Failures(self.fail)

    def unplug(self) -> None:
        self.plugged = False

    def connector(self, on_connect: Optional[Callable[["NikonBody"], None]] = None):
        return _connector(self, lambda: NikonPTP(self), on_connect)


class NikonPTP:
    """One libgphoto2 session on the D7100: capture returns the card path
    (`/store_00010001/DCIM/100D7100/DSC_0062.NEF`), the other file comes as FILE_ADDED, the card keeps
    every file across sessions."""

    def __init__(self, body: NikonBody):
        self.body = body
        self.events: list = []

    def capture(self, _kind):
        b = self.body
        b.failures.check(b, "capture")
        b.clock.sleep(0.05 * b.busy_polls)
        files = b.shots[b.fired]
        b.fired += 1
        for name, data in files:
            b.card[name] = data
        self.events += [(EVENT_FILE_ADDED, Path_(b.folder, n)) for n, _ in files[1:]]
        self.events.append((EVENT_CAPTURE_COMPLETE, None))
        return Path_(b.folder, files[0][0])

    def wait_for_event(self, ms):
        self.body.failures.check(self.body, "wait_for_event")
        if self.events:
            return self.events.pop(0)
        self.body.clock.sleep(ms / 1000)
        return EVENT_TIMEOUT, None

    def file_get(self, folder, name, _kind):
        self.body.failures.check(self.body, "file_get")
        if folder != self.body.folder or name not in self.body.card:
            raise GPError(-108)
        return CameraFile(self.body.card[name])

    def get_config(self):
        b = self.body
        b.failures.check(b, "get_config")
        return _tree({
            "settings": [Widget("capturetarget", b.target, ["Internal RAM", "Memory card"])],
            "status": [Widget("serialnumber", "43022980000000000000000000000000"), Widget("deviceversion", "V1.02"),
                       Widget("batterylevel", "80%")],
            "capturesettings": [
                Widget("imagequality", b.quality, ["JPEG Basic", "JPEG Normal", "JPEG Fine", "NEF (Raw)", "NEF+Basic", "NEF+Normal", "NEF+Fine"]),
                Widget("focusmode", b.focus, ["Manual", "AF-S", "AF-C", "AF-A"]),
                Widget("expprogram", b.expprogram, ["M", "P", "A", "S", "Auto"]),
            ],
        })

    def set_config(self, cfg):
        b = self.body
        b.failures.check(b, "set_config")
        stack = [cfg]
        while stack:
            w = stack.pop()
            stack.extend(w.get_children())
            if w.changed():
                w.set_changed(False)
                if w.name == "capturetarget":
                    b.target = w.value
                elif w.name == "imagequality":
                    b.quality = w.value

    def exit(self):
        pass
