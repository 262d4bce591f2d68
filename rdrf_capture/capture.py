"""A capture session: the protocol's steps, each shot downloaded, stored, catalogued and checked.

For every step: the rig is set up (the operator is told what to do, the virtual rig does it), the
shutter fires (USB) or the remote shot is awaited, every file of the shot is downloaded, then stored
crash-safely and catalogued in one transaction (rdrf_capture.ingest), then live QA runs against the
scene's GT and is recorded on the shot - all before the next shot is allowed.

Never lose a shot: from the moment the shutter is fired until the shot is catalogued, Ctrl-C is held
back and honoured right after ("finishing the shot in progress"). A SIGKILL can strike anywhere: the
ingestion journal then explains any file written, and the catalogue holds no half-registered shot
because a shot, its files and its pair are committed together. A body that disappears mid-shot is
waited for; files it announced but had not delivered are fetched from its card after reconnection.
"""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional, Protocol

from sqlalchemy import select

from hardware.camera import Camera, CameraBusy, CameraError, CapturedShot, NoFile
from hardware.rig import Rig
from rdrf_capture import live_qa
from rdrf_capture.background_develop import Developer
from rdrf_capture.develop import develop_shot, undeveloped
from rdrf_capture.ingest import IncomingFile, SetupInfo, ShotInfo, check_label, ingest_shots, next_index
from rdrf_capture.protocol import Step, instructions, plan, trigger_hint
from schemas.catalogue import Scene, Shot
from schemas.errors import RdrfError
from schemas.imageio import is_jpeg, is_raw, jpeg_size
from schemas.records import CATEGORIES
from schemas.settings import VirtualSettings
from schemas.views import scene_gt, shot_image
from schemas.vocabulary import CaptureTrigger

class Operator(Protocol):
    """The person at the tripod (a terminal, or nobody in non-interactive runs)."""

    interactive: bool

    def say(self, message: str) -> None: ...

    def ready(self, prompt: str) -> bool:
        """Show `prompt`, wait for Enter; False when the operator wants to stop (q)."""
        ...

    def quit_requested(self) -> bool:
        """Non-blocking: has the operator asked to stop (while a remote shot is awaited)?"""
        ...


@dataclass
class CaptureOptions:
    scene: str
    glass_mm: float
    trigger: CaptureTrigger = "usb"
    category: Optional[str] = None
    distance_cm: Optional[float] = None
    angle_deg: Optional[float] = None
    gt_count: int = 1
    lq: int = 5
    interval_s: Optional[float] = None  # time given to spray/rotate before each degraded shot
    reconnect_timeout_s: float = 120.0
    remote_timeout_s: float = 300.0  # how long to wait for one remote shot
    max_attempts: int = 3  # per step, for busy bodies and shots without files


@dataclass
class ShotReport:
    step: Step
    shot_id: int
    index: int
    files: list[str]
    qa: Optional[dict]
    timing: dict[str, float]


@dataclass
class SessionSummary:
    scene: str
    shots: list[ShotReport] = field(default_factory=list)
    stopped: Optional[str] = None  # why the session ended early (operator, interrupt, camera gone)
    error: Optional[RdrfError] = None  # the failure that ended it (camera, storage), if any
    interrupted: bool = False
    developed: int = 0  # RAW shots developed in the background

    @property
    def flagged(self) -> list[ShotReport]:
        return [r for r in self.shots if r.qa and not r.qa.get("ok", True)]

    def lines(self) -> list[str]:
        gt = [r for r in self.shots if r.step.role == "gt"]
        lq = [r for r in self.shots if r.step.role == "lq"]
        out = [f"scene {self.scene}: {len(gt)} GT and {len(lq)} degraded shot(s) captured this session"]
        if lq:
            idx = [r.index for r in lq]
            out.append(f"  degraded shots {min(idx)}..{max(idx)}; {len(lq) - len(self.flagged)} passed live QA")
        for r in self.flagged:
            out.append(f"  flagged {r.step.role}-{r.index:03d}: " + "; ".join(r.qa.get("flags", [])))
        if self.shots:
            over = [r.timing["total"] - r.timing["camera"] for r in self.shots]
            out.append(f"  per shot: {sum(over) / len(over):.2f} s added by rdrf beyond the camera's own time")
        if self.stopped:
            out.append(f"  stopped early: {self.stopped}")
        return out


@contextmanager
def shot_in_progress(say: Callable[[str], None]) -> Iterator[None]:
    """Hold Ctrl-C back while a shot is being fired, downloaded and stored; honour it right after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    hit: list[bool] = []

    def hold(_sig, _frame):
        if not hit:
            say("interrupt received: finishing the shot in progress, then stopping")
        hit.append(True)

    previous = signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if hit:
        raise KeyboardInterrupt


def _jpeg_of(shot: CapturedShot) -> Optional[bytes]:
    for f in shot.files:
        if is_jpeg(f.name):
            return f.data
    return None


class Session:
    def __init__(self, catalogue, camera: Camera, rig: Rig, opts: CaptureOptions, operator: Operator):
        self.catalogue = catalogue
        self.camera = camera
        self.rig = rig
        self.opts = opts
        self.op = operator
        self.summary = SessionSummary(opts.scene)
        self.thresholds = catalogue.workspace.settings.capture.qa
        self._ref: Optional[live_qa.Frame] = None
        self.developer: Optional[Developer] = None

    # --- the scene as catalogued ------------------------------------------------------------------
    def _existing(self) -> tuple[int, int]:
        return next_index(self.catalogue, self.opts.scene, "gt") - 1, next_index(self.catalogue, self.opts.scene, "lq") - 1

    def _load_reference(self) -> Optional[live_qa.Frame]:
        """The scene's GT as QA reference: its camera JPEG if it has one, else its image."""
        with self.catalogue.session() as s:
            scene = s.scalar(select(Scene).where(Scene.label == self.opts.scene))
            gt = scene_gt(scene) if scene else None
            if gt is None:
                return None
            jpegs = [f for f in gt.files if f.kind == "original" and is_jpeg(f.path)]
            gt_id = gt.id
            f = jpegs[0] if jpegs else None
        if f is None:  # RAW only: QA reads its development
            develop_shot(self.catalogue, gt_id)
            with self.catalogue.session() as s:
                f = shot_image(s.get(Shot, gt_id))
        with self.catalogue.session() as s:
            gt = s.get(Shot, gt_id)
            path, size = self.catalogue.workspace.abs(f.path), (gt.width, gt.height)
        data = path.read_bytes()
        return self._frame(data, size)

    @staticmethod
    def _frame(data: bytes, size: Optional[tuple]) -> Optional[live_qa.Frame]:
        rgb = live_qa.decode_for_qa(data)
        if rgb is None:
            return None
        full = jpeg_size(data) or (size if size and size[0] else (rgb.shape[1], rgb.shape[0]))
        return live_qa.prepare(rgb, full)

    # --- one shot ---------------------------------------------------------------------------------
    def _fire(self, step: Step) -> Optional[CapturedShot]:
        if self.opts.trigger == "usb":
            return self.camera.capture()
        if self.rig.automatic:
            self.rig.press_remote()
        deadline = time.monotonic() + self.opts.remote_timeout_s
        while True:
            shot = self.camera.wait_for_shot(0.5)
            if shot is not None:
                return shot
            if self.op.quit_requested():
                return None
            if time.monotonic() > deadline:
                raise NoFile(f"no shot arrived from the remote within {self.opts.remote_timeout_s:.0f} s for {step.title}")

    def _store(self, step: Step, shot: CapturedShot) -> tuple[int, int]:
        info = ShotInfo(
            role=step.role,
            trigger=shot.trigger,
            degradation="none" if step.role == "gt" else "both",
            captured_at=shot.captured_at,
            category=self.opts.category,
            setup=SetupInfo(
                camera_model=self.camera.model,
                camera_serial=self.camera.serial,
                glass_mm=self.opts.glass_mm,
                distance_cm=self.opts.distance_cm,
                angle_deg=self.opts.angle_deg,
            ),
        )
        files = [IncomingFile(name=f.name, source=f.data) for f in shot.files]
        # originals and catalogue now; RAW development in the background (background_develop.py)
        result = ingest_shots(self.catalogue, self.opts.scene, [(files, info)], develop_raw=False)[0]
        if not result.added:
            raise RdrfError(
                f"scene {self.opts.scene}: the camera delivered {', '.join(shot.names)}, which is already catalogued "
                f"(shot id {result.shot_id}); no new shot was recorded - check the camera's capture target"
            )
        with self.catalogue.session() as s:
            index = s.get(Shot, result.shot_id).index
        return result.shot_id, index

    def _qa(self, step: Step, shot: CapturedShot, shot_id: int) -> dict:
        want = getattr(getattr(self.camera, "profile", None), "files_per_shot", 0)
        data = _jpeg_of(shot)
        if data is None:  # RAW only: QA reads the developed image, made now
            develop_shot(self.catalogue, shot_id)
            with self.catalogue.session() as s:
                row = s.get(Shot, shot_id)
                f = shot_image(row)
                data, size = self.catalogue.workspace.abs(f.path).read_bytes(), (row.width, row.height)
        else:
            size = None
        frame = self._frame(data, size)
        if step.role == "gt":
            if self._ref is None:
                self._ref = frame
            qa = {"version": live_qa.VERSION, "ok": True, "reference": True, "flags": [], "files": len(shot.files)}
            if want and len(shot.files) < want:
                qa["ok"] = False
                qa["flags"] = [f"only {len(shot.files)} of {want} files arrived: check the body's image quality setting"]
            return qa
        if self._ref is None:
            self._ref = self._load_reference()
        if self._ref is None or frame is None:
            return {"version": live_qa.VERSION, "ok": False, "flags": ["no GT image to check against"], "files": len(shot.files)}
        exif_gt, exif_shot = self._exif(shot_id)
        return live_qa.assess(
            self._ref, frame, self.thresholds, files=len(shot.files), files_expected=want, exif_gt=exif_gt, exif_shot=exif_shot
        )

    def _exif(self, shot_id: int) -> tuple[Optional[dict], Optional[dict]]:
        keys = ("iso", "shutter_s", "aperture")
        with self.catalogue.session() as s:
            row = s.get(Shot, shot_id)
            gt = scene_gt(row.scene)
            if gt is None:
                return None, None
            return {k: getattr(gt, k) for k in keys}, {k: getattr(row, k) for k in keys}

    def _record_qa(self, shot_id: int, qa: dict) -> None:
        with self.catalogue.session() as s:
            s.get(Shot, shot_id).qa = qa

    def _take(self, step: Step) -> Optional[ShotReport]:
        """Fire, download, store, check: retried on a busy body or a shot without files, waiting for a
        body that went away. None when the operator stopped while a remote shot was awaited."""
        attempts = 0
        while True:
            try:
                with shot_in_progress(self.op.say):
                    t0 = time.perf_counter()
                    shot = self._fire(step)
                    if shot is None:
                        return None
                    t_cam = time.perf_counter() - t0
                    for note in shot.notes:
                        self.op.say(f"  note: {note}")
                    c0 = time.thread_time()
                    shot_id, index = self._store(step, shot)
                    t_store, c_store = time.perf_counter() - t0 - t_cam, time.thread_time() - c0
                    qa = self._qa(step, shot, shot_id)
                    t_total = time.perf_counter() - t0
                    timing = {
                        "camera": round(t_cam, 4),
                        "libgphoto2": round(shot.camera_s, 4),
                        "store": round(t_store, 4),
                        "qa": round(t_total - t_cam - t_store, 4),
                        "total": round(t_total, 4),
                        # CPU seconds of this thread: what the machine's load does not inflate
                        "store_cpu": round(c_store, 4),
                        "qa_cpu": round(time.thread_time() - c0 - c_store, 4),
                    }
                    qa["timing"] = timing
                    qa["trigger"] = shot.trigger
                    truth = getattr(self.camera, "truth", None)
                    if callable(truth) and (known := truth()) is not None:
                        qa["virtual_truth"] = known  # the virtual rig's exact motion, for scoring alignment
                    if shot.retries:
                        qa["busy_retries"] = shot.retries
                    self._record_qa(shot_id, qa)
                    if self.developer is not None and any(is_raw(n) for n in shot.names):
                        self.developer.submit(shot_id)
                    report = ShotReport(step, shot_id, index, shot.names, qa, timing)
                    self.summary.shots.append(report)  # before a held-back Ctrl-C is honoured
                    self._show(report)
                return report
            except CameraError as exc:
                attempts += 1
                self.op.say(f"[red]{exc}[/]")
                if exc.recoverable and isinstance(exc, (CameraBusy, NoFile)):
                    if attempts >= self.opts.max_attempts:
                        raise
                    self.op.say(f"  trying {step.title} again ({attempts}/{self.opts.max_attempts - 1})")
                    continue
                if exc.recoverable:  # gone or I/O: wait for the body, then fetch what it still holds
                    self.op.say(f"  waiting up to {self.opts.reconnect_timeout_s:.0f} s for {self.camera.model} to come back...")
                    self.camera.reconnect(self.opts.reconnect_timeout_s)
                    if attempts >= self.opts.max_attempts + 2:
                        raise
                    continue
                raise

    def _show(self, r: ShotReport) -> None:
        qa = r.qa or {}
        t = r.timing
        head = f"{r.step.role}-{r.index:03d} stored ({', '.join(r.files)})"
        if r.step.role == "gt":
            self.op.say(f"[green]{head}[/] - GT of scene {self.opts.scene}")
        elif qa.get("ok"):
            self.op.say(
                f"[green]{head}[/] QA ok: moved {qa.get('motion_px')} px, {qa.get('exposure_ev', 0):+.2f} EV, "
                f"sharpness {qa.get('sharpness', 0):.0%} [{t['total']:.2f} s]"
            )
        for flag in qa.get("flags", []):
            self.op.say(f"[yellow]{head}[/] QA: {flag}")

    # --- the session --------------------------------------------------------------------------------
    def run(self) -> SessionSummary:
        o = self.opts
        check_label(o.scene)
        if o.category is not None and o.category not in CATEGORIES:
            raise RdrfError(f"--category {o.category!r}: expected one of {', '.join(CATEGORIES)}")
        if o.gt_count < 1 or o.lq < 0:
            raise RdrfError("--gt-count must be at least 1 and --lq at least 0")
        n_gt, n_lq = self._existing()
        steps = plan(n_gt, n_lq, gt_count=o.gt_count, lq=o.lq)
        if n_gt:
            self.op.say(f"scene {o.scene} has its GT ({n_gt} shot(s)) and {n_lq} degraded shot(s); continuing at {n_lq + 1}")
        with self.catalogue.session() as s:  # a later session of the scene keeps its category
            known = s.scalar(select(Scene.category).where(Scene.label == o.scene))
        self.rig.set_scene(o.scene, o.category or known)
        self.developer = Developer(self.catalogue, on_error=lambda m: self.op.say(f"[red]{m}[/]"))
        behind = undeveloped(self.catalogue, o.scene)
        if behind:
            self.op.say(f"scene {o.scene}: {len(behind)} RAW shot(s) of an earlier session still to develop; developing in the background")
        for shot_id in behind:
            self.developer.submit(shot_id)
        previous: Optional[str] = None
        try:
            for step in steps:
                self.rig.prepare(step.role, step.index)
                self.op.say(instructions(step, o.scene, o.glass_mm, first_of_role=previous != step.role))
                if step.role == "lq" and o.interval_s:  # hands busy: a pause instead of Enter
                    self.op.say(f"  shooting in {o.interval_s:g} s")
                    time.sleep(o.interval_s)
                elif self.op.interactive and o.trigger == "usb" and not self.op.ready(trigger_hint(o.trigger, True)):
                    self.summary.stopped = "stopped by the operator"
                    break
                if o.trigger == "remote":
                    self.op.say(trigger_hint(o.trigger, self.op.interactive))
                report = self._take(step)
                if report is None:
                    self.summary.stopped = "stopped by the operator"
                    break
                previous = step.role
        except KeyboardInterrupt:
            self.summary.stopped = "interrupted (Ctrl-C); every shot listed above is stored and catalogued"
            self.summary.interrupted = True
        except CameraError as exc:
            self.summary.stopped = f"camera: {exc}"
            self.summary.error = exc
        except RdrfError as exc:  # a shot that could not be stored: what was stored before stays
            self.summary.stopped = str(exc)
            self.summary.error = exc
        self._finish_development()
        return self.summary

    def _finish_development(self) -> None:
        dev, self.developer = self.developer, None
        if dev is None:
            return
        if dev.pending:
            self.op.say(f"developing {dev.pending} RAW file(s)... (Ctrl-C leaves them for the next session)")
        try:
            dev.finish()
        except KeyboardInterrupt:
            self.summary.interrupted = True
            self.summary.stopped = self.summary.stopped or "interrupted while developing; the next session develops the rest"
        self.summary.developed = len(dev.done)


def run_session(catalogue, camera: Camera, rig: Rig, opts: CaptureOptions, operator: Operator) -> SessionSummary:
    return Session(catalogue, camera, rig, opts, operator).run()


def open_camera_and_rig(spec: str, virtual: VirtualSettings, glass_mm: float, say: Callable[[str], None]) -> tuple[Camera, Rig]:
    """`--camera virtual` -> the virtual rig (configured by the workspace's [virtual] section);
    anything else -> a detected body (auto, model or port) and a manual rig."""
    if spec == "virtual":
        from hardware.virtual import VirtualCamera, VirtualRig

        rig = VirtualRig(
            width=virtual.width,
            height=virtual.height,
            seed=virtual.seed,
            raw=virtual.raw,
            motion_px=virtual.motion_px,
            glass_mm=glass_mm,
            background=virtual.background,
            params=dict(virtual.params),
        )
        camera = VirtualCamera(rig, say=say)
        try:
            camera.open()
        except BaseException:
            rig.close()
            raise
        return camera, rig
    from hardware.gphoto import open_camera
    from hardware.rig import ManualRig

    camera = open_camera(spec, say=say)
    for w in camera.warnings:
        say(f"[yellow]warning:[/] {w}")
    return camera, ManualRig()
