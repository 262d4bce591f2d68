"""`rdrf align` on a workspace: outputs, catalogue rows, bad inputs, --strict, --force, settings,
and resuming after SIGKILL."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from tests.align_runs import kill_align_part_way
from sqlalchemy import func, select

from tests.align_synth import make_pair, random_homography, textured
from schemas.catalogue import Alignment, File, IngestJournal, Pair, Scene, Shot
from schemas.storage import sha256_file
from schemas.workspace import Catalogue, Workspace

W, H = 640, 448


def _write(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(path.suffix, img, [cv2.IMWRITE_JPEG_QUALITY, 95] if path.suffix == ".jpg" else [])
    assert ok
    path.write_bytes(buf.tobytes())


def _import_layout(tmp: Path, scenes: dict[str, tuple[np.ndarray, list[np.ndarray]]]) -> Path:
    src = tmp / "incoming"
    for label, (gt, lqs) in scenes.items():
        _write(src / label / "gt.jpg", gt)
        for i, lq in enumerate(lqs, 1):
            _write(src / label / "lq" / f"IMG_{i:04d}{'.png' if lq.dtype == np.uint16 else '.jpg'}", lq)
    return src


def _good_scene(seed: int, n: int = 2):
    rng = np.random.default_rng(seed)
    lqs, gt = [], None
    for k in range(n):
        Ht = random_homography(W, H, 8, rng)
        gt_k, lq = make_pair(W, H, Ht, seed)  # same seed: same canvas, same GT
        gt = gt_k
        lqs.append(lq)
    return gt, lqs


@pytest.fixture
def imported(tmp_path, cli, workspace):
    """Scene 1: two good pairs. Scene 2: one good, one uniform (featureless), one of another
    scene's content, one of another size, one that does not overlap its GT."""
    gt1, lqs1 = _good_scene(1)
    gt2, lqs2 = _good_scene(2, 1)
    far = textured(H, W, 1234)  # content the GT never saw
    bad = [np.full((H, W, 3), 128, np.uint8), cv2.add(lqs1[0], 1), cv2.resize(lqs2[0], (W // 2, H // 2)), far]
    src = _import_layout(tmp_path, {"1": (gt1, lqs1), "2": (gt2, lqs2 + bad)})
    r = cli("--workspace", workspace, "import", src)
    assert r.exit_code == 0, r.output
    return workspace


def _pairs(ws: Path) -> dict[tuple[str, str], Pair]:
    cat = Catalogue(Workspace(ws))
    with cat.session() as s:
        rows = s.execute(select(Pair, Scene.label, Shot.original_name).join(Scene, Pair.scene_id == Scene.id).join(Shot, Pair.lq_shot_id == Shot.id)).all()
        out = {(label, Path(name).stem): p for p, label, name in rows}
        for p in out.values():
            _ = p.alignment and (p.alignment.aligned_file, p.alignment.raindrop_mask_file, p.alignment.valid_mask_file,
                                 p.alignment.lq_file, p.alignment.gt_file, p.alignment.reflection_file)
    cat.close()
    return out


def test_align_all_stores_outputs_and_judges_bad_inputs(imported, cli):
    ws = imported
    r = cli("--workspace", ws, "align", "--all")
    assert r.exit_code == 0, r.output  # bad pairs are reported, not fatal
    pairs = _pairs(ws)
    for key in [("1", "IMG_0001"), ("1", "IMG_0002"), ("2", "IMG_0001")]:
        p = pairs[key]
        assert p.status == "ok", (key, p.reason)
        a = p.alignment
        assert a.n_inliers >= 40 and a.reproj_error < 0.5 and 0.8 < a.valid_fraction <= 1
        assert len(a.gain) == 3 and all(0.8 < g < 1.2 for g in a.gain)
        # only what alignment alone computes is stored: the mask and the reflection map (the warped image and the valid
        # area are rendered and derived from the homography), and the images it was computed from
        assert a.aligned_file is None and a.valid_mask_file is None
        assert a.lq_file.shot_id == p.lq_shot_id and a.gt_file.shot_id == p.gt_shot_id
        for f in (a.raindrop_mask_file, a.reflection_file):
            path = ws / f.path
            assert path.is_file() and sha256_file(path) == (f.sha256, f.size)
        mask = cv2.imread(str(ws / a.raindrop_mask_file.path), cv2.IMREAD_UNCHANGED)
        assert mask.shape == (H, W)
        assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 255}
        reflection = cv2.imread(str(ws / a.reflection_file.path), cv2.IMREAD_UNCHANGED)
        assert reflection.dtype == np.uint8 and reflection.ndim == 2 and max(reflection.shape) <= max(H, W)
    featureless, wrong_scene, small, far = (pairs[("2", f"IMG_{i:04d}")] for i in (2, 3, 4, 5))
    assert featureless.status == "failed" and "featureless" in featureless.reason
    assert wrong_scene.status == "failed" and "homography" in wrong_scene.reason
    assert small.status == "failed" and f"{W // 2}x{H // 2}" in small.reason and f"{W}x{H}" in small.reason
    assert far.status == "failed" and "homography" in far.reason
    assert "rejected" in r.stderr or "failed" in r.stderr

    # listing via the pair records, and nothing done twice
    r2 = cli("--workspace", ws, "align", "--all", "--strict")
    assert r2.exit_code == 0 and "already aligned" in r2.stderr  # nothing left to do, nothing failed now
    r3 = cli("--workspace", ws, "align", "--scene", "2", "--force", "--strict")
    assert r3.exit_code == 1
    cat = Catalogue(Workspace(ws))
    with cat.session() as s:
        n_files = s.scalar(select(func.count(File.id)).where(File.kind == "raindrop_mask"))
        paths = list(s.scalars(select(File.path)))
        n_align = s.scalar(select(func.count(Alignment.id)))
        assert s.scalar(select(func.count(IngestJournal.id))) == 0
    cat.close()
    assert n_files == 3  # scene 1 x2 and scene 2's good one; failed pairs store nothing
    assert sorted(p.name for p in (ws / "aligned").rglob("*") if p.is_file()) == sorted(
        ["lq001.mask.png", "lq001.mask.png", "lq002.mask.png", "lq001.reflection.png", "lq001.reflection.png", "lq002.reflection.png"]
    )
    assert len(paths) == len(set(paths))
    assert n_align == 7 + 5  # every attempt is kept: 7 first, 5 redone for scene 2


def test_settings_and_json(imported, cli):
    ws = imported
    marker = ws / "rdrf.toml"
    marker.write_text(marker.read_text() + "\n[align]\nmin_inliers = 100000\n")
    r = cli("--workspace", ws, "align", "--scene", "1", "--json", "--mask", "agan")
    assert r.exit_code == 0, r.output
    records = json.loads(r.stdout)
    assert len(records) == 2
    for rec in records:
        assert rec["status"] == "rejected" and "too few inliers" in rec["reason"]
        assert rec["alignment"]["mask_method"] == "agan"
        assert rec["raindrop_mask"].startswith("aligned/1/") and rec["homography"] is not None
        assert rec["lq_image"].startswith("originals/1/") and rec["aligned_lq"] is None
    marker.write_text(marker.read_text() + "bogus = 1\n")
    r = cli("--workspace", ws, "align", "--scene", "1", "--force")
    assert r.exit_code == 1 and "bogus" in r.output
    assert cli("--workspace", ws, "align", "--scene", "nope").exit_code == 1


@pytest.mark.timeout(240)
def test_resume_after_sigkill(tmp_path, cli, workspace):
    scenes = {str(k): _good_scene(10 + k, 3) for k in range(2)}
    src = _import_layout(tmp_path, scenes)
    assert cli("--workspace", workspace, "import", src).exit_code == 0
    done = kill_align_part_way(workspace, "--all")
    cat = Catalogue(Workspace(workspace))
    assert 2 <= done < 6, "the run should have been killed part-way"
    r = cli("--workspace", workspace, "align", "--all", "--strict")
    assert r.exit_code == 0, r.output
    with cat.session() as s:
        alignments = list(s.scalars(select(Alignment)))
        pairs = list(s.scalars(select(Pair)))
        files = list(s.scalars(select(File).where(File.kind != "original")))
        assert s.scalar(select(func.count(IngestJournal.id))) == 0
    cat.close()
    assert len(pairs) == 6 and all(p.status == "ok" for p in pairs)
    assert len(alignments) == 6 and len({a.pair_id for a in alignments}) == 6  # no duplicates
    assert len(files) == 12 and len({f.path for f in files}) == 12  # a raindrop mask and a reflection map per pair
    for f in files:
        assert sha256_file(workspace / f.path) == (f.sha256, f.size)
    leftovers = [p for p in (workspace / "aligned").rglob("*") if p.is_file()]
    assert sorted(workspace / f.path for f in files) == sorted(leftovers)  # no temporary or orphan files


def test_second_run_is_refused_while_one_holds_the_lock(imported, cli):
    import fcntl

    fd = os.open(imported / "aligned", os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        r = cli("--workspace", imported, "align", "--all")
        assert r.exit_code == 1 and "another `rdrf align` is running" in r.output
    finally:
        os.close(fd)
    r = cli("--workspace", imported, "align", "--scene", "1")
    assert r.exit_code == 0 and "2 ok" in r.stderr
    assert cli("--workspace", imported, "verify").exit_code == 0
