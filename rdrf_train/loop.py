"""The training loop every stage shares, on Hugging Face Accelerate.

`rdrf train ...` runs it on the CPU or one GPU; `accelerate launch --multi_gpu --num_processes 4
$(which rdrf) train ...` runs it on several (DDP; `run.batch_size` is per process).

AdamW, the constant-then-cosine schedule of `rdrf_train.lr_schedule`, gradient clipping, mixed
precision on GPU, validation on the export's test split (main process), `save_state` checkpoints
with resume from the latest complete one at the exact step, learning rate, optimizer moments, RNG
state and data order, and a limit on kept checkpoints. A resumed run draws the same timesteps and
noise as an uninterrupted one: `save_state` keeps python's, numpy's and torch's (CPU and CUDA) RNG
states per process; the data order is a function of (seed, epoch) skipped to the step
(`rdrf_train.data`); nothing else touches the global RNGs (the loader has its own generator,
validation runs under a forked RNG). The run folder layout is in `rdrf_train.runs`.
On CPU, set OMP_NUM_THREADS to the cores you can spare: an oversubscribed torch thread pool is
many times slower than one thread.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from torch.utils.data import DataLoader

from rdrf_train.config import TrainConfig, deep_merge, dump_toml, parse_override, read_toml, resolve_dict, validate
from rdrf_train.data import EpochSampler, PairDataset, eval_loader, train_loader
from rdrf_train.export_reader import read_manifest
from rdrf_train.lr_schedule import make_lr_scheduler
from rdrf_train.runs import MetricsLog, RunFolder, save_checkpoint
from rdrf_train.stages import get_stage
from rdrf_train.stages.base import Stage
from schemas.errors import RdrfError
from schemas.storage import durable_write

Notify = Callable[[str], None]


def resolve_config(stage_name: str, output: Path, config_file: Optional[Path], overrides: Sequence[str]) -> TrainConfig:
    """A new run: shipped default < --config < overrides. An existing run: its saved config < overrides."""
    stage_cls = get_stage(stage_name)
    run = RunFolder(Path(output))
    if run.config_path.exists():
        saved = read_toml(run.config_path)
        if saved.get("stage") != stage_name:
            raise RdrfError(f"run {output} was trained with stage {saved.get('stage')!r}, not {stage_name!r}")
        if config_file is not None:
            raise RdrfError(
                f"run {output} already has a config.toml; it resumes with it (change settings with overrides, "
                f"or give a new --output)"
            )
        data = saved
        for text in overrides:
            data = deep_merge(data, parse_override(text))
        return validate(stage_cls.config_class, data, f"{run.config_path} + overrides")
    data = resolve_dict(stage_name, config_file, list(overrides))
    return validate(stage_cls.config_class, data, str(config_file or f"default {stage_name}.toml"))


def mixed_precision_mode(requested: str) -> str:
    if not torch.cuda.is_available():
        return "no"
    if requested == "auto":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return requested


def check_launch(accelerator: Accelerator) -> None:
    """Refuse a multi-process launch Accelerate did not join into one run: `torchrun` on a machine
    without CUDA (and without ACCELERATE_USE_CPU=1) starts independent single-process runs that all
    write into the same run folder."""
    import os

    world = max(int(os.environ.get("WORLD_SIZE", "1") or 1), int(os.environ.get("LOCAL_RANK", "0") or 0) + 1)
    if world > 1 and accelerator.num_processes == 1:
        raise RdrfError(
            f"launched as {world} processes (WORLD_SIZE={os.environ.get('WORLD_SIZE')}, LOCAL_RANK={os.environ.get('LOCAL_RANK')}) "
            f"but Accelerate runs this one alone, so each would train its own copy into the same folder; on a CPU "
            f"machine set ACCELERATE_USE_CPU=1 or launch with `accelerate launch --cpu --num_processes {world}`"
        )


def seed_processes(seed: int) -> None:
    """Seed python, numpy and torch with `seed + process index` (as DiffBIR): every process draws its
    own timesteps and noise. Model weights still start equal: DDP copies rank 0's at `prepare`; the
    data order has its own seed (`rdrf_train.data`)."""
    set_seed(seed, device_specific=True)


def _progress(enabled: bool, total: int, start: int):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn("[bold]train"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TextColumn("lr {task.fields[lr]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        disable=not enabled,
        transient=False,
    )
    task = bar.add_task("train", total=total, completed=start, loss="-", lr="-")
    return bar, task


def validate_stage(stage: Stage, loader) -> dict[str, float]:
    """The mean of the stage's validation metrics over the test loader. Under a forked RNG: a
    validation (which a run also does at its last step) leaves training's random stream as it was,
    so a run resumed from that step draws what an uninterrupted run draws."""
    for m in stage.modules.values():
        m.eval()
    sums: dict[str, float] = {}
    count = 0
    devices = [stage.device.index or 0] if stage.device.type == "cuda" else []
    with torch.no_grad(), torch.random.fork_rng(devices=devices):
        for batch in loader:
            batch = {k: (v.to(stage.device) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}
            for key, value in stage.validation_step(batch).items():
                sums[key] = sums.get(key, 0.0) + float(value)
            count += 1
    for m in stage.modules.values():
        m.train()
    return {f"val_{k}": v / max(count, 1) for k, v in sums.items()}


@dataclass
class Training:
    """Everything one training run holds between steps, built once by `setup`."""

    config: TrainConfig
    run: RunFolder
    accelerator: Accelerator
    stage: Stage
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    loader: DataLoader
    sampler: EpochSampler
    params: list[torch.nn.Parameter]
    log: MetricsLog
    validates: bool  # the export has a test split: validate every run.val_every steps (all processes know)
    test_loader: Optional[DataLoader]  # on the main process, which validates
    say: Notify
    step: int = 0


@dataclass
class LossWindow:
    """Mean loss and time per step since the last metrics line."""

    total: float = 0.0
    n: int = 0
    start: float = field(default_factory=time.perf_counter)

    def add(self, loss: float) -> None:
        self.total += loss
        self.n += 1

    def record(self, step: int, lr: float, epoch: int) -> dict:
        sec = (time.perf_counter() - self.start) / self.n
        return {"step": step, "loss": self.total / self.n, "lr": lr, "epoch": epoch, "sec_per_step": sec}


def setup(config: TrainConfig, export_dir: Path, run: RunFolder, notify: Notify) -> Training:
    """Accelerator, data, the stage's modules, AdamW and the LR schedule, prepared for the devices;
    the resolved config written to the run folder; the state of the latest checkpoint restored."""
    rc = config.run
    accelerator = Accelerator(mixed_precision=mixed_precision_mode(rc.mixed_precision), project_dir=str(run.path))
    check_launch(accelerator)
    main = accelerator.is_main_process
    say = notify if main else (lambda message: None)
    seed_processes(rc.seed)

    train_set = PairDataset(export_dir, "train", config.data, train=True, seed=rc.seed)
    has_test = bool(read_manifest(export_dir, "test"))
    if not has_test:
        say(f"export {export_dir} has no test split: no validation during training")
    loader = train_loader(train_set, rc.batch_size, rc.num_workers, rc.seed)
    sampler: EpochSampler = loader.sampler  # type: ignore[assignment]

    stage = get_stage(config.stage)(config, accelerator)
    modules = stage.build()
    stage.modules = modules
    params = stage.trainable_parameters()
    if not params:
        raise RdrfError(f"stage {config.stage!r} built no trainable parameters")
    o = config.optim
    optimizer = torch.optim.AdamW(params, lr=o.lr, betas=o.betas, weight_decay=o.weight_decay, eps=o.eps)
    scheduler = make_lr_scheduler(optimizer, rc.max_steps, o, config.schedule)
    auxiliary = stage.auxiliary_optimizer()
    extra = [make_auxiliary_optimizer(*auxiliary)] if auxiliary else []
    names = list(modules)
    prepared = accelerator.prepare(*modules.values(), optimizer, *extra, loader)
    stage.modules = dict(zip(names, prepared[: len(names)]))
    optimizer, loader = prepared[len(names)], prepared[-1]
    accelerator.register_for_checkpointing(scheduler)  # stepped by us once per optimizer step
    if auxiliary:  # after the main optimizer and scheduler: their checkpoint files keep their names
        aux_scheduler = make_lr_scheduler(prepared[len(names) + 1], rc.max_steps, auxiliary[1], config.schedule)
        accelerator.register_for_checkpointing(aux_scheduler)
        stage.step_auxiliary = auxiliary_stepper(accelerator, prepared[len(names) + 1], aux_scheduler, auxiliary[0], rc.grad_clip)
    for m in stage.modules.values():
        m.train()

    if main:
        run.path.mkdir(parents=True, exist_ok=True)
        durable_write(dump_toml(config).encode(), run.config_path)
    t = Training(config, run, accelerator, stage, optimizer, scheduler, loader, sampler, params,
                 MetricsLog(run.metrics_path, main), has_test, None, say)
    t.step = resume(t)
    if has_test and main and t.step < rc.max_steps:
        test_set = PairDataset(export_dir, "test", config.data, train=False, max_items=rc.val_max_images)
        t.test_loader = eval_loader(test_set)
    return t


def make_auxiliary_optimizer(params: list[torch.nn.Parameter], o) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=o.lr, betas=o.betas, weight_decay=o.weight_decay, eps=o.eps)


def auxiliary_stepper(accelerator: Accelerator, optimizer, scheduler, params: list[torch.nn.Parameter], grad_clip: float):
    """`stage.step_auxiliary(loss)`: one step of the stage's second optimizer, as `optimizer_step`
    does the main one; its grads are zeroed first (the main loss may have reached its parameters)."""

    def step(loss: torch.Tensor) -> None:
        if not torch.isfinite(loss):
            raise RdrfError(f"the auxiliary training loss became {loss.item()}")
        optimizer.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        if grad_clip > 0 and accelerator.sync_gradients:
            accelerator.clip_grad_norm_(params, grad_clip)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def resume(t: Training) -> int:
    """Restore the latest complete checkpoint (models, optimizer, LR schedule, RNG) and drop the
    metrics a killed run logged after it; the step to go on from (0 for a new run, or for one killed
    before its first checkpoint: its metrics.jsonl starts afresh, so no step appears twice)."""
    latest = t.run.latest()
    if latest is None:
        t.log.truncate_after(0)
        return 0
    step, folder = latest
    t.accelerator.load_state(str(folder))
    t.log.truncate_after(step)
    lr_now = t.optimizer.param_groups[0]["lr"]
    t.log.write({"event": "resume", "step": step, "lr": lr_now, "checkpoint": folder.name})
    t.say(f"resuming {t.run.path} from {folder.name} (step {step}, lr {lr_now:.3g})")
    return step


def optimizer_step(t: Training, batch: dict) -> torch.Tensor:
    """One step: the stage's loss, backward, clipping, AdamW and the LR schedule; the loss."""
    loss = t.stage.training_step(batch)
    if not torch.isfinite(loss):
        raise RdrfError(f"training loss became {loss.item()} at step {t.step + 1} of run {t.run.path}")
    t.accelerator.backward(loss)
    if t.config.run.grad_clip > 0 and t.accelerator.sync_gradients:
        t.accelerator.clip_grad_norm_(t.params, t.config.run.grad_clip)
    t.optimizer.step()
    t.scheduler.step()
    t.optimizer.zero_grad(set_to_none=True)
    t.stage.after_optimizer_step()
    t.step += 1
    return loss


def epoch_batches(t: Training, epoch: int, skip: int):
    """The batches of one epoch in its seeded order, past the `skip` a resumed run already took."""
    t.sampler.set_epoch(epoch)
    if hasattr(t.loader, "set_epoch"):  # accelerate's wrapper when it shards the loader
        t.loader.set_epoch(epoch)
    return t.accelerator.skip_first_batches(t.loader, skip) if skip else t.loader


def write_metrics(t: Training, window: LossWindow, lr: float, epoch: int, validate: bool) -> dict:
    """A metrics.jsonl line for the window just ended, with the validation metrics when due; the record."""
    record = window.record(t.step, lr, epoch)
    if validate and t.test_loader is not None:  # main process only; the others wait below
        record.update(validate_stage(t.stage, t.test_loader))
    t.accelerator.wait_for_everyone()
    t.log.write(record)
    return record


def progress_line(record: dict, max_steps: int) -> str:
    """A plain progress line for logs and pipes (no terminal for a bar): step, loss, lr, s/step, ETA."""
    eta = int(record["sec_per_step"] * (max_steps - record["step"]))
    days, rest = divmod(eta, 86400)
    clock = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    line = (f"step {record['step']}/{max_steps}  loss {record['loss']:.4f}  lr {record['lr']:.2e}  "
            f"{record['sec_per_step']:.3f} s/step  ETA {f'{days}d ' if days else ''}{clock}")
    vals = [f"{k} {v:.4g}" for k, v in record.items() if k.startswith("val_")]
    return line + ("  " + "  ".join(vals) if vals else "")


def train(
    stage_name: str,
    export_dir: Path,
    output: Path,
    config_file: Optional[Path] = None,
    overrides: Sequence[str] = (),
    show_progress: bool = True,
    notify: Notify = lambda message: None,
    progress_lines: bool = False,
) -> RunFolder:
    """Train (or resume) a run of `stage_name` on an export until `run.max_steps`; the run folder.
    `show_progress`: a progress bar (a terminal); `progress_lines`: a plain `progress_line` through
    `notify` every `run.log_every` steps instead (stderr is a file or a pipe)."""
    config = resolve_config(stage_name, output, config_file, overrides)
    t = setup(config, Path(export_dir), RunFolder(Path(output)), notify)
    rc = config.run
    if t.step >= rc.max_steps:
        t.say(f"run {t.run.path} already finished {t.step} steps (run.max_steps = {rc.max_steps})")
        return t.run

    epoch, skip = divmod(t.step, len(t.loader))
    bar, task = _progress(show_progress and t.accelerator.is_main_process, rc.max_steps, t.step)
    window = LossWindow()
    last_saved = t.step
    with bar:
        while t.step < rc.max_steps:
            for batch in epoch_batches(t, epoch, skip):
                lr = t.optimizer.param_groups[0]["lr"]
                loss = optimizer_step(t, batch)
                window.add(t.accelerator.gather(loss.detach()).mean().item())
                bar.update(task, completed=t.step, loss=f"{loss.item():.4f}", lr=f"{lr:.2e}")

                last = t.step >= rc.max_steps
                do_val = t.validates and (t.step % rc.val_every == 0 or last)  # the same on every process
                do_ckpt = t.step % rc.checkpoint_every == 0 or last
                if t.step % rc.log_every == 0 or do_val or do_ckpt:
                    record = write_metrics(t, window, lr, epoch, do_val)
                    window = LossWindow()
                    if progress_lines:
                        t.say(progress_line(record, rc.max_steps))
                if do_ckpt:
                    save_checkpoint(t.accelerator, t.stage.modules, t.run, t.step, rc.keep_checkpoints)
                    last_saved = t.step
                if last:
                    break
            epoch += 1
            skip = 0
    if last_saved != t.step:
        save_checkpoint(t.accelerator, t.stage.modules, t.run, t.step, rc.keep_checkpoints)
    t.accelerator.end_training()
    return t.run
