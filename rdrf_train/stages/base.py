"""The stage abstraction: what `rdrf train --stage NAME` plugs into.

DiffUR3 trains in stages (seeds/000 sec. 4, A.2): `restore` (stage I, DRSformer), `control`
(stage II, the Modulate&Gate control branch) and `fidelity` (the fidelity encoder). They share one
training loop (`rdrf_train.loop.train`) and one data pipeline (`rdrf_train.data`); a stage says only
what is particular to it.

How a stage plugs in
--------------------
1. A module `rdrf_train/stages/<name>.py` defines a `Stage` subclass.
2. `rdrf_train/stages/__init__.py` maps the name to that class (`STAGES`). Stage modules import
   diffusers inside their functions, so a stage's heavy dependencies load only when it is used.
3. Its config class subclasses `rdrf_train.config.TrainConfig`, adding a `model` section (and any
   other, e.g. the path of a stage I run or of the pretrained prior). Its shipped default is
   `rdrf_train/configs/<name>.toml`: the paper's recipe, including the data pipeline it wants
   (`[data]`: crop 256 + flips for stage I; crop 512, flips, `scale` resizing and `rotate` for stage
   II - the same transform is applied to GT, LQ and mask).

What the loop does with a stage
-------------------------------
    stage = STAGES[name](config, accelerator)
    modules = stage.build()              # {name: nn.Module} to train; frozen parts stay inside the stage
    optimizer = AdamW(stage.trainable_parameters(), ...)
    *prepared, optimizer = accelerator.prepare(*modules.values(), optimizer)
    stage.modules = dict(zip(modules, prepared))      # wrapped (DDP) modules, use these in steps
    for batch in loader:                 # batch: see "Batches" below, already on the device
        with accelerator.accumulate(...), accelerator.autocast():
            loss = stage.training_step(batch)
        accelerator.backward(loss); clip; optimizer.step(); scheduler.step()
    # every val_every steps, on the main process, in eval mode and under torch.no_grad():
    metrics = mean of stage.validation_step(batch) over the test split (batch size 1)

A stage with a second optimizer (a GAN's discriminator) returns it from `auxiliary_optimizer()`:
its parameters (left out of `trainable_parameters`) and `OptimSection`. The loop builds AdamW and
the same LR schedule for it, prepares it after the main optimizer (so both are in every
checkpoint and resume exactly) and sets `stage.step_auxiliary(loss)`, which the stage calls
inside `training_step` (zero grads, backward, clip, step, schedule) before computing the loss it
returns for the main optimizer. `after_optimizer_step()` runs after every main optimizer step (an
EMA copy of the weights is updated there, WeatherDiff's).

Checkpoints are `accelerator.save_state` folders plus `weights/<module name>.safetensors` of each
trainable module (unwrapped), so inference needs neither Accelerate nor the optimizer state.

Batches
-------
A dict of tensors on the device: `gt` and `lq` float32 (B, 3, H, W) RGB in [0, 1], `mask` float32
(B, 1, H, W) in {0, 1} (1 = raindrop/degraded region as exported), plus `name` (list of str) and
`pair_id` (int64 (B,)). Validation batches hold one test pair, centre-cropped to `data.val_crop`
when set, else the full image.

`rdrf info model --stage NAME [--pretrained X] --json` prints `Stage.parameter_counts(config, X)`.

Inference
---------
`Stage.load_restorer(run, checkpoint, device)` returns an `ImageRestorer`: a callable mapping an RGB
float32 (H, W, 3) array in [0, 1] to a restored array of the same shape. `rdrf restore` and
`rdrf eval` use it for any stage's run (through `rdrf_train.stages.load_restorer`); stage II's
restorer runs the whole pipeline and is also a `SamplingRestorer`, whose `steps` can be set.
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import TYPE_CHECKING, Callable, ClassVar, Optional, Protocol, runtime_checkable

from rdrf_train.config import OptimSection, TrainConfig

if TYPE_CHECKING:  # torch stays out of imports of this module's names at CLI start-up
    import numpy as np
    import torch
    from accelerate import Accelerator

    from rdrf_train.runs import RunFolder


def count_parameters(module: "torch.nn.Module") -> int:
    """All parameters of a module; works on meta tensors, so models are counted without weights."""
    return sum(p.numel() for p in module.parameters())


class ImageRestorer(Protocol):
    def __call__(self, lq: "np.ndarray") -> "np.ndarray":
        """(H, W, 3) float32 RGB in [0, 1] -> restored (H, W, 3) float32 in [0, 1]."""
        ...


@runtime_checkable
class SamplingRestorer(ImageRestorer, Protocol):
    """A restorer that samples (stage II's pipeline): `rdrf restore/eval --steps N` sets `steps`."""

    steps: int


class Stage(abc.ABC):
    name: ClassVar[str]
    config_class: ClassVar[type[TrainConfig]]

    def __init__(self, config: TrainConfig, accelerator: "Accelerator"):
        self.config = config
        self.accelerator = accelerator
        self.modules: dict[str, "torch.nn.Module"] = {}

    @property
    def device(self) -> "torch.device":
        return self.accelerator.device

    @abc.abstractmethod
    def build(self) -> dict[str, "torch.nn.Module"]:
        """Create the models. Return the trained modules by name (optimised, prepared, checkpointed,
        exported as weights/<name>.safetensors). Frozen parts are the stage's own business: load them
        here, freeze them and move them to `self.device` (in the autocast dtype if wanted)."""

    def trainable_parameters(self) -> list["torch.nn.Parameter"]:
        return [p for m in self.modules.values() for p in m.parameters() if p.requires_grad]

    def auxiliary_optimizer(self) -> Optional[tuple[list["torch.nn.Parameter"], OptimSection]]:
        """A second optimizer's parameters and settings (see "What the loop does"); None: one optimizer."""
        return None

    step_auxiliary: Callable[["torch.Tensor"], None]  # set by the loop when auxiliary_optimizer() is not None

    def after_optimizer_step(self) -> None:
        """Called by the loop after each optimizer step (e.g. to update an EMA copy of the weights)."""

    @abc.abstractmethod
    def training_step(self, batch: dict) -> "torch.Tensor":
        """The scalar loss for one batch (the loop does backward, clipping and the optimizer step)."""

    @abc.abstractmethod
    def validation_step(self, batch: dict) -> dict[str, float]:
        """Metrics for one test pair (higher/lower-is-better is the metric's own); the loop averages
        them over the test split and logs them as `val_<key>`."""

    @classmethod
    def parameter_counts(cls, config: TrainConfig, pretrained: Optional[str] = None) -> dict[str, dict[str, int]]:
        """`rdrf info model`: {component: {"trainable": n, "frozen": n}} without weights or data.
        `pretrained` is the `--pretrained` option (stage II: a prior folder or a named config)."""
        raise NotImplementedError(f"stage {cls.name!r} does not describe its model")

    @classmethod
    @abc.abstractmethod
    def load_restorer(
        cls, run: "RunFolder", checkpoint: Optional[Path] = None, device: str | None = None
    ) -> ImageRestorer:
        """An inference callable built from a run folder (latest checkpoint unless one is given)."""


def image_metrics(gt: "torch.Tensor", out: "torch.Tensor", lq: "torch.Tensor") -> dict[str, float]:
    """A validation image's figures, as every stage logs them: PSNR and SSIM of the output rounded to
    8 bits as `rdrf restore` saves it, its L1, and the degraded input's PSNR (the identity baseline)."""
    import numpy as np

    from rdrf_train import metrics

    to_np = lambda t: t[0].float().permute(1, 2, 0).clamp(0, 1).cpu().numpy()  # noqa: E731
    g, o, q = to_np(gt), metrics.quantize(to_np(out)), to_np(lq)
    return {"psnr": metrics.psnr(g, o), "ssim": metrics.ssim(g, o), "l1": float(np.abs(o - g).mean()), "psnr_identity": metrics.psnr(g, q)}


def load_weights(module: "torch.nn.Module", checkpoint: Path, name: str) -> "torch.nn.Module":
    """`module` with the weights a checkpoint saved for it (`weights/<name>.safetensors`)."""
    from safetensors.torch import load_file

    from schemas.errors import RdrfError

    path = Path(checkpoint) / "weights" / f"{name}.safetensors"
    if not path.exists():
        raise RdrfError(f"checkpoint {checkpoint} has no weights/{name}.safetensors")
    module.load_state_dict(load_file(str(path)))
    return module


def checkpoint_of(run: "RunFolder", checkpoint: Optional[Path]) -> Path:
    """`checkpoint`, or the run's latest complete one."""
    from rdrf_train.runs import resolve_checkpoint

    return Path(checkpoint) if checkpoint is not None else resolve_checkpoint(run.path)[1]
