"""`rdrf show`: one pair's GT, aligned degraded image, raindrop mask and difference, side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from rdrf import context
from rdrf.console import say

app = typer.Typer()


@app.command()
def show(
    pair: Annotated[int, typer.Argument(help="The pair's id, as `rdrf pairs` lists it.")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Image to write (.jpg or .png; default: pair-PAIR.jpg here).")] = None,
) -> None:
    """Write GT | aligned degraded | raindrop mask | difference side by side, for a person to look at.

    The aligned image is rendered from the degraded shot and its homography (nothing is read from
    aligned/ but the mask); the difference is |GT - aligned| x4 with the mask outlined and the area
    the shot does not cover greyed.

    Example: rdrf show 42 --out pair-42.png
    """
    from sqlalchemy.orm import selectinload

    from rdrf_align.report.plan import pair_images
    from rdrf_align.report.render import render_pair_view
    from schemas import imageio
    from schemas.catalogue import Pair
    from schemas.errors import RdrfError
    from schemas.storage import durable_write

    path = out if out is not None else Path(f"pair-{pair}.jpg")
    kind = imageio.suffix(path)
    if kind not in (".jpg", ".jpeg", ".png"):
        raise RdrfError(f"--out {path}: expected a .jpg or .png file name")
    cat = context.open_catalogue()
    try:
        with cat.session() as s:
            row = s.get(Pair, pair, options=[selectinload(Pair.alignment)])
            if row is None:
                raise RdrfError(f"no pair {pair} in {cat.workspace.root}; `rdrf pairs` lists them")
            images = pair_images(row)
        view = render_pair_view(cat.workspace, images, order="bgr")
    finally:
        cat.close()
    data = imageio.encode_png(view) if kind == ".png" else imageio.encode_jpeg(view, 92)
    durable_write(data, path)
    say(f"pair {pair} (scene {images.scene}) written to [bold]{path}[/]")
    print(path)
