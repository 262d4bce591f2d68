"""Reading an export folder (what `rdrf export` writes), never the catalogue: its `manifest.jsonl` and
the images it names.

Layouts (DESIGN.md): the manifest's `gt`/`lq`/`mask` paths are relative to the export folder. For
`folder` and `imagefolder` they name image files. For `webdataset` they name a member of a tar shard:
`shards/train-000000.tar/000123.gt.png` (or `...tar#000123.gt.png`): the part up to `.tar` is the
shard, the rest the member. Members are read straight from the tar (an index per worker process).

Colour convention: images are decoded by `schemas.imageio` as RGB (8- or 16-bit) and scaled to
float32 [0, 1]; masks are read single-channel (a colour mask's per-pixel maximum) and binarised at
half their range (1 = degraded region).
"""

from __future__ import annotations

import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
from pydantic import ValidationError

from schemas import imageio
from schemas.errors import RdrfError
from schemas.records import ExportRecord

MANIFEST = "manifest.jsonl"


def read_manifest(export_dir: Path, split: Optional[str] = None) -> list[ExportRecord]:
    path = Path(export_dir) / MANIFEST
    if not path.exists():
        raise RdrfError(f"{export_dir} is not an export folder: {MANIFEST} is missing")
    records = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(ExportRecord.model_validate_json(line))
        except ValidationError as exc:
            raise RdrfError(f"{path} line {number} is not a valid export record: {exc.errors()[0]['msg']}") from None
    if split is not None:
        records = [r for r in records if r.split == split]
    return records


def require_paired(export_dir: Path, command: str) -> None:
    """Refuse an unpaired (wild) export where ground truth is needed, saying what to run instead."""
    records = read_manifest(export_dir)
    unpaired = [r for r in records if r.gt is None]
    if unpaired:
        raise RdrfError(
            f"{export_dir} is an unpaired export ({len(unpaired)} {unpaired[0].kind} image(s) with no ground truth): "
            f"{command} needs pairs (PSNR/SSIM/LPIPS compare with a GT); score it with no-reference metrics only: "
            f"rdrf benchmark --data {export_dir} --split {unpaired[0].split} --run NAME=RUN"
        )


def split_tar_path(relpath: str) -> Optional[tuple[str, str]]:
    """'a/b.tar/x.png' or 'a/b.tar#x.png' -> ('a/b.tar', 'x.png'); None for a plain file path."""
    if "#" in relpath:
        shard, member = relpath.split("#", 1)
        if shard.endswith(".tar"):
            return shard, member
    parts = relpath.split("/")
    for i, part in enumerate(parts[:-1]):
        if part.endswith(".tar"):
            return "/".join(parts[: i + 1]), "/".join(parts[i + 1 :])
    return None


class ExportReader:
    """Reads the bytes a manifest path names, from a file or a tar shard member."""

    def __init__(self, export_dir: Path):
        self.root = Path(export_dir)
        self._tars: dict[str, tuple[int, tarfile.TarFile, dict[str, tarfile.TarInfo]]] = {}

    def read_bytes(self, relpath: str) -> bytes:
        path = self.root / relpath
        if path.is_file():
            return path.read_bytes()
        tar = split_tar_path(relpath)
        if tar is None or not (self.root / tar[0]).is_file():
            raise RdrfError(f"export file {path} is missing")
        shard, member = tar
        handle = self._tar(shard)
        info = handle[2].get(member)
        if info is None:
            raise RdrfError(f"member {member} is missing from shard {self.root / shard}")
        f = handle[1].extractfile(info)
        assert f is not None
        return f.read()

    def _tar(self, shard: str):
        # A TarFile's file position is per process: reopen in each DataLoader worker.
        cached = self._tars.get(shard)
        if cached is None or cached[0] != os.getpid():
            tf = tarfile.open(self.root / shard, "r")
            cached = (os.getpid(), tf, {m.name: m for m in tf.getmembers() if m.isfile()})
            self._tars[shard] = cached
        return cached

    def __getstate__(self):  # picklable for worker processes: drop open tar handles
        return {"root": self.root, "_tars": {}}

    def read_image(self, relpath: str, gray: bool = False) -> np.ndarray:
        """RGB (H, W, 3) or, for masks, gray (H, W) (a colour file's per-pixel maximum), float32 in [0, 1]."""
        data = self.read_bytes(relpath)
        try:
            img = imageio.decode(data, str(self.root / relpath), order="rgb", channels=1 if gray else 3)
        except RdrfError:
            raise RdrfError(f"export file {self.root / relpath} is not a readable image") from None
        return np.ascontiguousarray(imageio.to_float(img))


@dataclass
class Pair:
    gt: np.ndarray  # (H, W, 3) float32 [0, 1]
    lq: np.ndarray  # (H, W, 3)
    mask: np.ndarray  # (H, W) float32 {0, 1}


def load_pair(reader: ExportReader, record: ExportRecord) -> Pair:
    if record.gt is None or record.mask is None:
        raise RdrfError(f"{record.name} in {reader.root} has no ground truth (an unpaired {record.kind} record); it cannot be loaded as a pair")
    gt = reader.read_image(record.gt)
    lq = reader.read_image(record.lq)
    mask = (reader.read_image(record.mask, gray=True) >= 0.5).astype(np.float32)
    if gt.shape != lq.shape or gt.shape[:2] != mask.shape:
        raise RdrfError(
            f"pair {record.pair_id} ({record.name}) in {reader.root}: gt {gt.shape[:2]}, lq {lq.shape[:2]} "
            f"and mask {mask.shape} should have the same size"
        )
    return Pair(gt, lq, mask)


def valid_region(record: ExportRecord) -> Optional[np.ndarray]:
    """Where the warped degraded shot covers the exported image (bool, height x width), from the
    record's homography, crop and frame - None when the record lacks them (an unpaired record, or an
    export written before `frame` existed). Exports crop warp borders away by default, so this is
    usually the whole image; with `--borders keep` it leaves the borders out of the scores."""
    if record.homography is None or record.crop is None or record.frame is None:
        return None
    from schemas.warp import valid_area

    x0, y0, x1, y1 = record.crop
    sx, sy = record.width / (x1 - x0), record.height / (y1 - y0)
    # GT pixel x -> export pixel (x + 0.5 - x0) * sx - 0.5, composed after the homography (degraded -> GT)
    to_export = np.array([[sx, 0.0, (0.5 - x0) * sx - 0.5], [0.0, sy, (0.5 - y0) * sy - 0.5], [0.0, 0.0, 1.0]])
    h = to_export @ np.asarray(record.homography, np.float64)
    return valid_area(h, (record.frame[0], record.frame[1]), (record.width, record.height)) > 0


def scored_area(record: ExportRecord, export_dir: Path) -> np.ndarray:
    """`--valid-only`: the pixels the warped degraded shot covers; refused for records that cannot say."""
    valid = valid_region(record)
    if valid is None:
        raise RdrfError(f"{record.name} in {export_dir}: its record has no homography, crop or frame, so the area its "
                        "warp covers is unknown; re-export with this version of rdrf, or drop --valid-only")
    if not valid.any():
        raise RdrfError(f"{record.name} in {export_dir}: the warped degraded shot covers none of the exported image")
    return valid
