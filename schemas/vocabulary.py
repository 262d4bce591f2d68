"""Every closed vocabulary of rdrf, each defined once.

The `Literal`s are the single source: pydantic records, dataclass parameters and typer options use
them as types (typer turns a `Literal` into a choice), the ORM turns them into CHECK constraints
(`check_in`), and code that needs the values as a sequence takes `values(...)`.
"""

from __future__ import annotations

from typing import Literal, get_args

# A shot's role in its scene: the ground truth or a degraded (low-quality) shot.
Role = Literal["gt", "lq"]
# What degrades a shot (seeds/000: drops on glass, glass reflections, both; seeds/003 GT-Rain: rain
# streaks and rain accumulation, often together). A combination is its parts joined by '+' in this
# order, drops and reflection together keeping their older name 'both' (see `degradation_of`).
# 'unknown': a wild shot nobody has labelled (rain of some kind, no GT to tell which).
Degradation = Literal[
    "raindrop", "reflection", "both", "rain_streak", "rain_accumulation", "none", "unknown",
    "rain_streak+rain_accumulation",
    "raindrop+rain_streak", "raindrop+rain_accumulation", "raindrop+rain_streak+rain_accumulation",
    "reflection+rain_streak", "reflection+rain_accumulation", "reflection+rain_streak+rain_accumulation",
    "both+rain_streak", "both+rain_accumulation", "both+rain_streak+rain_accumulation",
]
# The degradations `rdrf synth --kind` renders (combinable) and the catalogue name of each.
DegradationKind = Literal["drops", "streaks", "accumulation", "reflection"]
KIND_DEGRADATION: dict[str, str] = {
    "drops": "raindrop", "reflection": "reflection", "streaks": "rain_streak", "accumulation": "rain_accumulation",
}
# What a scene holds: paired (GT + degraded stills, the RDRF protocol), video (many degraded frames
# per GT, GT-Rain) or wild (degraded shots with no GT: RDRF-wild, unpaired training).
SceneKind = Literal["paired", "video", "wild"]
# How a shot came in: fired over USB, by a wireless remote, or imported from a folder.
Trigger = Literal["usb", "remote", "import"]
# How a tethered body is fired (the triggers a camera can have).
CaptureTrigger = Literal["usb", "remote"]
# A pair's state; an alignment ends in one of the last three.
PairStatus = Literal["pending", "ok", "rejected", "failed"]
AlignStatus = Literal["ok", "rejected", "failed"]
# A paired scene's split; a scene's split (wild scenes have their own, never in a paired export);
# and what an export may be asked for ('all' is train and test).
Split = Literal["train", "test"]
SceneSplit = Literal["train", "test", "wild"]
ExportSplit = Literal["train", "test", "all", "wild"]
# What a catalogued file is. 'aligned' (the warped degraded image) and 'valid_mask' are written by
# versions before catalogue revision 0003 only (LEGACY_KINDS): rendered and derived on demand now.
# 'view_left'/'view_right': a dual-pixel shot's half-aperture views (DPRRN), as imported or developed;
# 'mask_left'/'mask_right': the raindrop mask of each view, written by `rdrf align` (revision 0006).
FileKind = Literal["original", "developed", "aligned", "valid_mask", "raindrop_mask", "reflection",
                   "view_left", "view_right", "mask_left", "mask_right"]
# A dual-pixel shot's two views, and the file kinds of a view and of its mask.
View = Literal["left", "right"]
VIEW_KIND: dict[str, str] = {"left": "view_left", "right": "view_right"}
VIEW_MASK_KIND: dict[str, str] = {"left": "mask_left", "right": "mask_right"}
LEGACY_KINDS: tuple[FileKind, ...] = ("aligned", "valid_mask")
# Export layouts, what to do with frames of another aspect ratio, and with warp borders.
ExportFormat = Literal["folder", "imagefolder", "webdataset"]
Fit = Literal["crop", "refuse"]
Borders = Literal["crop", "keep"]
# The image roles of an exported pair: GT, aligned degraded image, raindrop mask, reflection map;
# a dual-pixel pair adds its aligned left/right views and their masks.
ExportImage = Literal["gt", "lq", "mask", "reflection", "lq_left", "lq_right", "mask_left", "mask_right"]
# How the raindrop mask is made: rdrf's default, or the published AGAN threshold |aligned - GT| > 30.
MaskMethod = Literal["default", "agan"]
# Folder layouts `rdrf import` reads.
ImportLayout = Literal["rdrf", "deraindrop", "gt-rain"]
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


def degradation_of(parts) -> str:
    """The catalogue's Degradation for a set of its single values ('raindrop', 'rain_streak', ...);
    an empty set is 'none'. Raises ValueError for anything that is not a single degradation."""
    singles = ("raindrop", "reflection", "rain_streak", "rain_accumulation")
    parts = set(parts)
    unknown = parts - set(singles)
    if unknown:
        raise ValueError(f"unknown degradation {sorted(unknown)}; expected some of {', '.join(singles)}")
    if not parts:
        return "none"
    head = [p for p in singles[:2] if p in parts]
    names = (["both"] if len(head) == 2 else head) + [p for p in singles[2:] if p in parts]
    name = "+".join(names)
    assert name in values(Degradation), name
    return name


def degradation_parts(name: str) -> set[str]:
    """The single degradations a catalogued Degradation is made of (inverse of `degradation_of`)."""
    if name in ("none", "unknown"):
        return set()
    out: set[str] = set()
    for part in name.split("+"):
        out |= {"raindrop", "reflection"} if part == "both" else {part}
    return out
