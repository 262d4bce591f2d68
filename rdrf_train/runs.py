"""A run folder: what `rdrf train --output RUN` writes and `rdrf restore/eval --checkpoint RUN` read.

    RUN/config.toml                      the resolved config (stage, run, optim, schedule, data, model)
    RUN/metrics.jsonl                    one JSON object per logged step: step, loss, lr, ...;
                                         validations add val_* keys; a resume adds {"event": "resume"}
    RUN/checkpoints/step-00001000/       accelerator.save_state (models, optimizer, scheduler, RNG)
        weights/<module>.safetensors     the trained modules alone, for inference
        done.json                        written last: a checkpoint without it is incomplete, ignored

`--checkpoint` accepts the run folder (latest complete checkpoint) or one checkpoint folder.
The training loop writes the folder through `MetricsLog` and `save_checkpoint`.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Optional

from schemas.errors import RdrfError
from schemas.storage import durable_write

if TYPE_CHECKING:
    from accelerate import Accelerator

    import torch

CHECKPOINT_RE = re.compile(r"^step-(\d+)$")
DONE = "done.json"


@dataclass(frozen=True)
class RunFolder:
    path: Path

    @property
    def config_path(self) -> Path:
        return self.path / "config.toml"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    def checkpoint_dir(self, step: int) -> Path:
        return self.checkpoints_dir / f"step-{step:08d}"

    def checkpoints(self) -> list[tuple[int, Path]]:
        """Complete checkpoints, oldest first."""
        if not self.checkpoints_dir.is_dir():
            return []
        found = []
        for child in self.checkpoints_dir.iterdir():
            m = CHECKPOINT_RE.match(child.name)
            if m and (child / DONE).exists():
                found.append((int(m.group(1)), child))
        return sorted(found)

    def latest(self) -> Optional[tuple[int, Path]]:
        found = self.checkpoints()
        return found[-1] if found else None

    def metrics(self) -> list[dict]:
        if not self.metrics_path.exists():
            return []
        return [json.loads(line) for line in self.metrics_path.read_text().splitlines() if line.strip()]

    def stage_name(self) -> str:
        import tomllib

        if not self.config_path.exists():
            raise RdrfError(f"{self.path} is not a training run (no config.toml)")
        with open(self.config_path, "rb") as f:
            return tomllib.load(f)["stage"]

    def load_config(self, config_class):
        """The run's resolved config, validated as `config_class` (the caller's stage knows which;
        a run of another stage fails validation on its `stage` field, naming the file)."""
        from rdrf_train.config import read_toml, validate

        return validate(config_class, read_toml(self.config_path), str(self.config_path))


def resolve_checkpoint(path: Path) -> tuple[RunFolder, Path]:
    """A run folder or a checkpoint folder -> (run, checkpoint folder); clear errors otherwise."""
    path = Path(path)
    if not path.exists():
        raise RdrfError(f"checkpoint {path} does not exist")
    if CHECKPOINT_RE.match(path.name) and path.parent.name == "checkpoints":
        if not (path / DONE).exists():
            raise RdrfError(f"checkpoint {path} is incomplete (no {DONE}); the run was interrupted while saving it")
        return RunFolder(path.parent.parent), path
    run = RunFolder(path)
    if not run.config_path.exists():
        raise RdrfError(f"{path} is neither a training run (no config.toml) nor a checkpoint folder")
    latest = run.latest()
    if latest is None:
        raise RdrfError(f"run {path} has no complete checkpoint yet")
    return run, latest[1]


class MetricsLog:
    """Appends metrics.jsonl lines (main process only), flushed at once so a killed run loses none."""

    def __init__(self, path: Path, enabled: bool):
        self.path, self.enabled = path, enabled

    def truncate_after(self, step: int) -> None:
        """Drop lines a killed run wrote past the checkpoint it resumes from."""
        if not self.enabled or not self.path.exists():
            return
        keep = []
        for line in self.path.read_text().splitlines():
            try:
                if json.loads(line).get("step", 0) <= step:
                    keep.append(line)
            except json.JSONDecodeError:  # a line torn by the kill
                continue
        durable_write(("\n".join(keep) + "\n" if keep else "").encode(), self.path)

    def write(self, record: dict) -> None:
        if self.enabled:
            with open(self.path, "a") as f:
                f.write(json.dumps(record) + "\n")
                f.flush()


def save_checkpoint(accelerator: "Accelerator", modules: "Mapping[str, torch.nn.Module]", run: RunFolder, step: int, keep: int) -> Path:
    """`accelerator.save_state` plus the trained modules' weights, marked complete by done.json last
    (so a kill mid-save leaves a folder `latest()` ignores); keeps the newest `keep` checkpoints."""
    from safetensors.torch import save_file

    folder = run.checkpoint_dir(step)
    if accelerator.is_main_process and folder.exists():
        shutil.rmtree(folder)  # an incomplete save of the same step from a killed run
    accelerator.wait_for_everyone()
    accelerator.save_state(str(folder))
    if accelerator.is_main_process:
        weights = folder / "weights"
        weights.mkdir(parents=True, exist_ok=True)
        for name, module in modules.items():
            state = {k: v.detach().float().cpu().contiguous() for k, v in accelerator.unwrap_model(module).state_dict().items()}
            save_file(state, str(weights / f"{name}.safetensors"))
        durable_write(json.dumps({"step": step, "time": time.time()}).encode(), folder / DONE)
        for _, old in run.checkpoints()[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return folder
