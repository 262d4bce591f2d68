"""Where each pair's files go in the three export layouts other training code reads.

- `folder` (BasicSR paired folders): `<split>/gt/NAME.png`, `<split>/lq/NAME.png`,
  `<split>/mask/NAME.png`, `<split>/reflection/NAME.png` with identical names, plus `<split>/meta_info.txt` (one `NAME.png` a line,
  BasicSR's `meta_info_file`). Pairing is by name, never by sort order.
- `imagefolder` (Hugging Face `datasets`): the same folders plus `<split>/metadata.jsonl` whose
  `gt_file_name`, `lq_file_name`, `mask_file_name` and `reflection_file_name` columns become Image columns;
  `load_dataset("imagefolder", data_dir=EXPORT)` gives one dataset split per folder.
- `webdataset`: tar shards `<split>-000000.tar`, ... at the export's top level; one sample per pair
  with members `NAME.gt.png`, `NAME.lq.png`, `NAME.mask.png`, `NAME.reflection.png` and `NAME.json`
  (its ExportRecord). Names contain no dots, so WebDataset groups the members by name.

A dual-pixel pair adds its two half-aperture views, warped by the pair's homography like `lq`, and
each view's raindrop mask: `lq_left`, `lq_right`, `mask_left`, `mask_right` (folders of those names,
`<role>_file_name` columns, `NAME.<role>.png` members, and the manifest's keys of those names, null
for an ordinary pair).

The reflection map (the light the glass adds, estimated by `rdrf align`, 255 = full scale) is stored
small (it is defocused) and exported at the pair's size with the same crop, bilinearly; a pair aligned
before reflection maps existed has none (`reflection` is null in its record). In the manifest a member is
  written `<split>-000000.tar/NAME.gt.png` (shard path, then the member).

NAME is `<scene>_<degraded shot index, 3 digits>`, e.g. `17_004`: readable, sorted by scene, and
unique because a degraded shot belongs to one scene and one pair.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Iterable

from schemas.records import ExportRecord
from schemas.vocabulary import ExportFormat, ExportImage, values


def pair_name(scene_label: str, lq_index: int) -> str:
    safe = re.sub(r"[^A-Za-z0-9_-]", "-", scene_label)
    if safe != scene_label:  # keep two labels that sanitise alike apart
        safe += "-" + hashlib.sha256(scene_label.encode()).hexdigest()[:6]
    return f"{safe}_{lq_index:03d}"


def shard_name(split: str, number: int) -> str:
    return f"{split}-{number:06d}.tar"


def file_paths(fmt: ExportFormat, split: str, name: str, shard: str | None = None,
               roles: Iterable[ExportImage] = values(ExportImage)) -> dict[ExportImage, str]:
    """The export-relative path of each image of a pair ('tar/member' for WebDataset)."""
    if fmt == "webdataset":
        assert shard is not None
        return {role: f"{shard}/{name}.{role}.png" for role in roles}
    return {role: f"{split}/{role}/{name}.png" for role in roles}


def meta_info(records: Iterable[ExportRecord]) -> bytes:
    """BasicSR meta_info_file for one split: the GT file names, one a line."""
    return "".join(f"{r.name}.png\n" for r in records).encode()


def hf_metadata(records: Iterable[ExportRecord]) -> bytes:
    """Hugging Face imagefolder metadata.jsonl for one split (paths relative to the split folder)."""
    lines = []
    for r in records:
        row = {
            "gt_file_name": f"gt/{r.name}.png",
            "lq_file_name": f"lq/{r.name}.png",
            "mask_file_name": f"mask/{r.name}.png",
            "reflection_file_name": f"reflection/{r.name}.png" if r.reflection else None,
            **{f"{role}_file_name": f"{role}/{r.name}.png" if getattr(r, role) else None
               for role in ("lq_left", "lq_right", "mask_left", "mask_right")},
            "name": r.name,
            "pair_id": r.pair_id,
            "scene": r.scene,
            "category": r.category,
            "glass_mm": r.glass_mm,
            "camera": r.camera,
            "status": r.status,
            "kind": r.kind,
            "degradation": r.degradation,
            "frame_index": r.frame_index,
        }
        lines.append(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
    return "".join(lines).encode()
