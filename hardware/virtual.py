"""The virtual rig: the scene simulator photographed through libgphoto2's virtual PTP camera (vusb).

Every shot is rendered by hardware.sim from the rig's state (box on -> GT; box off, water sprayed,
glass rotated -> degraded shot with a known camera motion), written into the folder vusb serves, and
then captured and downloaded through the same libgphoto2 calls a real body answers. vusb's quirks:
- it reads its folder (and every file's size) when the session opens: the camera re-opens after
  each new frame, otherwise a frame of another size downloads truncated;
- a capture duplicates the first .jpg of its list, so the folder holds exactly one JPEG;
- after 26 captures in one session its store is full (the profile re-opens before that);
- it refuses to serve .ARW/.NEF: a DNG stands in for the RAW. vusb only duplicates JPEGs on capture,
  so the RAW of a RAW+JPEG shot is the DNG the rig left in the store for that shot, downloaded over
  PTP after the JPEG and named with the JPEG's stem as a real body does;
- a remote-fired shot is imitated with the `opcode` widget "0x9999,0x0,0x1f4": vusb adds an object
  500 ms later and announces it with GP_EVENT_FILE_ADDED, the path a wireless remote takes;
- libgphoto2 keeps host-side settings under $XDG_CONFIG_HOME/gphoto: pointed into the rig's folder.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Optional

import numpy as np

from hardware.camera import CapturedFile, CapturedShot
from hardware.dng import dng_from_rgb
from hardware.gphoto import GPhotoCamera, use_backend
from hardware.profiles import Profile, profile_named
from schemas.vocabulary import Role

STORE = "/store_00010001"  # vusb's one storage
REMOTE_OPCODE = "0x9999,0x0,0x1f4"  # vusb: add an object after 500 ms (a shot fired on the body)
FRAME_JPEG = "frame.jpg"
FRAME_RAW = "frame.dng"


def seed_for(*parts: object) -> int:
    """A stable 63-bit seed from anything printable (scene label, role, index)."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


@dataclass
class RigFrame:
    """One shot as the rig rendered it: the bytes the camera must deliver, and its truth."""

    role: Role
    index: int
    jpeg: bytes
    raw: Optional[bytes]
    homography: np.ndarray  # degraded px -> GT px (identity for a GT shot)
    params: dict = field(default_factory=dict)  # hardware.sim.DegradationParams as a dict
    sha256: dict[str, str] = field(default_factory=dict)  # "jpeg"/"raw" -> digest, kept when the bytes are dropped

    def __post_init__(self) -> None:
        self.sha256 = {"jpeg": hashlib.sha256(self.jpeg).hexdigest()}
        if self.raw is not None:
            self.sha256["raw"] = hashlib.sha256(self.raw).hexdigest()


# How far an untouched rig drifts between the opening and the closing GT of a series: the tripod
# creeps as far as between two degraded shots (`motion_px`), the light by a few hundredths of a stop
# and its colour by well under a percent over the minutes a series takes.
CLOSING_EV_SIGMA, CLOSING_EV_MAX = 0.03, 0.1
CLOSING_WB_SIGMA, CLOSING_WB_MAX = 0.004, 0.012


def closing_gt_drift(rng: np.random.Generator, motion_px: float) -> dict[str, Any]:
    """DegradationParams fields of a closing GT: box on, glass dry, and the rig's normal drift."""
    ev = float(np.clip(rng.normal(0, CLOSING_EV_SIGMA), -CLOSING_EV_MAX, CLOSING_EV_MAX))
    r, b = (float(np.clip(rng.normal(1, CLOSING_WB_SIGMA), 1 - CLOSING_WB_MAX, 1 + CLOSING_WB_MAX)) for _ in range(2))
    return {"motion_px": motion_px, "exposure_ev": ev, "wb_gains": (r, 1.0, b), "reflection": False, "drops": False}


class VirtualRig:
    """The rig's state and its renderer. Deterministic: a scene label, role and index give the same bytes."""

    automatic = True

    def __init__(
        self,
        *,
        width: int = 4752,
        height: int = 3168,
        seed: int = 0,
        raw: bool = True,
        motion_px: float = 2.0,
        glass_mm: float = 5.0,
        category: Optional[str] = None,
        background: Optional[Path] = None,
        workdir: Optional[Path] = None,
        params: Optional[dict[str, Any]] = None,
    ):
        self.width, self.height = width, height
        self.seed = seed
        self.raw = raw
        self.motion_px = motion_px  # camera motion between shots, reference px (tripod + remote: ~2)
        self.glass_mm = glass_mm
        self.background = background
        self.category = category
        self.label = "virtual"
        self.box_on = True
        self.wet = False
        self.glass_turns = 0
        self.current: tuple[Role, int] = ("gt", 1)
        self.closing = False  # the shot being prepared is the closing GT of a series (the bracket)
        self.params = dict(params or {})  # hardware.sim.DegradationParams fields fixed for every degraded shot
        self.overrides: dict[str, Any] = {}  # applied to the next degraded shot or closing GT only (tests, demos)
        self.history: list[RigFrame] = []  # every frame rendered (bytes dropped but the last's)
        self.camera: Optional["VirtualCamera"] = None
        self._own_dir = workdir is None
        self.root = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="rdrf-virtual-rig-"))
        self.store = self.root / "store"
        self.config_home = self.root / "config"
        self.store.mkdir(parents=True, exist_ok=True)
        self.config_home.mkdir(parents=True, exist_ok=True)
        self._scene: Optional[np.ndarray] = None
        self._behind: Optional[np.ndarray] = None  # what the glass reflects: the camera side of the rig

    # --- rig state (what the operator would do) ---------------------------------------------------
    def set_scene(self, label: str, category: Optional[str] = None) -> None:
        from hardware.sim import CATEGORIES

        self.label = label
        self.category = category or self.category or CATEGORIES[seed_for(self.seed, label) % len(CATEGORIES)]
        self._scene = None
        self._behind = None

    def prepare(self, role: Role, index: int, *, bracket: bool = False) -> None:
        self.current = (role, index)
        self.closing = role == "gt" and bracket
        if role == "gt":
            self.box_on, self.wet = True, False
        else:
            self.box_on, self.wet = False, True
            self.glass_turns += 1

    def press_remote(self) -> None:
        if self.camera is None:
            raise RuntimeError("the virtual rig has no camera attached")
        self.camera.fire_remote()

    def close(self) -> None:
        if self._own_dir:
            shutil.rmtree(self.root, ignore_errors=True)

    # --- rendering --------------------------------------------------------------------------------
    def scene_image(self) -> np.ndarray:
        if self._scene is None:
            from hardware.sim import load_background, render_scene

            if self.background is not None:
                self._scene = load_background(self.background, self.width, self.height)
            else:
                if self.category is None:
                    self.set_scene(self.label)
                self._scene = render_scene(self.category, self.width, self.height, seed_for(self.seed, "scene", self.label) % 2**31)
        return self._scene

    def behind_camera(self) -> np.ndarray:
        """The camera-side scene stays the same for a whole rig scene; only the glass angle moves its
        reflection (seeds/000 sec. 3.2), so it is rendered once per scene."""
        if self._behind is None:
            from hardware.sim import CATEGORIES, render_scene

            seed = seed_for(self.seed, "behind", self.label) % 2**31
            self._behind = render_scene(CATEGORIES[seed % len(CATEGORIES)], self.width, self.height, seed)
        return self._behind

    def render(self) -> RigFrame:
        """Photograph the scene in the rig's current state (the shot `prepare` set up)."""
        from hardware.sim import encode_jpeg, render_degraded, sample_params

        role, index = self.current
        seed = seed_for(self.seed, self.label, role, index) % 2**31
        rng = np.random.default_rng(seed)
        params = sample_params(rng, reflections=not self.box_on, motion_px=self.motion_px, glass_mm=self.glass_mm)
        update: dict[str, Any] = {"drops": self.wet}
        if role == "gt" and self.closing:
            update.update(closing_gt_drift(rng, self.motion_px))
            update.update(self.overrides)  # a fault injected between the GTs (tests, demos)
            self.overrides = {}
        elif role == "gt":  # the reference: nothing moved, no drift; only the sensor's noise differs
            update.update(motion_px=0.0, exposure_ev=0.0, wb_gains=(1.0, 1.0, 1.0), reflection=False, drops=False)
        else:
            update.update(self.params)
            update.update(self.overrides)
            self.overrides = {}
        params = params.model_copy(update=update)
        shot = render_degraded(self.scene_image(), params, seed, reflection_scene=self.behind_camera() if params.reflection else None)
        frame = RigFrame(
            role=role,
            index=index,
            jpeg=encode_jpeg(shot.image, params.jpeg_quality),
            raw=dng_from_rgb(shot.image) if self.raw else None,
            homography=shot.homography,
            params=params.model_dump(mode="json"),
        )
        for old in self.history[-1:]:
            old.jpeg, old.raw = old.jpeg[:0], None  # keep hashes and truth, not megabytes per shot
        self.history.append(frame)
        return frame

    def load(self, frame: RigFrame) -> None:
        """Put a frame where vusb serves it: one JPEG (what a capture duplicates) and its DNG."""
        for old in self.store.iterdir():
            if old.is_file():
                old.unlink()
        (self.store / FRAME_JPEG).write_bytes(frame.jpeg)
        if frame.raw is not None:
            (self.store / FRAME_RAW).write_bytes(frame.raw)


class VirtualCamera(GPhotoCamera):
    """libgphoto2's vusb camera serving the rig's frames; everything else is the real driver."""

    def __init__(self, rig: VirtualRig, *, profile: Optional[Profile] = None, say: Callable[[str], None] = lambda _m: None):
        profile = profile or profile_named("virtual")
        if not rig.raw:
            profile = profile.model_copy(update={"files_per_shot": 1})
        super().__init__(profile, model="virtual", connect=self._connect_vusb, say=say)
        self.rig = rig
        rig.camera = self
        self._frame: Optional[RigFrame] = None
        self.render_s = 0.0  # the last frame's rendering (the simulator, not the camera)
        self._env = {k: os.environ.get(k) for k in ("VCAMERADIR", "IOLIBS", "XDG_CONFIG_HOME")}

    def truth(self) -> Optional[dict]:
        """What the rig did for the last frame: the homography (degraded px -> GT px, full resolution)
        and the renderer's parameters - recorded on the shot so alignment can be scored against it."""
        if self._frame is None:
            return None
        return {"homography": self._frame.homography.tolist(), "params": self._frame.params}

    def _connect_vusb(self) -> Any:
        gp = use_backend(self.rig.store, self.rig.config_home)
        cam = gp.Camera()
        cam.init()
        return cam

    def close(self) -> None:
        """End the vusb session and give the process its USB drivers and settings folder back."""
        super().close()
        for key, value in self._env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def _next_frame(self) -> None:
        t0 = time.perf_counter()
        self._frame = self.rig.render()
        self.render_s = time.perf_counter() - t0
        self.rig.load(self._frame)
        self._reopen(apply_profile=False)  # vusb reads the folder (and the sizes) when a session opens

    def capture(self) -> CapturedShot:
        if not self.pending:
            self._next_frame()
        return super().capture()

    def fire_remote(self) -> None:
        self._next_frame()
        self.set_widget("opcode", REMOTE_OPCODE)

    def _want_from_events(self) -> int:
        return 1  # the JPEG; the DNG is a companion (module docstring)

    def _companions(self, files: list[CapturedFile]) -> list[CapturedFile]:
        if not (self.rig.raw and files and (self.rig.store / FRAME_RAW).exists()):
            return []
        raw = self._download(STORE, FRAME_RAW)
        stem = PurePosixPath(files[0].name).stem
        return [CapturedFile(name=f"{stem}{self.profile.raw_ext}", folder=raw.folder, data=raw.data)]
