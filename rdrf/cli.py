"""The `rdrf` command: mounts each stage's commands. No domain logic lives here."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import click
import typer
from rich.markup import escape

from rdrf import context
from rdrf.commands import (
    align,
    benchmark,
    capture,
    demo,
    eval,
    export,
    import_,
    info,
    init,
    listings,
    report,
    restore,
    schemas,
    show,
    split,
    synth,
    train,
    verify,
)
from rdrf.console import err_console, silence_native_stderr
from schemas.errors import RdrfError
from schemas.storage import NO_SPACE, no_space_message

# typer >= 0.22 raises its own (vendored) click exceptions; older typer raises click's.
USAGE_ERRORS = tuple({click.exceptions.ClickException, getattr(typer.exceptions, "TyperException", click.exceptions.ClickException)})
ABORTS = tuple({click.exceptions.Abort, typer.Abort, KeyboardInterrupt})

app = typer.Typer(
    name="rdrf",
    help="Build real paired datasets of scenes seen through wet glass, and train DiffUR3 on them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
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
    if quiet and context.OPTIONS.own_process:
        silence_native_stderr()


# Mounted explicitly, in the order `rdrf --help` lists them. Each module imports its domain code
# inside its commands, so this costs only typer and the schemas.
app.add_typer(init.app)
app.add_typer(listings.app)
app.add_typer(verify.app)
app.add_typer(schemas.app)
app.add_typer(import_.app)
app.add_typer(synth.app)
app.add_typer(capture.app)
app.add_typer(align.app)
app.add_typer(split.app, name="split")
app.add_typer(export.app)
app.add_typer(report.app)
app.add_typer(show.app)
app.add_typer(train.app)
app.add_typer(restore.app)
app.add_typer(eval.app)
app.add_typer(benchmark.app)
app.add_typer(info.app, name="info")
app.add_typer(demo.app)


def main(argv: list[str] | None = None) -> None:
    context.OPTIONS.own_process = True
    try:
        code = app(args=argv, standalone_mode=False)
    except RdrfError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except ABORTS:
        err_console.print("[yellow]interrupted[/]")
        sys.exit(130)
    except USAGE_ERRORS as exc:
        if type(exc).__name__ != "NoArgsIsHelpError":  # help was already shown
            exc.show()
        sys.exit(getattr(exc, "exit_code", 2))
    except OSError as exc:  # a full disk met by a write outside schemas.storage: still one line naming the path
        if exc.errno not in NO_SPACE:
            raise
        err_console.print(f"[bold red]error:[/] {escape(no_space_message(Path(exc.filename or Path.cwd())))}", highlight=False, soft_wrap=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
