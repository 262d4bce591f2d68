"""The `rdrf` command: mounts each stage's commands. No domain logic lives here."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Annotated, Optional

import click
import typer

from rdrf import context

# typer >= 0.22 raises its own (vendored) click exceptions; older typer raises click's.
USAGE_ERRORS = tuple({click.exceptions.ClickException, getattr(typer.exceptions, "TyperException", click.exceptions.ClickException)})
ABORTS = tuple({click.exceptions.Abort, typer.Abort, KeyboardInterrupt})
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
    "rdrf.commands.workspace",
    "rdrf.commands.ingest",
    "rdrf.commands.synth",
    "rdrf.commands.capture",
    "rdrf.commands.align",
    "rdrf.commands.export",
    "rdrf.commands.train",
    "rdrf.commands.demo",
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
    except ABORTS:
        err_console.print("[yellow]interrupted[/]")
        sys.exit(130)
    except USAGE_ERRORS as exc:
        if type(exc).__name__ != "NoArgsIsHelpError":  # help was already shown
            exc.show()
        sys.exit(getattr(exc, "exit_code", 2))
    sys.exit(code if isinstance(code, int) else 0)
