"""Stage II: the Modulate&Gate control branch on a frozen SD 2.1-base (seeds/000 sec. 4.2, A.2).

A training step: GT, I_lq and I_s = stage I(I_lq) are encoded by the frozen VAE (posterior mode x
0.18215); the GT latent is noised at a random step of the 1000-step scaled-linear schedule; the
frozen UNet steered by the control branch predicts the noise (or the velocity, for a v-prediction
prior); the loss is the MSE to the true one.
Only the control branch (with its Modulate&Gate) is trained.

What it shares with the fidelity stage is in `rdrf_train.stages.stage2`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Literal, Optional

import torch
import torch.nn.functional as F
from pydantic import Field

from rdrf_train.config import TrainConfig
from rdrf_train.models.condition import Condition
from rdrf_train.runs import RunFolder, resolve_checkpoint
from rdrf_train.stages.base import Stage, count_parameters, image_metrics, load_weights
from rdrf_train.stages.stage2 import Stage2ModelSection, frozen_dtype, load_stage1, prior_architecture, require_prior


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


def build_control(unet, model: ControlModelSection, load_weights: bool = True):
    from rdrf_train.models.control import ControlBranch

    return ControlBranch.from_unet(
        unet, model.condition, load_weights=load_weights,
        modulate_channels=model.modulate_channels, modulate_layers=model.modulate_layers, modulate_heads=model.modulate_heads,
    )


# --- the stage ----------------------------------------------------------------------------------


class ControlStage(Stage):
    name = "control"
    config_class = ControlConfig
    config: ControlConfig

    def build(self) -> dict[str, torch.nn.Module]:
        from rdrf_train.sampling import make_noise_scheduler

        m = self.config.model
        say = (lambda msg: print(msg, file=sys.stderr)) if self.accelerator.is_main_process else (lambda _: None)
        prior = require_prior(m.pretrained, "stage control")
        control = build_control(prior.unet, m)  # from the fp32 weights, before the prior is cast (as diffusers' ControlNet script)
        self.prior = prior.to(self.device, frozen_dtype(self.accelerator))
        if m.gradient_checkpointing and self.device.type == "cuda":
            control.enable_gradient_checkpointing()
            self.prior.unet.enable_gradient_checkpointing()  # gradients pass through it to the residuals
        self.stage1 = load_stage1(m.stage1, self.device, say) if m.condition != "lq" else None
        self.noise_schedule = make_noise_scheduler(self.prior.prediction_type)
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
        from rdrf_train.sampling import training_target

        gt, lq = batch["gt"], batch["lq"]
        z0 = self.prior.encode(gt)
        c_s, c_lq = self.conditions(lq)
        noise = torch.randn_like(z0)
        t = torch.randint(0, self.noise_schedule.config.num_train_timesteps, (z0.shape[0],), device=z0.device)
        z_t = self.noise_schedule.add_noise(z0, noise, t)
        with self.accelerator.autocast():
            pred = controlled_eps(self.prior.unet, self.modules["control"], z_t, t, self.prior.prompt_embedding(z0.shape[0]), c_s, c_lq)
        return F.mse_loss(pred.float(), training_target(self.noise_schedule, z0, noise, t).float())

    @torch.no_grad()
    def validation_step(self, batch: dict) -> dict[str, float]:
        from rdrf_train.pipeline import DiffUR3Pipeline

        pipe = DiffUR3Pipeline(
            self.prior, self.accelerator.unwrap_model(self.modules["control"]), None, self.stage1,
            steps=self.config.model.val_steps, seed=self.config.run.seed,
        )
        with self.prior.full_precision():  # what `rdrf restore` computes: fp32, no autocast
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

        config: ControlConfig = run.load_config(ControlConfig)
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
