"""An export folder's bookkeeping: which files name a complete export, and what a folder holds.

A hidden state file (`.rdrf-export.json`) remembers, for each file written, the recipe it was made
from and its own hash, plus which scenes (under which split) the folder may hold - also while an
export into it is unfinished. Leak checks and `rdrf split set` read it to find exports that still
hold a scene under the other split; re-exports read it to skip files that are still right.
"""

from __future__ import annotations

import json
from pathlib import Path

from schemas.errors import RdrfError
from schemas.storage import durable_write
from schemas.workspace import Workspace

MANIFEST = "manifest.jsonl"
DATASHEET = "README.md"
STATE = ".rdrf-export.json"
# Bump when the bytes written for the same inputs change, so re-exports rewrite instead of skipping.
RECIPE_VERSION = "2"  # 2: the degraded image is warped, cropped and resized from the original in one step


def read_state(folder: Path) -> dict:
    """The folder's state file, or {} when it has none (or an unreadable one)."""
    try:
        return json.loads((folder / STATE).read_text())
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return {}


def write_state(folder: Path, outputs: dict[str, dict], scenes: dict[str, str]) -> None:
    state = {"recipe_version": RECIPE_VERSION, "outputs": outputs, "scenes": scenes}
    durable_write(json.dumps(state, indent=1, sort_keys=True).encode(), folder / STATE)


def exported_scenes(folder: Path) -> dict[str, str]:
    """Scene -> split of what an export folder may hold: from its state file (which also covers an
    interrupted export), else from its manifest."""
    state = read_state(folder)
    if state.get("scenes"):
        return dict(state["scenes"])
    found: dict[str, str] = {}
    manifest = folder / MANIFEST
    if manifest.is_file():
        for line in manifest.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                found[row["scene"]] = row["split"]
    return found


def check_out_folder(out: Path, ws: Workspace) -> None:
    """Refuse to export into a file, into the workspace's own data, or over a folder of other files."""
    if out.exists() and not out.is_dir():
        raise RdrfError(f"{out} is a file; --out must be a folder")
    for inner in (ws.originals, ws.developed, ws.aligned):
        if out.resolve() == inner.resolve() or inner.resolve() in out.resolve().parents:
            raise RdrfError(f"{out} is inside the workspace's {inner.name}/; choose a folder under exports/ or outside the workspace")
    if out.is_dir() and any(out.iterdir()) and not (out / STATE).exists() and not (out / MANIFEST).exists():
        raise RdrfError(f"{out} is not empty and is not an rdrf export; choose another --out or empty it")
