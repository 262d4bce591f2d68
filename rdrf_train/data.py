"""Paired training data read from an export folder (its `manifest.jsonl`), never the catalogue.

Layouts (DESIGN.md): the manifest's `gt`/`lq`/`mask` paths are relative to the export folder. For
`folder` and `imagefolder` they name image files. For `webdataset` they name a member of a tar shard:
`shards/train-000000.tar/000123.gt.png` (or `...tar#000123.gt.png`): the part up to `.tar` is the
shard, the rest the member. Members are read straight from the tar (an index per worker process).

Colour convention: images are decoded as RGB (8- or 16-bit), scaled to float32 [0, 1]; masks are
binarised at half their range (1 = degraded region). Every random transform (resize, rotation, crop,
flips, 90-degree turns) is drawn once per sample and applied to GT, LQ and mask alike (masks with
nearest-neighbour interpolation), so the pair stays aligned.

Randomness is reproducible and independent of the number of workers: the sampler yields
`epoch * N + i`, and sample `k`'s transform comes from `numpy.random.default_rng([seed, k])`.
"""

from __future__ import annotations

import math
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import cv2
import numpy as np
import torch
from pydantic import ValidationError
from torch.utils.data import DataLoader, Dataset, Sampler

from rdrf_train.config import DataSection
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
        """RGB (H, W, 3) or gray (H, W) float32 in [0, 1]."""
        data = np.frombuffer(self.read_bytes(relpath), np.uint8)
        img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
        if img is None:
            raise RdrfError(f"export file {self.root / relpath} is not a readable image")
        scale = 65535.0 if img.dtype == np.uint16 else 255.0 if img.dtype == np.uint8 else 1.0
        if img.ndim == 3 and img.shape[2] == 4:
            img = img[:, :, :3]
        if gray:
            if img.ndim == 3:
                img = img.max(axis=2)
        else:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB) if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        return np.ascontiguousarray(img.astype(np.float32) / scale)


@dataclass
class Pair:
    gt: np.ndarray  # (H, W, 3) float32 [0, 1]
    lq: np.ndarray  # (H, W, 3)
    mask: np.ndarray  # (H, W) float32 {0, 1}


def load_pair(reader: ExportReader, record: ExportRecord) -> Pair:
    gt = reader.read_image(record.gt)
    lq = reader.read_image(record.lq)
    mask = (reader.read_image(record.mask, gray=True) >= 0.5).astype(np.float32)
    if gt.shape != lq.shape or gt.shape[:2] != mask.shape:
        raise RdrfError(
            f"pair {record.pair_id} ({record.name}) in {reader.root}: gt {gt.shape[:2]}, lq {lq.shape[:2]} "
            f"and mask {mask.shape} should have the same size"
        )
    return Pair(gt, lq, mask)


# ---- pure transforms: arrays in, arrays out ---------------------------------------------------


def _pad_to(img: np.ndarray, side: int) -> np.ndarray:
    h, w = img.shape[:2]
    if h >= side and w >= side:
        return img
    ph, pw = max(0, side - h), max(0, side - w)
    return cv2.copyMakeBorder(img, ph // 2, ph - ph // 2, pw // 2, pw - pw // 2, cv2.BORDER_REFLECT_101)


def random_transform(pair: Pair, spec: DataSection, rng: np.random.Generator) -> Pair:
    """Random scale, rotation, crop of `spec.crop`, flips and 90-degree turns, the same for all three.

    The window needed to cover the rotated and rescaled crop is cut first so large images are never
    warped whole."""
    crop = spec.crop
    s = float(rng.uniform(*spec.scale)) if spec.scale[0] != spec.scale[1] else spec.scale[0]
    angle = float(rng.uniform(-spec.rotate, spec.rotate)) if spec.rotate > 0 else 0.0
    rad = math.radians(angle)
    need = int(math.ceil(crop / s * (abs(math.cos(rad)) + abs(math.sin(rad))))) + (2 if angle or s != 1 else 0)
    imgs = [_pad_to(a, need) for a in (pair.gt, pair.lq, pair.mask)]
    h, w = imgs[0].shape[:2]
    y = int(rng.integers(0, h - need + 1))
    x = int(rng.integers(0, w - need + 1))
    imgs = [a[y : y + need, x : x + need] for a in imgs]
    if angle or s != 1:
        c = (need - 1) / 2.0
        m = cv2.getRotationMatrix2D((c, c), angle, s)
        # move the centre of the window to the centre of the crop
        m[:, 2] += (crop - 1) / 2.0 - c
        out = []
        for i, a in enumerate(imgs):
            interp = cv2.INTER_NEAREST if i == 2 else (cv2.INTER_AREA if s < 1 and not angle else cv2.INTER_LINEAR)
            out.append(cv2.warpAffine(a, m, (crop, crop), flags=interp, borderMode=cv2.BORDER_REFLECT_101))
        imgs = out
    if spec.hflip and rng.random() < 0.5:
        imgs = [a[:, ::-1] for a in imgs]
    if spec.vflip and rng.random() < 0.5:
        imgs = [a[::-1] for a in imgs]
    if spec.rot90:
        k = int(rng.integers(0, 4))
        imgs = [np.rot90(a, k) for a in imgs]
    gt, lq, mask = (np.ascontiguousarray(a) for a in imgs)
    return Pair(gt, lq, mask)


def centre_crop(pair: Pair, side: Optional[int]) -> Pair:
    if side is None:
        return pair
    arrays = [_pad_to(a, side) for a in (pair.gt, pair.lq, pair.mask)]
    h, w = arrays[0].shape[:2]
    y, x = (h - side) // 2, (w - side) // 2
    gt, lq, mask = (np.ascontiguousarray(a[y : y + side, x : x + side]) for a in arrays)
    return Pair(gt, lq, mask)


# ---- torch side --------------------------------------------------------------------------------


def to_tensors(pair: Pair) -> dict:
    return {
        "gt": torch.from_numpy(pair.gt).permute(2, 0, 1).contiguous(),
        "lq": torch.from_numpy(pair.lq).permute(2, 0, 1).contiguous(),
        "mask": torch.from_numpy(pair.mask)[None].contiguous(),
    }


class PairDataset(Dataset):
    """Pairs of one split. `train=True`: random transforms, index k = epoch * N + i (see module doc);
    `train=False`: the full image, or its centre crop of `spec.val_crop`."""

    def __init__(self, export_dir: Path, split: str, spec: DataSection, train: bool, seed: int = 0,
                 max_items: Optional[int] = None):
        self.export_dir = Path(export_dir)
        self.records = read_manifest(self.export_dir, split)
        if max_items is not None:
            self.records = self.records[:max_items]
        if not self.records:
            raise RdrfError(f"export {self.export_dir} has no {split} pairs in {MANIFEST}")
        self.reader = ExportReader(self.export_dir)
        self.spec = spec
        self.train = train
        self.seed = seed

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, k: int) -> dict:
        record = self.records[k % len(self.records)]
        pair = load_pair(self.reader, record)
        if self.train:
            pair = random_transform(pair, self.spec, np.random.default_rng([self.seed, k]))
        else:
            pair = centre_crop(pair, self.spec.val_crop)
        sample = to_tensors(pair)
        sample["name"] = record.name
        sample["pair_id"] = record.pair_id
        return sample


class EpochSampler(Sampler[int]):
    """A seeded permutation per epoch, yielding `epoch * N + i` so the dataset knows the epoch."""

    def __init__(self, n: int, seed: int):
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        base = self.epoch * self.n
        return iter((base + int(i)) for i in torch.randperm(self.n, generator=g))


def train_loader(dataset: PairDataset, batch_size: int, num_workers: int, seed: int) -> DataLoader:
    if len(dataset) < batch_size:
        raise RdrfError(
            f"export {dataset.export_dir} has {len(dataset)} training pairs, fewer than the batch size {batch_size}"
        )
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=EpochSampler(len(dataset), seed),
        num_workers=num_workers,
        drop_last=True,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=False,
    )


def eval_loader(dataset: PairDataset, num_workers: int = 0) -> DataLoader:
    return DataLoader(dataset, batch_size=1, shuffle=False, num_workers=num_workers)
