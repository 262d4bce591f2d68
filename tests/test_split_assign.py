"""Scene splits: the paper's 216/36, stratified, deterministic, and never moving once set."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest
from tests.export_helpers import SceneSpec, add_scenes, build_workspace
from sqlalchemy import select

from rdrf_align.dataset.splits import choose_splits
from schemas.settings import DEFAULT_TEST_FRACTION
from schemas.catalogue import Scene
from schemas.records import CATEGORIES
from schemas.workspace import Catalogue


def paper_like(n: int = 252, seed: int = 1) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    return [(str(i), rng.choice(CATEGORIES)) for i in range(1, n + 1)]


def test_paper_scene_count_gives_36_test_scenes_spread_over_categories():
    scenes = paper_like()
    result = choose_splits([], scenes, DEFAULT_TEST_FRACTION)
    tests = [a for a in result if a.split == "test"]
    assert len(tests) == 36 and len(result) - len(tests) == 216
    per_cat = Counter(c for _, c in scenes)
    test_cat = Counter(a.category for a in tests)
    for cat, n in per_cat.items():
        assert abs(test_cat[cat] - n * DEFAULT_TEST_FRACTION) <= 1.0 + 1e-9, (cat, test_cat[cat], n)


@pytest.mark.parametrize("n", [7, 12, 20, 40, 100])
def test_small_datasets_get_about_the_target_share_of_test_scenes(n):
    for seed in (1, 2, 3):
        result = choose_splits([], paper_like(n, seed), DEFAULT_TEST_FRACTION)
        assert abs(sum(a.split == "test" for a in result) - n * DEFAULT_TEST_FRACTION) < 0.75


def test_assignment_is_deterministic_whatever_the_insertion_order():
    scenes = paper_like(60, seed=3)
    shuffled = scenes[:]
    random.Random(9).shuffle(shuffled)
    a = {x.scene: x.split for x in choose_splits([], scenes, 0.2)}
    b = {x.scene: x.split for x in choose_splits([], shuffled, 0.2)}
    assert a == b


def test_scenes_arriving_one_by_one_still_reach_the_target_fraction():
    assigned: list[tuple[str, str]] = []
    for label, cat in paper_like():
        (a,) = choose_splits(assigned, [(label, cat)], DEFAULT_TEST_FRACTION)
        assigned.append((cat, a.split))
    assert abs(sum(s == "test" for _, s in assigned) - 36) <= 1


def test_test_fraction_outside_range_is_refused():
    from schemas.errors import RdrfError

    with pytest.raises(RdrfError, match="test fraction"):
        choose_splits([], [("1", None)], 1.5)


def light_specs() -> list[SceneSpec]:
    """Splits do not look at pairs: eight scenes over four categories, one small pair each."""
    return [SceneSpec(str(n), CATEGORIES[n % 4], statuses=("ok",), size=(48, 32)) for n in range(1, 9)]


def _splits(ws) -> dict[str, tuple[str, bool]]:
    cat = Catalogue(ws)
    try:
        with cat.session() as s:
            return {x.label: (x.split, x.split_pinned) for x in s.scalars(select(Scene))}
    finally:
        cat.close()


def test_adding_scenes_and_resplitting_moves_no_existing_scene(tmp_path, cli):
    ws = build_workspace(tmp_path / "ws", specs=light_specs(), test_fraction=0.3)
    r = cli("-w", ws.root, "split", "--json")
    assert r.exit_code == 0, r.output
    listed = {x["scene"]: x["split"] for x in json.loads(r.stdout)}
    before = _splits(ws)
    assert {k: v[0] for k, v in before.items()} == listed
    assert all(split in ("train", "test") for split, _ in before.values())
    assert "test" in {s for s, _ in before.values()}

    add_scenes(ws, [SceneSpec(str(n), CATEGORIES[n % 3], statuses=("ok",), size=(48, 32)) for n in range(20, 30)])
    assert cli("-w", ws.root, "split").exit_code == 0
    after = _splits(ws)
    assert {k: after[k] for k in before} == before  # nothing moved
    assert all(after[str(n)][0] in ("train", "test") for n in range(20, 30))
    # Running it again changes nothing at all.
    assert cli("-w", ws.root, "split").exit_code == 0
    assert _splits(ws) == after


def test_pinning_moves_one_scene_and_keeps_it(tmp_path, cli):
    ws = build_workspace(tmp_path / "ws", specs=light_specs(), test_fraction=0.3)
    assert cli("-w", ws.root, "split").exit_code == 0
    before = _splits(ws)
    label = next(k for k, (s, _) in before.items() if s == "train")
    r = cli("-w", ws.root, "split", "set", label, "test")
    assert r.exit_code == 0, r.output
    assert f"scene {label} pinned to test (was train)" in r.stderr
    after = _splits(ws)
    assert after[label] == ("test", True)
    assert {k: v for k, v in after.items() if k != label} == {k: v for k, v in before.items() if k != label}
    add_scenes(ws, [SceneSpec("40", CATEGORIES[0], statuses=("ok",), size=(48, 32))])
    cli("-w", ws.root, "split")
    assert _splits(ws)[label] == ("test", True)
    assert cli("-w", ws.root, "split", "unpin", label).exit_code == 0
    assert _splits(ws)[label] == ("test", False)


def test_pinning_an_unknown_scene_or_split_fails_clearly(tmp_path, cli):
    ws = build_workspace(tmp_path / "ws", specs=[SceneSpec("1", CATEGORIES[0])])
    r = cli("-w", ws.root, "split", "set", "99", "test")
    assert r.exit_code == 1 and "scene 99 is not in the catalogue" in r.output
    r = cli("-w", ws.root, "split", "set", "1", "validation")
    assert r.exit_code == 2
