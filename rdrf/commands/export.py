"""`rdrf split`, `rdrf export`, `rdrf report`: scene splits, dataset exports and the QA report."""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from rdrf import context
from rdrf.console import console, print_json, progress, say


class SplitName(str, Enum):
    train = "train"
    test = "test"


class ExportSplit(str, Enum):
    train = "train"
    test = "test"
    all = "all"


class Format(str, Enum):
    folder = "folder"
    imagefolder = "imagefolder"
    webdataset = "webdataset"


class Borders(str, Enum):
    crop = "crop"
    keep = "keep"


class Fit(str, Enum):
    crop = "crop"
    refuse = "refuse"


def _default_workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def _show_splits(cat, as_json: bool) -> None:
    from rich.table import Table
    from sqlalchemy import select

    from rdrf_align.dataset.splits import label_key
    from schemas.catalogue import Scene
    from schemas.views import scene_record

    with cat.session() as session:
        records = [scene_record(s) for s in session.scalars(select(Scene))]
    records.sort(key=lambda r: label_key(r.scene))
    if as_json:
        print_json(records)
        return
    table = Table("scene", "category", "split", "pinned", "lq shots")
    for r in records:
        table.add_row(r.scene, r.category or "-", r.split or "-", "yes" if r.split_pinned else "", str(r.lq_shots))
    console.print(table)
    n_test = sum(r.split == "test" for r in records)
    say(f"{len(records)} scenes: {len(records) - n_test} train, {n_test} test")


def register(app: typer.Typer) -> None:
    split_app = typer.Typer(no_args_is_help=False)
    app.add_typer(split_app, name="split")

    @split_app.callback(invoke_without_command=True)
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

    @split_app.command("set")
    def split_set(
        scene: Annotated[str, typer.Argument(help="Scene label, e.g. 17.")],
        split: Annotated[SplitName, typer.Argument(help="train or test.")],
    ) -> None:
        """Pin a scene to a split by hand; pinned scenes are never reassigned.

        Example: rdrf split set 17 test
        """
        from rdrf_align.dataset.splits import pin_scene

        cat = context.open_catalogue()
        old, stale = pin_scene(cat, scene, split.value)
        moved = f" (was {old})" if old and old != split.value else ""
        say(f"scene {scene} pinned to {split.value}{moved}")
        for path in stale:
            say(f"[yellow]warning[/]: {path} still holds scene {scene} as {old}; re-export it before exporting {split.value}")

    @split_app.command("unpin")
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

    @app.command()
    def export(
        split: Annotated[ExportSplit, typer.Option(help="Which scenes: train, test or all (both, in separate folders).")] = ExportSplit.train,
        format: Annotated[Format, typer.Option("--format", help="folder (BasicSR gt/ lq/ mask/), imagefolder (Hugging Face), webdataset (tar shards).")] = Format.folder,
        size: Annotated[str, typer.Option(help="WIDTHxHEIGHT or 'original'. The paper trains at 1080x720.")] = "1080x720",
        fit: Annotated[Fit, typer.Option(help="Frames of another aspect ratio: crop (centre-crop to the target's) or refuse.")] = Fit.crop,
        borders: Annotated[Borders, typer.Option(help="crop: shrink each scene's frame to what all its aligned shots cover (no black warp borders); keep: export them.")] = Borders.crop,
        out: Annotated[Optional[Path], typer.Option(help="Export folder (default: exports/<split>-<format>-<size>/ in the workspace).")] = None,
        include_rejected: Annotated[bool, typer.Option("--include-rejected", help="Also export rejected pairs that have aligned files (status in the manifest).")] = False,
        shard_size: Annotated[int, typer.Option(help="WebDataset samples per tar shard.")] = 256,
        workers: Annotated[int, typer.Option(help="Parallel image workers.")] = _default_workers(),
    ) -> None:
        """Export the ok pairs of a split, resized, with manifest.jsonl and a README datasheet.

        Re-exporting into the same folder skips files that are already right.

        Example: rdrf export --split train --format imagefolder
        """
        from rdrf_align.dataset.export import write_export
        from rdrf_align.dataset.plan import ExportParams, plan_export
        from rdrf_align.dataset.splits import assign_splits

        cat = context.open_catalogue()
        params = ExportParams(split=split.value, format=format.value, size=size, fit=fit.value, borders=borders.value,
                              include_rejected=include_rejected, shard_size=shard_size)
        assigned = assign_splits(cat)
        plan = plan_export(cat, params, out)
        if assigned:
            n_test = sum(a.split == "test" for a in assigned)
            say(f"assigned a split to {len(assigned)} new scene(s): {len(assigned) - n_test} train, {n_test} test")
        with progress(plan.steps, f"exporting {params.split}") as advance:
            result = write_export(plan, cat, workers=workers, advance=advance)
        say(
            f"exported {result.n_records} pairs of {len(plan.scenes)} scenes to [bold]{result.out}[/] "
            f"({result.written} files written, {result.skipped} already right, {result.removed} stale removed)"
        )
        print(result.out)

    @app.command()
    def report(
        borders: Annotated[Borders, typer.Option(help="crop: shrink each scene's frame to what all its aligned shots cover (no black warp borders); keep: export them.")] = Borders.crop,
        out: Annotated[Optional[Path], typer.Option(help="Report folder (default: reports/ in the workspace).")] = None,
        workers: Annotated[int, typer.Option(help="Parallel image workers.")] = _default_workers(),
    ) -> None:
        """Write the QA report: contact sheets per scene, category chart, alignment histograms, rejected pairs.

        Open report.html in a browser; it is self-contained (figures embedded).

        Example: rdrf report --out /tmp/qa
        """
        from rdrf_align.dataset.facts import report_facts
        from rdrf_align.report.page import build_report
        from rdrf_align.report.plan import plan_report

        cat = context.open_catalogue()
        plan = plan_report(cat, out, **report_facts(cat))
        with progress(plan.steps, "report") as advance:
            path = build_report(plan, workers=workers, advance=advance)
        say(f"report written to [bold]{path}[/]")
        print(path)
