"""Global options and workspace discovery (like git: walk up from the current folder)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from schemas.errors import RdrfError
from schemas.workspace import Catalogue, OpenMode, Workspace, is_workspace

WORKSPACE_ENV = "RDRF_WORKSPACE"


@dataclass
class Options:
    workspace: Optional[Path] = None
    quiet: bool = False
    own_process: bool = False  # set by `rdrf.cli.main`: process-wide changes (file descriptors) are ours to make


OPTIONS = Options()


def find_workspace(start: Optional[Path] = None) -> Workspace:
    if OPTIONS.workspace is not None:
        root = OPTIONS.workspace.expanduser().resolve()
        if root.exists() and not root.is_dir():
            raise RdrfError(f"--workspace {root} is a file, not a folder; point it at the workspace folder (the one holding rdrf.toml)", exit_code=2)
        if not is_workspace(root):
            raise RdrfError(f"{root} is not an rdrf workspace (no rdrf.toml); create one with `rdrf init {root}`")
        return Workspace(root)
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if is_workspace(folder):
            return Workspace(folder)
    raise RdrfError(
        f"no rdrf workspace in {here} or any folder above it; run `rdrf init DIR`, "
        f"or point --workspace / {WORKSPACE_ENV} at one"
    )


def open_catalogue(mode: OpenMode = "write") -> Catalogue:
    """The workspace's catalogue, after checking its rdrf.toml: a typo in any section stops every
    command, not only the one that reads that section. A command that only looks passes
    mode="read": it then works on a read-only workspace."""
    ws = find_workspace()
    ws.settings  # parsed once here; stages read the cached model
    return Catalogue(ws, mode=mode)
