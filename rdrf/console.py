"""Terminal output: data to stdout, messages and progress bars to stderr (quiet in pipes)."""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator

from pydantic import BaseModel
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from rdrf import context

console = Console()
err_console = Console(stderr=True)


def say(message: str) -> None:
    if not context.OPTIONS.quiet:
        err_console.print(message, highlight=False, soft_wrap=True)


def silence_native_stderr() -> None:
    """--quiet in rdrf's own process: C libraries print on their own to file descriptor 2 (libpng's
    "libpng warning: ..." through OpenCV, which its log level does not govern). Point descriptor 2
    at /dev/null and give Python's sys.stderr - rdrf's messages, errors, tracebacks - a copy of the
    original, so only the libraries' chatter is dropped."""
    sys.stderr.flush()
    original = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    sys.stderr = os.fdopen(original, "w", buffering=1, encoding=sys.stderr.encoding, errors="backslashreplace")


def print_json(records: Iterable[BaseModel] | BaseModel) -> None:
    if isinstance(records, BaseModel):
        print(records.model_dump_json(indent=2))
    else:
        print(json.dumps([r.model_dump(mode="json") for r in records], indent=2))


@contextmanager
def progress(total: int, description: str) -> Iterator[Callable[..., None]]:
    """Yields `advance(n=1)`; draws a bar only on a terminal and without --quiet."""
    if context.OPTIONS.quiet or not err_console.is_terminal:
        yield lambda n=1: None
        return
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
    )
    with bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)
