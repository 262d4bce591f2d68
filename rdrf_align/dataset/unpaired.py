"""`rdrf export --split wild`: the wild scenes' degraded shots as an unpaired export.

Wild scenes (RDRF-wild, seeds/000 A.4) have no ground truth, so this export has no `gt` and no `mask`:
`wild/lq/NAME.png` per degraded shot, resized like a paired export (centre crop to the target's
aspect ratio, then area resize), and `manifest.jsonl` with one ExportRecord per shot (`gt`, `mask` and
`pair_id` null, `kind` "wild"). With `clean_domain` it adds the GT image of every *train* scene as
`clean/NAME.png` (+ `clean/meta_info.txt`): the clean domain an unpaired method such as RainDiffusion
(seeds/002) trains against. Test GTs are never included, so the test split stays unseen.

It is a separate writer from the paired one because nothing here is warped, masked or shared per
scene; the export folder's bookkeeping (state file, README, Export row) is the same.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from rdrf_align.dataset import layouts
from rdrf_align.dataset.digest import catalogue_digest
from rdrf_align.dataset.folders import DATASHEET, MANIFEST, check_out_folder, read_state, write_state
from rdrf_align.dataset.plan import Source
from rdrf_align.dataset.resize import Box, crop_box, parse_size, resize_image
from rdrf_align.dataset.writers import Renderer
from schemas import imageio
from schemas.catalogue import Export, Scene, Shot
from schemas.errors import RdrfError
from schemas.records import ExportRecord
from schemas.storage import durable_write, sha256_bytes
from schemas.version import tool_version
from schemas.views import scene_gt, scene_order, shot_camera, shot_image
from schemas.vocabulary import ExportFormat, Fit
from schemas.workspace import Catalogue, Workspace

WILD = "wild"
CLEAN = "clean"


@dataclass(frozen=True)
class WildParams:
    format: ExportFormat = "folder"
    size: str = "1080x720"
    fit: Fit = "crop"
    clean_domain: bool = False

    def __post_init__(self) -> None:
        if self.format == "webdataset":
            raise RdrfError("a wild export is written as folder or imagefolder (one lq image per shot); "
                            "--format webdataset is for paired exports", exit_code=2)
        parse_size(self.size)

    def default_folder(self) -> str:
        return f"wild-{self.format}-{self.size}"


@dataclass
class WildItem:
    out: str  # export-relative path
    src: Source
    box: Box
    what: str  # names the image in errors
    record: Optional[ExportRecord] = None  # None: a clean-domain GT


@dataclass
class WildPlan:
    workspace: Workspace
    out: Path
    params: WildParams
    items: list[WildItem]
    digest: str
    version: str = field(default_factory=tool_version)

    @property
    def records(self) -> list[ExportRecord]:
        return [it.record for it in self.items if it.record is not None]

    @property
    def clean(self) -> list[WildItem]:
        return [it for it in self.items if it.record is None]


def plan_wild(catalogue: Catalogue, params: WildParams, out: Optional[Path] = None) -> WildPlan:
    """Every degraded shot of every wild scene (and the train GTs when asked); writes nothing."""
    ws = catalogue.workspace
    out = (out if out is not None else ws.exports / params.default_folder()).resolve()
    target = parse_size(params.size)
    items: list[WildItem] = []
    with catalogue.session() as session:
        digest = catalogue_digest(session)
        scenes = session.scalars(select(Scene).options(selectinload(Scene.shots).selectinload(Shot.files),
                                                       selectinload(Scene.shots).selectinload(Shot.setup))).all()
        scenes = sorted(scenes, key=lambda sc: scene_order(sc.label))
        for scene in (sc for sc in scenes if sc.kind == "wild"):
            for shot in sorted((s for s in scene.shots if s.role == "lq"), key=lambda s: s.index):
                items.append(_wild_item(ws, scene, shot, target, params.fit))
        if not items:
            raise RdrfError("no wild scenes to export; bring shots in with `rdrf import --wild DIR` or `rdrf capture --wild`")
        if params.clean_domain:
            clean = [_clean_item(ws, sc, target, params.fit) for sc in scenes if sc.kind != "wild" and sc.split == "train"]
            clean = [it for it in clean if it is not None]
            if not clean:
                raise RdrfError("--clean-domain: no train scene has a ground truth; run `rdrf split` and import or capture paired scenes first")
            items += clean
    return WildPlan(ws, out, params, items, digest)


def _image(shot: Shot, what: str) -> Source:
    try:
        f = shot_image(shot)
    except LookupError as exc:
        raise RdrfError(f"{what}: {exc}; expected a developed or plain image") from None
    return Source(f.path, f.sha256)


def _wild_item(ws: Workspace, scene: Scene, shot: Shot, target, fit: Fit) -> WildItem:
    what = f"scene {scene.label} shot {shot.original_name}"
    src = _image(shot, what)
    w, h = imageio.file_size(ws.abs(src.path), what)
    box = crop_box(w, h, target, fit, what=what)
    name = layouts.pair_name(scene.label, shot.index)
    out_w, out_h = target if target is not None else (box[2] - box[0], box[3] - box[1])
    record = ExportRecord(
        pair_id=None, name=name, scene=scene.label, split=WILD, kind="wild", degradation=shot.degradation,
        frame_index=shot.frame_index, timestamp_s=shot.timestamp_s, category=scene.category,
        glass_mm=shot.setup.glass_mm if shot.setup else None, camera=shot_camera(shot),
        gt=None, lq=f"{WILD}/lq/{name}.png", mask=None, width=out_w, height=out_h, crop=[int(v) for v in box],
        lq_original=shot.original_name, status=None,
    )
    return WildItem(record.lq, src, box, what, record)


def _clean_item(ws: Workspace, scene: Scene, target, fit: Fit) -> Optional[WildItem]:
    gt = scene_gt(scene)
    if gt is None:
        return None
    what = f"GT of train scene {scene.label}"
    src = _image(gt, what)
    w, h = imageio.file_size(ws.abs(src.path), what)
    return WildItem(f"{CLEAN}/{layouts.pair_name(scene.label, 0)}.png", src, crop_box(w, h, target, fit, what=what), what)


@dataclass
class WildResult:
    out: Path
    n_records: int
    n_clean: int
    removed: int
    export_id: int


def write_wild(plan: WildPlan, catalogue: Catalogue, advance: Callable[[int], None] = lambda n=1: None) -> WildResult:
    """Write the images, then the README and the manifest (last: a folder with a manifest is complete)."""
    out, ws = plan.out, plan.workspace
    check_out_folder(out, ws)
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).unlink(missing_ok=True)
    old = read_state(out).get("outputs", {})
    scenes = {r.scene: WILD for r in plan.records}
    write_state(out, old, scenes)
    renderer, target, outputs = Renderer(ws), parse_size(plan.params.size), {}
    for it in plan.items:
        img = imageio.decode(renderer.read(it.src, it.what), it.src.path)
        stored = durable_write(imageio.encode_png(resize_image(img, it.box, target), level=1), out / it.out)
        outputs[it.out] = {"sha256": stored.sha256, "size": stored.size}
        advance(1)
    index = {f"{WILD}/meta_info.txt": "".join(f"{r.name}.png\n" for r in plan.records).encode()}
    if plan.clean:
        index[f"{CLEAN}/meta_info.txt"] = "".join(f"{Path(it.out).name}\n" for it in plan.clean).encode()
    if plan.params.format == "imagefolder":
        index[f"{WILD}/metadata.jsonl"] = _hf_metadata(plan.records)
    for rel, data in index.items():
        stored = durable_write(data, out / rel)
        outputs[rel] = {"sha256": stored.sha256, "size": stored.size}
    removed = 0
    for rel in sorted(set(old) - set(outputs)):  # files of an earlier export here that this one does not hold
        if (out / rel).is_file():
            (out / rel).unlink()
            removed += 1
    manifest = "".join(r.model_dump_json() + "\n" for r in plan.records).encode()
    manifest_sha = sha256_bytes(manifest)
    durable_write(render_wild_datasheet(plan, manifest_sha).encode(), out / DATASHEET)
    write_state(out, outputs, scenes)
    durable_write(manifest, out / MANIFEST)
    with catalogue.session() as session:
        inside = ws.root.resolve() in out.parents
        row = Export(path=ws.rel(out) if inside else str(out), split=WILD, format=plan.params.format, size=plan.params.size,
                     params={"split": WILD, "format": plan.params.format, "size": plan.params.size, "fit": plan.params.fit,
                             "clean_domain": plan.params.clean_domain, "version": plan.version},
                     n_records=len(plan.records), manifest_sha256=manifest_sha, catalogue_digest=plan.digest)
        session.add(row)
        session.flush()
        export_id = row.id
    return WildResult(out, len(plan.records), len(plan.clean), removed, export_id)


def _hf_metadata(records: list[ExportRecord]) -> bytes:
    rows = [{"file_name": f"lq/{r.name}.png", "name": r.name, "scene": r.scene, "category": r.category,
             "degradation": r.degradation, "camera": r.camera} for r in records]
    return "".join(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n" for row in rows).encode()


def render_wild_datasheet(plan: WildPlan, manifest_sha256: str) -> str:
    p, records = plan.params, plan.records
    by_scene: dict[str, int] = {}
    by_degradation: dict[str, int] = {}
    for r in records:
        by_scene[r.scene] = by_scene.get(r.scene, 0) + 1
        by_degradation[str(r.degradation)] = by_degradation.get(str(r.degradation), 0) + 1
    scene_rows = "\n".join(f"| {s} | {n} |" for s, n in by_scene.items())
    degradation_rows = "\n".join(f"| {d} | {n} |" for d, n in sorted(by_degradation.items()))
    clean = (f"`clean/` holds the ground truth of the {len(plan.clean)} train scenes (never a test scene): the clean "
             "domain for unpaired training (RainDiffusion, seeds/002); `clean/meta_info.txt` lists them."
             if plan.clean else "No clean domain was asked for (`--clean-domain` adds the train scenes' ground truth).")
    return f"""# RDRF-wild unpaired export

Degraded shots with **no ground truth** (wild scenes: seeds/000 A.4 RDRF-wild), {len(records)} images of
{len(by_scene)} scenes. There are no pairs: full-reference metrics (PSNR, SSIM, LPIPS) cannot be computed;
score restorations with no-reference metrics (`rdrf benchmark --data THIS --split wild`).

| scene | images |
|---|---|
{scene_rows}

| degradation | images |
|---|---|
{degradation_rows}

## Files

- `wild/lq/NAME.png`: 8-bit RGB PNG ({"the captured size" if p.size == "original" else p.size}), centre-cropped to the target's aspect ratio, then resized; `wild/meta_info.txt` lists them{"; `wild/metadata.jsonl` is the Hugging Face imagefolder metadata" if p.format == "imagefolder" else ""}.
- {clean}
- `manifest.jsonl`: one `ExportRecord` per image with `gt`, `mask` and `pair_id` null and `kind` "wild".

| | |
|---|---|
| tool | rdrf {plan.version} |
| parameters | split=wild, format={p.format}, size={p.size}, fit={p.fit}, clean_domain={str(p.clean_domain).lower()} |
| catalogue digest (sha256) | `{plan.digest}` |
| manifest.jsonl sha256 | `{manifest_sha256}` |
"""
