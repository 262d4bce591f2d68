"""`rdrf export`: the aligned pairs of a split, resized, in a layout training code reads.

An export is planned entirely from the catalogue before a byte is written: every scene gets its
split (new scenes are assigned, none is moved), the plan is checked for leaks (a scene in two splits,
the same image file in a train and a test scene, an older export that still holds a scene now in the
other split) and for frames that cannot be fitted to the size asked for. Only then are files written,
in parallel, each one durably (temp file + fsync + rename).

`manifest.jsonl` is written last, so a folder with a manifest is a complete export. Its bytes depend
only on the catalogue and the parameters (records sorted by split, scene, shot; no dates), so
exporting the same state twice gives the same file. A hidden `.rdrf-export.json` remembers, for each
file written, the recipe it was made from (source hashes, size, crop) and its own hash: re-exporting
into the same folder skips every file that is still right, rewrites the rest and deletes files of
pairs that left the export.

All pairs of a scene share its GT: in the folder layouts the GT is encoded once per scene and the
other pairs' `gt/NAME.png` are hard links to it (same bytes, no extra disk), falling back to copies
where the file system has no hard links.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import threading
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional

from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from rdrf_align import layouts
from rdrf_align.digest import catalogue_digest
from rdrf_align.resize import (
    FITS,
    Box,
    covered_quad,
    crop_box,
    decode_image,
    encode_png,
    inside_all,
    parse_size,
    resize_image,
    resize_mask,
)
from rdrf_align.splits import (
    SPLITS,
    Assignment,
    Leak,
    assign_new_scenes,
    check_split_map,
    file_leaks,
    label_key,
)
from schemas.catalogue import Alignment, Export, Pair, Scene, Shot
from schemas.errors import RdrfError
from schemas.records import ExportRecord
from schemas.storage import TMP_MARK, durable_copy, durable_write, fsync_dir, sha256_bytes, sha256_file
from schemas.views import alignment_figures, shot_camera, shot_image
from schemas.workspace import Catalogue, Workspace

EXPORT_SPLITS = ("train", "test", "all")
BORDERS = ("crop", "keep")
MANIFEST = "manifest.jsonl"
DATASHEET = "README.md"
STATE = ".rdrf-export.json"
GT_CACHE = ".rdrf-gt"
# Bump when the bytes written for the same inputs change, so re-exports rewrite instead of skipping.
RECIPE_VERSION = "1"

Advance = Callable[[int], None]


def tool_version() -> str:
    try:
        return metadata.version("rdrf")
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True)
class ExportParams:
    split: str = "train"
    format: str = "folder"
    size: str = "1080x720"
    fit: str = "crop"
    borders: str = "crop"
    include_rejected: bool = False
    shard_size: int = 256

    def check(self) -> None:
        if self.split not in EXPORT_SPLITS:
            raise RdrfError(f"split {self.split!r} is not one of {', '.join(EXPORT_SPLITS)}")
        if self.format not in layouts.FORMATS:
            raise RdrfError(f"format {self.format!r} is not one of {', '.join(layouts.FORMATS)}")
        if self.fit not in FITS:
            raise RdrfError(f"fit {self.fit!r} is not one of {', '.join(FITS)}")
        if self.borders not in BORDERS:
            raise RdrfError(f"borders {self.borders!r} is not one of {', '.join(BORDERS)}")
        if self.shard_size < 1:
            raise RdrfError(f"shard size {self.shard_size} must be at least 1 sample")
        parse_size(self.size)

    @property
    def splits(self) -> tuple[str, ...]:
        return SPLITS if self.split == "all" else (self.split,)

    def default_folder(self) -> str:
        return f"{self.split}-{self.format}-{self.size}"


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

    def recipe(self, role: str) -> str:
        src = {"gt": self.gt, "lq": self.lq, "mask": self.mask}[role]
        return sha256_bytes(json.dumps([RECIPE_VERSION, role, src.sha256, self.box, self.target]).encode())


@dataclass
class ExportPlan:
    workspace: Workspace
    out: Path
    params: ExportParams
    items: list[Item]
    digest: str
    test_fraction: float
    assigned: list[Assignment]
    excluded: dict[str, int]  # pairs of the exported scenes left out, by status
    scenes: dict[str, tuple[Optional[str], str]]  # label -> (category, split), exported scenes
    cropped: int = 0
    version: str = field(default_factory=tool_version)

    @property
    def records(self) -> list[ExportRecord]:
        return [it.record for it in self.items]

    @property
    def steps(self) -> int:
        """Units the progress bar counts: one per scene GT and one per pair."""
        return len({it.record.scene for it in self.items}) + len(self.items)


@dataclass
class ExportResult:
    out: Path
    n_records: int
    written: int
    skipped: int
    removed: int
    manifest_sha256: str
    digest: str
    export_id: int


# ---------------------------------------------------------------- planning (catalogue only)


def _image_size(ws: Workspace, rel: str, what: str) -> tuple[int, int]:
    """Width and height from the file header (no full decode)."""
    path = ws.abs(rel)
    if not path.is_file():
        raise RdrfError(f"{rel} ({what}) is missing from the workspace; run `rdrf verify`")
    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, SyntaxError) as exc:
        raise RdrfError(f"{rel} ({what}): not a readable image ({exc}); run `rdrf verify`") from exc


def _pairs_query():
    return select(Pair).options(
        selectinload(Pair.scene).selectinload(Scene.setups),
        selectinload(Pair.gt_shot).selectinload(Shot.files),
        selectinload(Pair.lq_shot).selectinload(Shot.setup),
        selectinload(Pair.lq_shot).selectinload(Shot.files),
        selectinload(Pair.alignment).selectinload(Alignment.aligned_file),
        selectinload(Pair.alignment).selectinload(Alignment.raindrop_mask_file),
    )


def _default_out(ws: Workspace, params: ExportParams) -> Path:
    return ws.exports / params.default_folder()


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


def stale_exports(session: Session, ws: Workspace, scene: str, split: str) -> list[str]:
    """Exports on disk that hold `scene` under a split other than `split` (after a re-pin)."""
    found = []
    for path in sorted({e.path for e in session.scalars(select(Export))}):
        held = exported_scenes((ws.root / path).resolve()).get(scene)
        if held is not None and held != split:
            found.append(path)
    return found


def exported_scenes(folder: Path) -> dict[str, str]:
    """Scene -> split of what an export folder may hold: from its state file (which also covers an
    interrupted export), else from its manifest."""
    state = _read_state(folder)
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


def plan_export(catalogue: Catalogue, params: ExportParams, out: Optional[Path] = None) -> ExportPlan:
    """Assign splits to new scenes (persisted), then build and check the export's records."""
    params.check()
    ws = catalogue.workspace
    out = (out if out is not None else _default_out(ws, params)).resolve()
    fraction = ws.settings.split.test_fraction
    with catalogue.session() as session:
        assigned = assign_new_scenes(session, fraction)

    target = parse_size(params.size)
    with catalogue.session() as session:
        leaks = file_leaks(session)
        digest = catalogue_digest(session)
        pairs = session.scalars(_pairs_query()).all()
        items: list[Item] = []
        excluded: dict[str, int] = defaultdict(int)
        scenes: dict[str, tuple[Optional[str], str]] = {}
        sizes: dict[str, tuple[int, int]] = {}
        cropped = 0
        wanted = {"ok", "rejected"} if params.include_rejected else {"ok"}
        chosen = [p for p in pairs if p.scene.split in params.splits]
        for pair in sorted(chosen, key=lambda p: (SPLITS.index(p.scene.split), label_key(p.scene.label), p.lq_shot.index, p.id)):
            scene = pair.scene
            a = pair.alignment
            usable = a is not None and a.aligned_file is not None and a.raindrop_mask_file is not None
            if pair.status not in wanted or (pair.status == "ok" and (a is None or a.status != "ok")):
                excluded[pair.status] += 1
                continue
            if not usable:
                if pair.status == "ok":
                    raise RdrfError(
                        f"pair {pair.id} (scene {scene.label}, {pair.lq_shot.original_name}) is ok but its alignment has no "
                        f"aligned image or raindrop mask; re-run `rdrf align` for scene {scene.label}"
                    )
                excluded[pair.status] += 1  # a rejected pair that never got files (nothing to show)
                continue
            try:
                gt_file = shot_image(pair.gt_shot)
            except LookupError as exc:
                raise RdrfError(f"{exc}; expected a developed or plain image for the GT of scene {scene.label}") from None
            if gt_file.path not in sizes:
                sizes[gt_file.path] = _image_size(ws, gt_file.path, f"GT of scene {scene.label}")
            gw, gh = sizes[gt_file.path]
            for f, what in ((a.aligned_file, "aligned degraded image"), (a.raindrop_mask_file, "raindrop mask")):
                w, h = _image_size(ws, f.path, f"{what} of pair {pair.id}")
                if (w, h) != (gw, gh):
                    raise RdrfError(
                        f"{f.path} ({what} of pair {pair.id}, scene {scene.label}) is {w}x{h} but its GT {gt_file.path} is "
                        f"{gw}x{gh}; aligned files must be in the GT's pixel frame - re-run `rdrf align` for scene {scene.label}"
                    )
            box = crop_box(gw, gh, target, params.fit, what=f"scene {scene.label} ({gt_file.path})")
            name = layouts.pair_name(scene.label, pair.lq_shot.index)
            glass = pair.lq_shot.setup.glass_mm if pair.lq_shot.setup else None
            record = ExportRecord(
                pair_id=pair.id,
                name=name,
                scene=scene.label,
                split=scene.split,
                category=scene.category,
                glass_mm=glass,
                camera=shot_camera(pair.lq_shot) or shot_camera(pair.gt_shot),
                gt="", lq="", mask="",
                width=gw,  # set with the final crop box below
                height=gh,
                homography=a.homography,
                lq_original=pair.lq_shot.original_name,
                status=pair.status,
                **alignment_figures(a),
            )
            items.append(Item(
                record,
                Source(gt_file.path, gt_file.sha256),
                Source(a.aligned_file.path, a.aligned_file.sha256),
                Source(a.raindrop_mask_file.path, a.raindrop_mask_file.sha256),
                box,
                target,
            ))
            scenes[scene.label] = (scene.category, scene.split)
        cropped = _final_boxes(items, params.borders == "crop")
        if not items:
            what = " or ".join(sorted(wanted))
            seen = ", ".join(f"{n} {status}" for status, n in sorted(excluded.items())) or "none"
            raise RdrfError(
                f"no {what} pairs with aligned files in split {params.split} (its pairs: {seen}); "
                f"run `rdrf align --all`, see `rdrf report` for rejections, check `rdrf split`"
            )
        leaks += check_split_map((it.record.scene, it.record.split) for it in items)
        leaks += prior_export_leaks(session, ws, out, {s: v[1] for s, v in scenes.items()})
    if leaks:
        shown = "\n  ".join(str(x) for x in leaks[:20])
        more = f"\n  ... and {len(leaks) - 20} more" if len(leaks) > 20 else ""
        raise RdrfError(f"refusing to export: the split would leak\n  {shown}{more}")

    names = [it.record.name for it in items]
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise RdrfError(f"two pairs would be exported under the same name: {', '.join(dupes[:5])}")
    _place(items, params)
    return ExportPlan(ws, out, params, items, digest, fraction, assigned, dict(excluded), scenes, cropped)


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
            it.record = it.record.model_copy(update={"width": out_w, "height": out_h, "crop": [int(v) for v in box]})
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
        paths = layouts.file_paths(params.format, r.split, r.name, shard)
        it.record = r.model_copy(update=paths)


# ---------------------------------------------------------------- writing


def _read_state(folder: Path) -> dict:
    try:
        return json.loads((folder / STATE).read_text())
    except FileNotFoundError:
        return {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}


def _write_state(out: Path, state: dict) -> None:
    durable_write(json.dumps(state, indent=1, sort_keys=True).encode(), out / STATE)


def _check_out_folder(out: Path, ws: Workspace) -> None:
    if out.exists() and not out.is_dir():
        raise RdrfError(f"{out} is a file; --out must be a folder")
    for inner in (ws.originals, ws.developed, ws.aligned):
        if out.resolve() == inner.resolve() or inner.resolve() in out.resolve().parents:
            raise RdrfError(f"{out} is inside the workspace's {inner.name}/; choose a folder under exports/ or outside the workspace")
    if out.is_dir() and any(out.iterdir()) and not (out / STATE).exists() and not (out / MANIFEST).exists():
        raise RdrfError(f"{out} is not empty and is not an rdrf export; choose another --out or empty it")


class _Writer:
    """Writes the planned files, consulting and updating the state of what is already right."""

    def __init__(self, plan: ExportPlan, workers: int, advance: Advance):
        self.plan = plan
        self.ws = plan.workspace
        self.out = plan.out
        self.workers = max(1, workers)
        self.lock = threading.Lock()
        self._advance = advance
        old = _read_state(self.out)
        self.old_outputs: dict[str, dict] = old.get("outputs", {}) if old.get("recipe_version") == RECIPE_VERSION else {}
        self.old_scenes: dict[str, str] = old.get("scenes", {})
        self.outputs: dict[str, dict] = {}
        self.written = 0
        self.skipped = 0

    # -- helpers
    def advance(self, n: int = 1) -> None:
        if n:
            with self.lock:
                self._advance(n)

    def is_right(self, rel: str, recipe: str) -> bool:
        st = self.old_outputs.get(rel)
        path = self.out / rel
        if not st or st.get("recipe") != recipe or not path.is_file() or path.stat().st_size != st.get("size"):
            return False
        return sha256_file(path)[0] == st.get("sha256")

    def keep(self, rel: str, recipe: str) -> None:
        with self.lock:
            self.outputs[rel] = {**self.old_outputs[rel], "recipe": recipe}
            self.skipped += 1

    def store(self, rel: str, recipe: str, data: bytes) -> None:
        s = durable_write(data, self.out / rel)
        with self.lock:
            self.outputs[rel] = {"recipe": recipe, "sha256": s.sha256, "size": s.size}
            self.written += 1

    def link(self, rel: str, recipe: str, source_rel: str) -> None:
        """Hard link (else copy) an already written file, durably."""
        src, dest = self.out / source_rel, self.out / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f"{TMP_MARK}{uuid.uuid4().hex}-{dest.name}")
        try:
            os.link(src, tmp)
            os.replace(tmp, dest)
            fsync_dir(dest.parent)
        except OSError:
            tmp.unlink(missing_ok=True)
            durable_copy(src, dest)
        with self.lock:
            self.outputs[rel] = {**self.outputs[source_rel], "recipe": recipe}
            self.written += 1

    def read(self, src: Source, what: str) -> bytes:
        path = self.ws.abs(src.path)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise RdrfError(f"{src.path} ({what}) is missing from the workspace; run `rdrf verify`") from None
        if sha256_bytes(data) != src.sha256:
            raise RdrfError(f"{src.path} ({what}) differs from the catalogue (SHA-256 mismatch); run `rdrf verify`")
        return data

    def gt_png(self, it: Item) -> bytes:
        img = decode_image(self.read(it.gt, f"GT of scene {it.record.scene}"), it.gt.path)
        return encode_png(resize_image(img, it.box, it.target))

    def lq_mask_png(self, it: Item) -> tuple[bytes, bytes]:
        r = it.record
        lq = decode_image(self.read(it.lq, f"aligned image of pair {r.pair_id}"), it.lq.path)
        mask = decode_image(self.read(it.mask, f"raindrop mask of pair {r.pair_id}"), it.mask.path)
        return encode_png(resize_image(lq, it.box, it.target)), encode_png(resize_mask(mask, it.box, it.target))

    def map(self, fn, items: Iterable) -> Iterator:
        """Ordered parallel map with a bounded number of tasks in flight (bounded memory)."""
        items = list(items)
        if self.workers == 1:
            yield from map(fn, items)
            return
        with ThreadPoolExecutor(self.workers) as pool:
            window = 2 * self.workers
            futures = [pool.submit(fn, x) for x in items[:window]]
            nxt = window
            for i in range(len(items)):
                result = futures[i].result()
                futures[i] = None
                if nxt < len(items):
                    futures.append(pool.submit(fn, items[nxt]))
                    nxt += 1
                yield result

    # -- layouts
    def by_scene(self) -> dict[str, list[Item]]:
        groups: dict[str, list[Item]] = defaultdict(list)
        for it in self.plan.items:
            groups[it.record.scene].append(it)
        return groups

    def write_folders(self) -> None:
        groups = self.by_scene()

        def scene_gt(group: list[Item]) -> None:
            first = group[0]
            rel, recipe = first.record.gt, first.recipe("gt")
            if self.is_right(rel, recipe):
                self.keep(rel, recipe)
            else:
                self.store(rel, recipe, self.gt_png(first))
            self.advance(1)

        for _ in self.map(scene_gt, groups.values()):
            pass

        def pair_files(it: Item) -> None:
            first = groups[it.record.scene][0]
            if it is not first:
                rel, recipe = it.record.gt, it.recipe("gt")
                if self.is_right(rel, recipe):
                    self.keep(rel, recipe)
                else:
                    self.link(rel, recipe, first.record.gt)
            todo = [(rel, it.recipe(role)) for role, rel in (("lq", it.record.lq), ("mask", it.record.mask))]
            right = [self.is_right(rel, recipe) for rel, recipe in todo]
            made = (None, None) if all(right) else self.lq_mask_png(it)
            for (rel, recipe), ok, data in zip(todo, right, made):
                if ok:
                    self.keep(rel, recipe)
                else:
                    self.store(rel, recipe, data)
            self.advance(1)

        for _ in self.map(pair_files, self.plan.items):
            pass

        for split in self.plan.params.splits:
            records = [r for r in self.plan.records if r.split == split]
            if not records:
                continue
            if self.plan.params.format == "folder":
                self.small(f"{split}/meta_info.txt", layouts.meta_info(records))
            else:
                self.small(f"{split}/metadata.jsonl", layouts.hf_metadata(records))

    def small(self, rel: str, data: bytes) -> None:
        recipe = sha256_bytes(data)
        if self.is_right(rel, recipe):
            self.keep(rel, recipe)
        else:
            self.store(rel, recipe, data)

    def write_shards(self) -> None:
        shards: dict[str, list[Item]] = defaultdict(list)
        for it in self.plan.items:
            shards[it.record.gt.split("/", 1)[0]].append(it)
        recipes = {
            shard: sha256_bytes(json.dumps([
                RECIPE_VERSION, "shard",
                [[it.record.model_dump_json(), it.recipe("gt"), it.recipe("lq"), it.recipe("mask")] for it in group],
            ]).encode())
            for shard, group in shards.items()
        }
        todo = {s: g for s, g in shards.items() if not self.is_right(s, recipes[s])}
        for shard in shards:
            if shard not in todo:
                self.keep(shard, recipes[shard])
                self.advance(len(shards[shard]))
        # GT once per scene, into a scratch folder the shards copy it from.
        cache = self.out / GT_CACHE
        scenes = {}
        for group in todo.values():
            for it in group:
                scenes.setdefault(it.record.scene, it)
        done_scenes = set(self.by_scene()) - set(scenes)
        self.advance(len(done_scenes))

        def cache_gt(it: Item) -> None:
            durable_write(self.gt_png(it), cache / f"{it.record.name}.png")
            self.advance(1)

        for _ in self.map(cache_gt, scenes.values()):
            pass
        try:
            for shard, group in todo.items():
                self.write_tar(shard, recipes[shard], group, {s: cache / f"{it.record.name}.png" for s, it in scenes.items()})
        finally:
            for f in cache.glob("*"):
                f.unlink()
            if cache.exists():
                cache.rmdir()

    def write_tar(self, shard: str, recipe: str, group: list[Item], gt_files: dict[str, Path]) -> None:
        dest = self.out / shard
        tmp = dest.with_name(f"{TMP_MARK}{uuid.uuid4().hex}-{dest.name}")
        try:
            with open(tmp, "wb") as f:
                with tarfile.open(fileobj=f, mode="w", format=tarfile.PAX_FORMAT) as tar:
                    for it, (lq, mask) in zip(group, self.map(self.lq_mask_png, group)):
                        r = it.record
                        meta = r.model_dump_json().encode()
                        for member, data in (
                            (f"{r.name}.gt.png", gt_files[r.scene].read_bytes()),
                            (f"{r.name}.lq.png", lq),
                            (f"{r.name}.mask.png", mask),
                            (f"{r.name}.json", meta),
                        ):
                            info = tarfile.TarInfo(member)
                            info.size, info.mtime, info.mode = len(data), 0, 0o644
                            info.uid = info.gid = 0
                            info.uname = info.gname = ""
                            tar.addfile(info, io.BytesIO(data))
                        self.advance(1)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, dest)
            fsync_dir(dest.parent)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        sha, size = sha256_file(dest)
        self.outputs[shard] = {"recipe": recipe, "sha256": sha, "size": size}
        self.written += 1

    def remove_stale(self) -> int:
        """Delete files an earlier export into this folder wrote that this one does not (e.g. pairs
        since rejected), so the folder never holds more than its manifest lists."""
        removed = 0
        for rel in sorted(set(self.old_outputs) - set(self.outputs)):
            path = self.out / rel
            if path.is_file():
                path.unlink()
                removed += 1
        for folder in sorted({p for rel in self.old_outputs for p in (self.out / rel).parents if self.out in p.parents}, reverse=True):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        return removed


def manifest_bytes(records: Iterable[ExportRecord]) -> bytes:
    return "".join(r.model_dump_json() + "\n" for r in records).encode()


def write_export(plan: ExportPlan, catalogue: Catalogue, workers: int = 4, advance: Advance = lambda n=1: None) -> ExportResult:
    """Write the planned export. The manifest goes last; the Export row records it."""
    from rdrf_align.datasheet import render_datasheet

    out = plan.out
    _check_out_folder(out, plan.workspace)
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).unlink(missing_ok=True)
    writer = _Writer(plan, workers, advance)
    new_scenes = {s: v[1] for s, v in plan.scenes.items()}
    # Until it completes, the folder may hold both the old and the new scenes: say so for leak checks.
    _write_state(out, {"recipe_version": RECIPE_VERSION, "outputs": writer.old_outputs,
                       "scenes": {**writer.old_scenes, **new_scenes}})
    try:
        if plan.params.format == "webdataset":
            writer.write_shards()
        else:
            writer.write_folders()
    except BaseException:
        _write_state(out, {"recipe_version": RECIPE_VERSION, "outputs": {**writer.old_outputs, **writer.outputs},
                           "scenes": {**writer.old_scenes, **new_scenes}})
        raise
    removed = writer.remove_stale()

    manifest = manifest_bytes(plan.records)
    # The check again, on the bytes that go out: no scene under two splits.
    leaks = check_split_map((json.loads(line)["scene"], json.loads(line)["split"]) for line in manifest.decode().splitlines())
    if leaks:
        raise RdrfError("refusing to write the manifest: " + "; ".join(map(str, leaks)))
    manifest_sha = sha256_bytes(manifest)
    durable_write(render_datasheet(plan, manifest_sha).encode(), out / DATASHEET)
    _write_state(out, {"recipe_version": RECIPE_VERSION, "outputs": writer.outputs, "scenes": new_scenes})
    durable_write(manifest, out / MANIFEST)

    ws = plan.workspace
    inside = ws.root.resolve() in out.parents
    with catalogue.session() as session:
        row = Export(
            path=ws.rel(out) if inside else str(out),
            split=plan.params.split,
            format=plan.params.format,
            size=plan.params.size,
            params={**asdict(plan.params), "workers": workers, "version": plan.version, "test_fraction": plan.test_fraction},
            n_records=len(plan.items),
            manifest_sha256=manifest_sha,
            catalogue_digest=plan.digest,
        )
        session.add(row)
        session.flush()
        export_id = row.id
    return ExportResult(out, len(plan.items), writer.written, writer.skipped, removed, manifest_sha, plan.digest, export_id)
