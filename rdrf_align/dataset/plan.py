"""What an export will hold, planned from the catalogue alone before a byte is written.

Every pair of the asked splits becomes an `Item`: its record for the manifest, its source files
(with the hashes the catalogue holds: the GT, the degraded shot's own image - warped on demand with
the homography - and the raindrop mask), and one crop box and output size shared by its GT, degraded
image and mask. The plan is checked for leaks (a scene in two splits, the same image file in a train
and a test scene, an older export that still holds a scene now in the other split) and for frames
that cannot be fitted to the size asked for. Planning assigns nothing: scenes without a split yet
are not exported (`splits.assign_splits` runs first).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from rdrf_align.dataset import layouts
from rdrf_align.dataset.digest import catalogue_digest
from rdrf_align.dataset.folders import RECIPE_VERSION, exported_scenes
from rdrf_align.dataset.resize import Box, crop_box, inside_all, parse_size
from rdrf_align.dataset.splits import Leak, check_split_map, file_leaks
from schemas.catalogue import Alignment, Export, Pair, Scene, Shot
from schemas import imageio
from schemas.errors import RdrfError
from schemas.records import ExportRecord
from schemas.storage import sha256_bytes
from schemas.version import tool_version
from schemas.views import alignment_figures, alignment_sources, scene_drifts, scene_order, shot_camera, shot_rig, shot_views
from schemas.vocabulary import Borders, ExportFormat, ExportImage, ExportSplit, Fit, PairStatus, Split, values
from schemas.warp import covered_quad
from schemas.workspace import Catalogue, Workspace


@dataclass(frozen=True)
class ExportParams:
    split: ExportSplit = "train"
    format: ExportFormat = "folder"
    size: str = "1080x720"  # WIDTHxHEIGHT or "original"
    fit: Fit = "crop"
    borders: Borders = "crop"
    include_rejected: bool = False
    shard_size: int = 256

    def __post_init__(self) -> None:
        if self.shard_size < 1:
            raise RdrfError(f"shard size {self.shard_size} must be at least 1 sample")
        parse_size(self.size)

    @property
    def splits(self) -> tuple[Split, ...]:
        return values(Split) if self.split == "all" else (self.split,)

    def default_folder(self) -> str:
        return f"{self.split}-{self.format}-{self.size}"


# A dual-pixel pair's images beyond an ordinary pair's, and the images rendered through the homography.
VIEW_ROLES: tuple[ExportImage, ...] = ("lq_left", "lq_right", "mask_left", "mask_right")
WARPED: tuple[ExportImage, ...] = ("lq", "lq_left", "lq_right")


@dataclass(frozen=True)
class Source:
    path: str  # relative to the workspace
    sha256: str


@dataclass
class Item:
    record: ExportRecord
    gt: Source
    lq: Source
    mask: Source
    box: Box
    target: Optional[tuple[int, int]]
    reflection: Optional[Source] = None  # None: aligned before reflection maps existed
    full: tuple[int, int] = (0, 0)  # the GT's (width, height): the frame the small reflection map covers
    views: dict[str, Source] = field(default_factory=dict)  # dual pixel: lq_left, lq_right, mask_left, mask_right

    def recipe(self, role: ExportImage) -> str:
        """What an output file is made from: the same recipe gives the same bytes."""
        src = {"gt": self.gt, "lq": self.lq, "mask": self.mask, "reflection": self.reflection, **self.views}[role]
        assert src is not None, role
        warp = [self.record.homography] if role in WARPED else []
        return sha256_bytes(json.dumps([RECIPE_VERSION, role, src.sha256, self.box, self.target, *warp]).encode())


@dataclass
class ExportPlan:
    workspace: Workspace
    out: Path
    params: ExportParams
    items: list[Item]
    digest: str
    test_fraction: float
    excluded: dict[str, int]  # pairs of the exported scenes left out, by status
    scenes: dict[str, tuple[Optional[str], Split]]  # label -> (category, split), exported scenes
    cropped: int = 0
    version: str = field(default_factory=tool_version)
    # how the exported degraded shots were made: (libgphoto2, body, firmware, focus mode) -> pairs;
    # None: shots with no rig record (imported)
    rigs: dict[Optional[tuple], int] = field(default_factory=dict)
    brackets: dict[str, list[dict]] = field(default_factory=dict)  # exported scene -> its GT drift records

    @property
    def records(self) -> list[ExportRecord]:
        return [it.record for it in self.items]

    @property
    def scene_splits(self) -> dict[str, Split]:
        return {s: v[1] for s, v in self.scenes.items()}

    @property
    def steps(self) -> int:
        """Units the progress bar counts: one per scene GT and one per pair."""
        return len({it.record.scene for it in self.items}) + len(self.items)


def plan_export(catalogue: Catalogue, params: ExportParams, out: Optional[Path] = None) -> ExportPlan:
    """Build and check the export's records; reads the catalogue and file headers, writes nothing."""
    ws = catalogue.workspace
    out = (out if out is not None else ws.exports / params.default_folder()).resolve()
    with catalogue.session() as session:
        leaks = file_leaks(session)
        digest = catalogue_digest(session)
        selection = _Selection(ws, params)
        for pair in _ordered(session.scalars(_pairs_query()).all(), params):
            selection.add(pair)
        items = selection.items
        cropped = _final_boxes(items, params.borders == "crop")
        if not items:
            raise selection.nothing_to_export()
        leaks += check_split_map((it.record.scene, it.record.split) for it in items)
        leaks += prior_export_leaks(session, ws, out, {s: v[1] for s, v in selection.scenes.items()})
    if leaks:
        shown = "\n  ".join(str(x) for x in leaks[:20])
        more = f"\n  ... and {len(leaks) - 20} more" if len(leaks) > 20 else ""
        raise RdrfError(f"refusing to export: the split would leak\n  {shown}{more}")
    names = [it.record.name for it in items]
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise RdrfError(f"two pairs would be exported under the same name: {', '.join(dupes[:5])}")
    _place(items, params)
    return ExportPlan(ws, out, params, items, digest, ws.settings.split.test_fraction, dict(selection.excluded),
                      selection.scenes, cropped, rigs=dict(selection.rigs), brackets=selection.brackets)


def prior_export_leaks(session: Session, ws: Workspace, out: Path, scene_splits: dict[str, str]) -> list[Leak]:
    """Scenes that an earlier export, still on disk, holds under the other split."""
    leaks = []
    seen: set[Path] = set()
    for exp in session.scalars(select(Export).order_by(Export.id)):
        folder = (ws.root / exp.path).resolve()
        if folder in seen or folder == out.resolve():
            continue
        seen.add(folder)
        for scene, split in exported_scenes(folder).items():
            want = scene_splits.get(scene)
            if want is not None and want != split:
                leaks.append(Leak(f"scene {scene} is {want} now, but the export {exp.path} (#{exp.id}) still holds it as {split}; "
                                  f"re-export that folder or delete it first"))
    return leaks


def _pairs_query():
    return select(Pair).options(
        selectinload(Pair.scene).selectinload(Scene.setups),
        selectinload(Pair.gt_shot).selectinload(Shot.files),
        selectinload(Pair.lq_shot).selectinload(Shot.setup),
        selectinload(Pair.lq_shot).selectinload(Shot.files),
        selectinload(Pair.alignment).selectinload(Alignment.gt_file),
        selectinload(Pair.alignment).selectinload(Alignment.lq_file),
        selectinload(Pair.alignment).selectinload(Alignment.raindrop_mask_file),
        selectinload(Pair.alignment).selectinload(Alignment.reflection_file),
        selectinload(Pair.alignment).selectinload(Alignment.mask_left_file),
        selectinload(Pair.alignment).selectinload(Alignment.mask_right_file),
    )


def _ordered(pairs: list[Pair], params: ExportParams) -> list[Pair]:
    """The pairs of the asked splits in manifest order: split, scene (natural order), shot."""
    chosen = [p for p in pairs if p.scene.split in params.splits]
    return sorted(chosen, key=lambda p: (values(Split).index(p.scene.split), scene_order(p.scene.label), p.lq_shot.index, p.id))


def _image_size(ws: Workspace, rel: str, what: str) -> tuple[int, int]:
    """Width and height from the file header (no full decode)."""
    path = ws.abs(rel)
    if not path.is_file():
        raise RdrfError(f"{rel} ({what}) is missing from the workspace; run `rdrf verify`")
    return imageio.file_size(path, what)


class _Selection:
    """The pairs kept (as items) and those left out (counted by status), pair by pair."""

    def __init__(self, ws: Workspace, params: ExportParams):
        self.ws = ws
        self.params = params
        self.target = parse_size(params.size)
        self.wanted: set[PairStatus] = {"ok", "rejected"} if params.include_rejected else {"ok"}
        self.items: list[Item] = []
        self.excluded: dict[str, int] = defaultdict(int)
        self.scenes: dict[str, tuple[Optional[str], Split]] = {}
        self.sizes: dict[str, tuple[int, int]] = {}  # GT path -> its size, read once per scene
        self.rigs: dict[Optional[tuple], int] = defaultdict(int)
        self.brackets: dict[str, list[dict]] = {}

    def add(self, pair: Pair) -> None:
        if self._usable(pair):
            self.items.append(self._item(pair))
            self.scenes[pair.scene.label] = (pair.scene.category, pair.scene.split)
            rig = shot_rig(pair.lq_shot)
            self.rigs[None if rig is None else tuple(rig.get(k) for k in ("libgphoto2", "model", "firmware", "focus_mode"))] += 1
            self.brackets[pair.scene.label] = scene_drifts(pair.scene)
        else:
            self.excluded[pair.status] += 1

    def _usable(self, pair: Pair) -> bool:
        a = pair.alignment
        if pair.status not in self.wanted or (pair.status == "ok" and (a is None or a.status != "ok")):
            return False
        if a is not None and a.homography is not None and a.raindrop_mask_file is not None:
            return True
        if pair.status == "ok":
            raise RdrfError(
                f"pair {pair.id} (scene {pair.scene.label}, {pair.lq_shot.original_name}) is ok but its alignment has no "
                f"homography or raindrop mask; re-run `rdrf align` for scene {pair.scene.label}"
            )
        return False  # a rejected pair that never got files (nothing to show)

    def _sources(self, pair: Pair) -> tuple[Source, Source, tuple[int, int]]:
        """The GT and degraded images the alignment maps between, and the GT's size (the mask's)."""
        scene = pair.scene
        try:
            gt_file, lq_file = alignment_sources(pair)
        except LookupError as exc:
            raise RdrfError(f"{exc}; expected a developed or plain image for each shot of scene {scene.label}") from None
        if gt_file.path not in self.sizes:
            self.sizes[gt_file.path] = _image_size(self.ws, gt_file.path, f"GT of scene {scene.label}")
        gw, gh = self.sizes[gt_file.path]
        f, what = pair.alignment.raindrop_mask_file, "raindrop mask"
        w, h = _image_size(self.ws, f.path, f"{what} of pair {pair.id}")
        if (w, h) != (gw, gh):
            raise RdrfError(
                f"{f.path} ({what} of pair {pair.id}, scene {scene.label}) is {w}x{h} but its GT {gt_file.path} is "
                f"{gw}x{gh}; aligned files must be in the GT's pixel frame - re-run `rdrf align` for scene {scene.label}"
            )
        return Source(gt_file.path, gt_file.sha256), Source(lq_file.path, lq_file.sha256), (gw, gh)

    def _item(self, pair: Pair) -> Item:
        scene, a = pair.scene, pair.alignment
        gt, lq, (gw, gh) = self._sources(pair)
        box = crop_box(gw, gh, self.target, self.params.fit, what=f"scene {scene.label} ({gt.path})")
        record = ExportRecord(
            pair_id=pair.id,
            name=layouts.pair_name(scene.label, pair.lq_shot.index),
            scene=scene.label,
            split=scene.split,
            kind=scene.kind,
            degradation=pair.lq_shot.degradation,
            frame_index=pair.lq_shot.frame_index,
            timestamp_s=pair.lq_shot.timestamp_s,
            category=scene.category,
            glass_mm=pair.lq_shot.setup.glass_mm if pair.lq_shot.setup else None,
            camera=shot_camera(pair.lq_shot) or shot_camera(pair.gt_shot),
            gt="", lq="", mask="",  # set by _place
            width=gw,  # set with the final crop box by _final_boxes
            height=gh,
            homography=a.homography,
            lq_original=pair.lq_shot.original_name,
            status=pair.status,
            **alignment_figures(a),
        )
        refl = a.reflection_file
        return Item(record, gt, lq, Source(a.raindrop_mask_file.path, a.raindrop_mask_file.sha256), box, self.target,
                    Source(refl.path, refl.sha256) if refl is not None else None, (gw, gh), self._views(pair))

    def _views(self, pair: Pair) -> dict[str, Source]:
        """A dual-pixel pair's views and their masks ({} for an ordinary pair). A dual-pixel shot aligned
        without view masks (views added after `rdrf align`) is refused rather than exported as one view short."""
        views = shot_views(pair.lq_shot)
        if not views:
            return {}
        a = pair.alignment
        masks = {"left": a.mask_left_file, "right": a.mask_right_file}
        if not all(masks.values()):
            raise RdrfError(
                f"pair {pair.id} (scene {pair.scene.label}, {pair.lq_shot.original_name}) has dual-pixel views but its "
                f"alignment has no mask per view; re-run `rdrf align --force --scene {pair.scene.label}`"
            )
        out = {}
        for side, f in views.items():
            out[f"lq_{side}"] = Source(f.path, f.sha256)
            out[f"mask_{side}"] = Source(masks[side].path, masks[side].sha256)
        return out

    def nothing_to_export(self) -> RdrfError:
        what = " or ".join(sorted(self.wanted))
        seen = ", ".join(f"{n} {status}" for status, n in sorted(self.excluded.items())) or "none"
        return RdrfError(
            f"no {what} pairs with a homography and a raindrop mask in split {self.params.split} (its pairs: {seen}); "
            f"run `rdrf align --all`, see `rdrf report` for rejections, check `rdrf split`"
        )


def _final_boxes(items: list[Item], borders: bool) -> int:
    """Shrink each scene's crop box into the area all its ok pairs' warps cover (when `borders`),
    then set every record's output size. Returns how many pairs lose pixels to cropping."""
    by_scene: dict[str, list[Item]] = defaultdict(list)
    for it in items:
        by_scene[it.record.scene].append(it)
    cropped = 0
    for group in by_scene.values():
        w, h = group[0].record.width, group[0].record.height
        box = group[0].box
        if borders:
            quads = [covered_quad(it.record.homography, w, h) for it in group if it.record.status == "ok" and it.record.homography]
            box = inside_all(box, quads)
        for it in group:
            it.box = box
            out_w, out_h = it.target if it.target is not None else (box[2] - box[0], box[3] - box[1])
            it.record = it.record.model_copy(update={"width": out_w, "height": out_h, "crop": [int(v) for v in box], "frame": [w, h]})
            cropped += box != (0, 0, w, h)
    return cropped


def _place(items: list[Item], params: ExportParams) -> None:
    """Fill in each record's export-relative paths (shards are numbered per split in record order)."""
    count: dict[str, int] = defaultdict(int)
    for it in items:
        r = it.record
        shard = None
        if params.format == "webdataset":
            shard = layouts.shard_name(r.split, count[r.split] // params.shard_size)
            count[r.split] += 1
        roles = [role for role in values(ExportImage) if (role != "reflection" or it.reflection is not None)
                 and (role not in VIEW_ROLES or role in it.views)]
        it.record = r.model_copy(update=layouts.file_paths(params.format, r.split, r.name, shard, roles))
