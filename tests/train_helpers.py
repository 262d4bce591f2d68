"""Builds small exports for the training tests: GT textures, LQ = GT seen through haze with
raindrop-like blurred, brightened discs, and the drop mask - a degradation a small network learns
in a few hundred steps. Folder layout (`gt/ lq/ mask/` with matching names) or WebDataset shards,
with a manifest.jsonl of ExportRecord lines, as `rdrf export` writes."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import cv2
import numpy as np

from schemas.records import ExportRecord


def texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    img = np.zeros((h, w, 3), np.float32)
    for scale in (4, 8, 16):
        noise = rng.random((h // scale + 2, w // scale + 2, 3)).astype(np.float32)
        img += cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC)[:h, :w] / 3
    for _ in range(4):  # a few hard edges
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        cv2.rectangle(img, (x0, y0), (x0 + int(rng.integers(8, 40)), y0 + int(rng.integers(8, 40))),
                      rng.random(3).tolist(), -1)
    return np.clip(img, 0, 1)


def degrade(gt: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    h, w = gt.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(4, 9))):
        cv2.circle(mask, (int(rng.integers(0, w)), int(rng.integers(0, h))), int(rng.integers(3, 9)), 255, -1)
    blurred = cv2.GaussianBlur(gt, (0, 0), 3)
    drops = np.clip(blurred * 0.8 + 0.25, 0, 1)
    m = (mask > 0)[..., None]
    lq = np.where(m, drops, gt)
    lq = 0.75 * lq + 0.25 * 0.8  # haze / reflection veil
    return np.clip(lq, 0, 1).astype(np.float32), mask


def _png(img: np.ndarray) -> bytes:
    if img.ndim == 3:
        img = cv2.cvtColor((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8), cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


def make_export(root: Path, n_train: int = 8, n_test: int = 2, size: tuple[int, int] = (96, 128),
                layout: str = "folder", seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    h, w = size
    records, members = [], []
    for i in range(n_train + n_test):
        split = "train" if i < n_train else "test"
        gt = texture(rng, h, w)
        lq, mask = degrade(gt, rng)
        name = f"{split}_{i:04d}"
        files = {"gt": _png(gt), "lq": _png(lq), "mask": _png(mask)}
        if layout == "folder":
            paths = {k: f"{k}/{name}.png" for k in files}
            for k, data in files.items():
                (root / k).mkdir(exist_ok=True)
                (root / paths[k]).write_bytes(data)
        else:
            paths = {k: f"shards/{split}-000000.tar/{name}.{k}.png" for k in files}
            members += [(split, f"{name}.{k}.png", data) for k, data in files.items()]
        records.append(ExportRecord(pair_id=i + 1, name=name, scene=str(i), split=split, gt=paths["gt"],
                                    lq=paths["lq"], mask=paths["mask"], width=w, height=h,
                                    lq_original=f"{name}.jpg"))
    if layout == "webdataset":
        (root / "shards").mkdir(exist_ok=True)
        for split in ("train", "test"):
            with tarfile.open(root / f"shards/{split}-000000.tar", "w") as tf:
                for s, member, data in members:
                    if s == split:
                        info = tarfile.TarInfo(member)
                        info.size = len(data)
                        tf.addfile(info, io.BytesIO(data))
    (root / "manifest.jsonl").write_text("".join(r.model_dump_json() + "\n" for r in records))
    return root
