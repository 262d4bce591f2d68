"""`rdrf benchmark`: the paper's Table 2 (or Table 1 with --ablations) on an export (needs the `train` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from rdrf.console import progress, say
from rdrf.options import require_extra

app = typer.Typer()


@app.command()
def benchmark(
    data: Annotated[Path, typer.Option("--data", help="Export folder to score on.")],
    run: Annotated[list[str], typer.Option("--run", help="NAME=PATH: a training run, a checkpoint, or a folder of restored images (NAME.png per pair). Repeatable; rows in this order.")],
    split: Annotated[str, typer.Option(help="The export's split to score (its test split by default; wild for an unpaired export, scored with no-reference metrics only).")] = "test",
    fmt: Annotated[str, typer.Option("--format", help="md, csv, json or latex.")] = "md",
    convention: Annotated[str, typer.Option(help="PSNR/SSIM convention: pyiqa (RGB PSNR, pyiqa's Y SSIM), y (BT.601 Y, as DRSformer/AGAN) or rgb.")] = "pyiqa",
    ablations: Annotated[bool, typer.Option("--ablations", help="Table 1: runs named baseline1, baseline2, no-modulate-gate, no-fidelity, full.")] = False,
    cache: Annotated[Optional[Path], typer.Option(help="Where restored images are kept between runs (default: EXPORT-benchmark beside the export).")] = None,
    lpips_weights: Annotated[Optional[Path], typer.Option("--lpips-weights", help="Local LPIPS weights; without them LPIPS is skipped.")] = None,
    iqa_weights: Annotated[Optional[Path], typer.Option("--iqa-weights", help="Folder of pyiqa weight files (no-reference metrics; the `iqa` extra).")] = None,
    nr: Annotated[Optional[str], typer.Option("--nr", help="Comma-separated pyiqa no-reference metrics (default: musiq,clipiqa,clipiqa+,hyperiqa; '' for none).")] = None,
    max_images: Annotated[Optional[int], typer.Option("--max-images", min=1, help="Score the first N pairs only.")] = None,
    valid_only: Annotated[bool, typer.Option("--valid-only", help="PSNR/SSIM over the area the warped degraded shot covers (RealBlur's practice; matters for --borders keep exports).")] = False,
    device: Annotated[Optional[str], typer.Option(help="cpu, cuda, ... (default: cuda when present).")] = None,
    steps: Annotated[Optional[int], typer.Option(help="Stage II runs: sampling steps (default: the run's, 50).")] = None,
) -> None:
    """Score several methods on one split and print the paper's table, the degraded input as the floor.

    Example: rdrf benchmark --data exports/rdrf-1080x720 --run "DRSformer†=runs/stage1" --run DiffUR3=runs/fidelity --format latex
    """
    require_extra("train", "benchmark")
    from rdrf_train.benchmark import CONVENTIONS, benchmark as run_benchmark, parse_method, render, resolve_method
    from rdrf_train.export_reader import read_manifest
    from schemas.errors import RdrfError

    if fmt not in ("md", "csv", "json", "latex"):
        raise RdrfError(f"--format {fmt!r}: expected md, csv, json or latex", exit_code=2)
    if convention not in CONVENTIONS:
        raise RdrfError(f"--convention {convention!r}: expected {', '.join(CONVENTIONS)}", exit_code=2)
    methods = [resolve_method(*parse_method(text)) for text in run]
    total = len(read_manifest(data, split))
    total = min(total, max_images) if max_images else total
    nr_names = None if nr is None else [n.strip() for n in nr.split(",") if n.strip()]
    with progress(max(1, total * len(methods)), "restoring") as advance:
        report = run_benchmark(data, methods, split=split, convention=convention, cache=cache, device=device, steps=steps,
                               lpips_weights=lpips_weights, nr=nr_names, iqa_weights=iqa_weights, max_images=max_images,
                               ablations=ablations, valid_only=valid_only, on_image=advance)
    for notice in report.notices:
        say(f"[yellow]note[/]: {notice}")
    print(render(report, fmt))  # type: ignore[arg-type]
