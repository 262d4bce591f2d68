"""`rdrf export`: a split's ok pairs, resized, in a standard layout with manifest and datasheet."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from rdrf import context
from rdrf.console import progress, say
from rdrf.options import default_workers
from schemas.errors import RdrfError
from schemas.vocabulary import Borders, ExportFormat, ExportSplit, Fit

app = typer.Typer()


@app.command()
def export(
    split: Annotated[ExportSplit, typer.Option(help="Which scenes: train, test, all (both, in separate folders), or wild (the unpaired wild scenes: degraded images only).")] = "train",
    format: Annotated[ExportFormat, typer.Option("--format", help="folder (BasicSR gt/ lq/ mask/), imagefolder (Hugging Face), webdataset (tar shards).")] = "folder",
    size: Annotated[str, typer.Option(help="WIDTHxHEIGHT or 'original'. The paper trains at 1080x720.")] = "1080x720",
    fit: Annotated[Fit, typer.Option(help="Frames of another aspect ratio: crop (centre-crop to the target's) or refuse.")] = "crop",
    borders: Annotated[Borders, typer.Option(help="crop: shrink each scene's frame to what all its aligned shots cover (no black warp borders); keep: export them.")] = "crop",
    out: Annotated[Optional[Path], typer.Option(help="Export folder (default: exports/<split>-<format>-<size>/ in the workspace).")] = None,
    include_rejected: Annotated[bool, typer.Option("--include-rejected", help="Also export rejected pairs that have aligned files (status in the manifest).")] = False,
    shard_size: Annotated[int, typer.Option(help="WebDataset samples per tar shard.")] = 256,
    workers: Annotated[int, typer.Option(help="Parallel image workers.")] = default_workers(),
    clean_domain: Annotated[bool, typer.Option("--clean-domain", help="--split wild only: add the train scenes' GT images as the clean domain for unpaired training.")] = False,
) -> None:
    """Export the ok pairs of a split, resized, with manifest.jsonl and a README datasheet.

    Re-exporting into the same folder skips files that are already right.

    Examples: rdrf export --split train --format imagefolder
              rdrf export --split wild --clean-domain
    """
    from rdrf_align.dataset.export import write_export
    from rdrf_align.dataset.plan import ExportParams, plan_export
    from rdrf_align.dataset.splits import assign_splits

    cat = context.open_catalogue()
    if split == "wild":
        if include_rejected:
            raise RdrfError("--include-rejected is about pairs; a wild export has none", exit_code=2)
        if borders != "crop":
            raise RdrfError("--borders is about the warp of aligned pairs; a wild export is not warped", exit_code=2)
        _export_wild(cat, format, size, fit, out, clean_domain)
        return
    if clean_domain:
        raise RdrfError("--clean-domain goes with --split wild (an unpaired export); a paired export already holds its GTs", exit_code=2)
    params = ExportParams(split=split, format=format, size=size, fit=fit, borders=borders,
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


def _export_wild(cat, format: ExportFormat, size: str, fit: Fit, out: Optional[Path], clean_domain: bool) -> None:
    """The wild scenes as an unpaired export (rdrf_align.dataset.unpaired)."""
    from rdrf_align.dataset.splits import assign_splits
    from rdrf_align.dataset.unpaired import WildParams, plan_wild, write_wild

    params = WildParams(format=format, size=size, fit=fit, clean_domain=clean_domain)
    if clean_domain:
        assign_splits(cat)  # the clean domain is the train split's GTs: give new scenes their split first
    plan = plan_wild(cat, params, out)
    with progress(len(plan.items), "exporting wild") as advance:
        result = write_wild(plan, cat, advance=advance)
    clean = f" and {result.n_clean} clean train GT images" if result.n_clean else ""
    say(f"exported {result.n_records} wild (unpaired) images{clean} to [bold]{result.out}[/] (no ground truth: "
        f"score with no-reference metrics, `rdrf benchmark --split wild`)")
    print(result.out)
