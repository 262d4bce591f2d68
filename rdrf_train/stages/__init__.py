"""Training stages by the name `rdrf train --stage NAME` takes (see `rdrf_train.stages.base` for the
interface and how to add one). A plain dict: the stage modules keep diffusers imports inside their
functions, so importing all three costs no more than importing one."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from rdrf_train.runs import RunFolder, resolve_checkpoint
from rdrf_train.stages.agan import AGANStage
from rdrf_train.stages.base import ImageRestorer, SamplingRestorer, Stage
from rdrf_train.stages.control import ControlStage
from rdrf_train.stages.fidelity import FidelityStage
from rdrf_train.stages.histoformer import HistoformerStage
from rdrf_train.stages.restore import RestoreStage
from rdrf_train.stages.weatherdiff import WeatherDiffStage
from schemas.errors import RdrfError

STAGES: dict[str, type[Stage]] = {
    "restore": RestoreStage,  # stage I: DRSformer restoration (seeds/000 sec. 4.1)
    "control": ControlStage,  # stage II: Modulate&Gate control branch (sec. 4.2)
    "fidelity": FidelityStage,  # stage II: fidelity encoder (sec. 4.3)
    "agan": AGANStage,  # baseline: AGAN re-trained (seeds/000 Table 2, seeds/004)
    "histoformer": HistoformerStage,  # baseline: Histoformer re-trained (Table 2)
    "weatherdiff": WeatherDiffStage,  # baseline: WeatherDiff64 / RaindropDiff64 re-trained (Table 2)
}


def get_stage(name: str) -> type[Stage]:
    if name not in STAGES:
        raise RdrfError(f"unknown training stage {name!r}; choose one of {', '.join(STAGES)}")
    return STAGES[name]


def check_device(device: Optional[str]) -> str:
    """`--device` as torch will take it: cuda when present by default; a device this machine lacks
    is one clear error, not a CUDA traceback from deep inside the first tensor move."""
    import torch

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise RdrfError(f"--device {device!r} is not a device torch knows ({exc}); expected cpu, cuda or cuda:N", exit_code=2) from exc
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise RdrfError(f"--device {device}: no CUDA device is available on this machine (torch {torch.__version__}); use --device cpu")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise RdrfError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s), numbered from 0")
    elif parsed.type != "cpu" and not getattr(torch.backends, parsed.type, None):
        raise RdrfError(f"--device {device}: expected cpu, cuda or cuda:N", exit_code=2)
    return device


def load_restorer(checkpoint: Path, device: Optional[str] = None, steps: Optional[int] = None) -> tuple[RunFolder, Path, ImageRestorer]:
    """The restorer of a run folder (latest complete checkpoint) or of one checkpoint folder, as
    `rdrf restore` and `rdrf eval` run it; `steps` (`--steps`) applies to restorers that sample."""
    run, folder = resolve_checkpoint(Path(checkpoint))
    restorer = get_stage(run.stage_name()).load_restorer(run, folder, check_device(device))
    if steps is not None:
        if not isinstance(restorer, SamplingRestorer):
            raise RdrfError("--steps applies to stage II runs (control, fidelity); this run's restorer does not sample")
        if steps < 1:
            raise RdrfError(f"--steps must be at least 1, not {steps}")
        restorer.steps = steps
    return run, folder, restorer
