"""The export refuses anything that would leak test data into training, and anything inconsistent."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from tests.export_helpers import SceneSpec, build_workspace
from sqlalchemy import select

from schemas.catalogue import File, Pair, Scene
from schemas.records import CATEGORIES
from schemas.storage import durable_write
from schemas.workspace import Catalogue

SPECS = [
    SceneSpec("1", CATEGORIES[0], split="train"),
    SceneSpec("2", CATEGORIES[0], split="test"),
    SceneSpec("3", CATEGORIES[1], split="train"),
]


def scenes_in(folder: Path) -> set[str]:
    return {json.loads(line)["scene"] for line in (folder / "manifest.jsonl").read_text().splitlines()}


def test_a_repinned_scene_cannot_leak_through_an_older_export(tmp_path, cli):
    ws = build_workspace(tmp_path / "ws", specs=SPECS)
    small = ("--size", "90x60")
    assert cli("-w", ws.root, "export", "--split", "test", *small).exit_code == 0
    test_dir = ws.root / "exports" / "test-folder-90x60"
    assert scenes_in(test_dir) == {"2"}

    r = cli("-w", ws.root, "split", "set", "2", "train")
    assert r.exit_code == 0 and "exports/test-folder-90x60 still holds scene 2 as test" in r.stderr
    r = cli("-w", ws.root, "export", "--split", "train", *small)
    assert r.exit_code == 1
    assert "scene 2 is train now, but the export exports/test-folder-90x60" in r.output
    assert not (ws.root / "exports" / "train-folder-90x60").exists()

    # Re-exporting the test split drops scene 2 (and its files); then train may take it.
    cli("-w", ws.root, "split", "set", "3", "test")
    r = cli("-w", ws.root, "export", "--split", "test", *small)
    assert r.exit_code == 0, r.output
    assert scenes_in(test_dir) == {"3"}
    assert not list((test_dir / "test" / "lq").glob("2_*"))
    assert "stale removed" in r.stderr and "0 stale removed" not in r.stderr
    r = cli("-w", ws.root, "export", "--split", "train", *small)
    assert r.exit_code == 0, r.output
    assert scenes_in(ws.root / "exports" / "train-folder-90x60") == {"1", "2"}


def test_the_same_file_in_a_train_and_a_test_scene_is_refused(tmp_path, cli):
    ws = build_workspace(tmp_path / "ws", specs=SPECS)
    cat = Catalogue(ws)
    with cat.session() as s:
        # Scene 2's GT is catalogued a second time under scene 1 (a copy imported twice).
        gt2 = s.scalars(select(File).where(File.path == "originals/2/gt.jpg")).one()
        shot1 = s.scalars(select(Scene).where(Scene.label == "1")).one().shots[0]
        s.add(File(shot=shot1, kind="original", path="originals/1/gt-copy.jpg", sha256=gt2.sha256, size=gt2.size))
    cat.close()
    r = cli("-w", ws.root, "export", "--split", "train", "--size", "90x60")
    assert r.exit_code == 1
    assert "originals/1/gt-copy.jpg (train scene 1) and originals/2/gt.jpg (test scene 2) are the same file" in r.output


def test_a_changed_source_file_stops_the_export_and_names_it(tmp_path, cli):
    ws = build_workspace(tmp_path / "ws", specs=SPECS)
    cat = Catalogue(ws)
    with cat.session() as s:
        pair = s.scalars(select(Pair).where(Pair.status == "ok")).first()
        path = pair.alignment.lq_file.path
    cat.close()
    img = cv2.imread(str(ws.abs(path)))
    cv2.imwrite(str(ws.abs(path)), 255 - img)  # same size, different bytes
    r = cli("-w", ws.root, "export", "--split", "train", "--size", "90x60")
    assert r.exit_code == 1 and path in r.output and "SHA-256" in r.output
    assert not (ws.root / "exports" / "train-folder-90x60" / "manifest.jsonl").exists()


def test_a_mask_not_in_the_gt_frame_is_refused(tmp_path, cli):
    ws = build_workspace(tmp_path / "ws", specs=SPECS)
    cat = Catalogue(ws)
    with cat.session() as s:
        pair = s.scalars(select(Pair).where(Pair.status == "ok")).first()
        f = pair.alignment.raindrop_mask_file
        ok, buf = cv2.imencode(".png", np.zeros((100, 150), np.uint8))
        stored = durable_write(buf.tobytes(), ws.abs(f.path))
        f.sha256, f.size = stored.sha256, stored.size
        pair_id = pair.id
    cat.close()
    r = cli("-w", ws.root, "export", "--split", "train", "--size", "90x60")
    assert r.exit_code == 1 and f"pair {pair_id}" in r.output and "150x100" in r.output and "240x160" in r.output


def test_an_export_of_an_empty_split_says_what_to_do(tmp_path, cli):
    ws = build_workspace(tmp_path / "ws", specs=[SceneSpec("1", CATEGORIES[0], split="train")])
    r = cli("-w", ws.root, "export", "--split", "test")
    assert r.exit_code == 1 and "no ok pairs" in r.output and "rdrf align" in r.output
