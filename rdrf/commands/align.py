"""`rdrf align`: register degraded shots onto their GT, mask the raindrops, judge quality (the warped
image is rendered on demand: export, report, `rdrf show`); `--prune-legacy` removes what older
versions stored and nothing reads any more."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from rdrf import context
from rdrf.console import print_json, progress, say
from schemas.vocabulary import MaskMethod

app = typer.Typer()


@app.command()
def align(
    all_: Annotated[bool, typer.Option("--all", help="Align every scene's pairs (the default when no --scene is given).")] = False,
    scene: Annotated[Optional[list[str]], typer.Option("--scene", "-s", help="Only this scene (repeatable).")] = None,
    workers: Annotated[Optional[int], typer.Option("--workers", "-j", min=1, help="Worker processes aligning pairs in parallel (default: \\[align] workers, else 1: this process, its cores split between up to 4 pairs at a time).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Redo pairs that already have an alignment.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Exit non-zero when any pair is rejected or failed.")] = False,
    mask: Annotated[Optional[MaskMethod], typer.Option("--mask", help="Raindrop mask: default (model-based) or agan (|aligned - GT| > 30, as published).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the aligned pairs' records.")] = False,
    prune_legacy: Annotated[bool, typer.Option(
        "--prune-legacy",
        help="Only delete the warped images and valid areas older rdrf versions stored under aligned/ (rendered and derived on demand now); lists what goes.",
    )] = False,
) -> None:
    """Align every pair that has no current alignment (resumable; --force redoes them).

    Each pair ends ok, rejected or failed with a reason; QC thresholds are read from the
    workspace's rdrf.toml \\[align] section (min_inliers, max_reproj_px, min_valid_fraction, ...).

    Per pair only the homography, the figures and the raindrop mask are stored; `rdrf show PAIR`
    draws the aligned image. --prune-legacy deletes the warped images and valid areas that versions
    before catalogue revision 0003 wrote (each path is printed).

    Example: rdrf align --all --workers 2
    """
    if prune_legacy:
        if all_ or scene or force or strict or mask or as_json:
            raise typer.BadParameter("--prune-legacy runs on its own (it aligns nothing)")
        _prune()
        return
    from sqlalchemy import select

    from rdrf_align.registration.runner import AlignOptions, align_workspace, wild_scenes
    from schemas.catalogue import Pair
    from schemas.views import pair_record

    if all_ and scene:
        raise typer.BadParameter("give either --all or --scene, not both")
    cat = context.open_catalogue()
    try:
        section = cat.workspace.settings.align
        options = AlignOptions(
            scenes=tuple(scene or ()),
            workers=workers or section.workers,
            force=force,
            mask_method=mask or section.mask,
            quality=section,
            bracket=cat.workspace.settings.bracket,
        )
        bar = {}

        def on_plan(n: int) -> None:
            bar["cm"] = progress(n, "aligning")
            bar["advance"] = bar["cm"].__enter__()

        def on_result(task, res) -> None:
            bar["advance"]()
            if res.status != "ok":
                say(f"[yellow]{res.status}[/]: scene {task.scene} pair {task.pair_id}: {res.reason}")

        try:
            summary = align_workspace(cat, options, on_plan=on_plan, on_result=on_result)
        finally:
            if "cm" in bar:
                bar["cm"].__exit__(None, None, None)
        c = summary.counts
        wild = wild_scenes(cat, tuple(scene or ()))
        if wild:
            shown = ", ".join(wild[:10]) + (f" and {len(wild) - 10} more" if len(wild) > 10 else "")
            say(f"{len(wild)} wild scene(s) skipped ({shown}): no ground truth, nothing to align")
        say(
            f"aligned {sum(c.values())} pair(s): {c['ok']} ok, {c['rejected']} rejected, {c['failed']} failed"
            + (f"; {summary.skipped} already aligned (--force redoes them)" if summary.skipped else "")
        )
        if as_json:
            ids = [r.pair_id for r in summary.results]
            with cat.session() as s:
                records = [pair_record(p) for p in s.scalars(select(Pair).where(Pair.id.in_(ids)).order_by(Pair.id))]
            print_json(records)
    finally:
        cat.close()
    if strict and (c["rejected"] or c["failed"]):
        raise typer.Exit(1)


def _prune() -> None:
    from rdrf_align.registration.prune import prune_legacy

    cat = context.open_catalogue()
    try:
        done = prune_legacy(cat)
    finally:
        cat.close()
    for path in done.paths:
        say(f"removed {path}")
    say(f"removed {len(done.paths)} file(s), {done.bytes / 1e6:.1f} MB, that older versions stored under aligned/ "
        "(warped images and valid areas: rendered and derived from the homography now)")
