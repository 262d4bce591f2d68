"""Workspace-level commands: init (more are added by the foundation)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rdrf.console import say
from schemas.workspace import create_workspace


def register(app: typer.Typer) -> None:
    @app.command()
    def init(directory: Annotated[Path, typer.Argument(help="Folder to make a workspace of.")] = Path(".")) -> None:
        """Create a workspace: catalogue, originals/, developed/, aligned/, exports/, reports/.

        Example: rdrf init ~/rdrf-data
        """
        ws = create_workspace(directory)
        say(f"workspace ready at [bold]{ws.root}[/]")
