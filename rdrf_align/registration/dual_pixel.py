"""Dual-pixel pairs (DPRRN, issue 16): a raindrop mask per view, under the combined image's homography.

The two half-aperture views of a shot see the focused scene in the same place and the out-of-focus
drops displaced sideways, so the homography registered on the combined image (the ordinary
picture, with the most signal) maps both views onto the GT; registering each view on its own would
only add noise. Each view then gets the default (or AGAN) mask against the GT like any degraded
image - its drops sit elsewhere than the other view's. The runner calls `add_view_masks` once per
pair; everything here is pure apart from reading the two views and writing their masks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rdrf_align.registration import masks
from rdrf_align.registration.outputs import write_output
from rdrf_align.registration.pair import PairOutcome, SceneGT, photometry, warp_reduced
from schemas import imageio
from schemas.catalogue import Shot
from schemas.errors import RdrfError
from schemas.views import shot_views
from schemas.vocabulary import VIEW_MASK_KIND, MaskMethod
from schemas.warp import render_aligned, valid_area

# What a dual-pixel pair adds under aligned/, by file kind (Alignment.<kind>_file_id).
VIEW_OUTPUTS = {kind: f".{kind}.png" for kind in VIEW_MASK_KIND.values()}


def view_sources(shot: Shot) -> dict[str, str]:
    """A shot's view files by side ({} for an ordinary shot): workspace-relative paths."""
    return {side: f.path for side, f in shot_views(shot).items()}


def output_paths(scene: str, lq_index: int, views: dict[str, str]) -> dict[str, str]:
    """The per-view mask paths of a dual-pixel pair beside its other outputs ({} for an ordinary pair)."""
    stem = f"aligned/{scene}/lq{lq_index:03d}"
    return {kind: f"{stem}{suffix}" for kind, suffix in VIEW_OUTPUTS.items()} if views else {}


def view_mask(scene: SceneGT, view: np.ndarray, homography: np.ndarray, mask_method: MaskMethod,
              params: masks.MaskParams = masks.MaskParams()) -> np.ndarray:
    """The raindrop mask of one view in the GT frame (uint8 0/255, full size), under `homography`."""
    gt = scene.image
    if mask_method == "agan":
        gh, gw = gt.shape[:2]
        valid = valid_area(homography, (view.shape[1], view.shape[0]), (gw, gh))
        return masks.agan_mask(render_aligned(view, homography, (0, 0, gw, gh)), gt, valid)
    a_s, valid, v_s = warp_reduced(scene, view, homography)
    photo = photometry(scene, a_s, v_s)
    return masks.analyse(a_s, scene.reduced, v_s, valid, photo, params).mask


def _check_view(view: np.ndarray, combined_shape: tuple, combined_dtype, path: str) -> None:
    if view.shape[:2] != combined_shape[:2] or view.dtype != combined_dtype:
        raise RdrfError(
            f"{path}: this view is {view.shape[1]}x{view.shape[0]} {view.dtype} but its shot's combined image is "
            f"{combined_shape[1]}x{combined_shape[0]} {combined_dtype}; a dual-pixel shot's views and combined image "
            "must have one size and bit depth"
        )


def add_view_masks(task, scene: SceneGT, out: PairOutcome, res, root: Path) -> None:
    """For a dual-pixel pair (`task.views`), write each view's mask and record it in `res.stored`
    (kinds mask_left / mask_right) with its coverage in `res.params['views']`. A view that cannot
    be read, or does not match the combined image, fails the pair: an export must never carry a
    dual-pixel pair with one view missing."""
    if not task.views or out.homography is None or not res.stored:
        return
    found = {}
    try:
        for side in VIEW_MASK_KIND:
            view = imageio.read(root / task.views[side])
            _check_view(view, scene.image.shape, scene.image.dtype, task.views[side])
            found[side] = view_mask(scene, view, out.homography, task.mask_method, task.mask_params)
            del view
    except RdrfError as exc:
        res.status, res.reason = "failed", f"dual-pixel view: {exc}"
        return
    coverage = {}
    valid = max(1, int(np.count_nonzero(out.valid))) if out.valid is not None else 1
    for side, mask in found.items():
        rel = task.outputs[VIEW_MASK_KIND[side]]
        st = write_output(imageio.encode_png(mask, level=1, bilevel=True, rle=True), root, rel)
        res.stored[VIEW_MASK_KIND[side]] = (rel, st.sha256, st.size)
        coverage[side] = {"mask_coverage": round(float(np.count_nonzero(mask)) / valid, 5)}
    res.params["views"] = coverage
