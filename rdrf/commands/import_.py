"""`rdrf import`: existing folders of shots into the workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rdrf import context
from rdrf.console import err_console, progress, say
from schemas.vocabulary import ImportLayout

app = typer.Typer()


@app.command("import")
def import_(
    directory: Annotated[Path, typer.Argument(help="Folder of scene folders: <scene>/gt.<ext>, <scene>/lq/*.<ext>, optional <scene>/scene.toml.")],
    layout: Annotated[ImportLayout, typer.Option(help="rdrf (above) or deraindrop (AGAN: data/N_rain.png, gt/N_clean.png).")] = "rdrf",
    prefix: Annotated[str, typer.Option("--scene-prefix", "--prefix", help="Prefix for the scene labels: folder 001 becomes scene P001 (e.g. 'agan-', '2026-11-').")] = "",
    add_to_existing: Annotated[bool, typer.Option("--add-to-existing", help="A folder named like a catalogued scene but holding another shoot: add its shots to that scene (same camera and glass only; its GT is kept as an extra GT, not paired).")] = False,
    wild: Annotated[bool, typer.Option("--wild", help="Wild (unpaired) shots: any folder of images with no GT; images in DIR are one scene named after DIR, each sub-folder another. They go in the 'wild' split, never in a paired export.")] = False,
    skip_bad: Annotated[bool, typer.Option("--skip-bad", hidden=True, help="What import always does now.")] = False,
) -> None:
    """Copy images into the workspace, checksummed; one transaction per scene; re-running adds nothing.

    The good scenes go in; each bad one is listed with its reason and the exit status is 1. A folder
    named like a catalogued scene must be that scene's own shoot (same GT file), unless
    --scene-prefix or --add-to-existing says what it is.

    Examples: rdrf import ~/shoots/2026-11 --scene-prefix 2026-11-
              rdrf import --wild ~/dashcam/2026-11-rain --scene-prefix wild-
    """
    from rdrf_capture.importer import import_folder, scene_folders, wild_folders

    cat = context.open_catalogue()
    total = 0
    if layout == "rdrf" and directory.is_dir():
        total = len(wild_folders(directory) if wild else scene_folders(directory))
    with progress(total or 1, "importing") as advance:
        summary = import_folder(cat, directory, layout, prefix=prefix, add_to_existing=add_to_existing, wild=wild,
                                on_scene=lambda _: advance())
    say(f"imported {summary.scenes} scenes: {summary.shots_added} shots added, {summary.shots_known} already catalogued")
    for note in summary.notes:
        err_console.print(f"[yellow]note[/]: {note}", highlight=False, soft_wrap=True)
    if summary.bad:
        for message in summary.bad:
            err_console.print(f"[red]not imported[/]: {message}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
