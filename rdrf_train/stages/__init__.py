"""Training stages by the name `rdrf train --stage NAME` takes (see `rdrf_train.stages.base` for the
interface and how to add one). A plain dict: the stage modules keep diffusers imports inside their
functions, so importing all three costs no more than importing one."""

from __future__ import annotations

from rdrf_train.stages.base import Stage
from rdrf_train.stages.control import ControlStage
from rdrf_train.stages.fidelity import FidelityStage
from rdrf_train.stages.restore import RestoreStage
from schemas.errors import RdrfError

STAGES: dict[str, type[Stage]] = {
    "restore": RestoreStage,  # stage I: DRSformer restoration (seeds/000 sec. 4.1)
    "control": ControlStage,  # stage II: Modulate&Gate control branch (sec. 4.2)
    "fidelity": FidelityStage,  # stage II: fidelity encoder (sec. 4.3)
}


def get_stage(name: str) -> type[Stage]:
    if name not in STAGES:
        raise RdrfError(f"unknown training stage {name!r}; choose one of {', '.join(STAGES)}")
    return STAGES[name]
