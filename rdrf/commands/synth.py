"""`rdrf synth`: a synthetic dataset from the virtual rig, in the import layout, with its truth."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

from schemas.vocabulary import DegradationKind, values

import typer

from rdrf.console import progress, say

app = typer.Typer()


@app.command()
def synth(
    out: Annotated[Path, typer.Argument(help="New (or empty) folder to write the dataset to.")],
    scenes: Annotated[int, typer.Option("--scenes", help="Number of scenes (categories cycle through the paper's eight).")] = 8,
    lq: Annotated[int, typer.Option("--lq", help="Degraded shots per scene.")] = 3,
    size: Annotated[str, typer.Option("--size", help="WIDTHxHEIGHT; the paper's full resolution is 4752x3168.")] = "1188x792",
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same bytes.")] = 0,
    no_reflections: Annotated[bool, typer.Option("--no-reflections", help="Raindrops only (light-blocking box left on).")] = False,
    kind: Annotated[Optional[list[str]], typer.Option("--kind", metavar="[" + "|".join(values(DegradationKind)) + "]", help="Degradations to render, repeatable or comma-joined: drops, streaks (rain streaks), accumulation (rain veil), reflection. Default: drops and reflection.")] = None,
    backgrounds: Annotated[Optional[Path], typer.Option("--backgrounds", help="Folder of your own photographs to use as scenes.")] = None,
    dual_pixel: Annotated[bool, typer.Option("--dual-pixel", help="Also write each degraded shot's left and right half-aperture views (lq/NAME_L.png, NAME_R.png) and their masks (truth/NAME_mask_L.png, _R), as DPRRN uses.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a summary as JSON.")] = False,
) -> None:
    """Render scenes and degraded shots through wet glass: OUT/<scene>/gt.png, lq/*.jpg, scene.toml, OUT/truth.json.

    Import the result with `rdrf import OUT`; truth.json holds each degraded file's homography and mask.

    Examples: rdrf synth /tmp/synth --scenes 8 --lq 4 --size 1188x792 --seed 1
              rdrf synth /tmp/gtrain-like --kind streaks --kind accumulation --scenes 4
              rdrf synth /tmp/dprrn-like --dual-pixel --scenes 20 --lq 5 --size 1680x1120
    """
    import json

    from hardware.synth import parse_size, synthesize

    from schemas.errors import RdrfError

    kind = [k.strip() for text in kind or [] for k in text.split(",") if k.strip()]
    unknown = sorted(set(kind) - set(values(DegradationKind)))
    if unknown:
        raise RdrfError(f"--kind {', '.join(unknown)}: expected {', '.join(values(DegradationKind))} (repeat --kind or join with commas)", exit_code=2)
    if kind and no_reflections and "reflection" in kind:
        raise RdrfError("--no-reflections contradicts --kind reflection", exit_code=2)
    width, height = parse_size(size)
    with progress(scenes * lq, "rendering") as advance:
        summary = synthesize(
            out, scenes=scenes, lq=lq, width=width, height=height, seed=seed,
            reflections=not no_reflections, kinds=frozenset(kind) if kind else None, backgrounds=backgrounds, dual_pixel=dual_pixel, advance=advance,
        )
    if as_json:
        print(json.dumps({"out": str(summary.out), "scenes": summary.scenes, "lq_files": summary.lq_files, "truth": str(summary.truth)}))
    say(f"wrote {summary.scenes} scenes, {summary.lq_files} degraded shots and {summary.truth}")
