"""Writing a planned export's files, one writer per layout behind one interface (`write()`).

`Outputs` is the bookkeeping all layouts share: which file of an earlier export into the same folder
is still right (same recipe, same hash) and is kept, which is (re)written, and which is left over.
`Renderer` makes the bytes: it reads each source, checks it against the catalogue's hash, crops,
resizes and encodes it - the degraded image warped into the GT frame, cropped and resized in one
interpolation from the shot's own image and the homography (schemas.warp.render_aligned) - (PNG, zlib level 1: on a 1080x720 photo ~1.7x faster than level 3 for ~5%
more bytes). Every file is written durably through schemas.storage.

All pairs of a scene share its GT: the folder layouts encode it once per scene and hard-link the other
pairs' `gt/NAME.png` to it; the WebDataset layout encodes it once into a scratch folder its shards
copy it from.
"""

from __future__ import annotations

import io
import json
import tarfile
import threading
from collections import defaultdict
from pathlib import Path
from typing import Callable, Iterable, TypeVar

from rdrf_align.dataset import layouts
from rdrf_align.dataset.folders import RECIPE_VERSION
from rdrf_align.dataset.plan import VIEW_ROLES, ExportPlan, Item, Source
from rdrf_align.dataset.resize import resize_image, resize_map, resize_mask
from schemas import imageio
from schemas.parallel import ordered_map
from schemas.errors import RdrfError
from schemas.records import ExportRecord
from schemas.storage import Stored, durable_link, durable_stream, durable_write, sha256_bytes, sha256_file
from schemas.vocabulary import ExportFormat, ExportImage
from schemas.warp import render_aligned
from schemas.workspace import Workspace

Advance = Callable[[int], None]
GT_CACHE = ".rdrf-gt"
T = TypeVar("T")
R = TypeVar("R")


class Outputs:
    """The files this export writes into its folder (export-relative path -> recipe, sha256, size),
    against those an earlier export there wrote (`old`)."""

    def __init__(self, folder: Path, old_state: dict, advance: Advance):
        self.folder = folder
        self.old: dict[str, dict] = old_state.get("outputs", {}) if old_state.get("recipe_version") == RECIPE_VERSION else {}
        self.new: dict[str, dict] = {}
        self.written = 0
        self.skipped = 0
        self._lock = threading.Lock()
        self._advance = advance

    def advance(self, n: int = 1) -> None:
        if n:
            with self._lock:
                self._advance(n)

    def is_right(self, rel: str, recipe: str) -> bool:
        st = self.old.get(rel)
        path = self.folder / rel
        if not st or st.get("recipe") != recipe or not path.is_file() or path.stat().st_size != st.get("size"):
            return False
        return sha256_file(path)[0] == st.get("sha256")

    def keep(self, rel: str, recipe: str) -> None:
        with self._lock:
            self.new[rel] = {**self.old[rel], "recipe": recipe}
            self.skipped += 1

    def put(self, rel: str, recipe: str, make: Callable[[], bytes]) -> None:
        """Keep the file when it is still right, else write what `make` returns."""
        if self.is_right(rel, recipe):
            self.keep(rel, recipe)
        else:
            self.stored(rel, recipe, durable_write(make(), self.folder / rel))

    def stored(self, rel: str, recipe: str, st: Stored) -> None:
        with self._lock:
            self.new[rel] = {"recipe": recipe, "sha256": st.sha256, "size": st.size}
            self.written += 1

    def link(self, rel: str, recipe: str, source_rel: str) -> None:
        """`rel` gets the bytes of the already written `source_rel` (a hard link where possible)."""
        durable_link(self.folder / source_rel, self.folder / rel)
        with self._lock:
            self.new[rel] = {**self.new[source_rel], "recipe": recipe}
            self.written += 1

    def remove_stale(self) -> int:
        """Delete files an earlier export into this folder wrote that this one does not (e.g. pairs
        since rejected), so the folder never holds more than its manifest lists."""
        removed = 0
        for rel in sorted(set(self.old) - set(self.new)):
            path = self.folder / rel
            if path.is_file():
                path.unlink()
                removed += 1
        for folder in sorted({p for rel in self.old for p in (self.folder / rel).parents if self.folder in p.parents}, reverse=True):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        return removed


class Renderer:
    """The exported PNG bytes of an item's images, from its sources in the workspace."""

    def __init__(self, ws: Workspace):
        self.ws = ws

    def read(self, src: Source, what: str) -> bytes:
        try:
            data = self.ws.abs(src.path).read_bytes()
        except FileNotFoundError:
            raise RdrfError(f"{src.path} ({what}) is missing from the workspace; run `rdrf verify`") from None
        if sha256_bytes(data) != src.sha256:
            raise RdrfError(f"{src.path} ({what}) differs from the catalogue (SHA-256 mismatch); run `rdrf verify`")
        return data

    def gt_png(self, it: Item) -> bytes:
        img = imageio.decode(self.read(it.gt, f"GT of scene {it.record.scene}"), it.gt.path)
        return imageio.encode_png(resize_image(img, it.box, it.target), level=1)

    def aligned_png(self, it: Item, src: Source, what: str) -> bytes:
        """A degraded image (or a dual-pixel view) warped by the pair's homography into the export frame."""
        img = imageio.decode(self.read(src, what), src.path)
        return imageio.encode_png(imageio.to_uint8(render_aligned(img, it.record.homography, it.box, it.target)), level=1)

    def mask_png(self, it: Item, src: Source, what: str) -> bytes:
        mask = imageio.decode(self.read(src, what), src.path, channels="as-stored")
        return imageio.encode_png(resize_mask(mask, it.box, it.target), level=1)

    def pair_pngs(self, it: Item) -> dict[ExportImage, bytes]:
        """The pair's own images (all but the scene's GT): aligned degraded image, mask, reflection map,
        and for a dual-pixel pair each view (warped like the degraded image) and its mask."""
        r = it.record
        out: dict[ExportImage, bytes] = {
            "lq": self.aligned_png(it, it.lq, f"degraded image of pair {r.pair_id}"),
            "mask": self.mask_png(it, it.mask, f"raindrop mask of pair {r.pair_id}"),
        }
        if it.reflection is not None:
            small = imageio.decode(self.read(it.reflection, f"reflection map of pair {r.pair_id}"), it.reflection.path, channels="as-stored")
            out["reflection"] = imageio.encode_png(imageio.to_uint8(resize_map(small, it.full, it.box, it.target)), level=1)
        for side in ("left", "right") if it.views else ():
            out[f"lq_{side}"] = self.aligned_png(it, it.views[f"lq_{side}"], f"{side} view of pair {r.pair_id}")
            out[f"mask_{side}"] = self.mask_png(it, it.views[f"mask_{side}"], f"{side} view's mask of pair {r.pair_id}")
        return out


def pair_roles(it: Item) -> list[ExportImage]:
    """The images a pair has of its own, in export order (the reflection map only where align made one,
    the views and their masks only for a dual-pixel pair)."""
    return ["lq", "mask"] + (["reflection"] if it.reflection is not None else []) + [r for r in VIEW_ROLES if r in it.views]


class LayoutWriter:
    """Writes a plan's files in one layout, recording each in `outputs`."""

    def __init__(self, plan: ExportPlan, outputs: Outputs, workers: int):
        self.plan = plan
        self.outputs = outputs
        self.workers = max(1, workers)
        self.render = Renderer(plan.workspace)

    def write(self) -> None:
        raise NotImplementedError

    def run(self, fn: Callable[[T], object], items: Iterable[T]) -> None:
        for _ in ordered_map(fn, items, self.workers):
            pass

    def by_scene(self) -> dict[str, list[Item]]:
        groups: dict[str, list[Item]] = defaultdict(list)
        for it in self.plan.items:
            groups[it.record.scene].append(it)
        return groups


class FolderWriter(LayoutWriter):
    """BasicSR `<split>/gt|lq|mask|reflection/NAME.png` plus `<split>/meta_info.txt`."""

    def index(self, split: str, records: list[ExportRecord]) -> tuple[str, bytes]:
        return f"{split}/meta_info.txt", layouts.meta_info(records)

    def write(self) -> None:
        out = self.outputs
        groups = self.by_scene()

        def scene_gt(group: list[Item]) -> None:
            first = group[0]
            out.put(first.record.gt, first.recipe("gt"), lambda: self.render.gt_png(first))
            out.advance(1)

        def pair_files(it: Item) -> None:
            first = groups[it.record.scene][0]
            if it is not first:
                rel, recipe = it.record.gt, it.recipe("gt")
                if out.is_right(rel, recipe):
                    out.keep(rel, recipe)
                else:
                    out.link(rel, recipe, first.record.gt)
            todo = [(role, getattr(it.record, role), it.recipe(role)) for role in pair_roles(it)]
            right = [out.is_right(rel, recipe) for _, rel, recipe in todo]
            made = {} if all(right) else self.render.pair_pngs(it)
            for (role, rel, recipe), ok in zip(todo, right):
                if ok:
                    out.keep(rel, recipe)
                else:
                    out.stored(rel, recipe, durable_write(made[role], out.folder / rel))
            out.advance(1)

        self.run(scene_gt, groups.values())
        self.run(pair_files, self.plan.items)
        for split in self.plan.params.splits:
            records = [r for r in self.plan.records if r.split == split]
            if records:
                rel, data = self.index(split, records)
                out.put(rel, sha256_bytes(data), lambda: data)


class ImageFolderWriter(FolderWriter):
    """The folder layout with a Hugging Face `<split>/metadata.jsonl` instead of meta_info.txt."""

    def index(self, split: str, records: list[ExportRecord]) -> tuple[str, bytes]:
        return f"{split}/metadata.jsonl", layouts.hf_metadata(records)


class ShardWriter(LayoutWriter):
    """WebDataset tar shards, one sample (gt, lq, mask, reflection, json) per pair; a shard still right is kept whole."""

    def write(self) -> None:
        out = self.outputs
        shards: dict[str, list[Item]] = defaultdict(list)
        for it in self.plan.items:
            shards[it.record.gt.split("/", 1)[0]].append(it)
        recipes = {shard: self.recipe(group) for shard, group in shards.items()}
        todo = {s: g for s, g in shards.items() if not out.is_right(s, recipes[s])}
        for shard in shards:
            if shard not in todo:
                out.keep(shard, recipes[shard])
                out.advance(len(shards[shard]))
        # GT once per scene, into a scratch folder the shards copy it from.
        cache = out.folder / GT_CACHE
        scenes = {}
        for group in todo.values():
            for it in group:
                scenes.setdefault(it.record.scene, it)
        out.advance(len(set(self.by_scene()) - set(scenes)))

        def cache_gt(it: Item) -> None:
            durable_write(self.render.gt_png(it), cache / f"{it.record.name}.png")
            out.advance(1)

        self.run(cache_gt, scenes.values())
        try:
            gt_files = {s: cache / f"{it.record.name}.png" for s, it in scenes.items()}
            for shard, group in todo.items():
                self.write_tar(shard, recipes[shard], group, gt_files)
        finally:
            for f in cache.glob("*"):
                f.unlink()
            if cache.exists():
                cache.rmdir()

    @staticmethod
    def recipe(group: list[Item]) -> str:
        return sha256_bytes(json.dumps([
            RECIPE_VERSION, "shard",
            [[it.record.model_dump_json(), it.recipe("gt"), *(it.recipe(role) for role in pair_roles(it))] for it in group],
        ]).encode())

    def write_tar(self, shard: str, recipe: str, group: list[Item], gt_files: dict[str, Path]) -> None:
        with durable_stream(self.outputs.folder / shard) as f:
            with tarfile.open(fileobj=f, mode="w", format=tarfile.PAX_FORMAT) as tar:
                for it, made in zip(group, ordered_map(self.render.pair_pngs, group, self.workers)):
                    r = it.record
                    for member, data in (
                        (f"{r.name}.gt.png", gt_files[r.scene].read_bytes()),
                        *((f"{r.name}.{role}.png", made[role]) for role in pair_roles(it)),
                        (f"{r.name}.json", r.model_dump_json().encode()),
                    ):
                        info = tarfile.TarInfo(member)
                        info.size, info.mtime, info.mode = len(data), 0, 0o644
                        info.uid = info.gid = 0
                        info.uname = info.gname = ""
                        tar.addfile(info, io.BytesIO(data))
                    self.outputs.advance(1)
        self.outputs.stored(shard, recipe, f.stored)


WRITERS: dict[ExportFormat, type[LayoutWriter]] = {
    "folder": FolderWriter,
    "imagefolder": ImageFolderWriter,
    "webdataset": ShardWriter,
}
