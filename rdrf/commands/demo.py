"""`rdrf demo`: the whole pipeline in a few minutes on a CPU, by running the real commands.

It is composition only: every step is an `rdrf` command a user could type, printed before it runs.
"""

from __future__ import annotations

import functools
import shlex
import time
from pathlib import Path
from typing import Annotated

import typer

from rdrf.console import say
from rdrf.options import require_extra
from schemas.errors import RdrfError
from schemas.records import CATEGORIES

ABOUT = (
    "[bold]rdrf demo[/] - what this is: the full pipeline on a [bold]virtual rig[/] (scenes rendered through wet glass "
    "and captured through libgphoto2's virtual camera), aligned, split, exported, then DiffUR3 trained for a few "
    "steps with [bold]tiny randomly initialised models[/] instead of Stable Diffusion 2.1-base. It proves the tool "
    "works end to end on this machine; its restored images and scores are meaningless as results."
)


def _rdrf(root, args: list[str]) -> None:
    """Run one `rdrf` command line through the root command this demo was started from."""
    say(f"\n[bold cyan]$ rdrf {' '.join(shlex.quote(a) for a in args)}[/]")
    code = root.main(args=args, prog_name="rdrf", standalone_mode=False)
    if code:
        raise RdrfError(f"demo step failed (exit {code}): rdrf {' '.join(args)}")


def _calm_cpu_threads() -> None:
    """On a small CPU box torch's intra-op threads fight each other over tiny tensors (measured 5-10x
    slower with 2 threads than 1 on a loaded 2-core machine); leave OMP_NUM_THREADS to the user."""
    import os

    if "OMP_NUM_THREADS" not in os.environ and (os.cpu_count() or 1) <= 4:
        import torch

        if not torch.cuda.is_available():
            torch.set_num_threads(1)

app = typer.Typer()


@app.command()
def demo(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="New folder for the demo workspace (must not exist or be empty).")] = Path("rdrf-demo"),
    scenes: Annotated[int, typer.Option("--scenes", min=2, help="Scenes to capture with the virtual rig.")] = 4,
    lq: Annotated[int, typer.Option("--lq", min=1, help="Degraded shots per scene.")] = 3,
    size: Annotated[str, typer.Option("--size", help="Virtual camera frame WIDTHxHEIGHT.")] = "480x320",
    steps: Annotated[int, typer.Option("--steps", min=1, help="Stage I training steps (stage II and fidelity take a few).")] = 40,
) -> None:
    """Run capture -> align -> export -> train (stage I, II, fidelity) -> restore -> eval -> report on a virtual rig.

    Example: rdrf demo --out /tmp/rdrf-demo
    """
    require_extra("train", "demo")
    rdrf = functools.partial(_rdrf, ctx.find_root().command)
    try:
        width, height = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise RdrfError(f"--size {size!r}: expected WIDTHxHEIGHT, e.g. 480x320") from None
    ws = out.expanduser().resolve()
    if ws.exists() and any(ws.iterdir()):
        raise RdrfError(f"{ws} exists and is not empty; the demo makes a new workspace - give --out a new folder")
    say(ABOUT)
    _calm_cpu_threads()
    started = time.monotonic()
    rdrf(["init", str(ws)])
    with open(ws / "rdrf.toml", "a") as f:
        f.write(f"\n# the demo's virtual camera\n[virtual]\nwidth = {width}\nheight = {height}\nseed = 0\nraw = false\n")
    w = ["--workspace", str(ws)]
    for i in range(1, scenes + 1):
        category = CATEGORIES[(i - 1) % len(CATEGORIES)]
        glass = ("3mm", "5mm", "8mm")[(i - 1) % 3]
        rdrf([*w, "capture", "--camera", "virtual", "--scene", str(i), "--glass", glass, "--category", category, "--lq", str(lq), "--yes"])
    rdrf([*w, "align", "--all"])
    rdrf([*w, "split", "set", "1", "train"])
    rdrf([*w, "split", "set", str(scenes), "test"])
    rdrf([*w, "split"])
    export = ws / "exports" / "demo"
    rdrf([*w, "export", "--split", "all", "--format", "folder", "--size", "original", "--out", str(export)])
    runs = ws / "runs"
    quick = ["--workers", "0", "--set", "run.log_every=10", "--set", "run.val_max_images=1"]
    # a small DRSformer (C=8, one block per level) through the same code as the paper's C=16 {2,4,4,8}
    rdrf([*w, "train", "--stage", "restore", "--data", str(export), "--max-steps", str(steps), "--batch-size", "2",
           "--output", str(runs / "restore"), *quick, "--set", "data.crop=64", "--set", f"run.val_every={steps}",
           "--set", f"run.checkpoint_every={steps}", "--set", "model.dim=8", "--set", "model.blocks=[1,1,1,1]"])
    stage2 = ["--max-steps", "4", "--batch-size", "1", *quick, "--set", "data.crop=64", "--set", "data.val_crop=64",
              "--set", "run.val_every=4", "--set", "run.checkpoint_every=4", "--set", "model.sample_steps=10",
              "--set", "model.val_steps=4"]
    rdrf([*w, "train", "--stage", "control", "--data", str(export), "--output", str(runs / "control"), *stage2,
           "--pretrained", "tiny", "--stage1", str(runs / "restore")])
    rdrf([*w, "train", "--stage", "fidelity", "--data", str(export), "--output", str(runs / "fidelity"), *stage2,
           "--set", f'model.control="{runs / "control"}"'])
    rdrf([*w, "restore", str(export / "test" / "lq"), "--checkpoint", str(runs / "fidelity"), "--out", str(ws / "restored")])
    rdrf([*w, "eval", "--data", str(export), "--checkpoint", str(runs / "restore")])
    # the re-trained baselines of Table 2, tiny configurations of the paper's models (same code paths);
    # AGAN without its perceptual loss (the demo has no VGG16 weights), WeatherDiff predicting x0
    # (a few CPU steps are far too few for the paper's noise prediction, docs/NOTES.md)
    base = ["--max-steps", str(steps), *quick, "--set", "data.crop=32", "--set", "run.batch_size=2",
            "--set", f"run.val_every={steps}", "--set", f"run.checkpoint_every={steps}"]
    baselines = {
        "AGAN†": ("agan", ["model.generator.recurrent_width=8", "model.generator.residual_blocks=2",
                           "model.generator.widths=[16,32,32]", "model.generator.dilations=[2,4]", "model.generator.out_width=16",
                           "model.discriminator.widths=[8,8,16,16]", "model.discriminator.tail_widths=[8,8]",
                           "model.discriminator.fc_width=32", "model.discriminator.image_size=32", "loss.perceptual=false",
                           "optim.lr=1e-3", "discriminator_optim.lr=1e-3", "tile=64", "tile_overlap=16"]),
        "Histoformer†": ("histoformer", ["model.dim=12", "model.blocks=[1,1,1,1]", "model.refinement_blocks=1",
                                         "run.grad_clip=0.5", "tile=64", "tile_overlap=16"]),
        "RaindropDiff64†": ("weatherdiff", ["model.ch=16", "model.ch_mult=[1,2]", "model.num_res_blocks=1",
                                            "model.attn_resolutions=[8]", "model.resolution=16", "diffusion.patches_per_image=4",
                                            "diffusion.sampling_steps=4", "diffusion.grid_stride=16", "diffusion.ema_rate=0.9",
                                            "diffusion.prediction_type=sample", "optim.lr=4e-3"]),
    }
    for name, (stage, sets) in baselines.items():
        rdrf([*w, "train", "--stage", stage, "--data", str(export), "--output", str(runs / stage), *base,
              *(a for kv in sets for a in ("--set", kv))])
    # Table 2: stage I alone (DRSformer†) and the baselines restored by the benchmark, DiffUR3 from the images restored above
    rdrf([*w, "benchmark", "--data", str(export), "--run", f"DRSformer†={runs / 'restore'}",
          *(a for name, (stage, _) in baselines.items() for a in ("--run", f"{name}={runs / stage}")),
          "--run", f"DiffUR3={ws / 'restored'}"])
    rdrf([*w, "report"])
    rdrf([*w, "verify"])
    say(f"\n[bold green]demo finished[/] in {time.monotonic() - started:.0f} s. Workspace: {ws}\n"
        f"  report:   {ws / 'reports' / 'report.html'}\n  export:   {export}\n  runs:     {runs}\n"
        f"  restored: {ws / 'restored'}\n{ABOUT}")
