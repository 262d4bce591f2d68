"""A scripted stand-in for python-gphoto2's Camera: the driver's retries, events, downloads and
reconnection are tested against libgphoto2's behaviour without a body (failures at chosen moments).

It behaves like a body that keeps its files on a card and takes every setting (a Nikon over PTP:
`/store_00010001/DCIM/...` paths, the widgets and values of libgphoto2 2.5.34's
camlibs/ptp2/cameras/nikon-d7100.txt). How each real body differs - a Sony in PC control keeps its
files in libgphoto2's memory and ignores some sets - is modelled in tests/bodies.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

from hardware.gphoto import EVENT_CAPTURE_COMPLETE, EVENT_FILE_ADDED, EVENT_TIMEOUT


class GPError(Exception):
    """Like gphoto2.GPhoto2Error: carries libgphoto2's result code."""

    def __init__(self, code: int):
        super().__init__(f"[{code}] fake libgphoto2 error")
        self.code = code


@dataclass
class Path_:
    folder: str
    name: str


class Widget:
    def __init__(self, name: str, value: str = "", choices: Optional[list[str]] = None, children=()):
        self.name, self.value, self.choices, self.children = name, value, choices, list(children)
        self._changed = False

    def get_name(self):
        return self.name

    def get_value(self):
        return self.value

    def set_value(self, v):
        self.value = v
        self._changed = True

    def changed(self):
        return self._changed

    def set_changed(self, flag):
        self._changed = bool(flag)

    def get_children(self):
        return self.children

    def count_choices(self):
        if self.choices is None:
            raise GPError(-2)
        return len(self.choices)

    def get_choice(self, i):
        return self.choices[i]

    def get_child_by_name(self, name):
        for w in self.children:
            if w.name == name:
                return w
            try:
                return w.get_child_by_name(name)
            except GPError:
                pass
        raise GPError(-2)


class CameraFile:
    def __init__(self, data: bytes):
        self.data = data

    def get_data_and_size(self):
        return memoryview(self.data)


@dataclass
class Body:
    """The body's state, shared by every FakeCamera session on it (a reconnect opens a new session)."""

    shots: list[list[tuple[str, bytes]]]  # per shutter press: (name, bytes) of its files, in arrival order
    folder: str = "/store_00010001/DCIM/100D7100"
    card: dict = field(default_factory=dict)  # name -> bytes: what has been written so far
    fired: int = 0
    # failures: (method, call number within this body's life) -> error code
    fail: dict = field(default_factory=dict)
    calls: dict = field(default_factory=dict)
    plugged: bool = True
    config: Widget = field(default_factory=lambda: Widget("main", children=[
        Widget("settings", children=[
            Widget("capturetarget", "Internal RAM", ["Internal RAM", "Memory card"]),
            Widget("imagequality", "JPEG Normal", ["JPEG Basic", "JPEG Normal", "JPEG Fine", "NEF (Raw)", "NEF+Basic", "NEF+Normal", "NEF+Fine"]),
            Widget("focusmode", "AF-S", ["Manual", "AF-S", "AF-C", "AF-A"]),
            Widget("expprogram", "M", ["M", "P", "A", "S", "Auto"]),
            Widget("serialnumber", "00042"),
        ]),
    ]))
    set_configs: int = 0

    def check(self, method: str) -> None:
        n = self.calls[method] = self.calls.get(method, 0) + 1
        code = self.fail.get((method, n))
        if code is not None:
            if code == -52:
                self.plugged = False
            raise GPError(code)
        if not self.plugged and method != "connect":
            raise GPError(-52)


class FakeCamera:
    def __init__(self, body: Body):
        self.body = body
        self.events: list[tuple[int, object]] = []

    def capture(self, _kind):
        self.body.check("capture")
        files = self.body.shots[self.body.fired]
        self.body.fired += 1
        for name, data in files:
            self.body.card[name] = data
        first = files[0][0]
        self.events += [(EVENT_FILE_ADDED, Path_(self.body.folder, n)) for n, _ in files[1:]]
        self.events.append((EVENT_CAPTURE_COMPLETE, None))
        return Path_(self.body.folder, first)

    def remote_press(self):
        """The wireless remote: the body announces every file through events."""
        files = self.body.shots[self.body.fired]
        self.body.fired += 1
        for name, data in files:
            self.body.card[name] = data
        self.events += [(EVENT_FILE_ADDED, Path_(self.body.folder, n)) for n, _ in files]

    def wait_for_event(self, _ms):
        self.body.check("wait_for_event")
        if self.events:
            return self.events.pop(0)
        return EVENT_TIMEOUT, None  # at once, like libgphoto2 with nothing queued

    def file_get(self, folder, name, _kind):
        self.body.check("file_get")
        return CameraFile(self.body.card[name])

    def get_config(self):
        self.body.check("get_config")
        return self.body.config

    def set_config(self, cfg):
        self.body.check("set_config")
        self.body.set_configs += 1

    def exit(self):
        pass


def connector(body: Body, on_connect: Optional[Callable[[Body], None]] = None):
    """The driver's `connect`: a new session on the body, or -105 while it is unplugged."""

    def connect():
        if on_connect:
            on_connect(body)
        body.check("connect")
        if not body.plugged:
            raise GPError(-105)
        return FakeCamera(body)

    return connect


class FakeClock:
    """Time that advances only when the driver sleeps (or each call, by `tick`)."""

    def __init__(self, tick: float = 0.001):
        self.t = 0.0
        self.tick = tick
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        self.t += self.tick
        return self.t

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.t += s


class PortList:
    """python-gphoto2's CameraList as `Camera.autodetect()` returns it."""

    def __init__(self, bodies: list[tuple[str, str]]):
        self.bodies = bodies

    def count(self):
        return len(self.bodies)

    def get_name(self, i):
        return self.bodies[i][0]

    def get_value(self, i):
        return self.bodies[i][1]


def usb_bodies(*bodies: tuple[str, str]):
    """A stand-in for `hardware.gphoto.use_backend`: libgphoto2 seeing exactly these (model, port)
    bodies on USB, whatever is plugged into the machine running the tests."""
    from types import SimpleNamespace

    gp = SimpleNamespace(Camera=SimpleNamespace(autodetect=lambda: PortList(list(bodies))), GPhoto2Error=GPError)
    return lambda virtual_dir=None, config_home=None: gp
