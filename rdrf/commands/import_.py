"""`rdrf import`: existing folders of shots into the workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from rdrf import context
from rdrf.console import err_console, progress, say
from schemas.errors import RdrfError
from schemas.vocabulary import Degradation, ImportLayout, View

app = typer.Typer()


@app.command("import")
def import_(
    directory: Annotated[Path, typer.Argument(help="Folder of scene folders: <scene>/gt.<ext>, <scene>/lq/*.<ext>, optional <scene>/scene.toml.")],
    layout: Annotated[ImportLayout, typer.Option(help="rdrf (above), deraindrop (AGAN: data/N_rain.png, gt/N_clean.png) or gt-rain (GT-Rain: <scene>/*-C-000.png clean, <scene>/*-R-NNN.png rainy frames; video scenes).")] = "rdrf",
    prefix: Annotated[str, typer.Option("--scene-prefix", "--prefix", help="Prefix for the scene labels: folder 001 becomes scene P001 (e.g. 'agan-', '2026-11-').")] = "",
    add_to_existing: Annotated[bool, typer.Option("--add-to-existing", help="A folder named like a catalogued scene but holding another shoot: add its shots to that scene (same camera and glass only; its GT is kept as an extra GT, not paired).")] = False,
    wild: Annotated[bool, typer.Option("--wild", help="Wild (unpaired) shots: any folder of images with no GT; images in DIR are one scene named after DIR, each sub-folder another. They go in the 'wild' split, never in a paired export.")] = False,
    degradation: Annotated[Optional[Degradation], typer.Option(help="The degraded shots' degradation where scene.toml does not say (default: both for rdrf folders, unknown for wild and gt-rain).")] = None,
    dual_pixel_raw: Annotated[Optional[View], typer.Option("--dual-pixel-raw", help="The degraded RAW files are Canon Dual Pixel RAW: store both views of each, its second frame being this view (left or right; the other is the combined frame minus it). A RAW with one frame is refused.")] = None,
    skip_bad: Annotated[bool, typer.Option("--skip-bad", hidden=True, help="What import always does now.")] = False,
) -> None:
    """Copy images into the workspace, checksummed; one transaction per scene; re-running adds nothing.

    The good scenes go in; each bad one is listed with its reason and the exit status is 1. A folder
    named like a catalogued scene must be that scene's own shoot (same GT file), unless
    --scene-prefix or --add-to-existing says what it is.

    Examples: rdrf import ~/shoots/2026-11 --scene-prefix 2026-11-
              rdrf import --wild ~/dashcam/2026-11-rain --scene-prefix wild-
              rdrf import ~/data/GT-RAIN_train --layout gt-rain --scene-prefix gtrain-
              rdrf import ~/shoots/dprrn-real --dual-pixel-raw left   (Canon DPRAW .CR2 degraded shots)
    Dual-pixel image pairs need no option: lq/NAME_L.png + lq/NAME_R.png (+ lq/NAME.jpg, the combined image).
    """
    from rdrf_capture.importer import import_folder, scene_folders, wild_folders

    cat = context.open_catalogue()
    total = 0
    if layout in ("rdrf", "gt-rain") and directory.is_dir():
        total = len(wild_folders(directory) if wild else scene_folders(directory))
    with progress(total or 1, "importing") as advance:
        summary = import_folder(cat, directory, layout, prefix=prefix, add_to_existing=add_to_existing, wild=wild,
                                degradation=degradation, dual_pixel_raw=dual_pixel_raw, on_scene=lambda _: advance())
    say(f"imported {summary.scenes} scenes: {summary.shots_added} shots added, {summary.shots_known} already catalogued")
    for note in summary.notes:
        err_console.print(f"[yellow]note[/]: {note}", highlight=False, soft_wrap=True)
    if summary.bad:
        for message in summary.bad:
            err_console.print(f"[red]not imported[/]: {message}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)


@app.command("import-video")
def import_video(
    source: Annotated[Path, typer.Argument(help="A video file OpenCV can read (mp4, avi, mov, ...) or a folder of frames (natural name order).")],
    scene: Annotated[str, typer.Option("--scene", "-s", help="Scene label for the footage (a new video scene, or more footage of one).")],
    gt_frame: Annotated[Optional[int], typer.Option("--gt-frame", help="Frame N (from 0) is the clean ground truth.")] = None,
    gt_range: Annotated[Optional[str], typer.Option("--gt-range", help="A:B - the mean of frames A..B (inclusive) is the ground truth, as GT-Rain averages clean frames.")] = None,
    gt_clip: Annotated[Optional[Path], typer.Option("--gt-clip", help="A separate clean clip (or frame folder) of the same framing; its mean is the ground truth.")] = None,
    fps: Annotated[Optional[float], typer.Option("--fps", help="Take about this many frames a second (default: every frame).")] = None,
    every: Annotated[Optional[int], typer.Option("--every", help="Take every N-th frame instead.")] = None,
    folder_fps: Annotated[Optional[float], typer.Option("--folder-fps", help="A frame folder's frame rate (for --fps and timestamps).")] = None,
    degradation: Annotated[Degradation, typer.Option(help="What degrades the frames (recorded per shot, exported in the manifest).")] = "unknown",
    category: Annotated[Optional[str], typer.Option(help="Scene category (one of the paper's eight).")] = None,
    camera: Annotated[Optional[str], typer.Option(help="Camera model, when the clip does not say.")] = None,
) -> None:
    """Import static-camera footage as a video scene: the chosen clean GT and one degraded shot per frame taken.

    Each frame keeps its frame number and time in the clip; `rdrf align` aligns the frames to the GT
    like any other degraded shots (small camera shake).

    Example: rdrf import-video rain.mp4 --scene street-7 --gt-range 0:29 --fps 2 --degradation rain_streak
    """
    from rdrf_capture.importer import canonical_category
    from rdrf_capture.video import GtChoice, import_video as run

    choice = GtChoice.parse(gt_frame, gt_range, gt_clip)
    if category is not None:
        try:
            category = canonical_category(category)
        except ValueError as exc:
            raise RdrfError(f"--category: {exc}", exit_code=2) from None
    cat = context.open_catalogue()
    result = run(cat, source, scene, choice, fps=fps, every=every, folder_fps=folder_fps, degradation=degradation,
                 category=category, camera=camera)
    say(f"scene {result.scene}: {result.frames_total} frames read, GT from {result.gt_frames} frame(s), "
        f"{len(result.results) - 1} degraded frame(s) ({result.added} shots added); run `rdrf align --scene {result.scene}`")
