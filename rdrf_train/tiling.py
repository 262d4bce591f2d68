"""Run an image-to-image network on images of any size: whole when small, else in overlapping tiles.

Tiles are blended with weights that ramp up over the overlap (a separable raised-cosine window with
a floor, never zero), so seams do not show and every pixel is covered. Works on (1, C, H, W) tensors;
`fn` must keep the spatial size (e.g. `DRSformer.forward_any_size`).
"""

from __future__ import annotations

from typing import Callable

import torch


def _starts(length: int, tile: int, stride: int) -> list[int]:
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def _ramp(n: int, overlap: int, device, dtype) -> torch.Tensor:
    w = torch.ones(n, device=device, dtype=dtype)
    if overlap > 0 and n > 2 * overlap:
        t = (torch.arange(overlap, device=device, dtype=dtype) + 0.5) / overlap
        edge = 0.5 - 0.5 * torch.cos(torch.pi * t)
        w[:overlap] = edge
        w[-overlap:] = edge.flip(0)
    return w.clamp_min(1e-3)


@torch.no_grad()
def tiled(fn: Callable[[torch.Tensor], torch.Tensor], image: torch.Tensor, tile: int = 512, overlap: int = 64) -> torch.Tensor:
    _, _, h, w = image.shape
    if h <= tile and w <= tile:
        return fn(image)
    if overlap >= tile // 2:
        raise ValueError(f"overlap {overlap} must be less than half the tile {tile}")
    stride = tile - overlap
    out = None
    weight = torch.zeros(1, 1, h, w, device=image.device, dtype=torch.float32)
    for y in _starts(h, tile, stride):
        for x in _starts(w, tile, stride):
            patch = image[..., y : y + tile, x : x + tile]
            res = fn(patch).float()
            if out is None:
                out = torch.zeros(image.shape[0], res.shape[1], h, w, device=image.device, dtype=torch.float32)
            ph, pw = patch.shape[-2:]
            wy = _ramp(ph, overlap if h > tile else 0, image.device, torch.float32)
            wx = _ramp(pw, overlap if w > tile else 0, image.device, torch.float32)
            wt = wy[:, None] * wx[None, :]
            out[..., y : y + ph, x : x + pw] += res * wt
            weight[..., y : y + ph, x : x + pw] += wt
    return out / weight
