"""Every closed vocabulary of rdrf, each defined once.

The `Literal`s are the single source: pydantic records, dataclass parameters and typer options use
them as types (typer turns a `Literal` into a choice), the ORM turns them into CHECK constraints
(`check_in`), and code that needs the values as a sequence takes `values(...)`.
"""

from __future__ import annotations

from typing import Literal, get_args

# A shot's role in its scene: the ground truth or a degraded (low-quality) shot.
Role = Literal["gt", "lq"]
# What degrades a shot (seeds/000: drops on glass, glass reflections, both; GT-Rain's streaks).
Degradation = Literal["raindrop", "reflection", "both", "rain_streak", "none"]
# How a shot came in: fired over USB, by a wireless remote, or imported from a folder.
Trigger = Literal["usb", "remote", "import"]
# How a tethered body is fired (the triggers a camera can have).
CaptureTrigger = Literal["usb", "remote"]
# A pair's state; an alignment ends in one of the last three.
PairStatus = Literal["pending", "ok", "rejected", "failed"]
AlignStatus = Literal["ok", "rejected", "failed"]
# A scene's split, and what an export may be asked for.
Split = Literal["train", "test"]
ExportSplit = Literal["train", "test", "all"]
# What a catalogued file is. 'aligned' (the warped degraded image) and 'valid_mask' are written by
# versions before catalogue revision 0003 only (LEGACY_KINDS): rendered and derived on demand now.
FileKind = Literal["original", "developed", "aligned", "valid_mask", "raindrop_mask", "reflection"]
LEGACY_KINDS: tuple[FileKind, ...] = ("aligned", "valid_mask")
# Export layouts, what to do with frames of another aspect ratio, and with warp borders.
ExportFormat = Literal["folder", "imagefolder", "webdataset"]
Fit = Literal["crop", "refuse"]
Borders = Literal["crop", "keep"]
# The image roles of an exported pair: GT, aligned degraded image, raindrop mask, reflection map.
ExportImage = Literal["gt", "lq", "mask", "reflection"]
# How the raindrop mask is made: rdrf's default, or the published AGAN threshold |aligned - GT| > 30.
MaskMethod = Literal["default", "agan"]
# Folder layouts `rdrf import` reads.
ImportLayout = Literal["rdrf", "deraindrop"]
# A scene's GT bracket: none (imported, or captured with --no-gt-bracket), within its limits, or
# drifted (camera moved, light or scene changed between the opening and the closing GT).
BracketStatus = Literal["no bracket", "ok", "drifted"]


def values(vocabulary) -> tuple[str, ...]:
    """The allowed values of a vocabulary, in their defined order."""
    return get_args(vocabulary)


def check_in(column: str, vocabulary, nullable: bool = False) -> str:
    """SQL for a CHECK constraint keeping `column` inside `vocabulary`."""
    listed = ", ".join(f"'{v}'" for v in values(vocabulary))
    clause = f"{column} IN ({listed})"
    return f"{column} IS NULL OR {clause}" if nullable else clause
