"""Training configuration: pydantic models read from TOML.

A run's configuration is resolved in layers, later ones winning:

1. the stage's shipped default, `rdrf_train/configs/<stage>.toml` (the paper's recipe, seeds/000 A.2);
2. a user TOML file (`--config F`), deep-merged over it;
3. command-line overrides, `section.key=value` with a TOML value (`run.max_steps=200`,
   `data.crop=64`, `model.blocks=[1,1,1,1]`).

The result is validated by the stage's config class (a subclass of `TrainConfig` adding its `model`
section and anything else it needs) and written to the run folder as `config.toml`, so a run can
always be rebuilt and resumed from its folder alone.
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.errors import RdrfError

CONFIG_DIR = Path(__file__).parent / "configs"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunSection(Section):
    max_steps: int = Field(300_000, ge=1, description="optimizer steps in the whole run")
    batch_size: int = Field(4, ge=1, description="images per step on each process")
    seed: int = 0
    mixed_precision: Literal["auto", "no", "fp16", "bf16"] = Field(
        "auto", description="auto: bf16 on a GPU that has it, else fp16 on GPU, none on CPU (stage I ships 'no'); "
        "validation always runs in fp32, as `rdrf restore`"
    )
    grad_clip: float = Field(0.01, ge=0, description="max gradient norm (BasicSR/Restormer use 0.01); 0 turns clipping off")
    log_every: int = Field(50, ge=1, description="steps between metrics.jsonl lines")
    val_every: int = Field(5000, ge=1, description="steps between validations on the test split")
    checkpoint_every: int = Field(5000, ge=1)
    keep_checkpoints: int = Field(3, ge=1, description="older checkpoints are deleted")
    num_workers: int = Field(4, ge=0, description="data loader worker processes")
    val_max_images: Optional[int] = Field(None, ge=1, description="validate on at most this many test images")


class OptimSection(Section):
    """AdamW with torch's default settings (the paper: 'default settings')."""

    lr: float = 3e-4
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.01
    eps: float = 1e-8


class ScheduleSection(Section):
    """Constant learning rate for a fraction of the run, then cosine annealing to `min_lr`.

    The paper: 3e-4 for 100k iterations, then cosine to 1e-6 over 200k (constant_fraction 1/3),
    scaled to whatever `run.max_steps` is. `constant_fraction = 1` keeps it constant (stage II).
    """

    warmup_steps: int = Field(0, ge=0)
    constant_fraction: float = Field(1 / 3, ge=0, le=1)
    min_lr: float = 1e-6


class DataSection(Section):
    """What the data pipeline does to a training pair; the same transform is applied to GT, LQ and mask."""

    crop: int = Field(256, ge=8, description="square random crop side in pixels")
    hflip: bool = True
    vflip: bool = True
    rotate: float = Field(0.0, ge=0, le=180, description="random rotation in [-rotate, rotate] degrees")
    rot90: bool = Field(False, description="random multiple-of-90-degree rotation (lossless)")
    scale: tuple[float, float] = Field((1.0, 1.0), description="random resize factor range before cropping")
    val_crop: Optional[int] = Field(
        None, ge=8, description="centre crop side for validation images; None validates on full images"
    )


class TrainConfig(Section):
    """Everything a run needs except the model, which each stage adds as its own `model` section."""

    stage: str
    run: RunSection = RunSection()
    optim: OptimSection = OptimSection()
    schedule: ScheduleSection = ScheduleSection()
    data: DataSection = DataSection()


def deep_merge(base: dict, update: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def read_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise RdrfError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise RdrfError(f"config file {path} is not valid TOML: {exc}") from None


def parse_override(text: str) -> dict:
    """`a.b=VALUE` -> {"a": {"b": VALUE}}; VALUE is TOML (a bare word is taken as a string)."""
    if "=" not in text:
        raise RdrfError(f"override {text!r} should look like section.key=value, e.g. run.max_steps=200")
    key, raw = (part.strip() for part in text.split("=", 1))
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    node: Any = value
    for part in reversed(key.split(".")):
        if not part:
            raise RdrfError(f"override {text!r} has an empty key part")
        node = {part: node}
    return node


def resolve_dict(stage: str, path: Optional[Path] = None, overrides: tuple[str, ...] | list[str] = ()) -> dict:
    default = CONFIG_DIR / f"{stage}.toml"
    data = read_toml(default) if default.exists() else {}
    if path is not None:
        user = read_toml(Path(path))
        if user.get("stage", stage) != stage:
            raise RdrfError(f"config file {path} is for stage {user['stage']!r}, not {stage!r}")
        data = deep_merge(data, user)
    for text in overrides:
        data = deep_merge(data, parse_override(text))
    data["stage"] = stage
    return data


def validate(config_class: type[TrainConfig], data: dict, source: str) -> TrainConfig:
    try:
        return config_class.model_validate(data)
    except ValidationError as exc:
        lines = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise RdrfError(f"invalid training config ({source}): {lines}") from None


def dump_toml(config: BaseModel) -> str:
    """TOML has no null: None fields are left out, so they must default to None when read back."""
    import tomli_w

    data = config.model_dump(mode="json", exclude_none=True)
    return tomli_w.dumps(data)
