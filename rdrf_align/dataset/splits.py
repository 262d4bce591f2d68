"""Scene-level train/test splits that never leak and never move as the dataset grows.

A scene's split is decided once, stored on the Scene row, and never changed again except by an
explicit pin (`rdrf split set 17 test`). Scenes without a split are assigned in a deterministic order
(by a hash of their label, so the insertion order does not matter) with a greedy rule that keeps both
the test fraction of each category and the overall test fraction as close as possible to the target:
for every new scene it picks the split that minimises

    |tests in its category - f * scenes in its category| + 2 |tests overall - f * scenes overall|

counting the scene itself. The overall term weighs double so that small datasets (a dozen scenes, a
category or two each) still get about f of their scenes in test instead of none; categories stay
within one scene of their share. Ties are broken by a second hash of the label compared with f, so a
catalogue yields the same split on every machine. With the paper's 252 scenes in eight categories and
f = 36/252 this gives exactly 36 test scenes with 4-5 per category (tests/test_split_assign.py).

Because a scene has one `split` column it cannot be in two splits inside the catalogue; what can leak
is the same *file* catalogued under two scenes, or an older export that still holds a scene that was
since pinned to the other split. `file_leaks` and the export's plan look for both and refuse; `pin_scene`
names the exports a re-pin leaves stale.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, NamedTuple, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from rdrf_align.dataset.folders import exported_scenes
from schemas.catalogue import Export, File, Scene, Shot
from schemas.errors import RdrfError
from schemas.settings import DEFAULT_TEST_FRACTION
from schemas.vocabulary import Split, values
from schemas.workspace import Catalogue

GLOBAL_WEIGHT = 2.0


def _unit_hash(text: str) -> float:
    """A stable number in [0, 1) for a string (Python's hash() is salted per process)."""
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:15], 16) / 16**15


def _stratum(category: Optional[str]) -> str:
    return category or ""


@dataclass(frozen=True)
class Assignment:
    scene: str
    category: Optional[str]
    split: Split


def choose_splits(
    assigned: Iterable[tuple[Optional[str], str]],
    new: Iterable[tuple[str, Optional[str]]],
    test_fraction: float = DEFAULT_TEST_FRACTION,
) -> list[Assignment]:
    """Pure rule: given (category, split) of the scenes already assigned and (label, category) of new
    ones, return the new scenes' splits. Never touches the assigned ones."""
    if not 0.0 <= test_fraction < 1.0:
        raise RdrfError(f"test fraction {test_fraction} is outside [0, 1); the paper uses 36/252 = {DEFAULT_TEST_FRACTION:.4f}")
    per_cat, tests_cat = Counter(), Counter()
    total = tests = 0
    for category, split in assigned:
        per_cat[_stratum(category)] += 1
        total += 1
        if split == "test":
            tests_cat[_stratum(category)] += 1
            tests += 1
    out = []
    f = test_fraction
    for label, category in sorted(new, key=lambda lc: (_unit_hash(lc[0]), lc[0])):
        k = _stratum(category)
        n, big_n = per_cat[k] + 1, total + 1

        def cost(t_cat: int, t_all: int) -> float:
            return abs(t_cat - f * n) + GLOBAL_WEIGHT * abs(t_all - f * big_n)

        as_test, as_train = cost(tests_cat[k] + 1, tests + 1), cost(tests_cat[k], tests)
        is_test = as_test < as_train - 1e-12 or (abs(as_test - as_train) <= 1e-12 and _unit_hash(label + "#tie") < f)
        per_cat[k] += 1
        total += 1
        if is_test:
            tests_cat[k] += 1
            tests += 1
        out.append(Assignment(label, category, "test" if is_test else "train"))
    return out


def assign_new_scenes(session: Session, test_fraction: float = DEFAULT_TEST_FRACTION) -> list[Assignment]:
    """Give every scene without a split one, persisting it; scenes that have one are never moved."""
    all_scenes = session.scalars(select(Scene)).all()
    for s in all_scenes:
        if s.kind == "wild" and s.split != "wild":  # its own split, whatever an older row says
            s.split, s.split_pinned = "wild", True
    scenes = [s for s in all_scenes if s.kind != "wild"]  # wild scenes never count towards train/test
    pending = [s for s in scenes if s.split is None]
    if not pending:
        session.flush()
        return []
    for s in scenes:
        if s.split is not None and s.split not in values(Split):
            raise RdrfError(f"scene {s.label}: split {s.split!r} in the catalogue is neither 'train' nor 'test'; fix it with `rdrf split set {s.label} train|test`")
    result = choose_splits(
        [(s.category, s.split) for s in scenes if s.split is not None],
        [(s.label, s.category) for s in pending],
        test_fraction,
    )
    by_label = {s.label: s for s in pending}
    for a in result:
        by_label[a.scene].split = a.split
    session.flush()
    return result


def assign_splits(catalogue: Catalogue) -> list[Assignment]:
    """`assign_new_scenes` at the workspace's test fraction (rdrf.toml [split]), committed."""
    with catalogue.session() as session:
        return assign_new_scenes(session, catalogue.workspace.settings.split.test_fraction)


class Pinned(NamedTuple):
    old: Optional[Split]  # the scene's split before the pin
    stale_exports: list[str]  # exports on disk that still hold the scene under another split


def pin_scene(catalogue: Catalogue, label: str, split: Split) -> Pinned:
    """Put a scene in a split by hand, committed; a pinned scene is never reassigned. Names the
    exports the pin leaves stale (they would leak the scene until re-exported)."""
    with catalogue.session() as session:
        scene = session.scalar(select(Scene).where(Scene.label == label))
        if scene is None:
            raise RdrfError(f"scene {label} is not in the catalogue; `rdrf split` lists the scenes")
        if scene.kind == "wild":
            raise RdrfError(f"scene {label} is a wild scene (no ground truth): it stays in the wild split, never {split}")
        old = scene.split
        scene.split = split
        scene.split_pinned = True
        session.flush()
        stale = []
        for path in sorted({e.path for e in session.scalars(select(Export))}):
            held = exported_scenes((catalogue.workspace.root / path).resolve()).get(label)
            if held is not None and held != split:
                stale.append(path)
    return Pinned(old, stale)


def unpin_scene(session: Session, label: str) -> Scene:
    """Drop the pin; the scene keeps its current split (splits never move by themselves)."""
    scene = session.scalar(select(Scene).where(Scene.label == label))
    if scene is None:
        raise RdrfError(f"scene {label} is not in the catalogue; `rdrf split` lists the scenes")
    scene.split_pinned = False
    session.flush()
    return scene


@dataclass(frozen=True)
class Leak:
    what: str

    def __str__(self) -> str:
        return self.what


def file_leaks(session: Session) -> list[Leak]:
    """The same image bytes (by SHA-256) catalogued in a train scene and in a test scene."""
    rows = session.execute(
        select(File.sha256, File.path, Scene.label, Scene.split)
        .join(Shot, File.shot_id == Shot.id)
        .join(Scene, Shot.scene_id == Scene.id)
        .where(File.kind.in_(("original", "developed")), Scene.split.in_(values(Split)))
    ).all()
    seen: dict[str, dict[str, tuple[str, str]]] = {}
    for sha, path, label, split in rows:
        seen.setdefault(sha, {}).setdefault(split, (label, path))
    leaks = []
    for sha, by_split in sorted(seen.items()):
        if len(by_split) > 1:
            (tl, tp), (sl, sp) = by_split["train"], by_split["test"]
            leaks.append(Leak(f"{tp} (train scene {tl}) and {sp} (test scene {sl}) are the same file (sha256 {sha[:12]}...)"))
    return leaks


def check_split_map(scene_splits: Iterable[tuple[str, str]]) -> list[Leak]:
    """(scene, split) pairs as they will be written: each scene must appear under exactly one split."""
    found: dict[str, set[str]] = {}
    for scene, split in scene_splits:
        found.setdefault(scene, set()).add(split)
    return [Leak(f"scene {s} would be in both {' and '.join(sorted(v))}") for s, v in sorted(found.items()) if len(v) > 1]
