"""Option types and defaults that several commands share, and the check for an optional extra."""

from __future__ import annotations

import importlib.util
import os
from typing import Annotated

import typer

from schemas.errors import RdrfError

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the records as JSON.")]

# What each extra brings, by the modules a command imports first (pyproject.toml [project.optional-dependencies]).
EXTRAS = {
    "train": ("torch", "diffusers", "transformers", "accelerate", "safetensors"),
}


def default_workers() -> int:
    """Parallel image workers: one per core, at most 8."""
    return max(1, min(8, os.cpu_count() or 1))


def require_extra(extra: str, command: str) -> None:
    """Stop with one line naming the extra to install when a module of it is missing (exit 2).

    The core install (`pip install rdrf`) has no torch; a training command must say so instead of
    ending in a ModuleNotFoundError traceback.
    """
    missing = [m for m in EXTRAS[extra] if importlib.util.find_spec(m) is None]
    if missing:
        raise RdrfError(
            f"`rdrf {command}` needs the '{extra}' extra ({', '.join(missing)} not installed): pip install 'rdrf[{extra}]'",
            exit_code=2,
        )
