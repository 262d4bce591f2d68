"""`aligned/` holds only what alignment alone computes; the warped image is rendered on demand.

A catalogue made by the previous version (revision 0002, with the warped images and valid areas it
stored) upgrades, verifies, exports exactly what a current one exports, and sheds those files only
when asked (`rdrf align --prune-legacy`). Exports and reports are byte-identical run to run, and
`rdrf show` draws a pair for a person to look at.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from alembic import command
from sqlalchemy import select
from tests.export_helpers import SceneSpec, build_workspace

from schemas.catalogue import Alignment, File, Pair
from schemas.migrate import alembic_config, current_revision, head_revision
from schemas.records import CATEGORIES
from schemas.warp import render_aligned
from schemas.workspace import Catalogue

SPECS = [
    SceneSpec("1", CATEGORIES[0], statuses=("ok", "ok"), split="train"),
    SceneSpec("2", CATEGORIES[1], statuses=("ok", "rejected"), split="test", gt_bits=16),
]


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def export(cli, ws, out: Path, *args) -> dict[str, bytes]:
    r = cli("-w", ws.root, "export", "--split", "all", "--size", "120x80", "--out", out, *args)
    assert r.exit_code == 0, r.output
    return files_of(out)


@pytest.fixture(scope="module")
def current(tmp_path_factory):
    return build_workspace(tmp_path_factory.mktemp("current") / "ws", specs=SPECS)


@pytest.fixture(scope="module")
def legacy(tmp_path_factory):
    """The same scenes the way the previous version left them: at revision 0002, with aligned/lqNNN.png
    and .valid.png catalogued, the alignments naming no source files."""
    ws = build_workspace(tmp_path_factory.mktemp("legacy") / "ws", specs=SPECS, legacy=True)
    cat = Catalogue(ws)
    engine = cat.engine
    command.downgrade(alembic_config(engine), "0002")
    assert current_revision(engine) == "0002"
    cat.close()
    return ws


def test_render_is_one_interpolation_and_matches_a_full_size_warp_at_original_size():
    rng = np.random.default_rng(3)
    lq = cv2.GaussianBlur(rng.integers(0, 255, (90, 120, 3), dtype=np.uint8), (0, 0), 2)
    H = np.array([[1.01, 0.02, 3.5], [-0.01, 0.99, -2.0], [1e-5, 0, 1]])
    full = cv2.warpPerspective(lq, H, (120, 90), flags=cv2.INTER_CUBIC)
    box = (10, 5, 110, 85)
    # the same warp (OpenCV quantizes sub-pixel positions to 1/32 px, so an offset frame may round a
    # rare pixel the other way)
    assert np.abs(render_aligned(lq, H, box).astype(int) - full[5:85, 10:110]).max() <= 1
    small = render_aligned(lq, H, box, (50, 40))  # shrinking by 2: area-averaged source, then one warp
    ref = cv2.resize(full[5:85, 10:110], (50, 40), interpolation=cv2.INTER_AREA)
    inner = (slice(4, -4), slice(4, -4))
    assert small.shape == (40, 50, 3) and np.abs(small[inner].astype(int) - ref[inner]).mean() < 3


def test_an_old_catalogue_upgrades_verifies_and_exports_like_a_current_one(legacy, current, cli, tmp_path):
    r = cli("-w", legacy.root, "verify")  # opening upgrades it
    assert r.exit_code == 0, r.output
    assert "8 intact file(s)" in r.output and "rdrf align --prune-legacy" in r.output
    cat = Catalogue(legacy)
    assert current_revision(cat.engine) == head_revision()
    with cat.session() as s:
        kinds = sorted(s.scalars(select(File.kind).where(File.path.like("aligned/%"))))
        assert kinds.count("aligned") == 4 and kinds.count("valid_mask") == 4 and kinds.count("raindrop_mask") == 4
        assert all(a.lq_file_id is None for a in s.scalars(select(Alignment)))
    cat.close()
    report = json.loads(cli("-w", legacy.root, "verify", "--json").stdout)
    assert report["ok"] and len(report["legacy"]) == 8 and not report["unknown"] and not report["missing"]

    old = export(cli, legacy, tmp_path / "old", "--include-rejected")
    new = export(cli, current, tmp_path / "new", "--include-rejected")
    images = [k for k in new if k.endswith(".png") and "/reflection/" not in k]
    assert images and all(old[k] == new[k] for k in images)  # rendered from the originals either way
    # aligned before reflection maps existed: the pairs have none, and their records say so
    assert not [k for k in old if "/reflection/" in k] and [k for k in new if "/reflection/" in k]
    rows = [json.loads(line) for line in (tmp_path / "old" / "manifest.jsonl").read_text().splitlines()]
    assert rows and all(r["reflection"] is None for r in rows)

    r = cli("-w", legacy.root, "align", "--prune-legacy")
    assert r.exit_code == 0 and "removed 8 file(s)" in r.output and "aligned/1/" in r.output
    assert sorted(p.name.split(".", 1)[1] for p in (legacy.root / "aligned").rglob("*") if p.is_file()) == ["mask.png"] * 4
    report = json.loads(cli("-w", legacy.root, "verify", "--json").stdout)
    assert report["ok"] and not report["legacy"] and not report["unknown"] and not report["interrupted"]
    again = export(cli, legacy, tmp_path / "old", "--include-rejected")  # re-export into the same folder: nothing changed
    assert again == old
    assert cli("-w", legacy.root, "report", "--out", tmp_path / "qa").exit_code == 0


def test_exports_and_reports_are_byte_identical_run_to_run(current, cli, tmp_path):
    for fmt in ("folder", "webdataset"):
        a = export(cli, current, tmp_path / f"a-{fmt}", "--format", fmt, "--include-rejected")
        b = export(cli, current, tmp_path / f"b-{fmt}", "--format", fmt, "--include-rejected")
        assert a.keys() == b.keys() and all(a[k] == b[k] for k in a if k != "README.md"), fmt
    pages = []
    for name in ("qa1", "qa2"):
        assert cli("-w", current.root, "report", "--out", tmp_path / name).exit_code == 0
        figures = files_of(tmp_path / name / "figures")
        html = (tmp_path / name / "report.html").read_text()
        pages.append((figures, [line for line in html.splitlines() if "UTC" not in line]))
    assert pages[0] == pages[1]


def test_show_writes_gt_aligned_mask_and_difference_side_by_side(current, cli, tmp_path):
    cat = Catalogue(current)
    with cat.session() as s:
        pair_id = s.scalars(select(Pair.id).where(Pair.status == "ok")).first()
    cat.close()
    out = tmp_path / "view.png"
    r = cli("-w", current.root, "show", pair_id, "--out", out)
    assert r.exit_code == 0, r.output
    img = cv2.imread(str(out))
    assert img.shape[1] > 4 * 240 and img.shape[0] < 240
    r = cli("-w", current.root, "show", pair_id, cwd=tmp_path)
    assert r.exit_code == 0 and (tmp_path / f"pair-{pair_id}.jpg").is_file()
    r = cli("-w", current.root, "show", "999")
    assert r.exit_code == 1 and "no pair 999" in r.output
