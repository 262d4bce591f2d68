"""Training and validation data as torch sees it: datasets of export pairs and their loaders.

Randomness is reproducible and independent of the number of workers: the sampler yields
`epoch * N + i`, and sample `k`'s transform comes from `numpy.random.default_rng([seed, k])`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from rdrf_train.config import DataSection
from rdrf_train.export_reader import MANIFEST, ExportReader, Pair, load_pair, read_manifest
from rdrf_train.transforms import centre_crop, random_transform
from schemas.errors import RdrfError


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
        # Its own generator: starting an epoch's iterator would otherwise draw a seed from torch's
        # global RNG, so a run resumed mid-epoch (one extra iterator) drew other noise afterwards.
        generator=torch.Generator().manual_seed(seed),
    )


def eval_loader(dataset: PairDataset, num_workers: int = 0) -> DataLoader:
    return DataLoader(dataset, batch_size=1, shuffle=False, num_workers=num_workers)
