"""The report's photographic figures: contact sheets and rejected-pair overlays, as JPEG bytes.

Images are read as 8-bit RGB at about the size a figure needs: a JPEG is decoded at 1/2, 1/4 or 1/8
scale by libjpeg itself when that still covers it (schemas.imageio.decode_reduced), so thumbnails of
60 MP shots cost a fraction of a full decode; thumbnails are kept by file hash, so re-running a
report decodes no original twice. JPEG quality 88 keeps a 252-scene report at tens of megabytes
with no visible loss at report size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import cv2
import numpy as np

from rdrf_align.report import sheets
from rdrf_align.report.plan import RejectedPage, ScenePage
from schemas import imageio
from schemas.errors import RdrfError
from schemas.storage import durable_write
from schemas.workspace import Workspace

THUMB_SIDE = 480  # longest side of a thumbnail read for a sheet cell
OVERLAY_SIDE = 900
PANEL_WIDTH = 400  # three panels side by side fill the page's width
QUALITY = 88
THUMB_QUALITY = 92


def _read(ws: Workspace, rel: str) -> bytes:
    path = ws.abs(rel)
    if not path.is_file():
        raise RdrfError(f"{rel} is missing from the workspace; run `rdrf verify`")
    return path.read_bytes()


def read_rgb(ws: Workspace, rel: str, max_side: Optional[int] = None) -> np.ndarray:
    """A workspace image as 8-bit RGB, shrunk to about `max_side` (longest side) when given."""
    data = _read(ws, rel)
    if not max_side:
        return imageio.to_uint8(imageio.decode(data, rel, order="rgb"))
    size = imageio.jpeg_size(data)
    # decode_reduced keeps the width; what must be kept is the longest side
    img = imageio.decode_reduced(data, rel, max_side * size[0] / max(size) if size else max_side, order="rgb")
    if max(img.shape[:2]) > max_side:
        s = max_side / max(img.shape[:2])
        img = cv2.resize(img, (max(1, round(img.shape[1] * s)), max(1, round(img.shape[0] * s))), interpolation=cv2.INTER_AREA)
    return img


def read_grey(ws: Workspace, rel: str) -> np.ndarray:
    """A single-channel workspace image (a mask) as 8 bits."""
    return imageio.to_uint8(imageio.decode(_read(ws, rel), rel, channels=1))


def thumbnail(ws: Workspace, rel: str, sha256: str, side: int, cache: Optional[Path]) -> np.ndarray:
    """read_rgb at `side`, kept in `cache` by file hash."""
    if cache is None or not sha256:
        return read_rgb(ws, rel, side)
    path = cache / f"{sha256[:40]}-{side}.jpg"
    if path.is_file():
        try:
            return imageio.read(path, order="rgb")
        except RdrfError:
            pass  # a damaged cache entry: made again below
    img = read_rgb(ws, rel, side)
    cache.mkdir(parents=True, exist_ok=True)
    durable_write(imageio.encode_jpeg(img, THUMB_QUALITY, order="rgb"), path)
    return img


def render_sheet(ws: Workspace, page: ScenePage, cache: Optional[Path] = None) -> bytes:
    if page.gt_path is None:
        raise RdrfError(f"scene {page.label} has no GT image to put in the middle of its contact sheet")
    gt = thumbnail(ws, page.gt_path, page.gt_sha256, THUMB_SIDE * 2, cache)
    shots = []
    for t in page.tiles:
        img = thumbnail(ws, t.path, t.sha256, THUMB_SIDE, cache) if t.path else np.full((8, 12, 3), 60, np.uint8)
        shots.append((img, t.label, t.status))
    return imageio.encode_jpeg(sheets.contact_sheet(gt, shots), QUALITY, order="rgb")


def render_rejected(ws: Workspace, r: RejectedPage) -> bytes:
    if r.gt_path is None:
        raise RdrfError(f"pair {r.row.pair_id}: its scene {r.scene} has no GT image")
    gt_full = read_rgb(ws, r.gt_path)
    if r.aligned_path is None:
        lq = read_rgb(ws, r.lq_path, OVERLAY_SIDE) if r.lq_path else np.zeros_like(gt_full)
        panels = [(read_rgb(ws, r.gt_path, OVERLAY_SIDE), "GT"), (lq, "degraded (not aligned)")]
        return imageio.encode_jpeg(sheets.side_by_side(panels, PANEL_WIDTH), QUALITY, order="rgb")
    aligned = read_rgb(ws, r.aligned_path)
    if aligned.shape != gt_full.shape:
        raise RdrfError(f"{r.aligned_path} is {aligned.shape[1]}x{aligned.shape[0]} but the GT {r.gt_path} is {gt_full.shape[1]}x{gt_full.shape[0]}")
    mask = read_grey(ws, r.mask_path) if r.mask_path else None
    valid = read_grey(ws, r.valid_path) if r.valid_path else None
    scale = min(1.0, OVERLAY_SIDE / max(gt_full.shape[:2]))
    size = (max(1, round(gt_full.shape[1] * scale)), max(1, round(gt_full.shape[0] * scale)))

    def small(img, nearest=False):
        return cv2.resize(img, size, interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_AREA) if scale < 1 else img

    gt_s, al_s = small(gt_full), small(aligned)
    m_s = small(mask, True) if mask is not None else None
    v_s = small(valid, True) if valid is not None else None
    overlay = sheets.difference_overlay(gt_s, al_s, m_s, v_s)
    panels = [(gt_s, "GT"), (al_s, "aligned degraded"), (overlay, "|difference| x4, mask outlined")]
    return imageio.encode_jpeg(sheets.side_by_side(panels, PANEL_WIDTH), QUALITY, order="rgb")
