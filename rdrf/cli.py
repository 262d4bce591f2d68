"""The `rdrf` command: mounts each stage's commands. No domain logic lives here."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Annotated, Optional

import click
import typer

from rdrf import context
from rdrf.console import err_console
from schemas.errors import RdrfError

app = typer.Typer(
    name="rdrf",
    help="Build real paired datasets of scenes seen through wet glass, and train DiffUR3 on them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

# Each module defines `register(app)`; torch-dependent modules import torch inside their commands.
COMMAND_MODULES = (
    "rdrf.commands.train",
    "rdrf.commands.workspace",
    "rdrf.commands.ingest",
    "rdrf.commands.align",
    "rdrf.commands.export",
    "rdrf.commands.synth",
    "rdrf.commands.capture",
)


@app.callback()
def _options(
    workspace: Annotated[
        Optional[Path],
        typer.Option("--workspace", "-w", envvar=context.WORKSPACE_ENV, help="Workspace folder (default: found by walking up from here)."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or chatter.")] = False,
) -> None:
    context.OPTIONS.workspace = workspace
    context.OPTIONS.quiet = quiet


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def main(argv: list[str] | None = None) -> None:
    try:
        code = app(args=argv, standalone_mode=False)
    except RdrfError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        err_console.print("[yellow]interrupted[/]")
        sys.exit(130)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]")
        sys.exit(130)
    except click.exceptions.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
