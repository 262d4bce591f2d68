"""`rdrf eval`: PSNR/SSIM of a run on an export's test split (needs the `train` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from rdrf.console import progress, say
from rdrf.options import require_extra

app = typer.Typer()


@app.command("eval")
def eval_(
    data: Annotated[Path, typer.Option("--data", help="Export folder; its test split is evaluated.")],
    checkpoint: Annotated[Path, typer.Option("--checkpoint", "-c", help="Run folder (latest checkpoint) or one checkpoint folder.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON (rows and per-image scores).")] = False,
    max_images: Annotated[Optional[int], typer.Option("--max-images", min=1, help="Evaluate the first N test pairs only.")] = None,
    lpips_weights: Annotated[Optional[Path], typer.Option("--lpips-weights", help="Local LPIPS weights; without them LPIPS is skipped.")] = None,
    device: Annotated[Optional[str], typer.Option(help="cpu, cuda, ... (default: cuda when present).")] = None,
    steps: Annotated[Optional[int], typer.Option(help="Stage II runs: sampling steps (default: the run's, 50).")] = None,
    valid_only: Annotated[bool, typer.Option("--valid-only", help="PSNR/SSIM over the area the warped degraded shot covers (RealBlur's practice).")] = False,
) -> None:
    """PSNR and SSIM (Table 2) of a run on the test split, with the degraded input as the baseline row.

    Example: rdrf eval --data exports/rdrf-1080x720 --checkpoint runs/stage1 --json
    """
    require_extra("train", "eval")
    from rdrf_train.evaluate import evaluate, markdown_table
    from rdrf_train.export_reader import read_manifest, require_paired

    require_paired(data, "rdrf eval")
    total = len(read_manifest(data, "test"))
    total = min(total, max_images) if max_images else total
    with progress(max(total, 1), "evaluating") as advance:
        report = evaluate(data, checkpoint, device, max_images, lpips_weights, on_image=lambda _: advance(), steps=steps, valid_only=valid_only)
    for notice in report.notices:
        say(f"[yellow]note[/]: {notice}")
    if as_json:
        print(report.model_dump_json(indent=2))
    else:
        print(markdown_table(report))
