"""The export data pipeline: layouts, aligned augmentations, reproducibility, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from rdrf_train.config import DataSection
from rdrf_train.data import PairDataset
from rdrf_train.export_reader import ExportReader, Pair, load_pair, read_manifest, split_tar_path
from rdrf_train.transforms import random_transform
from schemas.errors import RdrfError
from tests.train_helpers import make_export


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    root = tmp_path_factory.mktemp("exports")
    return make_export(root / "folder", n_train=4, n_test=2), make_export(root / "wds", n_train=4, n_test=2, layout="webdataset")


def test_webdataset_and_folder_layouts_give_the_same_pairs(exports):
    folder, wds = exports
    assert split_tar_path("shards/train-000000.tar/a.gt.png") == ("shards/train-000000.tar", "a.gt.png")
    assert split_tar_path("shards/x.tar#a.gt.png") == ("shards/x.tar", "a.gt.png")
    assert split_tar_path("gt/a.png") is None
    rf, rw = read_manifest(folder, "test"), read_manifest(wds, "test")
    assert [r.name for r in rf] == [r.name for r in rw] and len(rf) == 2
    a, b = load_pair(ExportReader(folder), rf[0]), load_pair(ExportReader(wds), rw[0])
    for x, y in ((a.gt, b.gt), (a.lq, b.lq), (a.mask, b.mask)):
        np.testing.assert_array_equal(x, y)
    assert a.gt.dtype == np.float32 and a.gt.shape == (96, 128, 3) and set(np.unique(a.mask)) <= {0.0, 1.0}
    assert a.mask.sum() > 0


def test_training_samples_are_aligned_crops_with_flips_rotation_and_resize():
    # GT, LQ and mask carry the same coordinate pattern: any misalignment between them shows.
    h, w = 200, 260
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    pattern = ((np.sin(xx / 7) * np.cos(yy / 5)) > 0).astype(np.float32)
    rgb = np.stack([pattern, xx / w, yy / h], axis=-1)
    pair = Pair(gt=rgb.copy(), lq=rgb.copy(), mask=pattern.copy())
    spec = DataSection(crop=96, hflip=True, vflip=True, rotate=30, scale=(0.7, 1.3), rot90=True)
    for seed in range(6):
        out = random_transform(pair, spec, np.random.default_rng(seed))
        assert out.gt.shape == (96, 96, 3) and out.mask.shape == (96, 96)
        np.testing.assert_array_equal(out.gt, out.lq)
        assert set(np.unique(out.mask)) <= {0.0, 1.0}  # nearest-neighbour keeps the mask binary
        agree = np.mean(np.abs(out.mask - out.gt[..., 0]) < 0.5)
        assert agree > 0.9, agree


def test_samples_are_reproducible_and_change_with_the_epoch(exports):
    folder, _ = exports
    spec = DataSection(crop=48)
    ds = PairDataset(folder, "train", spec, train=True, seed=3)
    again = PairDataset(folder, "train", spec, train=True, seed=3)
    a, b = ds[1], again[1]
    assert a["gt"].shape == (3, 48, 48) and a["mask"].shape == (1, 48, 48)
    assert (a["gt"] == b["gt"]).all() and (a["lq"] == b["lq"]).all()
    next_epoch = ds[1 + len(ds)]  # same pair, another epoch: another crop
    assert next_epoch["name"] == a["name"] and not (next_epoch["gt"] == a["gt"]).all()
    val = PairDataset(folder, "test", spec, train=False)
    assert val[0]["gt"].shape == (3, 96, 128)  # validation: the full image


def test_missing_or_unreadable_files_are_named(tmp_path):
    export = make_export(tmp_path / "e", n_train=2, n_test=1)
    (export / "lq" / "train_0000.png").unlink()
    (export / "gt" / "train_0001.png").write_bytes(b"not an image")
    ds = PairDataset(export, "train", DataSection(crop=32), train=True)
    with pytest.raises(RdrfError, match="lq/train_0000.png is missing"):
        ds[0]
    with pytest.raises(RdrfError, match="gt/train_0001.png is not a readable image"):
        ds[1]
    (export / "manifest.jsonl").write_text('{"pair_id": 1}\n')
    with pytest.raises(RdrfError, match="manifest.jsonl line 1"):
        read_manifest(export)
    with pytest.raises(RdrfError, match="manifest.jsonl is missing"):
        read_manifest(tmp_path)


def test_worker_processes_read_tar_shards_and_give_the_same_batches(exports):
    from rdrf_train.data import train_loader

    _, wds = exports
    ds = PairDataset(wds, "train", DataSection(crop=32), train=True, seed=1)
    ds.reader.read_bytes(ds.records[0].gt)  # an open tar handle in the parent must not leak into workers
    with_workers = [b["gt"] for b in train_loader(ds, 2, num_workers=2, seed=1)]
    in_process = [b["gt"] for b in train_loader(ds, 2, num_workers=0, seed=1)]
    assert len(with_workers) == 2 and all((a == b).all() for a, b in zip(with_workers, in_process))
