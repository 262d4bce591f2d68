"""`rdrf report`: one self-contained HTML page a curator reads before trusting the dataset.

A summary (counts, splits, leak check), the category distribution (the paper's Fig. 10), histograms
of the alignment figures, every rejected or failed pair with its reason and a difference/mask overlay,
and a contact sheet per scene (the paper's Fig. 3). Figures are embedded as data URIs so the page can
be mailed or archived as one file; they are also written next to it (`figures/`). Charts are PNG,
photographs JPEG (render.py).
"""

from __future__ import annotations

import base64
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Callable

from jinja2 import Environment, select_autoescape

from rdrf_align.report import figures
from rdrf_align.report.plan import DualPixelFigure, RejectedPage, ReportPlan, ScenePage
from rdrf_align.report.render import OVERLAY_SIDE, render_rejected, render_sheet, render_views
from schemas.errors import RdrfError
from schemas.records import CATEGORIES
from schemas.storage import durable_write
from schemas.version import tool_version

Advance = Callable[[int], None]
THUMB_CACHE = ".thumbnails"


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


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def _environment() -> Environment:
    env = Environment(autoescape=select_autoescape(default=True), trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = lambda v, fmt=".2f": "–" if v is None else format(v, fmt)
    return env


def build_report(plan: ReportPlan, workers: int = 4, advance: Advance = lambda n=1: None) -> Path:
    """Render every figure (in parallel), write figures/ and report.html; return the page's path."""
    ws, out = plan.workspace, plan.out
    figdir = out / "figures"
    figdir.mkdir(parents=True, exist_ok=True)
    cache = out / THUMB_CACHE
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
            page.sheet = save(f"scene-{page.slug}.jpg", render_sheet(ws, page, cache), "image/jpeg")
        except RdrfError as exc:
            page.problem = str(exc)

    def cached_jpeg(name: str, render: Callable[[], bytes]) -> bytes:
        """A figure rendered once and kept under the report's cache (it depends on its sources alone)."""
        cached = cache / name
        if cached.is_file():
            return cached.read_bytes()
        data = render()
        durable_write(data, cached)
        return data

    def rejected_job(r: RejectedPage) -> None:
        try:
            data = cached_jpeg(f"overlay-{r.images.sources[:40]}-{OVERLAY_SIDE}.jpg", lambda: render_rejected(ws, r.images))
            r.image = save(f"pair-{r.row.pair_id}.jpg", data, "image/jpeg")
        except RdrfError as exc:
            r.problem = str(exc)

    def views_job(d: DualPixelFigure) -> None:
        try:
            data = cached_jpeg(f"views-{d.images.sources[:40]}-{OVERLAY_SIDE}.jpg", lambda: render_views(ws, d.images))
            d.image = save(f"views-{d.row.pair_id}.jpg", data, "image/jpeg")
        except RdrfError as exc:
            d.problem = str(exc)

    with ThreadPoolExecutor(max(1, workers)) as pool:
        jobs = [pool.submit(rejected_job, r) for r in plan.rejected] + [pool.submit(scene_job, p) for p in plan.scenes]
        jobs += [pool.submit(views_job, d) for p in plan.scenes for d in p.dual]
        for fut in jobs:
            fut.result()
            advance(1)
    for stale in figdir.iterdir():
        if stale.is_file() and stale.name not in written and stale.suffix in (".png", ".jpg"):
            stale.unlink()

    template = _environment().from_string(resources.files("rdrf_align.report").joinpath("templates/report.html").read_text())
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
