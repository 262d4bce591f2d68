"""Foundation: init, import (JPEG + DNG), re-import, verify, bad input leaves the catalogue untouched."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import cv2
import numpy as np
import pytest
from tests.images import textured, write_jpeg
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from hardware.dng import dng_bytes, mosaic


def make_shoot(root: Path) -> Path:
    """Scene 1: JPEGs with EXIF and a scene.toml. Scene 2: real DNGs from known Bayer mosaics."""
    s1 = root / "1"
    gt = textured(96, 128, 0)
    exif = Image.Exif()
    exif[0x0110] = "ILCE-7RM4A"  # Model
    ifd = exif.get_ifd(0x8769)
    ifd[0x8827] = 400  # ISO
    ifd[0x829A] = IFDRational(1, 125)  # ExposureTime
    ifd[0x829D] = IFDRational(8, 1)  # FNumber
    s1.mkdir(parents=True)
    Image.fromarray(gt).save(s1 / "gt.jpg", quality=95, exif=exif)
    for i in range(2):
        Image.fromarray(np.roll(gt, i + 1, axis=1)).save(s1 / "lq" / f"DSC{i:04d}.jpg" if (s1 / "lq").exists() else _mk(s1 / "lq") / f"DSC{i:04d}.jpg", quality=90, exif=exif)
    (s1 / "scene.toml").write_text('category = "signs & markers"\nglass_mm = 5\nnotes = "bus stop"\n')
    s2 = root / "2"
    (s2 / "lq").mkdir(parents=True)
    rgb = textured(64, 96, 1).astype(np.float32) / 255
    (s2 / "gt.dng").write_bytes(dng_bytes(mosaic(rgb), neutral=(0.5, 1.0, 0.8)))
    # the degraded shot's camera picked another white balance: development must ignore it
    (s2 / "lq" / "0001.dng").write_bytes(dng_bytes(mosaic(rgb), neutral=(0.9, 1.0, 0.4)))
    return root


def _mk(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p


def catalogue_dump(ws: Path) -> dict:
    con = sqlite3.connect(ws / "catalogue.sqlite")
    tables = [r[0] for r in con.execute("select name from sqlite_master where type='table' and name != 'alembic_version'")]
    dump = {t: sorted(map(repr, con.execute(f"select * from {t}"))) for t in tables}
    con.close()
    return dump


def tree(ws: Path) -> dict:
    return {str(p.relative_to(ws)): p.read_bytes() for p in sorted(ws.rglob("*")) if p.is_file() and "catalogue.sqlite" not in p.name}


def test_init_creates_the_layout(workspace):
    for name in ("originals", "developed", "aligned", "exports", "reports", "catalogue.sqlite", "rdrf.toml"):
        assert (workspace / name).exists(), name


def test_commands_find_the_workspace_by_walking_up_or_by_option(workspace, cli, tmp_path, monkeypatch):
    deep = workspace / "originals" / "x"
    deep.mkdir()
    assert cli("status", "--json", cwd=deep).exit_code == 0
    assert cli("--workspace", workspace, "status", cwd=tmp_path).exit_code == 0
    monkeypatch.setenv("RDRF_WORKSPACE", str(workspace))
    assert cli("status", "--json", cwd=tmp_path).exit_code == 0
    monkeypatch.delenv("RDRF_WORKSPACE")
    r = cli("status", cwd=tmp_path)
    assert r.exit_code == 1 and "no rdrf workspace" in r.output and "rdrf init" in r.output


def test_init_in_an_unwritable_place_names_it(cli, tmp_path):
    # (tests run as root, where permission bits stop nothing: a file in the way stops everyone)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    r = cli("init", blocker / "ws")
    assert r.exit_code == 1 and str(blocker / "ws") in r.output and "writable" in r.output


def test_import_two_scenes_reimport_and_verify(workspace, cli, tmp_path):
    shoot = make_shoot(tmp_path / "shoot")
    r = cli("import", shoot, cwd=workspace)
    assert r.exit_code == 0, r.output
    shots = json.loads(cli("shots", "--json", cwd=workspace).stdout)
    assert [(s["scene"], s["role"], s["index"]) for s in shots] == [("1", "gt", 1), ("1", "lq", 1), ("1", "lq", 2), ("2", "gt", 1), ("2", "lq", 1)]
    gt1 = shots[0]
    assert gt1["iso"] == 400 and gt1["shutter_s"] == pytest.approx(1 / 125) and gt1["aperture"] == 8 and gt1["camera"] == "ILCE-7RM4A"
    assert gt1["glass_mm"] == 5
    # RAW shots are developed to 16-bit, originals are byte-identical copies
    dng_gt = shots[3]
    kinds = {f["kind"]: f for f in dng_gt["files"]}
    assert set(kinds) == {"original", "developed"}
    assert (workspace / kinds["original"]["path"]).read_bytes() == (shoot / "2" / "gt.dng").read_bytes()
    dev = cv2.imread(str(workspace / kinds["developed"]["path"]), cv2.IMREAD_UNCHANGED)
    assert dev.dtype == np.uint16 and dev.shape == (64, 96, 3)
    scenes = json.loads(cli("scenes", "--json", cwd=workspace).stdout)
    assert scenes[0]["category"] == "signs & markers" and scenes[0]["notes"] == "bus stop"
    pairs = json.loads(cli("pairs", "--json", cwd=workspace).stdout)
    assert len(pairs) == 3 and {p["status"] for p in pairs} == {"pending"}
    assert [p["lq_original"] for p in pairs] == ["DSC0000.jpg", "DSC0001.jpg", "0001.dng"]
    assert all(p["gt_shot"] == shots[0 if p["scene"] == "1" else 3]["shot_id"] for p in pairs)

    before = catalogue_dump(workspace)
    r = cli("import", shoot, cwd=workspace)
    assert r.exit_code == 0 and "0 shots added" in r.output
    assert catalogue_dump(workspace) == before
    assert cli("verify", cwd=workspace).exit_code == 0


def test_degraded_raw_is_developed_with_the_gt_white_balance(workspace, cli, tmp_path):
    shoot = make_shoot(tmp_path / "shoot")
    # the same mosaic with another as-shot WB: developed identically, the pixels must agree
    assert cli("import", shoot, cwd=workspace).exit_code == 0
    gt = cv2.imread(str(workspace / "developed/2/gt-001.png"), cv2.IMREAD_UNCHANGED)
    lq = cv2.imread(str(workspace / "developed/2/lq-001.png"), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(gt, lq)


def test_verify_names_a_corrupted_a_missing_and_an_unknown_file(workspace, cli, tmp_path):
    assert cli("import", make_shoot(tmp_path / "shoot"), cwd=workspace).exit_code == 0
    victim = workspace / "originals/1/lq-002/DSC0001.jpg"
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    r = cli("verify", cwd=workspace)
    assert r.exit_code == 1 and "changed: originals/1/lq-002/DSC0001.jpg" in r.output
    (workspace / "developed/2/gt-001.png").unlink()
    (workspace / "aligned/stray.png").write_bytes(b"x")
    report = json.loads(cli("verify", "--json", cwd=workspace).stdout)
    assert report["changed"] == ["originals/1/lq-002/DSC0001.jpg"]
    assert report["missing"] == ["developed/2/gt-001.png"]
    assert report["unknown"] == ["aligned/stray.png"]


@pytest.mark.parametrize(
    "breakage, expected",
    [
        (lambda s: (s / "2" / "lq" / "0002.jpg").write_bytes(b""), "0002.jpg: empty file"),
        (lambda s: (s / "2" / "lq" / "0002.jpg").write_bytes((s / "1" / "gt.jpg").read_bytes()[:3000]), "0002.jpg: not a complete JPEG"),
        (lambda s: (s / "2" / "lq" / "0002.png").write_text("hello, not a picture"), "0002.png: cannot be decoded"),
        (lambda s: (s / "2" / "lq" / "0002.dng").write_bytes((s / "2" / "gt.dng").read_bytes()[:5000]), "0002.dng: unreadable RAW"),
        (lambda s: (s / "2" / "gt.dng").unlink(), "no ground truth"),
        (lambda s: write_jpeg(s / "2" / "gt.jpg", textured(64, 96, 5)) and (s / "2" / "gt.png").write_bytes(b"x"), "ground-truth files"),
        (lambda s: (s / "2" / "scene.toml").write_text('category = "beaches"\n'), "unknown category"),
    ],
    ids=["zero-byte", "truncated-jpeg", "not-an-image", "unreadable-raw", "no-gt", "two-gt", "bad-scene-toml"],
)
def test_bad_input_names_the_file_and_changes_nothing(workspace, cli, tmp_path, breakage, expected):
    shoot = make_shoot(tmp_path / "shoot")
    (shoot / "1" / "lq" / "DSC0001.jpg").unlink()  # import scene 1 first, then break scene 2
    assert cli("import", shoot, cwd=workspace).exit_code == 0
    before, files_before = catalogue_dump(workspace), tree(workspace)
    write_jpeg(shoot / "1" / "lq" / "DSC0001.jpg", textured(96, 128, 9))
    breakage(shoot)
    r = cli("import", shoot, cwd=workspace)
    assert r.exit_code == 1 and expected in r.output, r.output
    # scene 1 got its new shot (its own transaction); scene 2 is exactly as before
    after = catalogue_dump(workspace)
    assert len(after["shots"]) == len(before["shots"]) + 1
    assert {k: v for k, v in tree(workspace).items() if not k.startswith(("originals/1/", "developed/1/"))} == {
        k: v for k, v in files_before.items() if not k.startswith(("originals/1/", "developed/1/"))
    }
    assert cli("verify", cwd=workspace).exit_code == 0


@pytest.mark.parametrize("flags", [(), ("--skip-bad",)], ids=["default", "skip-bad (kept for scripts)"])
def test_import_takes_the_good_scenes_and_lists_the_bad_ones(workspace, cli, tmp_path, flags):
    shoot = make_shoot(tmp_path / "shoot")
    (shoot / "1" / "lq" / "DSC0001.jpg").write_bytes(b"")  # the first scene is bad: the second still goes in
    (shoot / "3").mkdir()  # so is a folder with nothing in it
    r = cli("import", shoot, *flags, cwd=workspace)
    assert r.exit_code == 1 and "DSC0001.jpg: empty file" in r.output and "3: no ground truth" in r.output, r.output
    assert "imported 1 scenes" in r.output
    assert [s["scene"] for s in json.loads(cli("scenes", "--json", cwd=workspace).stdout)] == ["2"]


def test_deraindrop_layout(workspace, cli, tmp_path):
    root = tmp_path / "agan" / "test_a"
    for n in (0, 1):
        img = textured(48, 72, n)
        write_jpeg(root / "gt" / f"{n}_clean.jpg", img)
        write_jpeg(root / "data" / f"{n}_rain.jpg", img // 2)
    assert cli("import", root, "--layout", "deraindrop", "--prefix", "agan-", cwd=workspace).exit_code == 0
    pairs = json.loads(cli("pairs", "--json", cwd=workspace).stdout)
    assert [(p["scene"], p["lq_original"]) for p in pairs] == [("agan-0", "0_rain.jpg"), ("agan-1", "1_rain.jpg")]


def test_unwritable_workspace_names_the_path_and_changes_nothing(workspace, cli, tmp_path):
    shoot = make_shoot(tmp_path / "shoot")
    (workspace / "originals" / "2").write_text("a file where the scene's folder must go")
    before = catalogue_dump(workspace)
    r = cli("import", shoot, cwd=workspace)
    assert r.exit_code == 1 and "originals/2" in r.output and "cannot write into the workspace" in r.output, r.output
    after = catalogue_dump(workspace)
    # scene 1 went in on its own transaction; scene 2 left no row and no journal entry behind
    assert [row for row in after["scenes"] if row not in before["scenes"]] and not any("'2'" in row for row in after["scenes"])
    assert after["ingest_journal"] == []


def test_degraded_files_sharing_a_name_must_be_raw_plus_jpeg(workspace, cli, tmp_path):
    shoot = make_shoot(tmp_path / "shoot")
    write_jpeg(shoot / "1" / "lq" / "DSC0001.png", textured(96, 128, 3))  # same stem as DSC0001.jpg
    r = cli("import", shoot, cwd=workspace)
    assert r.exit_code == 1 and "DSC0001.jpg, DSC0001.png share a name" in r.output, r.output


def test_a_file_repeated_within_a_scene_is_stored_once_and_reported_with_its_shot(workspace, tmp_path):
    from rdrf_capture.ingest import IncomingFile, ShotInfo, ingest_shots
    from schemas.workspace import Catalogue, Workspace

    gt, lq = tmp_path / "gt.jpg", tmp_path / "a.jpg"
    write_jpeg(gt, textured(48, 64, 0))
    write_jpeg(lq, textured(48, 64, 1))
    cat = Catalogue(Workspace(workspace))
    results = ingest_shots(cat, "7", [
        ([IncomingFile("gt.jpg", gt)], ShotInfo(role="gt", trigger="import")),
        ([IncomingFile("a.jpg", lq)], ShotInfo(role="lq", trigger="import")),
        ([IncomingFile("a-copy.jpg", lq.read_bytes())], ShotInfo(role="lq", trigger="import")),
    ])
    assert [r.added for r in results] == [True, True, False]
    assert results[2].shot_id == results[1].shot_id  # the shot that holds those bytes
    again = ingest_shots(cat, "7", [([IncomingFile("a.jpg", lq)], ShotInfo(role="lq", trigger="import"))])
    assert again[0].shot_id == results[1].shot_id and not again[0].added
