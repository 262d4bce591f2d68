"""A scene is who the user says it is, not what its bytes hash to: a second shoot named like a
catalogued scene is refused unless the user says what it is, and a file byte-identical to another
scene's is still this scene's shot."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from tests.images import textured, write_jpeg
from tests.test_foundation_import import catalogue_dump, tree


def shoot(root: Path, label: str, seed: int, n_lq: int = 2, toml: str = 'category = "signs & markers"\nglass_mm = 5\n') -> Path:
    scene = root / label
    gt = textured(48, 64, seed)
    write_jpeg(scene / "gt.jpg", gt)
    for i in range(n_lq):
        write_jpeg(scene / "lq" / f"{i:04d}.jpg", np.roll(gt, i + 1, axis=1))
    (scene / "scene.toml").write_text(toml)
    return root


def listing(cli, ws, what):
    r = cli(what, "--json", cwd=ws)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_a_second_shoot_with_a_catalogued_name_is_refused_and_changes_nothing(workspace, cli, tmp_path):
    assert cli("import", shoot(tmp_path / "a", "001", 0), cwd=workspace).exit_code == 0
    before, files = catalogue_dump(workspace), tree(workspace)
    other = shoot(tmp_path / "b", "001", 7, toml='category = "streets & traffic"\nglass_mm = 5\n')
    r = cli("import", other, cwd=workspace)
    assert r.exit_code == 1, r.output
    assert "scene 001 is already catalogued with another ground truth (gt.jpg)" in r.output
    assert "--scene-prefix" in r.output and "--add-to-existing" in r.output
    assert catalogue_dump(workspace) == before and tree(workspace) == files
    # the same import again is still fine and adds nothing
    r = cli("import", tmp_path / "a", cwd=workspace)
    assert r.exit_code == 0 and "0 shots added, 3 already catalogued" in r.output, r.output
    assert catalogue_dump(workspace) == before


def test_scene_prefix_gives_the_second_shoot_its_own_scenes(workspace, cli, tmp_path):
    assert cli("import", shoot(tmp_path / "a", "001", 0), cwd=workspace).exit_code == 0
    other = shoot(tmp_path / "b", "001", 7, toml='category = "streets & traffic"\n')
    assert cli("import", other, "--scene-prefix", "b-", cwd=workspace).exit_code == 0
    scenes = {s["scene"]: s for s in listing(cli, workspace, "scenes")}
    assert set(scenes) == {"001", "b-001"}
    assert scenes["001"]["category"] == "signs & markers" and scenes["b-001"]["category"] == "streets & traffic"
    pairs = listing(cli, workspace, "pairs")
    shots = {s["shot_id"]: s for s in listing(cli, workspace, "shots")}
    assert all(shots[p["gt_shot"]]["scene"] == p["scene"] for p in pairs) and len(pairs) == 4
    r = cli("import", other, "--scene-prefix", "b-", cwd=workspace)
    assert r.exit_code == 0 and "0 shots added" in r.output


def test_add_to_existing_checks_camera_and_glass_and_keeps_the_new_gt_unpaired(workspace, cli, tmp_path):
    assert cli("import", shoot(tmp_path / "a", "001", 0), cwd=workspace).exit_code == 0
    before = catalogue_dump(workspace)
    r = cli("import", shoot(tmp_path / "b", "001", 7, toml="glass_mm = 8\n"), "--add-to-existing", cwd=workspace)
    assert r.exit_code == 1 and "glass 8 mm does not match scene 001's glass 5 mm" in r.output, r.output
    r = cli("import", shoot(tmp_path / "c", "001", 8, toml='glass_mm = 5\ncamera = "NIKON D7100"\n'), "--add-to-existing", cwd=workspace)
    assert r.exit_code == 1 and "camera 'NIKON D7100' does not match scene 001's camera unknown" in r.output, r.output
    assert catalogue_dump(workspace) == before

    r = cli("import", shoot(tmp_path / "d", "001", 9, toml="glass_mm = 5\n"), "--add-to-existing", cwd=workspace)
    assert r.exit_code == 0, r.output
    assert "kept as an extra GT shot (not paired)" in r.output
    shots = listing(cli, workspace, "shots")
    assert sorted((s["role"], s["index"]) for s in shots) == [("gt", 1), ("gt", 2), ("lq", 1), ("lq", 2), ("lq", 3), ("lq", 4)]
    first_gt = next(s["shot_id"] for s in shots if s["role"] == "gt" and s["index"] == 1)
    pairs = listing(cli, workspace, "pairs")
    assert len(pairs) == 4 and {p["gt_shot"] for p in pairs} == {first_gt}
    assert listing(cli, workspace, "scenes")[0]["category"] == "signs & markers"
    # re-running it adds nothing, with or without the option
    for extra in ((), ("--add-to-existing",)):
        r = cli("import", tmp_path / "d", *extra, cwd=workspace)
        assert r.exit_code == 0 and "0 shots added" in r.output and "extra GT" not in r.output, r.output


def test_a_differing_scene_toml_for_a_catalogued_scene_names_both_values(workspace, cli, tmp_path):
    root = shoot(tmp_path / "a", "001", 0)
    assert cli("import", root, cwd=workspace).exit_code == 0
    before = catalogue_dump(workspace)
    (root / "001" / "scene.toml").write_text('category = "streets & traffic"\nglass_mm = 5\n')
    r = cli("import", root, cwd=workspace)
    assert r.exit_code == 1 and "category 'signs & markers', not 'streets & traffic'" in r.output, r.output
    (root / "001" / "scene.toml").write_text('category = "signs & markers"\nglass_mm = 3\n')
    r = cli("import", root, cwd=workspace)
    assert r.exit_code == 1 and "glass 3 mm does not match scene 001's glass 5 mm" in r.output, r.output
    assert catalogue_dump(workspace) == before


def test_more_degraded_shots_of_the_same_shoot_join_its_scene(workspace, cli, tmp_path):
    root = shoot(tmp_path / "a", "001", 0)
    assert cli("import", root, cwd=workspace).exit_code == 0
    write_jpeg(root / "001" / "lq" / "0009.jpg", textured(48, 64, 99))
    r = cli("import", root, cwd=workspace)
    assert r.exit_code == 0 and "1 shots added" in r.output, r.output
    assert len(listing(cli, workspace, "pairs")) == 3


def test_a_file_byte_identical_to_another_scenes_is_stored_for_this_scene_too(workspace, cli, tmp_path):
    assert cli("import", shoot(tmp_path / "a", "001", 0), cwd=workspace).exit_code == 0
    second = shoot(tmp_path / "b", "002", 5)
    (second / "002" / "gt.jpg").write_bytes((tmp_path / "a" / "001" / "gt.jpg").read_bytes())  # the same GT file
    r = cli("import", second, cwd=workspace)
    assert r.exit_code == 0 and "3 shots added, 0 already catalogued" in r.output, r.output
    scenes = {s["scene"]: s for s in listing(cli, workspace, "scenes")}
    assert scenes["002"]["gt_shots"] == 1 and scenes["002"]["lq_shots"] == 2
    pairs = [p for p in listing(cli, workspace, "pairs") if p["scene"] == "002"]
    shots = {s["shot_id"]: s for s in listing(cli, workspace, "shots")}
    assert len(pairs) == 2 and all(shots[p["gt_shot"]]["scene"] == "002" for p in pairs)
    assert (workspace / "originals/002/gt-001/gt.jpg").read_bytes() == (workspace / "originals/001/gt-001/gt.jpg").read_bytes()
    before = catalogue_dump(workspace)
    r = cli("import", second, cwd=workspace)
    assert r.exit_code == 0 and "0 shots added" in r.output and catalogue_dump(workspace) == before
    assert cli("verify", cwd=workspace).exit_code == 0
