"""Crash-safe ingestion, shared by `rdrf import` and `rdrf capture`.

Order of events for one batch of shots (a scene on import, one shot on capture):
1. every file is read, fully decoded and hashed - a bad file fails here and nothing is written;
2. the destination paths are journalled (committed), then each file is copied durably (temporary
   file, fsync, rename, fsync of the folder) and RAW files are developed;
3. one transaction registers scene, setup, shots, files and pairs and clears the journal.
A crash in step 2 leaves journalled files that `rdrf verify` explains and a re-run overwrites; an
error in step 2 removes what this call wrote. Sources are only ever read, never moved or changed.
A file is "already catalogued" only as an original (or dual-pixel view) of the same scene: the same bytes in another
scene are that scene's shot, and are stored again for this one (a scene never loses its GT).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Optional, Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from rdrf_capture.develop import develop_shot, undeveloped
from rdrf_capture.exif import Exposure, read_exposure
from rdrf_capture.image_check import ImageInfo, check_image
from schemas.catalogue import File, IngestJournal, Pair, Scene, Setup, Shot
from schemas.errors import RdrfError
from schemas.imageio import is_raw
from schemas.storage import clear_temporaries, durable_copy, durable_write, sha256_bytes
from schemas.views import scene_gt
from schemas.vocabulary import Degradation, FileKind, Role, SceneKind, Trigger, VIEW_KIND
from schemas.workspace import Catalogue

# A scene label names folders (originals/<label>/...) on every OS: what each rule below keeps out.
LABEL_RULE = (
    "1-64 characters: ASCII letters A-Z a-z, digits 0-9, '.', '_' and '-', starting with a letter or digit, "
    "not ending with '.', not a device name Windows reserves (CON, PRN, AUX, NUL, COM1-9, LPT1-9)"
)
LABEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
WINDOWS_RESERVED = frozenset({"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))})


@dataclass
class IncomingFile:
    name: str  # the camera's or the source's file name, kept as the stored name
    source: Path | bytes
    # 'original' (stored under originals/ exactly as given), a dual-pixel view ('view_left'/'view_right',
    # also stored as given), or 'developed': derived here (a combined image computed from two views),
    # stored under developed/ and never taken for an original.
    kind: FileKind = "original"

    def read(self) -> bytes:
        if isinstance(self.source, bytes):
            return self.source
        try:
            return Path(self.source).read_bytes()
        except OSError as exc:
            raise RdrfError(f"{self.source}: cannot read ({exc.strerror})") from exc

    @property
    def where(self) -> str:
        return str(self.source) if isinstance(self.source, Path) else self.name


@dataclass
class SetupInfo:
    camera_model: Optional[str] = None
    camera_serial: Optional[str] = None
    lens: Optional[str] = None
    focal_length_mm: Optional[float] = None
    glass_mm: Optional[float] = None
    distance_cm: Optional[float] = None
    angle_deg: Optional[float] = None


@dataclass
class ShotInfo:
    role: Role
    trigger: Trigger
    degradation: Optional[Degradation] = None  # default: "none" for gt, "both" for lq
    captured_at: Optional[datetime] = None
    category: Optional[str] = None  # applied to the scene when given
    notes: Optional[str] = None
    setup: Optional[SetupInfo] = None
    qa: Optional[dict] = None
    scene_kind: SceneKind = "paired"  # a new scene is made of this kind; an existing one must be of it
    frame_index: Optional[int] = None  # video frames: number and time in the source clip
    timestamp_s: Optional[float] = None


@dataclass
class IngestResult:
    shot_id: int
    added: bool  # False when every file of the shot was already the scene's
    index: int = 0  # the shot's number within its role as catalogued now (0 when it was already known)


@dataclass
class _Checked:
    incoming: IncomingFile
    sha256: str
    size: int
    info: ImageInfo
    exposure: Exposure


@dataclass
class _Planned:
    info: ShotInfo
    files: list[_Checked]
    index: int = 0
    known: bool = False  # every file is already this scene's (or repeats an earlier shot of the batch)
    stored: list[tuple[_Checked, str]] = field(default_factory=list)  # (file, rel path)


def _label_problem(label: str) -> Optional[str]:
    bad = sorted({c for c in label if c not in LABEL_CHARS})
    if not label:
        return "it is empty"
    if bad:
        return f"{', '.join(repr(c) for c in bad)} {'is' if len(bad) == 1 else 'are'} not allowed"
    if len(label) > 64:
        return f"it has {len(label)} characters"
    if label[0] in "._-":
        return f"it starts with {label[0]!r}"
    if label.endswith("."):
        return "it ends with '.' (Windows drops it)"
    if label.split(".")[0].upper() in WINDOWS_RESERVED:
        return "it is a device name on Windows"
    return None


def check_label(label: str) -> str:
    """The label itself, or an error saying what is wrong with it and what a label may be."""
    problem = _label_problem(label)
    if problem is not None:
        raise RdrfError(f"scene label {label!r} cannot name a folder on every OS: {problem}; a scene label is {LABEL_RULE} (e.g. 17 or agan-3)")
    return label


def next_index(catalogue: Catalogue, scene_label: str, role: str) -> int:
    with catalogue.session() as s:
        return _next_index(s, scene_label, role)


def _next_index(s: Session, scene_label: str, role: str) -> int:
    top = s.scalar(
        select(func.max(Shot.index)).join(Scene).where(Scene.label == scene_label, Shot.role == role)
    )
    return (top or 0) + 1


def _check_files(files: Sequence[IncomingFile]) -> list[_Checked]:
    checked = []
    for f in files:
        data = f.read()
        info = check_image(data, f.where)
        checked.append(_Checked(f, sha256_bytes(data), len(data), info, read_exposure(data)))
    return checked


def primary(names: Sequence[str]) -> int:
    """Which file of a shot describes it (EXIF, size, original name): its RAW if it has one, else its first."""
    return next((i for i, name in enumerate(names) if is_raw(name)), 0)


# The kinds of file that came from outside, as given: what "already catalogued" is judged by.
SOURCE_KINDS: tuple[str, ...] = ("original", *VIEW_KIND.values())


def _primary(p: _Planned) -> _Checked:
    """Its RAW or first original; a shot of two views alone: its combined image (derived), else its first file."""
    files = [c for c in p.files if c.incoming.kind == "original"] or [c for c in p.files if c.incoming.kind == "developed"] or p.files
    return files[primary([c.incoming.name for c in files])]


def _source(p: _Planned) -> _Checked:
    """The shot's first file that came from outside: derived files cannot identify a shot."""
    return next(c for c in p.files if c.incoming.kind in SOURCE_KINDS)


def _setup_for(s: Session, scene: Scene, info: Optional[SetupInfo], exposure: Exposure) -> Optional[Setup]:
    wanted = SetupInfo(**vars(info)) if info else SetupInfo()
    wanted.camera_model = wanted.camera_model or exposure.camera_model
    wanted.camera_serial = wanted.camera_serial or exposure.camera_serial
    wanted.lens = wanted.lens or exposure.lens
    wanted.focal_length_mm = wanted.focal_length_mm or exposure.focal_length_mm
    for name in ("camera_model", "camera_serial", "lens"):
        setattr(wanted, name, _fit(getattr(wanted, name), name))
    if not any(v is not None for v in vars(wanted).values()):
        return None
    for setup in scene.setups:
        if all(getattr(setup, k) == v for k, v in vars(wanted).items()):
            return setup
    setup = Setup(scene=scene, **vars(wanted))
    s.add(setup)
    return setup


def _fit(value: Optional[str], column: str) -> Optional[str]:
    """An EXIF text cut to its Setup column's length. PostgreSQL refuses a longer value where SQLite
    stores it whole, so the same file would import on one and not the other; cut the same way on both,
    equal bodies stay equal (alignment compares them)."""
    limit = Setup.__table__.c[column].type.length
    return value[:limit] if value is not None and limit is not None else value


def ensure_pairs(s: Session, scene: Scene) -> int:
    """Pair every degraded shot of the scene that has no pair with the scene's GT."""
    s.flush()
    s.refresh(scene, ["shots"])
    gt = scene_gt(scene)
    if gt is None:
        return 0
    paired = set(s.scalars(select(Pair.lq_shot_id).where(Pair.scene_id == scene.id)))
    added = 0
    for shot in scene.shots:
        if shot.role == "lq" and shot.id not in paired:
            s.add(Pair(scene=scene, gt_shot_id=gt.id, lq_shot_id=shot.id, status="pending", reason=""))
            added += 1
    return added


def ingest_shots(
    catalogue: Catalogue,
    scene_label: str,
    shots: Sequence[tuple[Sequence[IncomingFile], ShotInfo]],
    *,
    develop_raw: bool = True,
) -> list[IngestResult]:
    """Store and register a batch of shots of one scene in one transaction (see module docstring).

    The scene is locked for the call (schemas/locks.py): shot numbers and file names are chosen from
    what the catalogue holds, which only stays true while no other process adds to the scene."""
    check_label(scene_label)
    # 1. check everything before writing anything
    plan = [_Planned(info, _check_files(files)) for files, info in shots]
    with catalogue.scene_lock(scene_label, "rdrf import"):
        _number(catalogue, scene_label, plan)
        todo = [p for p in plan if not p.known]
        # 2. journal, then write durably; 3. register
        if todo:
            paths = [_dest(scene_label, p, c.incoming.name, c.incoming.kind) for p in todo for c in p.files]
            _journal(catalogue, scene_label, paths)
            _write(catalogue, scene_label, todo, paths)
            _register(catalogue, scene_label, todo, paths)
        if develop_raw:
            _develop_scene(catalogue, scene_label)
    with catalogue.session() as s:
        shot_of = _catalogued(s, scene_label, plan)
    return [IngestResult(shot_of[_source(p).sha256], not p.known, p.index) for p in plan]


def _number(catalogue: Catalogue, scene_label: str, plan: list[_Planned]) -> None:
    """Drop files this scene already holds (or repeated earlier in the batch); number the new shots
    per role. The same bytes in another scene are that scene's shot, not this one's: stored again."""
    with catalogue.session() as s:
        _check_scene_facts(s, scene_label, plan)
        seen = set(_catalogued(s, scene_label, plan))
        counters: dict[str, int] = {}
        for p in plan:
            fresh = [c for c in p.files if c.sha256 not in seen]
            seen.update(c.sha256 for c in p.files)
            if not any(c.incoming.kind in SOURCE_KINDS for c in fresh):  # derived files alone are no new shot
                p.known = True
                continue
            p.files = fresh
            role = p.info.role
            counters[role] = counters.get(role) or _next_index(s, scene_label, role)
            p.index = counters[role]
            counters[role] += 1


def _dest(scene_label: str, p: _Planned, name: str, kind: str = "original") -> str:
    top = "developed" if kind == "developed" else "originals"
    return f"{top}/{scene_label}/{p.info.role}-{p.index:03d}/{name}"


def _catalogued(s: Session, scene_label: str, plan: list[_Planned]) -> dict[str, int]:
    """sha256 -> shot id of the batch's files that are already originals of this scene."""
    hashes = [c.sha256 for p in plan for c in p.files]
    rows = s.execute(
        select(File.sha256, File.shot_id)
        .join(Shot, File.shot_id == Shot.id)
        .join(Scene)
        .where(Scene.label == scene_label, File.kind.in_(SOURCE_KINDS), File.sha256.in_(hashes))
    )
    return {sha: shot_id for sha, shot_id in rows}


def _check_scene_facts(s: Session, scene_label: str, plan: list[_Planned]) -> None:
    """A scene's category and notes are set once: a batch that says otherwise is refused, naming both."""
    scene = s.scalar(select(Scene).where(Scene.label == scene_label))
    if scene is None:
        twin = s.scalar(select(Scene.label).where(func.lower(Scene.label) == scene_label.lower()))
        if twin is not None:
            raise RdrfError(
                f"scene label {scene_label!r} differs from catalogued scene {twin!r} only in case: they would share "
                "one folder on macOS and Windows; use the catalogued label or another one"
            )
        _check_kind(scene_label, None, plan)
        return
    _check_kind(scene_label, scene.kind, plan)
    for p in plan:
        for what, old, new in (("category", scene.category, p.info.category), ("notes", scene.notes, p.info.notes)):
            if old and new and old != new:
                raise RdrfError(
                    f"scene {scene_label} is catalogued with {what} {old!r}, not {new!r}; a scene's {what} is never "
                    "overwritten - import under another label, or give the catalogued value"
                )


def _check_kind(scene_label: str, kind: Optional[str], plan: list[_Planned]) -> None:
    """Shots go into a scene of their own kind only, and a wild scene never gets a GT."""
    for p in plan:
        wanted = p.info.scene_kind
        if kind is not None and kind != wanted:
            how = {"wild": "--wild", "video": "rdrf import-video", "paired": "a paired import or capture"}[kind]
            raise RdrfError(
                f"scene {scene_label} is a {kind} scene, not {wanted}; its shots come only through {how} - "
                "use another scene label"
            )
        if wanted == "wild" and p.info.role == "gt":
            raise RdrfError(f"scene {scene_label} is a wild scene: it has no ground truth, so a GT shot cannot go in")


def _journal(catalogue: Catalogue, scene_label: str, paths: list[str]) -> None:
    """Record the destinations before anything is written, so a crash leaves only explained files."""
    with catalogue.session() as s:
        for path in paths:
            if s.scalar(select(File.id).where(File.path == path)) is not None:
                raise RdrfError(f"{path} is already catalogued for another shot; the catalogue and the workspace disagree - run `rdrf verify`")
        s.add_all(IngestJournal(path=path, source=scene_label) for path in paths)
    for folder in {catalogue.workspace.abs(path).parent for path in paths}:
        clear_temporaries(folder)


def _write(catalogue: Catalogue, scene_label: str, todo: list[_Planned], paths: list[str]) -> None:
    """Copy every file durably; on any error remove what was written and its journal rows."""
    ws = catalogue.workspace
    written: list[Path] = []
    try:
        for p in todo:
            for c in p.files:
                rel = _dest(scene_label, p, c.incoming.name, c.incoming.kind)
                target = ws.abs(rel)
                if isinstance(c.incoming.source, bytes):
                    stored = durable_write(c.incoming.source, target)
                else:
                    stored = durable_copy(Path(c.incoming.source), target)
                written.append(target)
                if stored.sha256 != c.sha256:
                    raise RdrfError(f"{c.incoming.where}: the file changed while it was being imported; import it again")
                p.stored.append((c, rel))
    except BaseException as exc:
        for target in written:
            target.unlink(missing_ok=True)
        with catalogue.session() as s:
            s.execute(delete(IngestJournal).where(IngestJournal.path.in_(paths)))
        if isinstance(exc, OSError):
            raise RdrfError(f"{exc.filename or ws.root}: cannot write into the workspace ({exc.strerror})") from exc
        raise


def _register(catalogue: Catalogue, scene_label: str, todo: list[_Planned], paths: list[str]) -> None:
    """One transaction: scene, setups, shots (with their QA), files and pairs; the journal cleared."""
    with catalogue.session() as s:
        scene = s.scalar(select(Scene).where(Scene.label == scene_label))
        if scene is None:
            kind = todo[0].info.scene_kind
            # A wild scene is in the wild split from the start, pinned: never in a paired export.
            scene = Scene(label=scene_label, notes="", kind=kind,
                          split="wild" if kind == "wild" else None, split_pinned=kind == "wild")
            s.add(scene)
        for p in todo:  # set once (_check_scene_facts refused a different value)
            scene.category = scene.category or p.info.category
            scene.notes = scene.notes or p.info.notes or ""
            shot = _shot_row(s, scene, p)
            s.add(shot)
            for c, rel in p.stored:
                s.add(File(shot=shot, kind=c.incoming.kind, path=rel, sha256=c.sha256, size=c.size))
        ensure_pairs(s, scene)
        s.execute(delete(IngestJournal).where(IngestJournal.path.in_(paths)))


def _shot_row(s: Session, scene: Scene, p: _Planned) -> Shot:
    prim = _primary(p)
    exp = prim.exposure
    return Shot(
        scene=scene,
        setup=_setup_for(s, scene, p.info.setup, exp),
        role=p.info.role,
        index=p.index,
        degradation=p.info.degradation or ("none" if p.info.role == "gt" else "both"),
        trigger=p.info.trigger,
        original_name=prim.incoming.name,
        captured_at=p.info.captured_at or exp.captured_at,
        iso=exp.iso,
        shutter_s=exp.shutter_s,
        aperture=exp.aperture,
        width=prim.info.width,
        height=prim.info.height,
        qa=_with_channels(p.info.qa, prim.info.channels),
        frame_index=p.info.frame_index,
        timestamp_s=p.info.timestamp_s,
    )


def _with_channels(qa: Optional[dict], channels: int) -> Optional[dict]:
    """A shot stored as other than 3-channel colour (1: greyscale) says so in its QA record
    (`qa["channels"]`), so that alignment can refuse a greyscale-vs-colour pair instead of guessing;
    imageio decodes it as 3 equal channels."""
    return qa if channels == 3 else {**(qa or {}), "channels": channels}


def _develop_scene(catalogue: Catalogue, scene_label: str) -> None:
    """Develop every RAW shot of the scene that has no developed image yet (GT first, so its white
    balance is the scene's) - including shots a killed run stored but never developed."""
    for shot_id in undeveloped(catalogue, scene_label):
        develop_shot(catalogue, shot_id)

