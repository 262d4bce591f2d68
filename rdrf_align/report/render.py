"""The report's photographic figures (contact sheets, rejected-pair overlays, as JPEG bytes) and
`rdrf show`'s view of one pair. A pair's aligned image is rendered from its degraded shot and the
homography (schemas.warp), straight at the figure's size; its valid area is derived from the
homography; only the raindrop mask is read from aligned/.

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
from rdrf_align.report.plan import PairImages, ScenePage
from schemas import imageio, warp
from schemas.errors import RdrfError
from schemas.storage import durable_write
from schemas.workspace import Workspace

THUMB_SIDE = 480  # longest side of a thumbnail read for a sheet cell
OVERLAY_SIDE = 900
PANEL_WIDTH = 400  # three panels side by side fill the page's width
SHOW_SIDE = 1200  # `rdrf show`: each of the four panels at about this longest side
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
    """A paired scene's contact sheet (its GT ringed by the degraded shots); a video scene's frame
    strip (GT, then the frames in order); a wild scene's shots (no GT frame: it has none)."""
    if page.gt_path is None and page.kind != "wild":
        raise RdrfError(f"scene {page.label} has no GT image to put in the middle of its contact sheet")
    shots = []
    for t in page.tiles:
        img = thumbnail(ws, t.path, t.sha256, THUMB_SIDE, cache) if t.path else np.full((8, 12, 3), 60, np.uint8)
        shots.append((img, t.label, t.status))
    if page.kind == "wild":
        return imageio.encode_jpeg(sheets.frame_strip(None, shots), QUALITY, order="rgb")
    gt = thumbnail(ws, page.gt_path, page.gt_sha256, THUMB_SIDE * 2, cache)
    if page.kind == "video":
        return imageio.encode_jpeg(sheets.frame_strip(gt, shots), QUALITY, order="rgb")
    return imageio.encode_jpeg(sheets.contact_sheet(gt, shots), QUALITY, order="rgb")


def pair_pictures(ws: Workspace, p: PairImages, side: int) -> dict[str, np.ndarray]:
    """A pair's pictures at about `side` px (longest side), RGB uint8, in the GT frame: the GT, the
    degraded shot warped onto it (rendered from the shot's image and the homography in one
    interpolation), its raindrop mask, the valid area (from the homography) and the difference
    overlay. Without a homography: the GT and the degraded shot as shot."""
    if p.gt_path is None:
        raise RdrfError(f"pair {p.pair_id}: its scene {p.scene} has no GT image")
    gt_full = read_rgb(ws, p.gt_path)
    gh, gw = gt_full.shape[:2]
    scale = min(1.0, side / max(gw, gh))
    size = (max(1, round(gw * scale)), max(1, round(gh * scale)))
    gt = cv2.resize(gt_full, size, interpolation=cv2.INTER_AREA) if scale < 1 else gt_full
    del gt_full
    if p.homography is None or p.lq_path is None:
        lq = read_rgb(ws, p.lq_path, side) if p.lq_path else np.zeros_like(gt)
        return {"gt": gt, "lq": lq}
    lq = read_rgb(ws, p.lq_path)
    lh, lw = lq.shape[:2]
    aligned = warp.render_aligned(lq, p.homography, (0, 0, gw, gh), size)
    del lq
    valid = warp.valid_area(p.homography, (lw, lh), size, gw / size[0])
    mask = None
    if p.mask_path:
        full = read_grey(ws, p.mask_path)
        if full.shape != (gh, gw):
            raise RdrfError(f"{p.mask_path} is {full.shape[1]}x{full.shape[0]} but the GT {p.gt_path} is {gw}x{gh}")
        mask = cv2.resize(full, size, interpolation=cv2.INTER_NEAREST) if scale < 1 else full
    out = {"gt": gt, "aligned": aligned, "valid": valid, "overlay": sheets.difference_overlay(gt, aligned, mask, valid)}
    if mask is not None:
        out["mask"] = mask
    return out


def view_pictures(ws: Workspace, p: PairImages, side: int) -> list[tuple[np.ndarray, str]]:
    """A dual-pixel pair's two views at about `side` px, warped onto the GT by the pair's homography
    (the combined image's), each view's raindrop mask outlined; as shot when it was never aligned."""
    if p.gt_path is None:
        raise RdrfError(f"pair {p.pair_id}: its scene {p.scene} has no GT image")
    gw, gh = imageio.file_size(ws.abs(p.gt_path), f"GT of scene {p.scene}")
    scale = min(1.0, side / max(gw, gh))
    size = (max(1, round(gw * scale)), max(1, round(gh * scale)))
    panels = []
    for which in ("left", "right"):
        img = read_rgb(ws, p.views[which])
        if p.homography is None:
            panels.append((cv2.resize(img, size, interpolation=cv2.INTER_AREA), f"{which} view (not aligned)"))
            continue
        view = np.ascontiguousarray(warp.render_aligned(img, p.homography, (0, 0, gw, gh), size))
        del img
        if which in p.view_masks:
            mask = cv2.resize(read_grey(ws, p.view_masks[which]), size, interpolation=cv2.INTER_NEAREST)
            contours, _ = cv2.findContours((mask > 0).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(view, contours, -1, (0, 230, 255), max(1, size[0] // 400), cv2.LINE_AA)
        panels.append((view, f"{which} view, mask outlined"))
    return panels


def render_views(ws: Workspace, p: PairImages) -> bytes:
    """The report's figure of a dual-pixel pair: left | right view (`view_pictures`)."""
    return imageio.encode_jpeg(sheets.side_by_side(view_pictures(ws, p, OVERLAY_SIDE), PANEL_WIDTH), QUALITY, order="rgb")


def render_rejected(ws: Workspace, p: PairImages) -> bytes:
    """GT | aligned degraded | difference overlay (GT | degraded when it was never aligned)."""
    pics = pair_pictures(ws, p, OVERLAY_SIDE)
    if "aligned" not in pics:
        panels = [(pics["gt"], "GT"), (pics["lq"], "degraded (not aligned)")]
    else:
        panels = [(pics["gt"], "GT"), (pics["aligned"], "aligned degraded"), (pics["overlay"], "|difference| x4, mask outlined")]
    return imageio.encode_jpeg(sheets.side_by_side(panels, PANEL_WIDTH), QUALITY, order="rgb")


def render_pair_view(ws: Workspace, p: PairImages, side: int = SHOW_SIDE, order: imageio.Order = "rgb") -> np.ndarray:
    """`rdrf show`: GT | aligned degraded | raindrop mask | difference, side by side, for a person to
    look at (RGB uint8, or BGR with order="bgr" for encoding)."""
    pics = pair_pictures(ws, p, side)
    if "aligned" not in pics:
        raise RdrfError(f"pair {p.pair_id} (scene {p.scene}) has no alignment to show; run `rdrf align --scene {p.scene}`")
    mask = pics.get("mask")
    mask_rgb = cv2.cvtColor(mask, cv2.COLOR_GRAY2RGB) if mask is not None else np.zeros_like(pics["gt"])
    panels = [(pics["gt"], "GT"), (pics["aligned"], "aligned degraded"), (mask_rgb, "raindrop mask"),
              (pics["overlay"], "|difference| x4, mask outlined")]
    if p.views:  # a dual-pixel pair: both views too
        panels += view_pictures(ws, p, side)
    view = sheets.side_by_side(panels, pics["gt"].shape[1])
    return cv2.cvtColor(view, cv2.COLOR_RGB2BGR) if order == "bgr" else view
