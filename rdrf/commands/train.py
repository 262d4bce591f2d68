"""`rdrf train`: train a DiffUR3 stage on an export (needs the `train` extra).

torch is imported inside the command only, so `rdrf --help` and the core commands never load it.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer

from rdrf import context
from rdrf.console import err_console, say
from rdrf.options import require_extra

app = typer.Typer()


def show_progress() -> bool:
    return not context.OPTIONS.quiet and err_console.is_terminal


def progress_lines() -> bool:
    """No terminal to draw a bar on (a log file, a pipe, a batch job): plain lines every run.log_every steps."""
    return not context.OPTIONS.quiet and not err_console.is_terminal


@app.command()
def train(
    data: Annotated[Path, typer.Option("--data", help="Export folder (with manifest.jsonl) to train on.")],
    stage: Annotated[str, typer.Option(help="restore (stage I, DRSformer), control or fidelity (stage II); baselines: agan, histoformer, weatherdiff.")] = "restore",
    config: Annotated[Optional[Path], typer.Option("--config", help="TOML file over the stage's shipped default (the paper's recipe).")] = None,
    max_steps: Annotated[Optional[int], typer.Option("--max-steps", help="Optimizer steps (overrides run.max_steps).")] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", help="Images per step per process (run.batch_size).")] = None,
    workers: Annotated[Optional[int], typer.Option("--workers", help="Data loader processes (run.num_workers).")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Run folder; an existing one is resumed from its latest checkpoint.")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Config override section.key=value (TOML value); repeatable.")] = None,
    pretrained: Annotated[Optional[str], typer.Option(help="Stage II: Stable Diffusion 2.1-base folder or single file, or 'tiny' (model.pretrained).")] = None,
    stage1: Annotated[Optional[Path], typer.Option("--stage1", help="Stage II: the stage I run that makes I_s (model.stage1).")] = None,
) -> None:
    """Train a DiffUR3 stage on an export; resumes when --output holds a run.

    Example: rdrf train --stage restore --data exports/rdrf-1080x720 --max-steps 300000 --output runs/stage1
    """
    require_extra("train", "train")
    from rdrf_train.loop import train as run_training

    overrides = list(set_ or [])
    if max_steps is not None:
        overrides.append(f"run.max_steps={max_steps}")
    if batch_size is not None:
        overrides.append(f"run.batch_size={batch_size}")
    if workers is not None:
        overrides.append(f"run.num_workers={workers}")
    if pretrained is not None:
        overrides.append(f"model.pretrained={json.dumps(pretrained)}")
    if stage1 is not None:
        overrides.append(f"model.stage1={json.dumps(str(stage1))}")
    if output is None:
        output = Path("runs") / f"{stage}-{datetime.now(timezone.utc).strftime('%Y%m%d-%H%M%S')}"
    run = run_training(stage, data, output, config, overrides, show_progress=show_progress(), notify=say,
                       progress_lines=progress_lines())
    last = run.latest()
    say(f"run [bold]{run.path}[/]: {last[0] if last else 0} steps, checkpoint {last[1].name if last else '-'}")
