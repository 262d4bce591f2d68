"""Stage II': the fidelity encoder that guides the frozen VAE decoder (seeds/000 sec. 4.3, Fig. 5).

A training step: the GT is encoded by the frozen VAE (standing in for the denoised latent ẑ_0),
decoded by the frozen decoder with the fidelity features of (I_lq, I_s) added through zero convs,
and compared with the GT by L1. Trained after the control branch, with the same recipe except
batch size and length (A.2).

`rdrf restore --checkpoint FIDELITY_RUN` runs the whole DiffUR3 pipeline: stage I, the control run
named by `model.control` (whose prior and stage I this run inherits unless set), and this decoder.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Literal, Optional

import torch
import torch.nn.functional as F
from pydantic import Field

from rdrf_train.config import TrainConfig
from rdrf_train.runs import RunFolder, resolve_checkpoint
from rdrf_train.stages.base import Stage, count_parameters, image_metrics, load_weights
from rdrf_train.stages.control import ControlConfig, ControlStage
from rdrf_train.stages.stage2 import Stage2ModelSection, frozen_dtype, load_stage1, prior_architecture, require_prior
from schemas.errors import RdrfError


class FidelityModelSection(Stage2ModelSection):
    control: str = Field("", description="control run used with this encoder at inference; its prior and stage I are inherited when unset here")
    gate_channels: int = Field(32, ge=1, description="hidden channels of the Gate block in front of the encoder")


class FidelityConfig(TrainConfig):
    stage: Literal["fidelity"] = "fidelity"
    model: FidelityModelSection = FidelityModelSection()


def inherit_from_control(model: FidelityModelSection) -> FidelityModelSection:
    """Fill pretrained / stage1 from the control run when this config leaves them empty."""
    if not model.control or (model.pretrained and model.stage1):
        return model
    run, _ = resolve_checkpoint(Path(model.control))
    if run.stage_name() != "control":
        raise RdrfError(f"model.control = {model.control} is a {run.stage_name()!r} run, not a 'control' run")
    parent = run.load_config(ControlConfig).model
    return model.model_copy(update={"pretrained": model.pretrained or parent.pretrained, "stage1": model.stage1 or parent.stage1})


class FidelityStage(Stage):
    name = "fidelity"
    config_class = FidelityConfig
    config: FidelityConfig

    def build(self) -> dict[str, torch.nn.Module]:
        from rdrf_train.models.fidelity import FidelityEncoder

        m = inherit_from_control(self.config.model)
        say = (lambda msg: print(msg, file=sys.stderr)) if self.accelerator.is_main_process else (lambda _: None)
        prior = require_prior(m.pretrained, "stage fidelity")
        encoder = FidelityEncoder.from_vae(prior.vae, gate_channels=m.gate_channels)  # from the fp32 weights
        self.prior = prior.to(self.device, frozen_dtype(self.accelerator), parts=("vae",))  # the UNet is unused and stays on the CPU
        if m.gradient_checkpointing and self.device.type == "cuda":
            encoder.enable_gradient_checkpointing()
            self.prior.vae.enable_gradient_checkpointing()  # gradients pass through the frozen decoder
        self.stage1 = load_stage1(m.stage1, self.device, say)
        return {"fidelity": encoder}

    def reconstruct(self, batch: dict, encoder, autocast: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """(GT decoded with fidelity features, plain decode), RGB in [0, 1]; under the mixed-precision
        autocast when `autocast` (training), in the prior's own dtype otherwise (validation)."""
        from rdrf_train.models.fidelity import decode_latent

        gt, lq = batch["gt"], batch["lq"]
        with torch.no_grad():
            z0 = self.prior.encode(gt).to(self.prior.vae.dtype)
            i_s = lq if self.stage1 is None else self.stage1(lq)
        with self.accelerator.autocast() if autocast else contextlib.nullcontext():
            out = decode_latent(self.prior.vae, z0, encoder(lq, i_s))
        return (out.float() + 1) / 2, z0

    def training_step(self, batch: dict) -> torch.Tensor:
        out, _ = self.reconstruct(batch, self.modules["fidelity"])
        return F.l1_loss(out, batch["gt"])

    @torch.no_grad()
    def validation_step(self, batch: dict) -> dict[str, float]:
        from rdrf_train.models.fidelity import decode_latent
        from rdrf_train.sampling import VAE_FACTOR
        from rdrf_train.tiling import pad_to_multiple

        gt, (h, w) = pad_to_multiple(batch["gt"], VAE_FACTOR)
        lq, _ = pad_to_multiple(batch["lq"], VAE_FACTOR)
        with self.prior.full_precision():  # what `rdrf restore` computes: fp32
            out, z0 = self.reconstruct({"gt": gt, "lq": lq}, self.accelerator.unwrap_model(self.modules["fidelity"]), autocast=False)
            plain = (decode_latent(self.prior.vae, z0).float() + 1) / 2
        result = image_metrics(batch["gt"], out[..., :h, :w], batch["lq"])
        result["psnr_plain_decoder"] = image_metrics(batch["gt"], plain[..., :h, :w], batch["lq"])["psnr"]
        return result

    @classmethod
    def parameter_counts(cls, config: FidelityConfig, pretrained: Optional[str] = None) -> dict[str, dict[str, int]]:
        from accelerate import init_empty_weights

        from rdrf_train.models.fidelity import FidelityEncoder

        _, vae, _ = prior_architecture(pretrained or config.model.pretrained)
        with init_empty_weights():
            encoder = FidelityEncoder.from_vae(vae, load_weights=False, gate_channels=config.model.gate_channels)
        return {
            "fidelity_encoder": {"trainable": count_parameters(encoder) - count_parameters(encoder.gate), "frozen": 0},
            "gate": {"trainable": count_parameters(encoder.gate), "frozen": 0},
            "vae": {"trainable": 0, "frozen": count_parameters(vae)},
        }

    @classmethod
    def load_restorer(cls, run: RunFolder, checkpoint: Optional[Path] = None, device: str | None = None):
        """The whole DiffUR3: stage I -> control run -> this fidelity-guided decoder."""
        from rdrf_train.models.fidelity import FidelityEncoder

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        config: FidelityConfig = run.load_config(FidelityConfig)
        if checkpoint is None:
            run, checkpoint = resolve_checkpoint(run.path)
        if not config.model.control:
            raise RdrfError(
                f"fidelity run {run.path} names no control run (model.control); the full pipeline needs one: "
                f"train with --set model.control=RUN"
            )
        control_run, control_checkpoint = resolve_checkpoint(Path(config.model.control))
        pipe = ControlStage.load_pipeline(control_run, control_checkpoint, device)
        m = inherit_from_control(config.model)
        if m.pretrained != control_run.load_config(ControlConfig).model.pretrained:
            raise RdrfError(f"fidelity run {run.path} and control run {control_run.path} use different priors")
        encoder = FidelityEncoder.from_vae(pipe.prior.vae, load_weights=False, gate_channels=m.gate_channels)
        pipe.fidelity = load_weights(encoder, checkpoint, "fidelity").to(device).eval()
        if m.stage1 != control_run.load_config(ControlConfig).model.stage1:
            pipe.stage1 = load_stage1(m.stage1, device)
        pipe.steps = config.model.sample_steps
        return pipe
