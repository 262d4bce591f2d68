"""A digest of the catalogue's content, so an export or report names the exact state it came from.

It covers what decides an export: scenes (label, category, split, pin), setups, shots, files (path,
hash, size), pairs and their current alignments. Row creation times are left out: two catalogues
holding the same data have the same digest. The warped images and valid areas older versions stored
(LEGACY_KINDS) decide nothing any more, so removing them (`rdrf align --prune-legacy`) keeps it.
"""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from schemas.catalogue import Alignment, File, Pair, Scene, Setup, Shot
from schemas.vocabulary import LEGACY_KINDS

_COLUMNS = {
    Scene: ("id", "label", "category", "split", "split_pinned"),
    Setup: ("id", "scene_id", "camera_model", "camera_serial", "lens", "focal_length_mm", "glass_mm", "distance_cm", "angle_deg"),
    Shot: ("id", "scene_id", "setup_id", "role", "index", "degradation", "original_name", "width", "height"),
    File: ("id", "shot_id", "kind", "path", "sha256", "size"),
    Pair: ("id", "scene_id", "gt_shot_id", "lq_shot_id", "status", "reason", "alignment_id"),
    Alignment: (
        "id", "pair_id", "method", "version", "status", "reason", "homography", "n_inliers", "inlier_ratio",
        "reproj_error", "gain", "offset", "valid_fraction", "mask_coverage", "gt_file_id", "lq_file_id",
        "raindrop_mask_file_id",
    ),
}


def catalogue_digest(session: Session) -> str:
    h = hashlib.sha256()
    current = select(Pair.alignment_id).where(Pair.alignment_id.is_not(None))
    for model, cols in _COLUMNS.items():
        query = select(*(getattr(model, c) for c in cols)).order_by(model.id)
        if model is Alignment:
            query = query.where(Alignment.id.in_(current))
        if model is File:
            query = query.where(File.kind.not_in(LEGACY_KINDS))
        h.update(model.__tablename__.encode())
        for row in session.execute(query):
            h.update(json.dumps(list(row), sort_keys=True, default=str, separators=(",", ":")).encode())
            h.update(b"\n")
    return h.hexdigest()
