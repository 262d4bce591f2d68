"""Training stages by name (see `rdrf_train.stages.base` for the interface and how to add one).

Plain data, no registry magic: the name `rdrf train --stage NAME` takes -> the module defining
`STAGE`. Modules are imported on use so one stage's heavy dependencies never load for another.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from schemas.errors import RdrfError

if TYPE_CHECKING:
    from rdrf_train.stages.base import Stage

STAGES: dict[str, str] = {
    "restore": "rdrf_train.stages.restore",  # stage I: DRSformer restoration (seeds/000 sec. 4.1)
    "control": "rdrf_train.stages.control",  # stage II: Modulate&Gate control branch (sec. 4.2)
    "fidelity": "rdrf_train.stages.fidelity",  # stage II: fidelity encoder (sec. 4.3)
}


def get_stage(name: str) -> type["Stage"]:
    if name not in STAGES:
        raise RdrfError(f"unknown training stage {name!r}; choose one of {', '.join(STAGES)}")
    try:
        module = importlib.import_module(STAGES[name])
    except ModuleNotFoundError as exc:
        if exc.name == STAGES[name]:
            raise RdrfError(f"training stage {name!r} is not available in this version ({STAGES[name]} missing)") from None
        raise
    return module.STAGE
