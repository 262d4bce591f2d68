"""`rdrf import DIR`: bring existing folders of shots into the workspace.

Layouts (DESIGN.md): `rdrf` - DIR/<scene>/gt.<ext> (one shot; gt.ARW + gt.JPG is one RAW+JPEG
shot), DIR/<scene>/lq/*.<ext> (shots grouped by file stem, numbered in natural name order),
optional DIR/<scene>/scene.toml; a dual-pixel shot is lq/NAME_L.<ext> + lq/NAME_R.<ext>
(its views) with or without lq/NAME.<ext> (its combined image; rdrf_capture/dual_pixel.py); `deraindrop` - the AGAN Raindrop layout DIR/{data,gt}/N_rain.* and
N_clean.*, one scene per N. One transaction per scene: a bad scene changes nothing, and the others
still go in.

A folder named like a catalogued scene is that scene's own shoot when its GT is one of the scene's GT
files (a re-run adds nothing; new degraded files are added to the series). Any other folder of that
name is a different shoot: refused, unless the user gives it another label (`prefix`) or says to add
its shots to the scene (`add_to_existing`, same camera and glass only; its GT is kept as an extra GT).
"""

from __future__ import annotations

import re
import tomllib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from sqlalchemy import select

from rdrf_capture.dual_pixel import check_dual_pixel_raw, combined_png, pair_views, view_of
from rdrf_capture.exif import read_exposure
from rdrf_capture.image_check import is_supported
from rdrf_capture.ingest import IncomingFile, IngestResult, SetupInfo, ShotInfo, check_label, ingest_shots, primary
from schemas.catalogue import Scene
from schemas.errors import RdrfError, WorkspaceError
from schemas.imageio import is_jpeg, is_raw
from schemas.records import CATEGORIES
from schemas.storage import sha256_file
from schemas.views import scene_order
from schemas.vocabulary import VIEW_KIND, Degradation, ImportLayout, SceneKind, View, values
from schemas.workspace import Catalogue



def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def canonical_category(value: str) -> str:
    """Accept the paper's category names or their slugs ('signs-markers'); refuse anything else."""
    by_slug = {slug(c): c for c in CATEGORIES}
    found = by_slug.get(slug(value))
    if found is None:
        raise ValueError(f"unknown category {value!r}; expected one of: {', '.join(CATEGORIES)}")
    return found


class SceneToml(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: Optional[str] = None
    glass_mm: Optional[float] = None
    notes: Optional[str] = None
    degradation: Optional[str] = None
    camera: Optional[str] = None
    distance_cm: Optional[float] = None
    angle_deg: Optional[float] = None

    @field_validator("category")
    @classmethod
    def _category(cls, v: Optional[str]) -> Optional[str]:
        return canonical_category(v) if v is not None else None

    @field_validator("degradation")
    @classmethod
    def _degradation(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and v not in values(Degradation):
            raise ValueError(f"unknown degradation {v!r}; expected one of {', '.join(values(Degradation))}")
        return v


@dataclass
class SceneSource:
    label: str
    folder: Path
    gt: list[Path]
    lq: list[list[Path]]  # one list of files per shot
    meta: SceneToml
    kind: SceneKind = "paired"
    extra_gt: list[list[Path]] = field(default_factory=list)  # more clean frames (GT-Rain): kept, not paired
    frames: dict[str, int] = field(default_factory=dict)  # degraded file name -> its frame number


def _group_by_stem(files: list[Path]) -> list[list[Path]]:
    groups: dict[str, list[Path]] = defaultdict(list)
    for f in files:
        groups[f.stem].append(f)
    return [sorted(groups[k]) for k in sorted(groups, key=scene_order)]


def is_one_shot(files: list[Path]) -> bool:
    """Files sharing a stem are one shot when they are a single file or one RAW plus one JPEG."""
    if len(files) == 1:
        return True
    raws = [p for p in files if is_raw(p.name)]
    jpegs = [p for p in files if is_jpeg(p.name)]
    return len(files) == 2 and len(raws) == 1 and len(jpegs) == 1


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def read_scene_folder(folder: Path, prefix: str = "") -> SceneSource:
    """One scene folder of the rdrf layout, checked before anything is stored."""
    label = check_label(f"{prefix}{folder.name}")
    return SceneSource(label, folder, _scene_gt(folder), _scene_lq(folder), _scene_meta(folder))


def _scene_gt(folder: Path) -> list[Path]:
    gts = [p for p in _image_files(folder) if p.stem == "gt"]
    for p in gts:
        if not is_supported(p.name):
            raise RdrfError(f"{p}: unsupported ground-truth file type; expected JPEG/PNG/TIFF or RAW")
    if not gts:
        raise RdrfError(f"{folder}: no ground truth; expected exactly one gt.<ext> (e.g. gt.jpg or gt.ARW) in the scene folder")
    if not is_one_shot(gts):
        raise RdrfError(
            f"{folder}: {len(gts)} ground-truth files ({', '.join(p.name for p in gts)}); expected exactly one gt.<ext> "
            "(or one RAW + one JPEG of the same shot)"
        )
    return sorted(gts)


def _scene_lq(folder: Path) -> list[list[Path]]:
    lq_dir = folder / "lq"
    if not lq_dir.is_dir():
        raise RdrfError(f"{folder}: no lq/ folder; expected the degraded shots in {lq_dir}")
    lq_files = _image_files(lq_dir)
    for p in lq_files:
        if not is_supported(p.name):
            raise RdrfError(f"{p}: unsupported file type; expected JPEG/PNG/TIFF or RAW")
    if not lq_files:
        raise RdrfError(f"{lq_dir}: empty; expected one or more degraded shots")
    plain, views = pair_views(lq_files, lq_dir)
    lq_shots = _group_by_stem(plain)
    for files in lq_shots:
        if not is_one_shot(files):
            raise RdrfError(
                f"{lq_dir}: {', '.join(p.name for p in files)} share a name; expected one file per shot "
                "(or one RAW + one JPEG of the same shot)"
            )
    # A dual-pixel shot: its combined file(s), if any, then its left and right views.
    by_stem = {files[0].stem: files for files in lq_shots}
    for base, sides in views.items():
        by_stem[base] = by_stem.get(base, []) + [sides["left"], sides["right"]]
    return [by_stem[k] for k in sorted(by_stem, key=scene_order)]


def _scene_meta(folder: Path) -> SceneToml:
    meta_path = folder / "scene.toml"
    if not meta_path.exists():
        return SceneToml()
    try:
        return SceneToml(**tomllib.loads(meta_path.read_text()))
    except (tomllib.TOMLDecodeError, ValidationError, UnicodeDecodeError) as exc:
        raise RdrfError(f"{meta_path}: {exc}") from exc


def scene_folders(root: Path) -> list[Path]:
    folders = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: scene_order(p.name))
    if not folders:
        raise RdrfError(f"{root}: no scene folders; expected {root}/<scene>/gt.<ext> and {root}/<scene>/lq/")
    return folders


def _deraindrop_scenes(root: Path, prefix: str) -> list[SceneSource]:
    data, gt = root / "data", root / "gt"
    if not data.is_dir() or not gt.is_dir():
        raise RdrfError(f"{root}: expected the Raindrop layout data/N_rain.png and gt/N_clean.png")
    clean = {p.stem.rsplit("_", 1)[0]: p for p in _image_files(gt) if p.stem.endswith("_clean")}
    scenes = []
    for rain in sorted(_image_files(data), key=lambda p: scene_order(p.name)):
        if not rain.stem.endswith("_rain"):
            continue
        n = rain.stem.rsplit("_", 1)[0]
        if n not in clean:
            raise RdrfError(f"{rain}: no matching ground truth {gt}/{n}_clean.*")
        scenes.append(SceneSource(check_label(f"{prefix}{n}"), root, [clean[n]], [[rain]], SceneToml(degradation="raindrop")))
    if not scenes:
        raise RdrfError(f"{data}: no N_rain.* files")
    return scenes


def _shot_files(folder: Path, files: list[Path]) -> list[list[Path]]:
    """Supported image files grouped into shots by stem; anything else refused, naming it."""
    for p in files:
        if not is_supported(p.name):
            raise RdrfError(f"{p}: unsupported file type; expected JPEG/PNG/TIFF or RAW")
    shots = _group_by_stem(files)
    for group in shots:
        if not is_one_shot(group):
            raise RdrfError(
                f"{folder}: {', '.join(p.name for p in group)} share a name; expected one file per shot "
                "(or one RAW + one JPEG of the same shot)"
            )
    return shots


def wild_folders(root: Path) -> list[Path]:
    """`--wild`: any folder of images, no GT. Images directly in DIR are one scene named after DIR;
    each sub-folder holding files is a scene of its own (optional scene.toml in either)."""
    subs = [p for p in sorted(root.iterdir(), key=lambda p: scene_order(p.name)) if p.is_dir() and not p.name.startswith(".")]
    folders = [f for f in [root, *subs] if any(p.name != "scene.toml" for p in _image_files(f))]
    if not folders:
        raise RdrfError(f"{root}: no images; --wild expects image files in {root} or in its sub-folders (one scene each)")
    return folders


def read_wild_folder(folder: Path, prefix: str = "") -> SceneSource:
    files = [p for p in _image_files(folder) if p.name != "scene.toml"]
    return SceneSource(check_label(f"{prefix}{folder.name}"), folder, [], _shot_files(folder, files), _scene_meta(folder), kind="wild")


GT_RAIN_FRAME = re.compile(r"^(?P<scene>.+)-(?P<what>[CR])-(?P<frame>\d+)$")


def gt_rain_folders(root: Path) -> list[Path]:
    return scene_folders(root)


def read_gt_rain_folder(folder: Path, prefix: str = "") -> SceneSource:
    """One scene of the GT-Rain layout (verified against UCLA-VMG/GT-RAIN's loaders, docs/NOTES.md):
    rainy frames `*-R-NNN.<ext>`, the clean frame `*-C-000.<ext>` (the GT); other clean frames
    `*-C-NNN` (one scene has one per rainy frame) are kept as extra GT shots, not paired."""
    clean: dict[int, Path] = {}
    rainy: list[tuple[int, Path]] = []
    for p in _image_files(folder):
        m = GT_RAIN_FRAME.match(p.stem)
        if m is None or not is_supported(p.name):
            if p.name == "scene.toml":
                continue
            raise RdrfError(f"{p}: not a GT-Rain frame; expected NAME-C-NNN.png (clean) or NAME-R-NNN.png (rainy)")
        (clean.__setitem__(int(m["frame"]), p) if m["what"] == "C" else rainy.append((int(m["frame"]), p)))
    if 0 not in clean:
        raise RdrfError(f"{folder}: no clean frame *-C-000.*; expected one per GT-Rain scene folder")
    if not rainy:
        raise RdrfError(f"{folder}: no rainy frames *-R-NNN.*")
    rainy.sort()
    meta = _scene_meta(folder)
    return SceneSource(check_label(f"{prefix}{folder.name}"), folder, [clean[0]], [[p] for _, p in rainy], meta, kind="video",
                       extra_gt=[[clean[k]] for k in sorted(clean) if k != 0], frames={p.name: k for k, p in rainy})


def import_scene(catalogue: Catalogue, src: SceneSource, degradation: Optional[str] = None,
                 dual_pixel_raw: Optional[View] = None) -> list[IngestResult]:
    m = src.meta
    setup = SetupInfo(camera_model=m.camera, glass_mm=m.glass_mm, distance_cm=m.distance_cm, angle_deg=m.angle_deg)
    common = dict(trigger="import", category=m.category, notes=m.notes, setup=setup, scene_kind=src.kind)
    shots = [([IncomingFile(p.name, p) for p in files], ShotInfo(role="gt", degradation="none", **common))
             for files in ([src.gt] if src.gt else []) + src.extra_gt]
    # scene.toml's degradation, else the command's, else unknown where nobody could know (wild, GT-Rain).
    lq_degradation = m.degradation or degradation or ("unknown" if src.kind != "paired" else None)
    if dual_pixel_raw and not any(is_raw(p.name) for files in src.lq for p in files):
        raise RdrfError(f"{src.folder}: --dual-pixel-raw, but no degraded shot of scene {src.label} is a RAW file; "
                        "expected Canon Dual Pixel RAW files (.CR2/.CR3) in lq/")
    shots += [
        (_incoming(files),
         ShotInfo(role="lq", degradation=lq_degradation, frame_index=src.frames.get(files[0].name),
                  qa=_dual_pixel_raw_qa(files, dual_pixel_raw), **common))
        for files in src.lq
    ]
    return ingest_shots(catalogue, src.label, shots)


def _dual_pixel_raw_qa(files: list[Path], frame1: Optional[View]) -> Optional[dict]:
    """With --dual-pixel-raw, a degraded shot's RAW must hold the two frames of a Canon Dual Pixel RAW
    (checked before anything is stored); its QA record says which view frame 1 is, for development."""
    raws = [p for p in files if is_raw(p.name)]
    if frame1 is None or not raws:
        return None
    return {"dual_pixel_raw": {"frame1": frame1, **check_dual_pixel_raw(raws[0])}}


def _incoming(files: list[Path]) -> list[IncomingFile]:
    """A shot's files as stored: originals, and for a dual-pixel shot its two views (and, when no
    combined file came with them, the combined image computed from the views, as a derived file)."""
    sides: dict[View, Path] = {}
    for p in files:
        if (found := view_of(p)) is not None:
            sides[found[1]] = p
    out = [IncomingFile(p.name, p) for p in files if p not in sides.values()]
    if sides and not out:
        base = view_of(sides["left"])[0]
        out.append(IncomingFile(f"{base}.png", combined_png(sides["left"], sides["right"]), kind="developed"))
    out += [IncomingFile(p.name, p, kind=VIEW_KIND[side]) for side, p in sorted(sides.items())]
    return out


def _shown(values: set) -> str:
    return " or ".join(sorted("unknown" if v is None else f"{v:g} mm" if isinstance(v, float) else repr(v) for v in values))


def _scene_setups(scene: Scene) -> tuple[set, set]:
    """The cameras and glass thicknesses the scene's shots were taken with (None: not recorded)."""
    setups = [shot.setup for shot in scene.shots]
    return {u.camera_model if u else None for u in setups}, {u.glass_mm if u else None for u in setups}


def _incoming_cameras(src: SceneSource) -> set:
    """The camera each shot of the folder will be catalogued with: scene.toml's, else its EXIF's."""
    if src.meta.camera is not None:
        return {src.meta.camera}
    shots = [src.gt, *src.lq]
    return {read_exposure(files[primary([f.name for f in files])].read_bytes()).camera_model for files in shots}


def _check_setup(scene: Scene, src: SceneSource, strict: bool) -> None:
    """scene.toml may not contradict the scene's camera or glass; with `strict` (shots of another
    shoot added to the scene) the folder's camera and glass must be the scene's, unknown included."""
    cameras, glasses = _scene_setups(scene)
    incoming = (
        ("camera", _incoming_cameras(src) if strict else {src.meta.camera} - {None}, cameras),
        ("glass", {None if src.meta.glass_mm is None else float(src.meta.glass_mm)} if strict else {src.meta.glass_mm} - {None}, glasses),
    )
    for what, theirs, ours in incoming:
        if not theirs <= ours:
            raise RdrfError(
                f"{src.folder}: {what} {_shown(theirs)} does not match scene {scene.label}'s {what} {_shown(ours)}; "
                + ("--add-to-existing adds only shots taken with the scene's camera and glass" if strict
                   else "a scene's camera and glass are never changed - fix scene.toml or import under another label (--scene-prefix)")
            )


def check_existing_scene(catalogue: Catalogue, src: SceneSource, add_to_existing: bool) -> Optional[str]:
    """Refuse a folder that is another shoot of a catalogued scene's name, unless told to add it.

    Returns a line for the summary when the folder's GT goes in as an extra GT of the scene."""
    with catalogue.session() as s:
        scene = s.scalar(select(Scene).where(Scene.label == src.label))
        if scene is None:
            return None
        _check_setup(scene, src, strict=False)
        gts = [shot for shot in scene.shots if shot.role == "gt"]
        scene_gt = {f.sha256 for shot in gts for f in shot.files if f.kind == "original"}
        if {sha256_file(p)[0] for p in src.gt} <= scene_gt:
            return None  # this scene's own shoot: a re-run, or more degraded shots of it
        if not add_to_existing:
            known = ", ".join(shot.original_name for shot in gts) or "none"
            raise RdrfError(
                f"{src.folder}: scene {src.label} is already catalogued with another ground truth ({known}), so this "
                f"is a different shoot with the same name; import it under another label with --scene-prefix P "
                f"(scene P{src.label}), or add its shots to scene {src.label} with --add-to-existing"
            )
        _check_setup(scene, src, strict=True)
        if not gts:
            return None
        return (
            f"scene {src.label}: {', '.join(p.name for p in src.gt)} from {src.folder} kept as an extra GT shot (not "
            f"paired); its degraded shots pair with the scene's GT {gts[0].original_name}"
        )


@dataclass
class ImportSummary:
    scenes: int = 0
    shots_added: int = 0
    shots_known: int = 0
    bad: list[str] = field(default_factory=list)  # one message per scene not imported
    notes: list[str] = field(default_factory=list)  # what the user should know about scenes imported


def _sources(root: Path, layout: ImportLayout, prefix: str, wild: bool = False) -> list[tuple[str, Callable[[], SceneSource]]]:
    """Each scene's label and how to read it: a bad rdrf scene folder fails when read, on its own."""
    if wild:
        if layout != "rdrf":
            raise RdrfError(f"--wild reads any folder of images; it does not combine with --layout {layout}", exit_code=2)
        return [(folder.name, lambda folder=folder: read_wild_folder(folder, prefix)) for folder in wild_folders(root)]
    if layout == "deraindrop":
        return [(src.label, lambda src=src: src) for src in _deraindrop_scenes(root, prefix)]
    if layout == "gt-rain":
        return [(folder.name, lambda folder=folder: read_gt_rain_folder(folder, prefix)) for folder in gt_rain_folders(root)]
    return [(folder.name, lambda folder=folder: read_scene_folder(folder, prefix)) for folder in scene_folders(root)]


def import_folder(
    catalogue: Catalogue,
    root: Path,
    layout: ImportLayout = "rdrf",
    *,
    prefix: str = "",
    add_to_existing: bool = False,
    wild: bool = False,
    degradation: Optional[str] = None,
    dual_pixel_raw: Optional[View] = None,
    on_scene: Callable[[str], None] = lambda label: None,
) -> ImportSummary:
    """Import every scene; a bad scene is listed in `bad` and the rest go on. A failure of the
    workspace itself (WorkspaceError: full disk, read-only, catalogue) stops the import."""
    root = root.expanduser().resolve()
    if not root.is_dir():
        raise RdrfError(f"{root}: not a folder; expected a folder of scene folders")
    summary = ImportSummary()
    for label, read in _sources(root, layout, prefix, wild):
        try:
            src = read()
            note = check_existing_scene(catalogue, src, add_to_existing)
            results = import_scene(catalogue, src, degradation, dual_pixel_raw)
        except WorkspaceError:
            raise
        except RdrfError as exc:
            summary.bad.append(str(exc))
        else:
            if note and any(r.added for r in results):
                summary.notes.append(note)
            summary.scenes += 1
            summary.shots_added += sum(r.added for r in results)
            summary.shots_known += sum(not r.added for r in results)
        on_scene(label)
    return summary
