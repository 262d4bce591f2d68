"""Fit the raindrop-mask network of `rdrf align` on the virtual rig's pairs, and export it for OpenCV.

    python -m rdrf_train.mask_net --out rdrf_align/registration/drop_net.onnx

The renderer (hardware.sim) knows every pair's true mask (water-layer opacity >= 0.1), at any size,
with and without reflections, sparse to dense drops, flow traces. Each pair is rendered and stored as
a camera would (JPEG degraded shot; the GT as JPEG or lossless, alternately), then aligned by
rdrf_align's own code - registration, the reduced warp, photometry and the cue maps
(masks.network_input) - so the network is fitted on exactly what it reads in `rdrf align`. Truth and
valid area are area-reduced to the network's grid.

Training is plain and deterministic: random crops (and left-right mirror images: drops sag downwards,
never sideways), binary cross-entropy plus a soft Dice term over the valid area, Adam with one step
down of the learning rate. The ONNX file goes beside a card (`drop_net.json`) that records the
configuration, the features, the sizes and seeds, and the last loss. Seeds start at SEED_BASE, far
from the small seeds the benches hold out (bench/align.py uses 7 and 3, bench/qc.py its own).
"""

from __future__ import annotations

import io
import json
import platform
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
import typer

from hardware.sim.camera import encode_jpeg
from hardware.sim.params import sample_params
from hardware.sim.render import render_degraded
from hardware.sim.scenes import CATEGORIES, render_scene
from hardware.synth import parse_size
from rdrf_align.registration import drop_net, masks
from rdrf_align.registration.homography import RegistrationFailed, register
from rdrf_align.registration.pair import SceneGT, photometry, warp_reduced
from rdrf_train.models.drop_net import DropNet
from schemas import imageio
from schemas.errors import RdrfError

SEED_BASE = 1_000_000
DEFAULT_SIZES = ("720x480:48", "960x640:24", "480x320:12", "1600x1064:16", "4752x3168:6")  # WxH:scenes (each with and without reflections)


@dataclass
class Example:
    """One pair on the network's grid: its input (C, h, w), truth and valid area (bool, h, w)."""

    x: np.ndarray
    truth: np.ndarray
    valid: np.ndarray
    name: str


def _to_grid(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return cv2.resize(mask, size, interpolation=cv2.INTER_AREA) > 127


def render_example(width: int, height: int, seed: int, reflections: bool) -> Example | None:
    """Render one pair with its truth and bring it onto the network's grid through rdrf_align's own
    code; None where the pair cannot be registered (as `rdrf align` would mark it failed).

    Half the pairs with reflections reflect a camera-side scene rendered at the frame's own size
    (the rig's default is a quarter-size scene, whose enlargement is soft whatever its defocus), up
    to 0.6 strong and as little defocused as 1 reference px: window panes, frames and the slab's
    double image with sharp edges, which the network must learn are not water - 40% of them over a
    scene blurred to plain surfaces, where the scene's detail cannot say so."""
    scene_rgb = render_scene(CATEGORIES[seed % len(CATEGORIES)], width, height, seed)
    rng = np.random.default_rng(seed)
    params = sample_params(rng, reflections=reflections)
    behind = None
    if reflections and rng.random() < 0.5:
        behind = render_scene(CATEGORIES[int(rng.integers(len(CATEGORIES)))], width, height, int(rng.integers(2**31)))
        params = params.model_copy(update={"reflection_strength": float(rng.uniform(0.1, 0.6)),
                                           "reflection_blur_px": float(np.exp(rng.uniform(0.0, np.log(16.0))))})
        if rng.random() < 0.4:  # over plain surfaces (a wall, the sky, a defocused background) nothing but
            # the reflection's own edges is left to tell it from water
            scene_rgb = cv2.GaussianBlur(scene_rgb, (0, 0), 0.005 * width)
    shot = render_degraded(scene_rgb, params, seed=seed, reflection_scene=behind)
    gt_bytes = encode_jpeg(scene_rgb, 95) if seed % 2 else imageio.encode_png(scene_rgb, order="rgb")
    gt = imageio.decode(gt_bytes, f"gt-{seed}")
    lq = imageio.decode(encode_jpeg(shot.image, params.jpeg_quality), f"lq-{seed}")
    scene = SceneGT.prepare(gt)
    try:
        reg = register(scene.reference, lq)
    except RegistrationFailed:
        return None
    a_s, valid, v_s = warp_reduced(scene, lq, reg.homography)
    x = masks.network_input(a_s, scene.reduced, v_s, photometry(scene, a_s, v_s))
    grid = (x.shape[3], x.shape[2])
    return Example(x[0], _to_grid(shot.raindrop_mask, grid), _to_grid(valid, grid), f"{width}x{height}-{seed}-{int(reflections)}")


MAX_SCENES = 5000  # per size: `pair_seed` keeps 10,000 seeds per size


def parse_sizes(specs: list[str]) -> list[tuple[int, int, int]]:
    """'WxH:SCENES' specs (SCENES defaults to 8) -> [(W, H, SCENES)]."""
    out = []
    for spec in specs:
        size, _, count = spec.partition(":")
        try:
            w, h = parse_size(size)
            n = int(count or 8)
        except (RdrfError, ValueError):
            n = 0
        if not 0 < n < MAX_SCENES:
            raise typer.BadParameter(f"{spec!r}: expected WIDTHxHEIGHT:SCENES with 1 to {MAX_SCENES - 1} scenes, e.g. 720x480:48")
        out.append((w, h, n))
    return out


def pair_seed(width: int, height: int, index: int, reflections: bool) -> int:
    """SEED_BASE, plus 10,000 per size (a checksum of WxH), plus the pair's index and kind."""
    return SEED_BASE + 10_000 * (zlib.crc32(f"{width}x{height}".encode()) % 1000) + 2 * index + int(reflections)


def make_examples(sizes: list[tuple[int, int, int]], cache: Path | None = None, log=print) -> list[Example]:
    """Each size's scenes, with and without reflections; with `cache`, each example is kept there as
    .npz. A pair's seed depends on its size and index alone (`pair_seed`), so the same pairs come
    back whatever the other sizes asked for."""
    examples = []
    for w, h, n in sizes:
        for i in range(n):
            for reflections in (False, True):
                seed = pair_seed(w, h, i, reflections)
                path = cache / f"{w}x{h}-{seed}-{int(reflections)}.npz" if cache else None
                if path is not None and path.exists():
                    z = np.load(path)
                    examples.append(Example(z["x"], z["truth"], z["valid"], path.stem))
                    continue
                ex = render_example(w, h, seed, reflections)
                if ex is None:
                    continue
                examples.append(ex)
                if path is not None:
                    cache.mkdir(parents=True, exist_ok=True)
                    np.savez(path, x=ex.x, truth=ex.truth, valid=ex.valid)
        log(f"{w}x{h}: {2 * n} pairs rendered and aligned")
    return examples


def train(examples: list[Example], config: dict, steps: int, batch: int = 16, patch: int = 96, lr: float = 2e-3,
          seed: int = 0, log=print) -> tuple[DropNet, float]:
    """Fit a DropNet(**config) on crops of `examples`; returns it (eval mode) and the mean loss of the
    last 10% of the steps."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = DropNet(**config)
    opt = torch.optim.Adam(model.parameters(), lr)
    usable = [e for e in examples if min(e.truth.shape) >= patch]
    if not usable:
        raise ValueError(f"no example is at least {patch} px on its short side on the network's grid")
    tail, t0 = [], time.perf_counter()
    for step in range(steps):
        if step == int(0.7 * steps):
            for group in opt.param_groups:
                group["lr"] = lr / 4
        xs, ts, vs = [], [], []
        for _ in range(batch):
            e = usable[rng.integers(len(usable))]
            y, x = rng.integers(e.truth.shape[0] - patch + 1), rng.integers(e.truth.shape[1] - patch + 1)
            crop = (slice(y, y + patch), slice(x, x + patch))
            a, t, v = e.x[:, crop[0], crop[1]], e.truth[crop], e.valid[crop]
            if rng.random() < 0.5:  # mirror left-right
                a, t, v = a[:, :, ::-1], t[:, ::-1], v[:, ::-1]
            xs.append(a)
            ts.append(t)
            vs.append(v)
        xb = torch.from_numpy(np.ascontiguousarray(np.stack(xs)))
        tb = torch.from_numpy(np.stack(ts)[:, None].astype(np.float32))
        vb = torch.from_numpy(np.stack(vs)[:, None].astype(np.float32))
        logit = model(xb)
        bce = (F.binary_cross_entropy_with_logits(logit, tb, reduction="none") * vb).sum() / vb.sum().clamp(min=1)
        p = torch.sigmoid(logit) * vb
        dice = 1 - (2 * (p * tb).sum() + 1) / (p.sum() + (tb * vb).sum() + 1)
        loss = bce + dice
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step >= steps - max(1, steps // 10):
            tail.append(loss.item())
        if step % 500 == 0 or step == steps - 1:
            log(f"step {step}: loss {loss.item():.4f} ({time.perf_counter() - t0:.0f} s)")
    return model.eval(), float(np.mean(tail))


def export(model: DropNet, out: Path, card: dict) -> None:
    """Write the ONNX graph (any height and width) and its card beside it."""
    cin = model.config.in_channels
    buf = io.BytesIO()
    torch.onnx.export(model, torch.zeros(1, cin, 64, 64), buf, dynamo=False, opset_version=13,
                      input_names=["features"], output_names=["logit"],
                      dynamic_axes={"features": {2: "height", 3: "width"}, "logit": {2: "height", 3: "width"}})
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(buf.getvalue())
    out.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")


app = typer.Typer(add_completion=False, help=__doc__.split("\n\n")[0])


@app.command()
def main(
    out: Path = typer.Option(drop_net.NET_FILE, help="ONNX file to write (its card goes beside it, .json)"),
    size: list[str] = typer.Option(list(DEFAULT_SIZES), help="WIDTHxHEIGHT:SCENES, repeatable; each scene with and without reflections"),
    steps: int = typer.Option(3000, min=1, help="optimizer steps"),
    batch: int = typer.Option(16, min=1),
    patch: int = typer.Option(96, min=16, help="crop side on the network's grid"),
    width: int = typer.Option(16, min=1, help="channels of the hidden layers"),
    seed: int = typer.Option(0, help="seed of the crops and the initial weights"),
    cache: Path | None = typer.Option(None, help="keep each rendered and aligned pair here (.npz), and reuse it; "
                                      "empty it when the renderer or the cue maps change"),
) -> None:
    """Render, align, fit, export."""
    torch.use_deterministic_algorithms(True)
    sizes = parse_sizes(size)
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    examples = make_examples(sizes, cache, log)
    config = {"in_channels": len(drop_net.FEATURES), "width": width, "dilations": [1, 2, 4, 8]}
    model, loss = train(examples, config, steps, batch, patch, seed=seed, log=log)
    card = {
        "features": list(drop_net.FEATURES),
        "config": config,
        "training": {"sizes": [f"{w}x{h}:{n}" for w, h, n in sizes], "pairs": len(examples), "seed_base": SEED_BASE,
                     "steps": steps, "batch": batch, "patch": patch, "seed": seed, "final_loss": round(loss, 4),
                     "torch": torch.__version__, "python": platform.python_version()},
    }
    export(model, out, card)
    log(f"wrote {out} ({out.stat().st_size} bytes) and {out.with_suffix('.json').name}; final loss {loss:.4f}")


if __name__ == "__main__":
    app()
