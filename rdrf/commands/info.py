"""`rdrf info model`: parameter counts of a stage's model, without weights (needs the `train` extra)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from rdrf.options import require_extra

app = typer.Typer(help="Describe models and runs.", no_args_is_help=True)


@app.command("model")
def info_model(
    stage: Annotated[str, typer.Option(help="restore, control, fidelity; baselines: agan, histoformer, weatherdiff.")] = "restore",
    config: Annotated[Optional[Path], typer.Option("--config", help="TOML file over the stage's default.")] = None,
    pretrained: Annotated[Optional[str], typer.Option(help="Stage II: prior folder, or a named config such as sd21-base-config.")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Config override section.key=value; repeatable.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Parameter counts of a stage's model per component (trainable and frozen), without weights.

    Example: rdrf info model --stage restore --json
    """
    require_extra("train", "info model")
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
