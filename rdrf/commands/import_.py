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
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="Import the good scenes, list the bad ones (exit 1 if any).")] = False,
    prefix: Annotated[str, typer.Option(help="Prefix for scene labels of the deraindrop layout, e.g. 'agan-'.")] = "",
) -> None:
    """Copy images into the workspace, checksummed; one transaction per scene; re-running adds nothing.

    Example: rdrf import ~/shoots/2026-11 --skip-bad
    """
    from rdrf_capture.importer import import_folder, scene_folders

    cat = context.open_catalogue()
    total = len(scene_folders(directory)) if layout == "rdrf" and directory.is_dir() else 0
    with progress(total or 1, "importing") as advance:
        summary = import_folder(cat, directory, layout, skip_bad=skip_bad, prefix=prefix, on_scene=lambda _: advance())
    say(f"imported {summary.scenes} scenes: {summary.shots_added} shots added, {summary.shots_known} already catalogued")
    if summary.bad:
        for message in summary.bad:
            err_console.print(f"[red]skipped[/]: {message}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
