"""`rdrf capture` (tethered capture through the RDRF protocol) and `rdrf cameras`."""

from __future__ import annotations

import select
import sys
from typing import Annotated, Optional

import typer

from rdrf import context
from rdrf.console import err_console, print_json, say
from schemas.errors import RdrfError
from schemas.vocabulary import CaptureTrigger


class TerminalOperator:
    """Prompts on stderr, answers from stdin; non-interactive with --yes or when stdin is no terminal."""

    def __init__(self, interactive: bool):
        self.interactive = interactive

    def say(self, message: str) -> None:
        say(message)

    def ready(self, prompt: str) -> bool:
        err_console.print(f"[bold]{prompt}[/]", highlight=False)
        answer = sys.stdin.readline()
        return answer != "" and answer.strip().lower() not in ("q", "quit")

    def quit_requested(self) -> bool:
        if not self.interactive:
            return False
        ready, _, _ = select.select([sys.stdin], [], [], 0)
        return bool(ready) and sys.stdin.readline().strip().lower() in ("q", "quit")

app = typer.Typer()


@app.command()
def capture(
    scene: Annotated[str, typer.Option("--scene", "-s", help="Scene number/label, e.g. 17.")],
    glass: Annotated[str, typer.Option("--glass", help="Glass slab thickness, e.g. 3mm, 5mm, 8mm.")],
    camera: Annotated[str, typer.Option("--camera", help="auto, a model name, a port (usb:001,007) or virtual (the simulated rig; frame size from rdrf.toml [virtual] width/height, default 4752x3168).")] = "auto",
    trigger: Annotated[CaptureTrigger, typer.Option("--trigger", help="usb (PTP capture) or remote (wireless remote, files by events).")] = "usb",
    category: Annotated[Optional[str], typer.Option("--category", help="Scene category (one of the paper's eight).")] = None,
    distance_cm: Annotated[Optional[float], typer.Option("--distance-cm", help="Camera-to-glass distance.")] = None,
    angle_deg: Annotated[Optional[float], typer.Option("--angle-deg", help="Glass angle to the optical axis.")] = None,
    gt_count: Annotated[int, typer.Option("--gt-count", help="GT shots when the scene has none yet.")] = 1,
    lq: Annotated[int, typer.Option("--lq", help="Degraded shots to take this session.")] = 5,
    interval: Annotated[Optional[float], typer.Option("--interval", help="Seconds to spray/rotate before each degraded shot (and to put the box on and dry the glass before the closing GT), instead of Enter.")] = None,
    gt_bracket: Annotated[
        Optional[bool],
        typer.Option(
            "--gt-bracket/--no-gt-bracket",
            help="End the degraded series with a closing GT (box on, glass dry) whose drift from the opening GT is the scene's noise floor. Default: rdrf.toml [capture] gt_bracket (true).",
        ),
    ] = None,
    wild: Annotated[bool, typer.Option("--wild", help="A wild scene: degraded shots only (no GT step, no live QA against a GT); it goes in the 'wild' split.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Non-interactive: no prompts (also when stdin is no terminal).")] = False,
) -> None:
    """Capture a scene through the RDRF protocol: GT with the light-blocking box, degraded shots, closing GT.

    A scene without GT starts with the GT step; a scene with one continues its degraded series with
    the next number. The series ends with a closing GT (box back on, glass dry) measured against the
    opening GT at once: camera motion, light and colour change, the noise floor. Every shot is stored
    crash-safely, catalogued with the rig's state and checked by live QA before the next one.

    Examples: rdrf capture --scene 17 --glass 5mm --trigger remote --lq 10
              rdrf capture --scene wild-3 --glass 5mm --wild --lq 20
    """
    from hardware.rig import parse_glass
    from rdrf_align.registration import drift
    from rdrf_capture.bracket import DriftCheck
    from rdrf_capture.capture import CaptureOptions, open_camera_and_rig, run_session
    from rdrf_capture.importer import canonical_category
    from rdrf_capture.ingest import check_label
    try:  # the user's typos are said before any camera is looked for
        check_label(scene)
        category = None if category is None else canonical_category(category)
    except RdrfError as exc:
        raise RdrfError(f"--scene: {exc}", exit_code=2) from None
    except ValueError as exc:
        raise RdrfError(f"--category: {exc}", exit_code=2) from None
    glass_mm = parse_glass(glass)
    cat = context.open_catalogue()
    operator = TerminalOperator(interactive=not yes and sys.stdin.isatty())
    cam, rig = open_camera_and_rig(camera, cat.workspace.settings.virtual, glass_mm, operator.say)
    try:
        summary = run_session(
            cat,
            cam,
            rig,
            CaptureOptions(
                scene=scene,
                glass_mm=glass_mm,
                trigger=trigger,
                category=category,
                distance_cm=distance_cm,
                angle_deg=angle_deg,
                gt_count=gt_count,
                lq=lq,
                interval_s=interval,
                gt_bracket=cat.workspace.settings.capture.gt_bracket if gt_bracket is None else gt_bracket,
                wild=wild,
            ),
            operator,
            DriftCheck(drift.measure, drift.problems),
        )
    finally:
        cam.close()
        rig.close()
        cat.close()
    for line in summary.lines():
        say(line)
    if summary.error is not None:
        raise summary.error
    if summary.interrupted:
        raise KeyboardInterrupt

@app.command()
def cameras(
    json: Annotated[bool, typer.Option("--json", help="Print records as JSON.")] = False,
    check: Annotated[bool, typer.Option("--check", help="Self-test one body before a session: libgphoto2, firmware, serial, battery, free space, every profile setting read back, focus and exposure mode; exit 1 when the rig is not ready.")] = False,
    shot: Annotated[bool, typer.Option("--shot", help="With --check: one test capture, timed end to end (not stored).")] = False,
    camera: Annotated[str, typer.Option("--camera", help="With --check: auto, a model name, a port (usb:001,007) or virtual.")] = "auto",
) -> None:
    """List the cameras libgphoto2 detects, with the body profile each one gets; or self-test one.

    Example: rdrf cameras --json
    Example: rdrf cameras --check --shot --camera virtual
    """
    if check:
        _check(camera, shot, json)
        return
    if shot or camera != "auto":
        raise RdrfError("--shot and --camera go with --check (e.g. rdrf cameras --check --shot --camera virtual)", exit_code=2)
    from hardware.camera import listing
    from hardware.gphoto import detect

    found = [listing(d) for d in detect()]
    if json:
        print_json(found)
        return
    if not found:
        say("no camera detected (switched on? USB mode PC Remote / PTP? `rdrf capture --camera virtual` needs none)")
    for c in found:
        print(f"{c.model}\t{c.port}\t{c.profile or 'unknown body (safe defaults)'}")
        if c.warning:
            say(f"[yellow]warning:[/] {c.warning}")


def _check(spec: str, shot: bool, as_json: bool) -> None:
    """`cameras --check`: open the body as `rdrf capture` would, read it, optionally shoot once."""
    from rich.table import Table

    from hardware.camera import CameraError
    from hardware.check import check_camera, not_ready
    from rdrf.console import console
    from rdrf_capture.capture import open_camera_and_rig
    from schemas.settings import VirtualSettings

    virtual = VirtualSettings()
    if spec == "virtual":
        try:  # a workspace's [virtual] section when there is one; the defaults otherwise
            virtual = context.find_workspace().settings.virtual
        except RdrfError:
            pass
    try:
        cam, rig = open_camera_and_rig(spec, virtual, 5.0, say)
    except CameraError as exc:
        from hardware.gphoto import library_version

        result = not_ready(spec, "", str(exc), library_version())
    else:
        try:
            result = check_camera(cam, shot=shot)
        finally:
            cam.close()
            rig.close()
    if as_json:
        print_json(result)
    else:
        table = Table("what", "value", title=f"{result.model}: self-test")
        for what, value in result.rows():
            table.add_row(what, value)
        console.print(table)
    for reason in result.reasons:
        say(f"[red]not ready:[/] {reason}")
    if not result.ready:
        raise typer.Exit(1)
