"""`rdrf synth` writes the import layout and the truth of every degraded shot, byte-stably."""

from __future__ import annotations

import json
import tomllib

import cv2
import numpy as np

from hardware.sim.camera import to_linear, to_srgb
from schemas.records import CATEGORIES


def _read(path):
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


def test_synth_writes_the_import_layout_and_truth(cli, tmp_path):
    out = tmp_path / "ds"
    r = cli("synth", out, "--scenes", "2", "--lq", "2", "--size", "240x160", "--seed", "5", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["lq_files"] == 4

    truth = json.loads((out / "truth.json").read_text())
    assert truth["size"] == [240, 160] and set(truth["scenes"]) == {"001", "002"}
    for label, scene in truth["scenes"].items():
        meta = tomllib.loads((out / label / "scene.toml").read_text())
        assert meta["category"] in CATEGORIES and meta["glass_mm"] in (3, 5, 8) and meta["degradation"] == "both"
        assert _read(out / label / "gt.png").shape == (160, 240, 3)
        assert sorted(p.name for p in (out / label / "lq").iterdir()) == [f"{label}_01.jpg", f"{label}_02.jpg"]
    gt = cv2.cvtColor(_read(out / "001" / "gt.png"), cv2.COLOR_BGR2GRAY).astype(np.float32)
    for rel, entry in truth["files"].items():
        assert (out / rel).read_bytes()[:2] == b"\xff\xd8"
        mask = _read(out / entry["mask"])
        assert mask.shape == (160, 240) and set(np.unique(mask)) <= {0, 255}
        assert abs((mask > 0).mean() - entry["mask_coverage"]) < 1e-5
        reflection = _read(out / entry["reflection"])  # the reflected light, 8-bit, in the GT frame
        assert reflection.shape == (160, 240) and reflection.dtype == np.uint8 and reflection.max() > 0
        h = np.asarray(entry["homography"])
        assert h.shape == (3, 3) and abs(h[2, 2] - 1) < 1e-9
        assert entry["params"]["glass_mm"] in (3, 5, 8) and entry["params"]["reflection"] is True
        if entry["scene"] == "001":  # the homography brings the shot's clean areas onto the GT
            lq = cv2.cvtColor(_read(out / rel), cv2.COLOR_BGR2GRAY)
            back = cv2.warpPerspective(lq, h, (240, 160), flags=cv2.INTER_LINEAR).astype(np.float32)
            ones = cv2.warpPerspective(np.ones_like(lq), h, (240, 160), flags=cv2.INTER_NEAREST)
            keep = (ones > 0) & (cv2.dilate(mask, np.ones((5, 5), np.uint8)) == 0)
            if keep.sum() > 2000:
                g_aligned = np.corrcoef(cv2.Laplacian(back, -1)[keep], cv2.Laplacian(gt, -1)[keep])[0, 1]
                assert g_aligned > 0.3

    again = tmp_path / "again"
    assert cli("synth", again, "--scenes", "2", "--lq", "2", "--size", "240x160", "--seed", "5").exit_code == 0
    for path in out.rglob("*"):
        if path.is_file():
            assert (again / path.relative_to(out)).read_bytes() == path.read_bytes(), f"{path} differs between runs"


def test_synth_refuses_bad_input_and_keeps_existing_files(cli, tmp_path):
    r = cli("synth", tmp_path / "x", "--size", "big")
    assert r.exit_code != 0 and "WIDTHxHEIGHT" in r.output
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine.txt").write_text("keep me")
    r = cli("synth", busy, "--scenes", "1", "--lq", "1", "--size", "96x64")
    assert r.exit_code != 0 and "not an empty folder" in r.output
    assert [p.name for p in busy.iterdir()] == ["mine.txt"] and (busy / "mine.txt").read_text() == "keep me"
    r = cli("synth", tmp_path / "y", "--backgrounds", tmp_path / "nowhere", "--size", "96x64")
    assert r.exit_code != 0 and "nowhere" in r.output


def test_synth_uses_the_users_backgrounds_without_reflections(cli, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    photo = cv2.resize(rng.integers(0, 255, (40, 60, 3), dtype=np.uint8), (300, 200), interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(photos / "street.jpg"), photo)
    photo = _read(photos / "street.jpg")
    out = tmp_path / "ds"
    r = cli("synth", out, "--scenes", "1", "--lq", "1", "--size", "150x100", "--no-reflections", "--backgrounds", photos)
    assert r.exit_code == 0, r.output
    gt = _read(out / "001" / "gt.png")[..., ::-1]
    truth = json.loads((out / "truth.json").read_text())
    # The GT is the photograph seen through the scene's dry glass: its transmission and tint, its own noise.
    glass = truth["scenes"]["001"]["gt_params"]
    assert not glass["drops"] and not glass["reflection"] and glass["motion_px"] == 0
    seen = to_linear(cv2.resize(photo, (150, 100), interpolation=cv2.INTER_AREA)[..., ::-1])
    expected = to_srgb(seen * np.float32(glass["transmission"]) * np.asarray(glass["glass_tint"], np.float32))
    assert np.abs(gt.astype(int) - expected.astype(int)).mean() < 2.5, "GT = photo x glass transmission, plus noise"
    (entry,) = truth["files"].values()
    assert entry["params"]["reflection"] is False
    assert tomllib.loads((out / "001" / "scene.toml").read_text())["degradation"] == "raindrop"


def test_rdrf_import_reads_what_synth_wrote(cli, tmp_path):
    out, ws = tmp_path / "ds", tmp_path / "ws"
    assert cli("synth", out, "--scenes", "2", "--lq", "2", "--size", "96x64", "--seed", "2").exit_code == 0
    assert cli("init", ws).exit_code == 0
    r = cli("import", out, cwd=ws)
    assert r.exit_code == 0, r.output
    scenes = json.loads(cli("scenes", "--json", cwd=ws).stdout)
    assert [(s["scene"], s["gt_shots"], s["lq_shots"]) for s in scenes] == [("001", 1, 2), ("002", 1, 2)]
    truth = json.loads((out / "truth.json").read_text())
    assert [s["category"] for s in scenes] == [truth["scenes"][s["scene"]]["category"] for s in scenes]
    assert all(s["glass_mm"] == [truth["scenes"][s["scene"]]["glass_mm"]] for s in scenes)
