"""A capture session: the protocol's steps, each shot downloaded, checked, stored and catalogued.

For every step: the rig is set up (the operator is told what to do, the virtual rig does it), the
shutter fires (USB) or the remote shot is awaited, every file of the shot is downloaded, live QA runs
on it in memory against the scene's GT (shot_qa.py), then the shot is stored crash-safely and
catalogued with its QA in one transaction (ingest.py) - all before the next shot is allowed.

Never lose a shot: Ctrl-C is held back while a shot is in progress (operator.py). A SIGKILL can
strike anywhere: the ingestion journal then explains any file written, and the catalogue holds no
half-registered shot because a shot, its files, its QA and its pair are committed together. A body
that disappears mid-shot is waited for; files it announced but had not delivered are fetched from
its card after reconnection.

Every shot records the rig it was taken with (`Camera.rig_state`: libgphoto2 version, body, firmware,
focus, settings read back), read when the session opens and again after every reconnection - the
only times it can change without the operator being told. A series ends with the closing GT (the GT
bracket, protocol.py) unless the operator opts out; its drift from the opening GT is measured at once
(bracket.py) and shown. Both travel in the shot's QA record (`qa["rig"]`; a closing GT's
`qa["bracket"]` and `qa["drift"]`), so they are committed with the shot in its one transaction.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Optional

from sqlalchemy import select

from hardware.camera import Camera, CameraBusy, CameraError, CapturedShot, NoFile
from hardware.rig import Rig
from rdrf_capture.background_develop import Developer
from rdrf_capture.bracket import DriftCheck, measure_closing_gt, summary as drift_summary
from rdrf_capture.develop import undeveloped
from rdrf_capture.ingest import IncomingFile, SetupInfo, ShotInfo, check_label, ingest_shots, next_index
from rdrf_capture.operator import Operator, shot_in_progress
from rdrf_capture.protocol import Step, instructions, plan, trigger_hint
from rdrf_capture.shot_qa import ShotQA
from rdrf_capture.summary import SessionSummary, ShotReport
from schemas.catalogue import Scene
from schemas.errors import RdrfError
from schemas.imageio import is_raw
from schemas.records import CATEGORIES
from schemas.settings import VirtualSettings
from schemas.storage import durable_write
from schemas.vocabulary import CaptureTrigger


@dataclass
class CaptureOptions:
    """What `rdrf capture` was asked for (its command-line options)."""

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
    gt_bracket: bool = True  # end the degraded series with a closing GT (protocol.py)
    wild: bool = False  # a wild scene: degraded shots only, no GT step, no live QA against a GT


class Session:
    """One `rdrf capture` run on one scene: plans the steps from what the catalogue holds, then takes
    each shot to the end (fired, checked, stored) before the next, so a stop at any point loses nothing."""

    def __init__(
        self, catalogue, camera: Camera, rig: Rig, opts: CaptureOptions, operator: Operator, drift: Optional[DriftCheck] = None
    ):
        self.catalogue = catalogue
        self.camera = camera
        self.rig = rig
        self.opts = opts
        self.op = operator
        self.summary = SessionSummary(opts.scene)
        self.qa = ShotQA(catalogue, opts.scene, catalogue.workspace.settings.capture.qa, camera.profile.files_per_shot)
        self.developer: Optional[Developer] = None
        self.drift = drift  # how a closing GT is measured (None: stored, not measured)
        self.rig_state: Optional[dict] = None  # what the body reported at open / the last reconnection
        self._drift_record: Optional[dict] = None  # the closing GT's drift, recorded with it

    def _read_rig(self) -> None:
        """The body's own account of itself, recorded with every shot until the next reconnection; a
        body that cannot say is recorded as such (`error`), never as an empty record."""
        try:
            self.rig_state = self.camera.rig_state()
        except CameraError as exc:
            self.rig_state = {"error": f"the body did not report its state: {exc}"}

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

    def _check(self, step: Step, shot: CapturedShot) -> dict:
        """Live QA, plus what only the capture knows: the trigger, the rig's state, busy retries, the
        virtual rig's truth; for a closing GT its drift from the opening GT (flags when over limits)."""
        data = [f.data for f in shot.files]
        if self.opts.wild:  # no GT to compare with: the checks that need none
            qa = self.qa.check_wild(shot.names)
        else:
            qa = self.qa.check(step.role, shot.names, data)
        qa["trigger"] = shot.trigger
        qa["rig"] = self.rig_state
        self._drift_record = None
        if step.bracket:
            qa["reference"] = False  # the opening GT stays the scene's reference (views.scene_gt)
            qa["bracket"] = True
            if self.drift is not None:
                limits = self.catalogue.workspace.settings.bracket
                self._drift_record = qa["drift"] = measure_closing_gt(self.catalogue, self.opts.scene, shot.names, data, self.drift, limits)
                if self._drift_record["flags"]:
                    qa["ok"] = False
                    qa["flags"] = [*qa.get("flags", []), *self._drift_record["flags"]]
        if (known := self.camera.truth()) is not None:
            qa["virtual_truth"] = known  # the virtual rig's exact motion, for scoring alignment
        if shot.retries:
            qa["busy_retries"] = shot.retries
        return qa

    def _store(self, step: Step, shot: CapturedShot, qa: dict) -> tuple[int, int]:
        """Store and catalogue the shot with its QA in one transaction; (shot id, index)."""
        info = ShotInfo(
            role=step.role,
            trigger=shot.trigger,
            degradation="none" if step.role == "gt" else "unknown" if self.opts.wild else "both",
            captured_at=shot.captured_at,
            category=self.opts.category,
            setup=SetupInfo(
                camera_model=self.camera.model,
                camera_serial=self.camera.serial,
                glass_mm=self.opts.glass_mm,
                distance_cm=self.opts.distance_cm,
                angle_deg=self.opts.angle_deg,
            ),
            qa=qa,
            scene_kind="wild" if self.opts.wild else "paired",
        )
        files = [IncomingFile(name=f.name, source=f.data) for f in shot.files]
        # originals and catalogue now; RAW development in the background (background_develop.py)
        result = ingest_shots(self.catalogue, self.opts.scene, [(files, info)], develop_raw=False)[0]
        if not result.added:
            raise RdrfError(
                f"scene {self.opts.scene}: the camera delivered {', '.join(shot.names)}, which is already catalogued "
                f"(shot id {result.shot_id}); no new shot was recorded - check the camera's capture target"
            )
        return result.shot_id, result.index

    def _shoot(self, step: Step) -> Optional[ShotReport]:
        """One attempt: fire, download, check, store. None when the operator stopped while a remote
        shot was awaited."""
        with shot_in_progress(self.op.say):
            t0 = time.perf_counter()
            shot = self._fire(step)
            if shot is None:
                return None
            t_cam = time.perf_counter() - t0
            for note in shot.notes:
                self.op.say(f"  note: {note}")
            self._keep_strays(shot)
            c0 = time.thread_time()
            qa = self._check(step, shot)
            t_qa, c_qa = time.perf_counter() - t0 - t_cam, time.thread_time() - c0
            # what is known before the shot is stored travels with its QA
            qa["timing"] = {
                "camera": round(t_cam, 4),
                "libgphoto2": round(shot.camera_s, 4),
                "qa": round(t_qa, 4),
                # CPU seconds of this thread: what the machine's load does not inflate
                "qa_cpu": round(c_qa, 4),
            }
            shot_id, index = self._store(step, shot, qa)
            t_total = time.perf_counter() - t0
            timing = {
                **qa["timing"],
                "store": round(t_total - t_cam - t_qa, 4),
                "total": round(t_total, 4),
                "store_cpu": round(time.thread_time() - c0 - c_qa, 4),
            }
            if self.developer is not None and any(is_raw(n) for n in shot.names):
                self.developer.submit(shot_id)
            report = ShotReport(step, shot_id, index, shot.names, qa, timing)
            self.summary.shots.append(report)  # before a held-back Ctrl-C is honoured
            self._show(report)
        return report

    def _keep_strays(self, shot: CapturedShot) -> None:
        """Files of an earlier shot the camera delivered late (drained before this press): never part
        of this shot, never thrown away - kept under strays/<scene>/ for the operator to look at."""
        for f in shot.strays:
            folder = self.catalogue.workspace.root / "strays" / self.opts.scene
            dest = folder / f"{shot.captured_at:%Y%m%dT%H%M%S}-{f.name}"
            durable_write(f.data, dest)
            self.op.say(f"  kept {f.name} of an earlier shot as {self.catalogue.workspace.rel(dest)}")

    def _take(self, step: Step) -> Optional[ShotReport]:
        """`_shoot`, retried on a busy body or a shot without files, waiting for a body that went away."""
        attempts = 0
        while True:
            try:
                return self._shoot(step)
            except CameraError as exc:
                attempts += 1
                self.op.say(f"[red]{exc}[/]")
                if not exc.recoverable:
                    raise
                if isinstance(exc, (CameraBusy, NoFile)):
                    if attempts >= self.opts.max_attempts:
                        raise
                    self.op.say(f"  trying {step.title} again ({attempts}/{self.opts.max_attempts - 1})")
                    continue
                # gone or I/O: wait for the body, then fetch what it still holds
                self.op.say(f"  waiting up to {self.opts.reconnect_timeout_s:.0f} s for {self.camera.model} to come back...")
                self.camera.reconnect(self.opts.reconnect_timeout_s)
                self._read_rig()  # another body, or its settings reset: what the next shot is taken with
                if attempts >= self.opts.max_attempts + 2:
                    raise

    def _show(self, r: ShotReport) -> None:
        qa = r.qa or {}
        t = r.timing
        head = f"{r.step.role}-{r.index:03d} stored ({', '.join(r.files)})"
        if r.step.bracket:
            self.op.say(f"[green]{head}[/] - closing GT of scene {self.opts.scene}")
            if self._drift_record is not None:
                self.op.say(f"  {drift_summary(self._drift_record)}")
            elif self.drift is None:
                self.op.say("  drift not measured in this session")
        elif r.step.role == "gt":
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
        steps = self._plan()
        self._read_rig()
        self._start_development()
        try:
            self._run_steps(steps)
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

    def _plan(self) -> list[Step]:
        """Check the options, continue the scene where its catalogue ends, set the rig on the scene."""
        o = self.opts
        check_label(o.scene)
        if o.category is not None and o.category not in CATEGORIES:
            raise RdrfError(f"--category {o.category!r}: expected one of {', '.join(CATEGORIES)}")
        if o.gt_count < 1 or o.lq < 0:
            raise RdrfError("--gt-count must be at least 1 and --lq at least 0")
        n_gt = next_index(self.catalogue, o.scene, "gt") - 1
        n_lq = next_index(self.catalogue, o.scene, "lq") - 1
        if n_gt:
            self.op.say(f"scene {o.scene} has its GT ({n_gt} shot(s)) and {n_lq} degraded shot(s); continuing at {n_lq + 1}")
        with self.catalogue.session() as s:  # a later session of the scene keeps its category
            known = s.scalar(select(Scene.category).where(Scene.label == o.scene))
            kind = s.scalar(select(Scene.kind).where(Scene.label == o.scene))
        want = "wild" if o.wild else "paired"
        if kind is not None and kind != want:  # refused before a shot is fired
            raise RdrfError(f"scene {o.scene} is a {kind} scene; " + ("capture it without --wild" if kind == "paired" else
                            "capture it with --wild" if kind == "wild" else "its frames come from rdrf import-video"))
        if o.category is not None and known is not None and o.category != known:  # refused before a shot is fired
            raise RdrfError(f"--category {o.category!r}: scene {o.scene} is catalogued as {known!r}; a scene's category is never overwritten")
        self.rig.set_scene(o.scene, o.category or known)
        steps = plan(n_gt, n_lq, gt_count=0 if o.wild else o.gt_count, lq=o.lq, bracket=o.gt_bracket and not o.wild)
        self.summary.bracket_planned = any(step.bracket for step in steps)
        return steps

    def _run_steps(self, steps: list[Step]) -> None:
        o = self.opts
        previous: Optional[str] = None
        for step in steps:
            self.rig.prepare(step.role, step.index, bracket=step.bracket)
            if o.wild:  # no GT, no box, no spraying: the scene as the rain leaves it
                self.op.say(f"Scene {o.scene}, wild shot {step.index}/{step.of}: no ground truth for this scene - "
                            "shoot it as it is, through the wet glass.")
            else:
                self.op.say(instructions(step, o.scene, o.glass_mm, first_of_role=previous != step.role))
            if (step.role == "lq" or step.bracket) and o.interval_s:  # hands busy: a pause instead of Enter (box on, glass dried)
                self.op.say(f"  shooting in {o.interval_s:g} s")
                time.sleep(o.interval_s)
            elif self.op.interactive and o.trigger == "usb" and not self.op.ready(trigger_hint(o.trigger, True)):
                self.summary.stopped = "stopped by the operator"
                return
            if o.trigger == "remote":
                self.op.say(trigger_hint(o.trigger, self.op.interactive))
            if self._take(step) is None:
                self.summary.stopped = "stopped by the operator"
                return
            previous = step.role

    # --- RAW development, off the critical path ---------------------------------------------------------
    def _start_development(self) -> None:
        """The background developer, first given what an earlier (killed) session left undeveloped."""
        self.developer = Developer(self.catalogue, on_error=lambda m: self.op.say(f"[red]{m}[/]"))
        behind = undeveloped(self.catalogue, self.opts.scene)
        if behind:
            self.op.say(f"scene {self.opts.scene}: {len(behind)} RAW shot(s) of an earlier session still to develop; developing in the background")
        for shot_id in behind:
            self.developer.submit(shot_id)

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


def run_session(
    catalogue, camera: Camera, rig: Rig, opts: CaptureOptions, operator: Operator, drift: Optional[DriftCheck] = None
) -> SessionSummary:
    check_label(opts.scene)
    with catalogue.scene_lock(opts.scene, "rdrf capture"):  # a second rig on this scene is refused (schemas/locks.py)
        return Session(catalogue, camera, rig, opts, operator, drift).run()


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
