"""`rdrf init`: make a workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rdrf.console import say

app = typer.Typer()


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder to make a workspace of.")] = Path("."),
    half_size: Annotated[bool, typer.Option("--half-size", help="Develop RAW at half size (9504x6336 -> 4752x3168).")] = False,
) -> None:
    """Create a workspace: catalogue, originals/, developed/, aligned/, exports/, reports/.

    Example: rdrf init ~/rdrf-data --half-size
    """
    from schemas.workspace import create_workspace

    ws = create_workspace(directory, half_size=half_size)
    say(f"workspace ready at [bold]{ws.root}[/]")
