"""Run a network on images of any size: padded to the multiple it needs, and in overlapping tiles
when larger than a tile, so memory does not grow with the image.

One tiler serves both stages. Windows start every `stride` plus one flush with the far edge, so
every pixel is covered; their outputs are blended with a weight window that never reaches zero:
stage I uses a raised-cosine ramp over the overlap (`tiled`), stage II a Gaussian peaking at the
window centre (`tiled_map`'s default, DiffBIR's / MultiDiffusion's kernel).
"""

from __future__ import annotations

import math
from typing import Callable, Literal, Optional, Sequence

import torch
import torch.nn.functional as F


def pad_to_multiple(
    x: torch.Tensor, multiple: int = 8, mode: Literal["replicate", "reflect"] = "replicate"
) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad the bottom and right edges up to a multiple of `multiple`; returns the original (h, w) to
    crop back to. "reflect" falls back to "replicate" on an image too small to reflect."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if not (ph or pw):
        return x, (h, w)
    if mode == "reflect" and not (h > ph and w > pw):
        mode = "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode), (h, w)


def tile_starts(size: int, tile: int, stride: int) -> list[int]:
    """Window origins covering [0, size): every `stride`, plus one flush with the far edge."""
    if size <= tile:
        return [0]
    starts = list(range(0, size - tile, stride))
    return starts + [size - tile]


def gaussian_weights(h: int, w: int, device=None, var: float = 0.01) -> torch.Tensor:
    """(h, w) weights peaking at the window centre (DiffBIR's / MultiDiffusion's blending kernel)."""

    def axis(n: int) -> torch.Tensor:
        x = torch.arange(n, dtype=torch.float32, device=device)
        mid = (n - 1) / 2
        return torch.exp(-((x - mid) ** 2) / (n * n) / (2 * var)) / math.sqrt(2 * math.pi * var)

    return axis(h)[:, None] * axis(w)[None, :]


def cosine_ramp(n: int, overlap: int, device, dtype) -> torch.Tensor:
    """(n,) weights rising over the first and falling over the last `overlap` samples, floored at 1e-3."""
    w = torch.ones(n, device=device, dtype=dtype)
    if overlap > 0 and n > 2 * overlap:
        t = (torch.arange(overlap, device=device, dtype=dtype) + 0.5) / overlap
        edge = 0.5 - 0.5 * torch.cos(torch.pi * t)
        w[:overlap] = edge
        w[-overlap:] = edge.flip(0)
    return w.clamp_min(1e-3)


def tiled_map(
    fn: Callable[..., torch.Tensor],
    grid_hw: tuple[int, int],
    inputs: Sequence[tuple[Optional[torch.Tensor], int]],
    tile: int,
    stride: int,
    out_factor: int = 1,
    window: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Apply `fn` to overlapping windows of a (h, w) grid and blend the outputs.

    `inputs` are (tensor, factor) pairs: the window [y, y+t) of the grid is [y*factor, (y+t)*factor)
    of that tensor (None passes through as None). The output is `out_factor` times the grid.
    `window` weighs each output window (default: Gaussian). A grid no larger than a tile is one
    call of `fn` on the whole inputs.
    """
    h, w = grid_hw
    th, tw = min(tile, h), min(tile, w)
    ys, xs = tile_starts(h, tile, stride), tile_starts(w, tile, stride)
    if len(ys) == 1 and len(xs) == 1:
        return fn(*(t for t, _ in inputs))
    out = weight_sum = None
    weights = gaussian_weights(th * out_factor, tw * out_factor) if window is None else window
    for y in ys:
        for x in xs:
            crops = [None if t is None else t[..., y * f : (y + th) * f, x * f : (x + tw) * f] for t, f in inputs]
            result = fn(*crops).float()
            if out is None:
                b, c = result.shape[:2]
                out = torch.zeros(b, c, h * out_factor, w * out_factor, device=result.device)
                weight_sum = torch.zeros(1, 1, h * out_factor, w * out_factor, device=result.device)
                weights = weights.to(result.device)
            oy, ox = y * out_factor, x * out_factor
            out[..., oy : oy + th * out_factor, ox : ox + tw * out_factor] += result * weights
            weight_sum[..., oy : oy + th * out_factor, ox : ox + tw * out_factor] += weights
    return out / weight_sum


@torch.no_grad()
def tiled(fn: Callable[[torch.Tensor], torch.Tensor], image: torch.Tensor, tile: int = 512, overlap: int = 64) -> torch.Tensor:
    """`fn` (which keeps the spatial size, e.g. `DRSformer.forward_any_size`) on a (B, C, H, W)
    image, in tiles of `tile` pixels overlapping by `overlap`, blended by raised-cosine ramps."""
    h, w = image.shape[-2:]
    if h <= tile and w <= tile:
        return fn(image)
    if overlap >= tile // 2:
        raise ValueError(f"overlap {overlap} must be less than half the tile {tile}")
    wy = cosine_ramp(min(tile, h), overlap if h > tile else 0, image.device, torch.float32)
    wx = cosine_ramp(min(tile, w), overlap if w > tile else 0, image.device, torch.float32)
    return tiled_map(fn, (h, w), [(image, 1)], tile, tile - overlap, window=wy[:, None] * wx[None, :])
