"""`rdrf report`: one self-contained HTML page a curator reads before trusting the dataset.

Everything comes from the catalogue and the files it points to: a summary (counts, splits, leak
check), the category distribution (the paper's Fig. 10), histograms of the alignment figures, every
rejected or failed pair with its reason and a difference/mask overlay, and a contact sheet per scene
(the paper's Fig. 3). Figures are embedded as data URIs so the page can be mailed or archived as one
file; they are also written next to it (`figures/`). Charts are PNG; the photographic contact
sheets and overlays are JPEG (quality 88), which keeps a 252-scene report at tens of megabytes
instead of hundreds with no visible loss at report size.
"""

from __future__ import annotations

import base64
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Callable, Optional

import cv2
import numpy as np
from jinja2 import Environment, select_autoescape
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from rdrf_align import figures, sheets
from rdrf_align.digest import catalogue_digest
from rdrf_align.export import tool_version
from rdrf_align.resize import to_uint8
from rdrf_align.splits import file_leaks, label_key
from schemas.catalogue import Alignment, Export, File, Pair, Scene, Shot
from schemas.errors import RdrfError
from schemas.records import CATEGORIES
from schemas.storage import durable_write, sha256_bytes
from schemas.views import scene_gt, shot_image
from schemas.workspace import Catalogue, Workspace

Advance = Callable[[int], None]
THUMB_SIDE = 480  # longest side of a thumbnail read for a sheet cell
OVERLAY_SIDE = 900
THUMB_CACHE = ".thumbnails"
PANEL_WIDTH = 400  # three panels side by side fill the page's width


@dataclass
class ShotTile:
    path: Optional[str]  # the shot's image, relative to the workspace
    sha256: str
    label: str
    status: str


@dataclass
class PairRow:
    pair_id: int
    shot: str
    index: int
    status: str
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

    @property
    def status_counts(self) -> str:
        c = Counter(p.status for p in self.pairs)
        return " · ".join(f"{n} {s}" for s, n in sorted(c.items())) or "no pairs"


@dataclass
class RejectedPage:
    row: PairRow
    scene: str
    scene_slug: str
    gt_path: Optional[str]
    lq_path: Optional[str]
    aligned_path: Optional[str]
    mask_path: Optional[str]
    valid_path: Optional[str]
    sources: str = ""  # hash of the files the overlay is drawn from (cache key)
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


def _slug(label: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in label)


def plan_report(catalogue: Catalogue, out: Optional[Path] = None) -> ReportPlan:
    ws = catalogue.workspace
    out = (out if out is not None else ws.reports).resolve()
    with catalogue.session() as session:
        scenes = session.scalars(
            select(Scene).options(
                selectinload(Scene.setups),
                selectinload(Scene.shots).selectinload(Shot.files),
                selectinload(Scene.pairs).selectinload(Pair.alignment).selectinload(Alignment.aligned_file),
                selectinload(Scene.pairs).selectinload(Pair.alignment).selectinload(Alignment.raindrop_mask_file),
                selectinload(Scene.pairs).selectinload(Pair.alignment).selectinload(Alignment.valid_mask_file),
            )
        ).all()
        scenes = sorted(scenes, key=lambda s: label_key(s.label))
        pages, rejected, warnings = [], [], []
        metrics: dict[str, list[tuple[float, str]]] = {"n_inliers": [], "reproj_error": [], "mask_coverage": []}
        category_counts: dict[Optional[str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        pair_status: Counter = Counter()
        n_shots = Counter()
        for scene in scenes:
            category_counts[scene.category][scene.split or "unassigned"] += 1
            gt = scene_gt(scene)
            gt_path = _image_path(gt)
            gt_thumb = _thumb_file(gt)
            if gt is None:
                warnings.append(f"scene {scene.label} has no GT shot")
            elif gt_path is None:
                warnings.append(f"scene {scene.label}: the GT shot has no readable image (RAW not developed?)")
            pair_by_lq = {p.lq_shot_id: p for p in scene.pairs}
            tiles, rows = [], []
            for shot in scene.shots:
                n_shots[shot.role] += 1
                if shot.role != "lq":
                    continue
                pair = pair_by_lq.get(shot.id)
                status = pair.status if pair else "pending"
                thumb = _thumb_file(shot)
                tiles.append(ShotTile(thumb.path if thumb else None, thumb.sha256 if thumb else "", f"#{shot.index} {status}", status))
                if pair is None:
                    continue
                a = pair.alignment
                row = PairRow(
                    pair.id, shot.original_name, shot.index, pair.status, pair.reason,
                    a.n_inliers if a else None, a.inlier_ratio if a else None, a.reproj_error if a else None,
                    a.mask_coverage if a else None, a.valid_fraction if a else None,
                )
                rows.append(row)
                pair_status[pair.status] += 1
                if a is not None:
                    for key in metrics:
                        value = getattr(a, key)
                        if value is not None:
                            metrics[key].append((float(value), pair.status))
                if pair.status in ("rejected", "failed"):
                    files = [shot_image_or_none(gt), shot_image_or_none(shot)] + (
                        [a.aligned_file, a.raindrop_mask_file, a.valid_mask_file] if a else [])
                    rejected.append(RejectedPage(
                        row, scene.label, _slug(scene.label), gt_path, _image_path(shot),
                        a.aligned_file.path if a and a.aligned_file else None,
                        a.raindrop_mask_file.path if a and a.raindrop_mask_file else None,
                        a.valid_mask_file.path if a and a.valid_mask_file else None,
                        sources=sha256_bytes("|".join(f.sha256 if f else "-" for f in files).encode()),
                    ))
            pages.append(ScenePage(
                scene.label, _slug(scene.label), scene.category, scene.split, scene.split_pinned, scene.notes,
                gt_thumb.path if gt_thumb else None, gt_thumb.sha256 if gt_thumb else "", tiles, rows,
                sorted({s.camera_model for s in scene.setups if s.camera_model}),
                sorted({s.glass_mm for s in scene.setups if s.glass_mm is not None}),
            ))
        unassigned = [s.label for s in scenes if s.split is None]
        if unassigned:
            shown = ", ".join(unassigned[:30]) + (f" and {len(unassigned) - 30} more" if len(unassigned) > 30 else "")
            warnings.insert(0, f"{len(unassigned)} scene(s) have no split yet: {shown} (`rdrf split` or `rdrf export` assigns them)")
        leaks = [str(x) for x in file_leaks(session)]
        digest = catalogue_digest(session)
        exports, latest = [], set()
        for e in session.scalars(select(Export).order_by(Export.id.desc())):
            exports.append({
                "id": e.id, "path": e.path, "split": e.split, "format": e.format, "size": e.size, "records": e.n_records,
                "created": e.created_at.strftime("%Y-%m-%d %H:%M") if e.created_at else "",
                "current": e.catalogue_digest == digest, "replaced": e.path in latest,
                "on_disk": (ws.root / e.path / "manifest.jsonl").is_file(),
            })
            latest.add(e.path)
    splits = Counter(p.split or "unassigned" for p in pages)
    summary = {
        "scenes": len(pages),
        "train": splits.get("train", 0),
        "test": splits.get("test", 0),
        "unassigned": splits.get("unassigned", 0),
        "gt_shots": n_shots["gt"],
        "lq_shots": n_shots["lq"],
        "pairs": sum(pair_status.values()),
        "pair_status": {s: pair_status[s] for s in ("ok", "rejected", "failed", "pending") if pair_status[s]},
        "train_pairs": sum(p.status == "ok" for s in pages if s.split == "train" for p in s.pairs),
        "test_pairs": sum(p.status == "ok" for s in pages if s.split == "test" for p in s.pairs),
    }
    return ReportPlan(ws, out, pages, rejected, summary, {k: dict(v) for k, v in category_counts.items()},
                      metrics, leaks, warnings, digest, exports)


def _thumb_file(shot: Optional[Shot]) -> Optional[File]:
    """What a thumbnail is read from: the camera JPEG of a RAW+JPEG shot (libjpeg decodes it at 1/8
    scale in a fraction of the time a 16-bit developed PNG takes), else the shot's image."""
    if shot is None:
        return None
    jpegs = [f for f in shot.files if f.kind == "original" and f.path.lower().endswith((".jpg", ".jpeg"))]
    if jpegs:
        return jpegs[0]
    try:
        return shot_image(shot)
    except LookupError:
        return None


def shot_image_or_none(shot: Optional[Shot]) -> Optional[File]:
    if shot is None:
        return None
    try:
        return shot_image(shot)
    except LookupError:
        return None


def _image_path(shot: Optional[Shot]) -> Optional[str]:
    f = shot_image_or_none(shot)
    return f.path if f else None


# ---------------------------------------------------------------- image loading


def read_rgb(ws: Workspace, rel: str, max_side: Optional[int] = None, grey: bool = False) -> np.ndarray:
    """Decode a workspace image as 8-bit RGB (or single-channel), shrunk to about `max_side`.

    JPEGs are decoded at 1/2, 1/4 or 1/8 scale by libjpeg itself when that still covers max_side, so
    thumbnails of 60 MP shots cost a fraction of a full decode."""
    path = ws.abs(rel)
    if not path.is_file():
        raise RdrfError(f"{rel} is missing from the workspace; run `rdrf verify`")
    flags = cv2.IMREAD_UNCHANGED | cv2.IMREAD_ANYDEPTH
    if max_side and path.suffix.lower() in (".jpg", ".jpeg") and not grey:
        with Image.open(path) as im:
            longest = max(im.size)
        for factor, flag in ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4), (2, cv2.IMREAD_REDUCED_COLOR_2)):
            if longest / factor >= max_side:
                flags = flag
                break
    img = cv2.imdecode(np.fromfile(str(path), np.uint8), flags)
    if img is None:
        raise RdrfError(f"{rel}: cannot be decoded as an image; run `rdrf verify`")
    img = to_uint8(img)
    if grey:
        img = img if img.ndim == 2 else img.max(axis=2)
    elif img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    else:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB if img.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    if max_side and max(img.shape[:2]) > max_side:
        s = max_side / max(img.shape[:2])
        img = cv2.resize(img, (max(1, round(img.shape[1] * s)), max(1, round(img.shape[0] * s))), interpolation=cv2.INTER_AREA)
    return img


def _jpeg(rgb: np.ndarray, quality: int = 88) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RdrfError("could not encode a report figure")
    return buf.tobytes()


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def thumbnail(ws: Workspace, rel: str, sha256: str, side: int, cache: Optional[Path]) -> np.ndarray:
    """read_rgb at `side`, kept in `cache` by file hash: re-running a report decodes no original twice."""
    if cache is None or not sha256:
        return read_rgb(ws, rel, side)
    path = cache / f"{sha256[:40]}-{side}.jpg"
    if path.is_file():
        img = cv2.imread(str(path))
        if img is not None:
            return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    img = read_rgb(ws, rel, side)
    cache.mkdir(parents=True, exist_ok=True)
    durable_write(_jpeg(img, 92), path)
    return img


def render_sheet(ws: Workspace, page: ScenePage, cache: Optional[Path] = None) -> bytes:
    if page.gt_path is None:
        raise RdrfError(f"scene {page.label} has no GT image to put in the middle of its contact sheet")
    gt = thumbnail(ws, page.gt_path, page.gt_sha256, THUMB_SIDE * 2, cache)
    shots = []
    for t in page.tiles:
        img = thumbnail(ws, t.path, t.sha256, THUMB_SIDE, cache) if t.path else np.full((8, 12, 3), 60, np.uint8)
        shots.append((img, t.label, t.status))
    return _jpeg(sheets.contact_sheet(gt, shots))


def render_rejected(ws: Workspace, r: RejectedPage) -> bytes:
    if r.gt_path is None:
        raise RdrfError(f"pair {r.row.pair_id}: its scene {r.scene} has no GT image")
    gt_full = read_rgb(ws, r.gt_path)
    if r.aligned_path is None:
        lq = read_rgb(ws, r.lq_path, OVERLAY_SIDE) if r.lq_path else np.zeros_like(gt_full)
        return _jpeg(sheets.side_by_side([(read_rgb(ws, r.gt_path, OVERLAY_SIDE), "GT"), (lq, "degraded (not aligned)")], PANEL_WIDTH))
    aligned = read_rgb(ws, r.aligned_path)
    if aligned.shape != gt_full.shape:
        raise RdrfError(f"{r.aligned_path} is {aligned.shape[1]}x{aligned.shape[0]} but the GT {r.gt_path} is {gt_full.shape[1]}x{gt_full.shape[0]}")
    mask = read_rgb(ws, r.mask_path, grey=True) if r.mask_path else None
    valid = read_rgb(ws, r.valid_path, grey=True) if r.valid_path else None
    scale = min(1.0, OVERLAY_SIDE / max(gt_full.shape[:2]))
    size = (max(1, round(gt_full.shape[1] * scale)), max(1, round(gt_full.shape[0] * scale)))

    def small(img, nearest=False):
        return cv2.resize(img, size, interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_AREA) if scale < 1 else img

    gt_s, al_s = small(gt_full), small(aligned)
    m_s = small(mask, True) if mask is not None else None
    v_s = small(valid, True) if valid is not None else None
    overlay = sheets.difference_overlay(gt_s, al_s, m_s, v_s)
    return _jpeg(sheets.side_by_side([(gt_s, "GT"), (al_s, "aligned degraded"), (overlay, "|difference| x4, mask outlined")], PANEL_WIDTH))


# ---------------------------------------------------------------- page


def reason_counts(reasons) -> list[tuple[str, int]]:
    """Rejection reasons grouped by kind (the text before its figures), most frequent first. A pair
    with several problems counts once per problem."""
    counts: Counter = Counter()
    for reason in reasons:
        parts, depth, start = [], 0, 0
        text = reason or "(no reason recorded)"
        for i, ch in enumerate(text):  # split at "; " outside parentheses
            depth += (ch == "(") - (ch == ")")
            if depth == 0 and text.startswith("; ", i):
                parts.append(text[start:i])
                start = i + 2
        parts.append(text[start:])
        for part in parts:
            counts[part.split(" (")[0].strip() or part] += 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def _environment() -> Environment:
    env = Environment(autoescape=select_autoescape(default=True), trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = lambda v, fmt=".2f": "–" if v is None else format(v, fmt)
    return env


def build_report(plan: ReportPlan, workers: int = 4, advance: Advance = lambda n=1: None) -> Path:
    """Render every figure (in parallel), write figures/ and report.html; return the page's path."""
    ws, out = plan.workspace, plan.out
    figdir = out / "figures"
    figdir.mkdir(parents=True, exist_ok=True)
    written: set[str] = set()

    def save(name: str, data: bytes, mime: str) -> str:
        durable_write(data, figdir / name)
        written.add(name)
        return _data_uri(data, mime)

    charts = {
        "categories": save("categories.png", figures.category_chart(plan.category_counts), "image/png"),
        "histograms": save("alignment_histograms.png", figures.histograms([
            ("RANSAC inliers", "inlier matches", plan.metric_values["n_inliers"]),
            ("Reprojection error", "px (full resolution)", plan.metric_values["reproj_error"]),
            ("Raindrop mask coverage", "fraction of the frame", plan.metric_values["mask_coverage"]),
        ]), "image/png"),
    }
    advance(1)

    def scene_job(page: ScenePage) -> None:
        try:
            page.sheet = save(f"scene-{page.slug}.jpg", render_sheet(ws, page, out / THUMB_CACHE), "image/jpeg")
        except RdrfError as exc:
            page.problem = str(exc)

    def rejected_job(r: RejectedPage) -> None:
        cached = out / THUMB_CACHE / f"overlay-{r.sources[:40]}-{OVERLAY_SIDE}.jpg"
        try:
            if cached.is_file():
                data = cached.read_bytes()
            else:
                data = render_rejected(ws, r)
                durable_write(data, cached)
            r.image = save(f"pair-{r.row.pair_id}.jpg", data, "image/jpeg")
        except RdrfError as exc:
            r.problem = str(exc)

    with ThreadPoolExecutor(max(1, workers)) as pool:
        for fut in [pool.submit(rejected_job, r) for r in plan.rejected] + [pool.submit(scene_job, p) for p in plan.scenes]:
            fut.result()
            advance(1)
    for stale in figdir.iterdir():
        if stale.is_file() and stale.name not in written and stale.suffix in (".png", ".jpg"):
            stale.unlink()

    template = _environment().from_string(resources.files("rdrf_align").joinpath("templates/report.html").read_text())
    page = template.render(
        plan=plan,
        reasons=reason_counts(r.row.reason for r in plan.rejected),
        charts=charts,
        version=tool_version(),
        workspace=str(ws.root),
        categories=CATEGORIES,
        problems=[p for p in plan.scenes if p.problem] + [r for r in plan.rejected if r.problem],
    )
    path = out / "report.html"
    durable_write(page.encode(), path)
    return path

