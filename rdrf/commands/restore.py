"""`rdrf restore`: restore images with a trained run (needs the `train` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from rdrf.console import progress, say
from rdrf.options import require_extra

app = typer.Typer()


@app.command()
def restore(
    inputs: Annotated[list[Path], typer.Argument(help="Images or folders of images, any size.")],
    checkpoint: Annotated[Path, typer.Option("--checkpoint", "-c", help="Run folder (latest checkpoint) or one checkpoint folder.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the restored PNGs (<stem>.png).")] = Path("restored"),
    device: Annotated[Optional[str], typer.Option(help="cpu, cuda, cuda:1 ... (default: cuda when present).")] = None,
    steps: Annotated[Optional[int], typer.Option(help="Stage II runs: sampling steps (default: the run's, 50).")] = None,
) -> None:
    """Restore images with a trained run; large images are processed in overlapping tiles.

    Example: rdrf restore photos/*.jpg --checkpoint runs/stage1 --out restored/
    """
    require_extra("train", "restore")
    from rdrf_train.restore_files import expand_inputs, restore_files

    files = expand_inputs(inputs)
    with progress(len(files), "restoring") as advance:
        written = restore_files(files, checkpoint, out, device, on_image=lambda _: advance(), steps=steps)
    say(f"wrote {len(written)} images to [bold]{out}[/]")
