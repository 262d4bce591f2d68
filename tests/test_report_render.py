"""`rdrf report`: a self-contained page that really renders in a browser and shows what a curator needs."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from tests.export_helpers import build_workspace, photo

from rdrf_align.report.sheets import RED, contact_sheet, difference_overlay


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    from typer.testing import CliRunner

    from rdrf.cli import app

    ws = build_workspace(tmp_path_factory.mktemp("report") / "ws", test_fraction=0.25)
    out = ws.root / "qa"
    runner = CliRunner()
    assert runner.invoke(app, ["-w", str(ws.root), "split"]).exit_code == 0
    r = runner.invoke(app, ["-w", str(ws.root), "report", "--out", str(out), "--workers", "2"])
    assert r.exit_code == 0, r.output
    assert Path(r.stdout.strip()) == out / "report.html"
    return out / "report.html"


def test_report_is_one_self_contained_page_with_every_scene_and_rejected_pair(report):
    page = report.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", page)  # nothing fetched from anywhere
    assert "<script" not in page and "<link" not in page
    images = re.findall(r'<img src="([^"]+)"', page)
    assert images and all(src.startswith(("data:image/png;base64,", "data:image/jpeg;base64,")) for src in images)
    for src in images:  # every embedded figure decodes
        data = np.frombuffer(base64.b64decode(src.split(",", 1)[1]), np.uint8)
        assert cv2.imdecode(data, cv2.IMREAD_COLOR) is not None
    assert len(re.findall(r'<figure class="scene" id="scene-', page)) == 8
    assert len(re.findall(r'alt="contact sheet of scene', page)) == 8
    # The rejected pair (4, misaligned) and the failed one (13) with their reasons and pictures.
    assert 'id="pair-4"' in page and "reprojection error 4.1 px &gt; 2.0 px" in page
    assert 'id="pair-13"' in page and "too few matches (12 &lt; 50)" in page
    assert 'alt="pair 4: GT, aligned degraded and difference overlay"' in page
    assert "No leaks" in page
    figures = {p.name for p in (report.parent / "figures").iterdir()}
    assert {"categories.png", "alignment_histograms.png", "pair-4.jpg", "pair-13.jpg", "scene-10.jpg"} <= figures


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def test_report_renders_in_headless_chromium(report, tmp_path):
    browser = chromium()
    if browser is None:
        pytest.skip("no chromium on PATH: install Debian's `chromium` package (apt-get install -y chromium) to render the report")
    shot = tmp_path / "report.png"
    cmd = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars",
        "--window-size=1400,5200", f"--screenshot={shot}", report.as_uri(),
    ]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    img = cv2.imread(str(shot))
    assert img is not None and img.shape[:2] == (5200, 1400)
    rgb = img[..., ::-1].astype(int)
    # The dark header is drawn (the stylesheet applied) ...
    assert np.abs(rgb[20, 20] - (29, 33, 41)).max() < 12
    # ... the page is not blank, and the red GT frames of the contact sheets are on screen.
    assert rgb.std() > 30
    red = (np.abs(rgb - np.array(RED)).max(axis=2) < 40).sum()
    assert red > 2000, red


def test_contact_sheet_frames_the_gt_in_red_with_the_degraded_shots_around_it():
    gt = photo(240, 160, 1)[..., ::-1].copy()
    shots = [(np.full((160, 240, 3), 40 * i, np.uint8), f"#{i} ok", "ok") for i in range(1, 5)]
    sheet = contact_sheet(gt, shots, cell_width=120, gap=6)
    h, w = sheet.shape[:2]
    # Four shots sit left, right, above and below the GT: a 3x3 grid of 120x80 cells.
    assert (h, w) == (3 * 80 + 4 * 6, 3 * 120 + 4 * 6)
    cy, cx = h // 2, w // 2
    assert tuple(sheet[6 + 80 + 6 + 1, cx]) == RED  # top edge of the GT frame
    assert tuple(sheet[cy, 6 + 120 + 6 + 1]) == RED  # left edge
    assert tuple(sheet[cy, 6 + 10]) == (40, 40, 40)  # shot 1, left of the GT


def test_difference_overlay_lights_up_misalignment_and_outlines_the_mask():
    gt = photo(240, 160, 2)[..., ::-1].copy()
    mask = np.zeros((160, 240), np.uint8)
    mask[40:80, 100:140] = 255
    same = difference_overlay(gt, gt.copy(), mask)
    shifted = difference_overlay(gt, np.roll(gt, 3, axis=1), mask)
    assert shifted.mean() > same.mean() + 5
    outline = (np.abs(same.astype(int) - (0, 230, 255)).max(axis=2) < 30)
    assert outline[40:81, 100:141].sum() > 100 and outline[:30].sum() == 0


def test_rejection_reasons_are_grouped_by_kind_without_splitting_inside_figures():
    from rdrf_align.report.page import reason_counts

    reasons = [
        "exposure mismatch (gain 1.00, 0.65 / offset +0.05; allowed gain 1/1.6..1.6, |offset| <= 0.15); scene motion outside the drops (7.1% > 1.0%)",
        "scene motion outside the drops (2.0% > 1.0%)",
        "too few inliers (12 < 40)",
    ]
    assert reason_counts(reasons) == [("scene motion outside the drops", 2), ("exposure mismatch", 1), ("too few inliers", 1)]
