"""`rdrf split`: give scenes a train/test split once, pin or unpin one by hand, list them."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from rdrf import context
from rdrf.console import console, print_json, say
from schemas.vocabulary import Split

app = typer.Typer(no_args_is_help=False)


def _show_splits(cat, as_json: bool) -> None:
    from rich.table import Table
    from sqlalchemy import select

    from schemas.catalogue import Scene
    from schemas.views import scene_order, scene_record

    with cat.session() as session:
        records = [scene_record(s) for s in session.scalars(select(Scene))]
    records.sort(key=lambda r: scene_order(r.scene))
    if as_json:
        print_json(records)
        return
    table = Table("scene", "category", "split", "pinned", "lq shots")
    for r in records:
        table.add_row(r.scene, r.category or "-", r.split or "-", "yes" if r.split_pinned else "", str(r.lq_shots))
    console.print(table)
    n_test = sum(r.split == "test" for r in records)
    say(f"{len(records)} scenes: {len(records) - n_test} train, {n_test} test")


@app.callback(invoke_without_command=True)
def split(
    ctx: typer.Context,
    test_fraction: Annotated[
        Optional[float],
        typer.Option(help="Test fraction for scenes assigned now (default: rdrf.toml \\[split] test_fraction, else 36/252)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print scene records as JSON.")] = False,
) -> None:
    """Assign a split to every scene that has none (existing ones never move), then list them.

    Example: rdrf split --json
    """
    if ctx.invoked_subcommand is not None:
        return
    from rdrf_align.dataset.splits import assign_new_scenes

    cat = context.open_catalogue()
    fraction = test_fraction if test_fraction is not None else cat.workspace.settings.split.test_fraction
    with cat.session() as session:
        new = assign_new_scenes(session, fraction)
    if new:
        n_test = sum(a.split == "test" for a in new)
        say(f"assigned {len(new)} new scene(s): {len(new) - n_test} train, {n_test} test")
    _show_splits(cat, as_json)

@app.command("set")
def split_set(
    scene: Annotated[str, typer.Argument(help="Scene label, e.g. 17.")],
    split: Annotated[Split, typer.Argument(help="train or test.")],
) -> None:
    """Pin a scene to a split by hand; pinned scenes are never reassigned.

    Example: rdrf split set 17 test
    """
    from rdrf_align.dataset.splits import pin_scene

    cat = context.open_catalogue()
    old, stale = pin_scene(cat, scene, split)
    moved = f" (was {old})" if old and old != split else ""
    say(f"scene {scene} pinned to {split}{moved}")
    for path in stale:
        say(f"[yellow]warning[/]: {path} still holds scene {scene} as {old}; re-export it before exporting {split}")

@app.command("unpin")
def split_unpin(scene: Annotated[str, typer.Argument(help="Scene label.")]) -> None:
    """Remove a scene's pin; it keeps its current split.

    Example: rdrf split unpin 17
    """
    from rdrf_align.dataset.splits import unpin_scene

    cat = context.open_catalogue()
    with cat.session() as session:
        s = unpin_scene(session, scene)
        split = s.split
    say(f"scene {scene} unpinned (stays in {split})")
