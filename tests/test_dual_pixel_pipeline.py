"""Dual-pixel shots end to end (issue 16): `rdrf synth --dual-pixel` -> import (NAME_L / NAME_R) ->
align (one homography, a mask per view) -> export in all three layouts; and the import's seams
(views without a combined image, Canon Dual Pixel RAW frames) refusing what they cannot read."""

from __future__ import annotations

import io
import json
import tarfile

import cv2
import numpy as np
import pytest
from sqlalchemy import create_engine, text

from hardware.dng import dng_from_rgb
from rdrf_capture.dual_pixel import combined_from_views, other_view, read_dual_pixel_raw
from schemas.errors import RdrfError
from schemas.migrate import alembic_config
from tests.images import textured


def _json(cli, ws, *args):
    r = cli("--workspace", ws, *args, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def _png(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)


@pytest.fixture(scope="module")
def aligned(tmp_path_factory):
    """A workspace with 1 scene x 2 dual-pixel shots, imported and aligned (shared by the export tests)."""
    from typer.testing import CliRunner

    from rdrf.cli import app

    def cli(*args):
        r = CliRunner().invoke(app, [str(a) for a in args])
        if isinstance(r.exception, RdrfError):
            raise r.exception
        return r

    root = tmp_path_factory.mktemp("dp")
    synth, ws = root / "synth", root / "ws"
    assert cli("synth", synth, "--dual-pixel", "--scenes", "1", "--lq", "2", "--size", "600x400", "--seed", "3").exit_code == 0
    assert cli("init", ws).exit_code == 0
    assert cli("--workspace", ws, "import", synth).exit_code == 0
    assert cli("--workspace", ws, "align", "--all").exit_code == 0
    assert cli("--workspace", ws, "split").exit_code == 0
    return synth, ws


def test_synth_import_and_align_carry_both_views(cli, aligned):
    synth, ws = aligned
    truth = json.loads((synth / "truth.json").read_text())
    entry = truth["files"]["001/lq/001_01.jpg"]
    assert set(entry["views"]) == {"left", "right", "mask_left", "mask_right"}
    shots = [s for s in _json(cli, ws, "shots") if s["role"] == "lq"]
    for shot in shots:
        stored = [f for f in shot["files"] if f["kind"] in ("original", "view_left", "view_right")]
        assert sorted(f["kind"] for f in stored) == ["original", "view_left", "view_right"]
        assert all(len(f["sha256"]) == 64 and f["path"].startswith("originals/") for f in stored)
    status = _json(cli, ws, "status")
    assert status["dual_pixel_shots"] == 2 and status["lq_shots"] == 2
    for pair in _json(cli, ws, "pairs"):
        assert pair["mask_left"].endswith(".mask_left.png") and pair["mask_right"].endswith(".mask_right.png")
        assert pair["lq_left"].endswith("_L.png") and pair["lq_right"].endswith("_R.png")
        left, right = (cv2.imread(str(ws / pair[k]), cv2.IMREAD_GRAYSCALE) for k in ("mask_left", "mask_right"))
        assert left.shape == (400, 600) and left.any() and right.any() and not np.array_equal(left, right)
    # a re-run of the import adds nothing: the views identify the shot as much as its combined file
    r = cli("--workspace", ws, "import", synth)
    assert r.exit_code == 0 and "0 shots added" in r.stdout + r.stderr


@pytest.mark.parametrize("fmt", ["folder", "imagefolder", "webdataset"])
def test_export_writes_both_views_and_masks_in_every_layout(cli, aligned, fmt, tmp_path):
    _, ws = aligned
    out = tmp_path / f"exp-{fmt}"
    r = cli("--workspace", ws, "export", "--split", "all", "--format", fmt, "--include-rejected", "--size", "300x200", "--out", out)
    assert r.exit_code == 0, r.output
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(records) == 2
    for rec in records:
        roles = ("lq", "lq_left", "lq_right", "mask_left", "mask_right")
        if fmt == "webdataset":
            shard, _, member = rec["lq_left"].partition("/")
            with tarfile.open(out / shard) as tar:
                images = {role: _png(tar.extractfile(rec[role].partition("/")[2]).read()) for role in roles}
            assert member == f"{rec['name']}.lq_left.png"
        else:
            assert rec["lq_left"] == f"{rec['split']}/lq_left/{rec['name']}.png"
            images = {role: cv2.imread(str(out / rec[role]), cv2.IMREAD_UNCHANGED) for role in roles}
        assert all(images[role].shape[:2] == (200, 300) for role in roles)
        # warped by the combined image's homography: the focused scene lines up with lq in both views
        for side in ("lq_left", "lq_right"):
            diff = np.abs(images[side].astype(int) - images["lq"].astype(int)).mean()
            assert diff < 6, (side, diff)
        assert not np.array_equal(images["lq_left"], images["lq_right"])
        assert set(np.unique(images["mask_left"])) <= {0, 255} and not np.array_equal(images["mask_left"], images["mask_right"])
    if fmt == "imagefolder":
        meta = [json.loads(line) for line in (out / records[0]["split"] / "metadata.jsonl").read_text().splitlines()]
        assert meta[0]["lq_left_file_name"] == f"lq_left/{records[0]['name']}.png"
    assert "Dual-pixel pairs: 2 of 2" in (out / "README.md").read_text()


def test_report_shows_both_views_of_a_dual_pixel_pair(cli, aligned, tmp_path):
    _, ws = aligned
    r = cli("--workspace", ws, "report", "--out", tmp_path / "rep")
    assert r.exit_code == 0, r.output
    page = (tmp_path / "rep" / "report.html").read_text()
    assert "dual-pixel shots" in page and "2 dual-pixel pair(s)" in page
    figure = cv2.imread(str(tmp_path / "rep" / "figures" / "views-1.jpg"))
    assert figure is not None and figure.shape[1] > 2 * figure.shape[0]  # left | right, side by side


def _views_only(root, size=(96, 64)):
    """A scene whose degraded shot comes as two views and no combined image."""
    scene = root / "s1"
    (scene / "lq").mkdir(parents=True)
    img = textured(size[1], size[0], seed=4)
    cv2.imwrite(str(scene / "gt.png"), img)
    left, right = np.roll(img, -1, axis=1), np.roll(img, 1, axis=1)
    cv2.imwrite(str(scene / "lq" / "shot7_L.png"), left)
    cv2.imwrite(str(scene / "lq" / "shot7_R.png"), right)
    return scene, left, right


def test_views_without_a_combined_image_import_with_a_derived_combined(cli, workspace, tmp_path):
    scene, left, right = _views_only(tmp_path / "in")
    assert cli("--workspace", workspace, "import", tmp_path / "in").exit_code == 0
    (shot,) = [s for s in _json(cli, workspace, "shots") if s["role"] == "lq"]
    by_kind = {f["kind"]: f["path"] for f in shot["files"]}
    assert set(by_kind) == {"developed", "view_left", "view_right"}  # no original made up
    assert by_kind["developed"].startswith("developed/") and by_kind["view_left"].startswith("originals/")
    combined = cv2.imread(str(workspace / by_kind["developed"]))
    np.testing.assert_array_equal(combined, combined_from_views(left, right, ("l", "r")))
    assert (workspace / by_kind["view_left"]).read_bytes() == (scene / "lq" / "shot7_L.png").read_bytes()
    r = cli("--workspace", workspace, "import", tmp_path / "in")
    assert r.exit_code == 0 and len([s for s in _json(cli, workspace, "shots") if s["role"] == "lq"]) == 1


def test_a_lone_view_or_views_of_two_sizes_are_refused_naming_the_files(cli, workspace, tmp_path):
    scene, _, _ = _views_only(tmp_path / "lone")
    (scene / "lq" / "shot7_R.png").unlink()
    r = cli("--workspace", workspace, "import", tmp_path / "lone")
    assert r.exit_code == 1 and "shot7_L.png: dual-pixel view without its partner" in r.stderr and "shot7_R.png" in r.stderr
    scene, _, _ = _views_only(tmp_path / "sizes")
    cv2.imwrite(str(scene / "lq" / "shot7_R.png"), textured(32, 48, seed=1))
    r = cli("--workspace", workspace, "import", tmp_path / "sizes")
    assert r.exit_code == 1 and "must have one size" in r.stderr and "Traceback" not in r.output
    assert _json(cli, workspace, "shots") == []  # nothing stored


def test_other_view_is_the_combined_frame_minus_the_one_view_black_counted_once():
    rng = np.random.default_rng(0)
    black, white = 512, 16383
    a = rng.integers(0, 6000, (6, 8))
    b = rng.integers(0, 6000, (6, 8))
    combined = (a + b + black).astype(np.uint16)
    one = (a + black).astype(np.uint16)
    combined[0, 0] = white  # clipped in the sum: the other view is unknown there
    other, clipped = other_view(combined, one, black, white)
    expected = (b + black).astype(np.uint16)
    expected[0, 0] = white
    np.testing.assert_array_equal(other, expected)
    assert clipped == 1
    with pytest.raises(RdrfError, match="differ in size"):
        other_view(combined, one[:, :4], black, white)


def test_a_raw_with_one_frame_is_refused_as_dual_pixel_raw():
    data = dng_from_rgb(np.full((32, 48, 3), 120, np.uint8))
    with pytest.raises(RdrfError, match="holds one image, not the two of a Canon Dual Pixel RAW"):
        read_dual_pixel_raw(data, "IMG_0001.CR2")


def test_downgrade_below_0006_refuses_while_views_are_catalogued(cli, workspace, tmp_path):
    _views_only(tmp_path / "in")
    assert cli("--workspace", workspace, "import", tmp_path / "in").exit_code == 0
    from alembic import command

    engine = create_engine(f"sqlite:///{workspace / 'catalogue.sqlite'}")
    with pytest.raises(RuntimeError, match="dual-pixel views"):
        command.downgrade(alembic_config(engine), "0005")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM files WHERE kind LIKE 'view_%'")).scalar() == 2
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0006"


def test_import_with_dual_pixel_raw_refuses_a_raw_with_one_frame_and_stores_nothing(cli, workspace, tmp_path):
    scene = tmp_path / "in" / "s2"
    (scene / "lq").mkdir(parents=True)
    img = textured(48, 64, seed=2)
    cv2.imwrite(str(scene / "gt.png"), img)
    (scene / "lq" / "IMG_0002.dng").write_bytes(dng_from_rgb(img[:, :, ::-1]))
    r = cli("--workspace", workspace, "import", tmp_path / "in", "--dual-pixel-raw", "left")
    assert r.exit_code == 1 and "IMG_0002.dng: this RAW file holds one image" in r.stderr
    assert _json(cli, workspace, "shots") == []
    r = cli("--workspace", workspace, "import", tmp_path / "in", "--dual-pixel-raw", "middle")
    assert r.exit_code == 2


def test_dual_pixel_raw_views_are_developed_at_the_combined_exposure(monkeypatch):
    """The rawpy path past `shot_select`: frame 1 stood in by half of frame 0 (one photodiode of two),
    as no Dual Pixel RAW can live in the repository."""
    import rawpy

    from rdrf_capture import dual_pixel
    from rdrf_capture.develop import DevelopParams, develop, develop_views

    data = dng_from_rgb(textured(48, 64, seed=5)[:, :, ::-1] // 3)  # nothing clipped: the views are exact
    with rawpy.imread(io.BytesIO(data)) as raw:
        combined = raw.raw_image_visible.copy()
        white = int(raw.white_level)
    half = (combined // 2).astype(np.uint16)
    monkeypatch.setattr(dual_pixel, "read_dual_pixel_raw",
                        lambda d, n: dual_pixel.DualPixelRaw(combined, half, np.zeros_like(combined), white))
    params = DevelopParams((1.0, 1.0, 1.0, 1.0))
    views = develop_views(data, "IMG.CR2", params, "right")
    whole = develop(data, "IMG.CR2", params).astype(float)
    for side in ("left", "right"):
        assert views[side].shape == whole.shape
        assert abs(views[side].astype(float).mean() / whole.mean() - 1) < 0.02, side
