"""What the QA report shows, read from the catalogue in one session (no image is decoded here).

Scenes, pairs and alignments come through the record builders of schemas.views, so the report says
what `--json` listings say. What only the dataset package knows (the catalogue digest, file leaks
between splits, the natural order of scene labels) is handed in by the CLI: report and dataset never
import each other.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from schemas.catalogue import Alignment, Export, File, Pair, Scene, Shot
from schemas.imageio import is_jpeg
from schemas.storage import sha256_bytes
from schemas.views import alignment_sources, pair_record, scene_gt, scene_order, scene_record, shot_image, shot_views
from schemas.vocabulary import PairStatus, values
from schemas.workspace import Catalogue, Workspace

METRICS = ("n_inliers", "reproj_error", "mask_coverage")  # the figures the report histograms


@dataclass
class ShotTile:
    path: Optional[str]  # the shot's image, relative to the workspace
    sha256: str
    label: str
    status: PairStatus


@dataclass
class PairRow:
    pair_id: int
    shot: str
    index: int
    status: PairStatus
    reason: str
    n_inliers: Optional[int]
    inlier_ratio: Optional[float]
    reproj_error: Optional[float]
    mask_coverage: Optional[float]
    valid_fraction: Optional[float]


@dataclass
class ScenePage:
    label: str
    slug: str
    category: Optional[str]
    split: Optional[str]
    pinned: bool
    notes: str
    gt_path: Optional[str]
    gt_sha256: str
    tiles: list[ShotTile]
    pairs: list[PairRow]
    cameras: list[str]
    glass_mm: list[float]
    sheet: str = ""  # data URI, filled in when rendered
    problem: str = ""  # why no sheet could be drawn
    kind: str = "paired"  # paired: a ring around the GT; video: a frame strip after the GT; wild: shots only
    dual: list["DualPixelFigure"] = field(default_factory=list)  # the scene's dual-pixel pairs: both views each

    @property
    def status_counts(self) -> str:
        c = Counter(p.status for p in self.pairs)
        return " · ".join(f"{n} {s}" for s, n in sorted(c.items())) or "no pairs"


# Bump when the pictures of a pair change for the same inputs (the overlay cache is keyed on it).
PAIR_PICTURE_VERSION = "2"  # 2: the aligned image is rendered from the degraded shot and the homography


@dataclass
class PairImages:
    """What a pair's pictures (report overlay, `rdrf show`) are drawn from: the images the alignment
    maps between, its homography (None: not aligned) and its raindrop mask, paths workspace-relative."""

    pair_id: int
    scene: str
    gt_path: Optional[str]
    lq_path: Optional[str]
    homography: Optional[list[list[float]]]
    mask_path: Optional[str]
    sources: str = ""  # hash of everything the pictures are drawn from (cache key)
    views: dict[str, str] = field(default_factory=dict)  # dual pixel: "left"/"right" -> the view's image
    view_masks: dict[str, str] = field(default_factory=dict)  # dual pixel: "left"/"right" -> the view's raindrop mask


def pair_images(pair: Pair) -> PairImages:
    a = pair.alignment
    try:
        gt, lq = alignment_sources(pair)
    except LookupError:
        gt, lq = _image_file(pair.gt_shot), _image_file(pair.lq_shot)
    mask = a.raindrop_mask_file if a is not None else None
    H = a.homography if a is not None else None
    views = shot_views(pair.lq_shot)
    view_masks = {side: f for side, f in (("left", a.mask_left_file), ("right", a.mask_right_file)) if f} if a is not None else {}
    files = (gt, lq, mask, *views.values(), *view_masks.values())
    key = [PAIR_PICTURE_VERSION, *(f.sha256 if f else "-" for f in files), json.dumps(H)]
    return PairImages(pair.id, pair.scene.label, gt.path if gt else None, lq.path if lq else None, H,
                      mask.path if mask else None, sha256_bytes("|".join(key).encode()),
                      {side: f.path for side, f in views.items()}, {side: f.path for side, f in view_masks.items()})


@dataclass
class DualPixelFigure:
    """A dual-pixel pair's two views, aligned, with their masks outlined (render.render_views)."""

    row: "PairRow"
    images: PairImages
    image: str = ""  # data URI, filled in when rendered
    problem: str = ""


@dataclass
class RejectedPage:
    row: PairRow
    scene: str
    scene_slug: str
    images: PairImages
    image: str = ""
    problem: str = ""


@dataclass
class ReportPlan:
    workspace: Workspace
    out: Path
    scenes: list[ScenePage]
    rejected: list[RejectedPage]
    summary: dict
    category_counts: dict
    metric_values: dict[str, list[tuple[float, str]]]
    leaks: list[str]
    warnings: list[str]
    digest: str
    exports: list[dict] = field(default_factory=list)
    generated: str = field(default_factory=lambda: datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))

    @property
    def steps(self) -> int:
        return 1 + len(self.scenes) + len(self.rejected)


def plan_report(
    catalogue: Catalogue,
    out: Optional[Path] = None,
    *,
    digest: str,
    leaks: list[str],
) -> ReportPlan:
    """The report's content. `digest` names the catalogue state, `leaks` are the files found in both
    splits (both from rdrf_align.dataset, via the CLI)."""
    ws = catalogue.workspace
    out = (out if out is not None else ws.reports).resolve()
    with catalogue.session() as session:
        tally = _Tally()
        scenes = sorted(session.scalars(_scenes_query()).all(), key=lambda s: scene_order(s.label))
        pages = [tally.scene(scene) for scene in scenes]
        exports = _exports(session, ws, digest)
    unassigned = [p.label for p in pages if p.split is None]
    if unassigned:
        shown = ", ".join(unassigned[:30]) + (f" and {len(unassigned) - 30} more" if len(unassigned) > 30 else "")
        tally.warnings.insert(0, f"{len(unassigned)} scene(s) have no split yet: {shown} (`rdrf split` or `rdrf export` assigns them)")
    return ReportPlan(ws, out, pages, tally.rejected, tally.summary(pages), {k: dict(v) for k, v in tally.categories.items()},
                      tally.metrics, list(leaks), tally.warnings, digest, exports)


def _scenes_query():
    return select(Scene).options(
        selectinload(Scene.setups),
        selectinload(Scene.shots).selectinload(Shot.files),
        selectinload(Scene.pairs).selectinload(Pair.alignment).selectinload(Alignment.gt_file),
        selectinload(Scene.pairs).selectinload(Pair.alignment).selectinload(Alignment.lq_file),
        selectinload(Scene.pairs).selectinload(Pair.alignment).selectinload(Alignment.raindrop_mask_file),
        selectinload(Scene.pairs).selectinload(Pair.alignment).selectinload(Alignment.mask_left_file),
        selectinload(Scene.pairs).selectinload(Pair.alignment).selectinload(Alignment.mask_right_file),
    )


class _Tally:
    """Builds the scene pages and counts what the summary, the charts and the warnings need."""

    def __init__(self) -> None:
        self.rejected: list[RejectedPage] = []
        self.warnings: list[str] = []
        self.metrics: dict[str, list[tuple[float, str]]] = {key: [] for key in METRICS}
        self.categories: dict[Optional[str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.pair_status: Counter = Counter()
        self.shots: Counter = Counter()
        self.dual_pixel = 0  # degraded shots with left/right views

    def scene(self, scene: Scene) -> ScenePage:
        record = scene_record(scene)
        self.categories[record.category][record.split or "unassigned"] += 1
        self.shots.update({"gt": record.gt_shots, "lq": record.lq_shots})
        gt = scene_gt(scene)
        gt_image, gt_thumb = _image_file(gt), _thumb_file(gt)
        if gt is None and scene.kind != "wild":  # a wild scene has none by definition
            self.warnings.append(f"scene {scene.label} has no GT shot")
        elif gt is not None and gt_image is None:
            self.warnings.append(f"scene {scene.label}: the GT shot has no readable image (RAW not developed?)")
        pair_by_lq = {p.lq_shot_id: p for p in scene.pairs}
        tiles, rows, dual = [], [], []
        for shot in scene.shots:
            if shot.role != "lq":
                continue
            pair = pair_by_lq.get(shot.id)
            thumb = _thumb_file(shot)
            status = pair.status if pair else "pending"
            label = f"#{shot.index} {status}"
            if shot_views(shot):
                self.dual_pixel += 1
                label += " DP"  # dual pixel: its views are shown below the sheet
            if scene.kind == "wild":
                label = f"#{shot.index} no GT"
            elif shot.frame_index is not None:
                label = f"frame {shot.frame_index} {status}"
            tiles.append(ShotTile(thumb.path if thumb else None, thumb.sha256 if thumb else "", label, status))
            if pair is not None:
                rows.append(self.pair(pair, shot))
                if shot_views(shot):
                    dual.append(DualPixelFigure(rows[-1], pair_images(pair)))
        slug = _slug(scene.label)
        return ScenePage(
            record.scene, slug, record.category, record.split, record.split_pinned, record.notes,
            gt_thumb.path if gt_thumb else None, gt_thumb.sha256 if gt_thumb else "", tiles, rows,
            record.cameras, record.glass_mm, kind=scene.kind, dual=dual,
        )

    def pair(self, pair: Pair, shot: Shot) -> PairRow:
        record = pair_record(pair)
        a = record.alignment
        row = PairRow(
            record.pair_id, record.lq_original, shot.index, record.status, record.reason,
            a.n_inliers if a else None, a.inlier_ratio if a else None, a.reproj_error if a else None,
            a.mask_coverage if a else None, a.valid_fraction if a else None,
        )
        self.pair_status[record.status] += 1
        if a is not None:
            for key in METRICS:
                value = getattr(a, key)
                if value is not None:
                    self.metrics[key].append((float(value), record.status))
        if record.status in ("rejected", "failed"):
            self.rejected.append(RejectedPage(row, record.scene, _slug(record.scene), pair_images(pair)))
        return row

    def summary(self, pages: list[ScenePage]) -> dict:
        splits = Counter(p.split or "unassigned" for p in pages)
        return {
            "scenes": len(pages),
            "train": splits.get("train", 0),
            "test": splits.get("test", 0),
            "unassigned": splits.get("unassigned", 0),
            "gt_shots": self.shots["gt"],
            "lq_shots": self.shots["lq"],
            "dual_pixel_shots": self.dual_pixel,
            "pairs": sum(self.pair_status.values()),
            "pair_status": {s: self.pair_status[s] for s in values(PairStatus) if self.pair_status[s]},
            "train_pairs": sum(p.status == "ok" for s in pages if s.split == "train" for p in s.pairs),
            "test_pairs": sum(p.status == "ok" for s in pages if s.split == "test" for p in s.pairs),
        }


def _exports(session: Session, ws: Workspace, digest: str) -> list[dict]:
    """Every export, newest first: is it of the current catalogue, replaced by a newer one, on disk?"""
    exports, later = [], set()
    for e in session.scalars(select(Export).order_by(Export.id.desc())):
        exports.append({
            "id": e.id, "path": e.path, "split": e.split, "format": e.format, "size": e.size, "records": e.n_records,
            "created": e.created_at.strftime("%Y-%m-%d %H:%M") if e.created_at else "",
            "current": e.catalogue_digest == digest, "replaced": e.path in later,
            "on_disk": (ws.root / e.path / "manifest.jsonl").is_file(),
        })
        later.add(e.path)
    return exports


def _slug(label: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in label)


def _image_file(shot: Optional[Shot]) -> Optional[File]:
    if shot is None:
        return None
    try:
        return shot_image(shot)
    except LookupError:
        return None


def _thumb_file(shot: Optional[Shot]) -> Optional[File]:
    """What a thumbnail is read from: the camera JPEG of a RAW+JPEG shot (libjpeg decodes it at 1/8
    scale in a fraction of the time a 16-bit developed PNG takes), else the shot's image."""
    if shot is None:
        return None
    jpegs = [f for f in shot.files if f.kind == "original" and is_jpeg(f.path)]
    return jpegs[0] if jpegs else _image_file(shot)
