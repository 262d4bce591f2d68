"""Training commands: `rdrf train`, `rdrf restore`, `rdrf eval`, `rdrf info model`.

Thin wrappers over rdrf_train; torch is imported inside the command functions only, so
`rdrf --help` and the capture commands never load it.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer

from rdrf import context
from rdrf.console import err_console, progress, say

info_app = typer.Typer(help="Describe models and runs.", no_args_is_help=True)


def _show_progress() -> bool:
    return not context.OPTIONS.quiet and err_console.is_terminal


def register(app: typer.Typer) -> None:
    app.add_typer(info_app, name="info")

    @app.command()
    def train(
        data: Annotated[Path, typer.Option("--data", help="Export folder (with manifest.jsonl) to train on.")],
        stage: Annotated[str, typer.Option(help="restore (stage I, DRSformer), control or fidelity (stage II).")] = "restore",
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
        run = run_training(stage, data, output, config, overrides, show_progress=_show_progress(), notify=say)
        last = run.latest()
        say(f"run [bold]{run.path}[/]: {last[0] if last else 0} steps, checkpoint {last[1].name if last else '-'}")

    @app.command()
    def restore(
        inputs: Annotated[list[Path], typer.Argument(help="Images or folders of images, any size.")],
        checkpoint: Annotated[Path, typer.Option("--checkpoint", "-c", help="Run folder (latest checkpoint) or one checkpoint folder.")],
        out: Annotated[Path, typer.Option("--out", help="Folder for the restored PNGs (<stem>.png).")] = Path("restored"),
        device: Annotated[Optional[str], typer.Option(help="cpu, cuda, cuda:1 ... (default: cuda when present).")] = None,
        steps: Annotated[Optional[int], typer.Option(help="Stage II runs: sampling steps (default: the run's, 50).")] = None,
    ) -> None:
        """Restore images with a trained run; large images are processed in overlapping tiles.

        Example: rdrf restore photos/*.jpg --checkpoint runs/stage1 --out restored/
        """
        from rdrf_train.restore_files import expand_inputs, restore_files

        files = expand_inputs(inputs)
        with progress(len(files), "restoring") as advance:
            written = restore_files(files, checkpoint, out, device, on_image=lambda _: advance(), steps=steps)
        say(f"wrote {len(written)} images to [bold]{out}[/]")

    @app.command("eval")
    def eval_(
        data: Annotated[Path, typer.Option("--data", help="Export folder; its test split is evaluated.")],
        checkpoint: Annotated[Path, typer.Option("--checkpoint", "-c", help="Run folder (latest checkpoint) or one checkpoint folder.")],
        as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON (rows and per-image scores).")] = False,
        max_images: Annotated[Optional[int], typer.Option("--max-images", help="Evaluate the first N test pairs only.")] = None,
        lpips_weights: Annotated[Optional[Path], typer.Option("--lpips-weights", help="Local LPIPS weights; without them LPIPS is skipped.")] = None,
        device: Annotated[Optional[str], typer.Option(help="cpu, cuda, ... (default: cuda when present).")] = None,
        steps: Annotated[Optional[int], typer.Option(help="Stage II runs: sampling steps (default: the run's, 50).")] = None,
    ) -> None:
        """PSNR and SSIM (Table 2) of a run on the test split, with the degraded input as the baseline row.

        Example: rdrf eval --data exports/rdrf-1080x720 --checkpoint runs/stage1 --json
        """
        from rdrf_train.evaluate import evaluate, markdown_table
        from rdrf_train.data import read_manifest

        total = len(read_manifest(data, "test"))
        total = min(total, max_images) if max_images else total
        with progress(max(total, 1), "evaluating") as advance:
            report = evaluate(data, checkpoint, device, max_images, lpips_weights, on_image=lambda _: advance(), steps=steps)
        for notice in report.notices:
            say(f"[yellow]note[/]: {notice}")
        if as_json:
            print(report.model_dump_json(indent=2))
        else:
            print(markdown_table(report))

    @info_app.command("model")
    def info_model(
        stage: Annotated[str, typer.Option(help="restore, control or fidelity.")] = "restore",
        config: Annotated[Optional[Path], typer.Option("--config", help="TOML file over the stage's default.")] = None,
        pretrained: Annotated[Optional[str], typer.Option(help="Stage II: prior folder, or a named config such as sd21-base-config.")] = None,
        set_: Annotated[Optional[list[str]], typer.Option("--set", help="Config override section.key=value; repeatable.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Parameter counts of a stage's model per component (trainable and frozen), without weights.

        Example: rdrf info model --stage restore --json
        """
        from rdrf_train.config import resolve_dict, validate
        from rdrf_train.stages import get_stage

        stage_cls = get_stage(stage)
        cfg = validate(stage_cls.config_class, resolve_dict(stage, config, list(set_ or [])), str(config or f"default {stage}.toml"))
        counts = stage_cls.parameter_counts(cfg, pretrained)
        total = {
            "trainable": sum(c["trainable"] for c in counts.values()),
            "frozen": sum(c["frozen"] for c in counts.values()),
        }
        result = {"stage": stage, "components": counts, "total": total}
        if as_json:
            print(json.dumps(result, indent=2))
        else:
            for name, c in counts.items():
                print(f"{name:<24} trainable {c['trainable']:>14,}  frozen {c['frozen']:>14,}")
            print(f"{'total':<24} trainable {total['trainable']:>14,}  frozen {total['frozen']:>14,}")
        sys.stdout.flush()
