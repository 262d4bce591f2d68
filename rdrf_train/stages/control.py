"""Stage II: the Modulate&Gate control branch on a frozen SD 2.1-base (seeds/000 sec. 4.2, A.2).

A training step: GT, I_lq and I_s = stage I(I_lq) are encoded by the frozen VAE (posterior mode x
0.18215); the GT latent is noised at a random step of the 1000-step scaled-linear schedule; the
frozen UNet steered by the control branch predicts the noise; the loss is the MSE to the true noise.
Only the control branch (with its Modulate&Gate) is trained.

The pieces shared with the fidelity stage (the model section, loading the prior and stage I) live
here too.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Literal, Optional

import torch
import torch.nn.functional as F
from pydantic import Field

from rdrf_train import metrics
from rdrf_train.config import Section, TrainConfig
from rdrf_train.models.condition import Condition
from rdrf_train.runs import RunFolder, resolve_checkpoint
from rdrf_train.stages.base import Stage, count_parameters
from schemas.errors import RdrfError

class Stage2ModelSection(Section):
    pretrained: str = Field(
        "", description="SD 2.1-base: a local diffusers folder or single-file checkpoint; 'tiny' = random small models (meaningless images)"
    )
    stage1: str = Field("", description="stage I run (or checkpoint) making I_s; empty: I_s = I_lq (said in the log)")
    gradient_checkpointing: bool = Field(True, description="on GPU: trade compute for memory")
    sample_steps: int = Field(50, ge=1, description="spaced DDPM steps at inference (paper: 50)")
    val_steps: int = Field(50, ge=1, description="spaced DDPM steps when validating during training")


class ControlModelSection(Stage2ModelSection):
    condition: Condition = Field(
        "modulate_gate", description="modulate_gate (DiffUR3) | concat (w/o Modulate&Gate) | lq (Baseline 1) | s (Baseline 2)"
    )
    modulate_channels: int = Field(32, ge=1, description="C of the Modulate block (paper: 32)")
    modulate_layers: int = Field(2, ge=1, description="transformer layers in the Modulate block (paper: 2)")
    modulate_heads: int = Field(2, ge=1)


class ControlConfig(TrainConfig):
    stage: Literal["control"] = "control"
    model: ControlModelSection = ControlModelSection()


# --- shared by the stage II stages -------------------------------------------------------------


def frozen_dtype(accelerator) -> torch.dtype:
    """Frozen parts run in the mixed-precision dtype (as diffusers' ControlNet training); trained ones stay fp32."""
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(str(accelerator.mixed_precision), torch.float32)


def require_prior(spec: str, where: str):
    from rdrf_train.prior import load_prior

    if not spec:
        raise RdrfError(
            f"{where}: model.pretrained is not set; give a local stable-diffusion-2-1-base folder "
            f"(--set model.pretrained=DIR) or 'tiny' for random small models (meaningless images)"
        )
    return load_prior(spec)


def load_stage1(spec: str, device, notify: Optional[Callable[[str], None]] = None) -> Optional[Callable[[torch.Tensor], torch.Tensor]]:
    """Stage I as a frozen tensor function (B,3,H,W) [0,1] -> same, tiled like stage I's own inference."""
    if not spec:
        (notify or (lambda msg: print(msg, file=sys.stderr)))("stage II without a stage I run (model.stage1 is empty): I_s = I_lq")
        return None
    from rdrf_train.stages.restore import load_drsformer
    from rdrf_train.tiling import tiled

    run, checkpoint = resolve_checkpoint(Path(spec))
    if run.stage_name() != "restore":
        raise RdrfError(f"model.stage1 = {spec} is a {run.stage_name()!r} run, not a stage I ('restore') run")
    config = run.load_config()
    model = load_drsformer(run, checkpoint, device).requires_grad_(False)

    def stage1(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return tiled(model.forward_any_size, x, config.tile, config.tile_overlap).clamp(0, 1)

    return stage1


def build_control(unet, model: ControlModelSection, load_weights: bool = True):
    from rdrf_train.models.control import ControlBranch

    return ControlBranch.from_unet(
        unet, model.condition, load_weights=load_weights,
        modulate_channels=model.modulate_channels, modulate_layers=model.modulate_layers, modulate_heads=model.modulate_heads,
    )


def load_weights(module: torch.nn.Module, checkpoint: Path, name: str) -> torch.nn.Module:
    from safetensors.torch import load_file

    path = Path(checkpoint) / "weights" / f"{name}.safetensors"
    if not path.exists():
        raise RdrfError(f"checkpoint {checkpoint} has no weights/{name}.safetensors")
    module.load_state_dict(load_file(str(path)))
    return module


def prior_architecture(spec: Optional[str]):
    """(unet, vae, text_encoder) to count: built from config (meta tensors) unless tiny."""
    from rdrf_train.prior import SD21_BASE_CONFIG, TINY, build_from_config, build_tiny

    spec = spec or "sd21-base-config"
    if spec == TINY:
        return build_tiny()[:3]
    if spec == "sd21-base-config" or Path(spec).is_file():
        return build_from_config(SD21_BASE_CONFIG, meta=True)
    if Path(spec).is_dir():
        return build_from_config(Path(spec), meta=True)
    raise RdrfError(f"--pretrained {spec!r}: not a folder, a checkpoint file, 'tiny' or 'sd21-base-config'")


def image_metrics(gt: torch.Tensor, out: torch.Tensor, lq: torch.Tensor) -> dict[str, float]:
    to_np = lambda t: t[0].float().permute(1, 2, 0).clamp(0, 1).cpu().numpy()  # noqa: E731
    g, o, q = to_np(gt), metrics.quantize(to_np(out)), to_np(lq)
    return {"psnr": metrics.psnr(g, o), "ssim": metrics.ssim(g, o), "psnr_identity": metrics.psnr(g, q)}


# --- the stage ----------------------------------------------------------------------------------


class ControlStage(Stage):
    name = "control"
    config_class = ControlConfig
    config: ControlConfig

    def build(self) -> dict[str, torch.nn.Module]:
        from rdrf_train.sampling import make_noise_scheduler

        m = self.config.model
        say = (lambda msg: print(msg, file=sys.stderr)) if self.accelerator.is_main_process else (lambda _: None)
        self.prior = require_prior(m.pretrained, "stage control").to(self.device, frozen_dtype(self.accelerator))
        control = build_control(self.prior.unet, m)
        if m.gradient_checkpointing and self.device.type == "cuda":
            control.enable_gradient_checkpointing()
            self.prior.unet.enable_gradient_checkpointing()  # gradients pass through it to the residuals
        self.stage1 = load_stage1(m.stage1, self.device, say) if m.condition != "lq" else None
        self.noise_schedule = make_noise_scheduler()
        return {"control": control}

    @torch.no_grad()
    def conditions(self, lq: torch.Tensor) -> tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
        mode = self.config.model.condition
        c_lq = self.prior.encode(lq) if mode != "s" else None
        c_s = None
        if mode != "lq":
            i_s = lq if self.stage1 is None else self.stage1(lq)
            c_s = self.prior.encode(i_s)
        return c_s, c_lq

    def training_step(self, batch: dict) -> torch.Tensor:
        from rdrf_train.models.control import controlled_eps

        gt, lq = batch["gt"], batch["lq"]
        z0 = self.prior.encode(gt)
        c_s, c_lq = self.conditions(lq)
        noise = torch.randn_like(z0)
        t = torch.randint(0, self.noise_schedule.config.num_train_timesteps, (z0.shape[0],), device=z0.device)
        z_t = self.noise_schedule.add_noise(z0, noise, t)
        with self.accelerator.autocast():
            eps = controlled_eps(self.prior.unet, self.modules["control"], z_t, t, self.prior.prompt_embedding(z0.shape[0]), c_s, c_lq)
        return F.mse_loss(eps.float(), noise.float())

    @torch.no_grad()
    def validation_step(self, batch: dict) -> dict[str, float]:
        from rdrf_train.pipeline import DiffUR3Pipeline

        pipe = DiffUR3Pipeline(
            self.prior, self.accelerator.unwrap_model(self.modules["control"]), None, self.stage1,
            steps=self.config.model.val_steps, seed=self.config.run.seed,
        )
        with self.accelerator.autocast():
            out = pipe.restore_tensor(batch["lq"])
        return image_metrics(batch["gt"], out, batch["lq"])

    @classmethod
    def parameter_counts(cls, config: ControlConfig, pretrained: Optional[str] = None) -> dict[str, dict[str, int]]:
        from accelerate import init_empty_weights

        unet, vae, text_encoder = prior_architecture(pretrained or config.model.pretrained)
        with init_empty_weights():
            control = build_control(unet, config.model, load_weights=False)
        gate = count_parameters(control.modulate_gate) if control.modulate_gate is not None else 0
        return {
            "control_branch": {"trainable": count_parameters(control) - gate, "frozen": 0},
            "modulate_gate": {"trainable": gate, "frozen": 0},
            "unet": {"trainable": 0, "frozen": count_parameters(unet)},
            "vae": {"trainable": 0, "frozen": count_parameters(vae)},
            "text_encoder": {"trainable": 0, "frozen": count_parameters(text_encoder)},
        }

    @classmethod
    def load_pipeline(cls, run: RunFolder, checkpoint: Optional[Path], device: str, notify: Callable[[str], None] = lambda _: None):
        """The stage I -> stage II pipeline of a control run (no fidelity encoder: Table 1's ablation)."""
        from rdrf_train.pipeline import DiffUR3Pipeline

        config: ControlConfig = run.load_config()
        if checkpoint is None:
            run, checkpoint = resolve_checkpoint(run.path)
        prior = require_prior(config.model.pretrained, f"run {run.path}").to(device)
        control = load_weights(build_control(prior.unet, config.model, load_weights=False), checkpoint, "control")
        stage1 = load_stage1(config.model.stage1, device, notify) if config.model.condition != "lq" else None
        return DiffUR3Pipeline(prior, control.to(device).eval(), None, stage1, steps=config.model.sample_steps, seed=config.run.seed)

    @classmethod
    def load_restorer(cls, run: RunFolder, checkpoint: Optional[Path] = None, device: str | None = None):
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        return cls.load_pipeline(run, checkpoint, device)
