"""`rdrf export`: leak-free splits in the three layouts, loadable by the libraries that read them."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from tests.export_helpers import build_workspace
from PIL import Image
from sqlalchemy import select

from schemas.catalogue import Export
from schemas.records import ExportRecord
from schemas.workspace import Catalogue

SCHEMA_FILE = Path(__file__).parents[1] / "schemas" / "jsonschema" / "export_record.schema.json"


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """One workspace, splits assigned on the first export; tests here only export from it."""
    return build_workspace(tmp_path_factory.mktemp("export") / "ws", test_fraction=0.25)


def export(cli, ws, *args) -> Path:
    r = cli("-w", ws.root, "export", *args)
    assert r.exit_code == 0, r.output
    return Path(r.stdout.strip().splitlines()[-1])


def manifest(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines()]


def validators() -> list[jsonschema.protocols.Validator]:
    schemas = [ExportRecord.model_json_schema()]
    if SCHEMA_FILE.exists():
        schemas.append(json.loads(SCHEMA_FILE.read_text()))
    return [jsonschema.Draft202012Validator(s) for s in schemas]


def test_folder_exports_share_no_scene_and_every_image_is_1080x720(cli, ws):
    train = export(cli, ws, "--split", "train", "--workers", "2")
    test = export(cli, ws, "--split", "test", "--workers", "2")
    assert train == ws.root / "exports" / "train-folder-1080x720"
    rows = {"train": manifest(train), "test": manifest(test)}
    assert rows["train"] and rows["test"]
    scenes = {k: {r["scene"] for r in v} for k, v in rows.items()}
    assert not scenes["train"] & scenes["test"]
    for split, folder in (("train", train), ("test", test)):
        for r in rows[split]:
            assert r["split"] == split and r["status"] == "ok"
            for v in validators():
                v.validate(r)
            for role in ("gt", "lq", "mask", "reflection"):
                assert r[role] == f"{split}/{role}/{r['name']}.png"
                with Image.open(folder / r[role]) as im:
                    assert im.size == (1080, 720)
                    assert im.mode == ("L" if role in ("mask", "reflection") else "RGB")
                    if role == "mask":
                        assert set(np.unique(np.asarray(im))) <= {0, 255}
        names = sorted(p.name for p in (folder / split / "gt").iterdir())
        assert names == sorted(p.name for p in (folder / split / "lq").iterdir()) == sorted(p.name for p in (folder / split / "mask").iterdir())
        assert names == sorted(p.name for p in (folder / split / "reflection").iterdir())
        assert (folder / split / "meta_info.txt").read_text().split() == [f"{r['name']}.png" for r in rows[split]]
    # Only ok pairs: the rejected and failed pairs of the fixture are not exported.
    assert all(r["pair_id"] not in (4, 13) for r in rows["train"] + rows["test"])
    sheet = (train / "README.md").read_text()
    assert f"| train | {len(scenes['train'])} | {len(rows['train'])} |" in sheet
    cat = Catalogue(ws)
    with cat.session() as s:
        exp = s.scalars(select(Export).where(Export.path == "exports/train-folder-1080x720")).all()[-1]
        assert exp.n_records == len(rows["train"]) and exp.catalogue_digest in sheet
    cat.close()


def test_same_state_gives_a_byte_identical_manifest_and_reexport_skips(cli, ws, tmp_path):
    a = export(cli, ws, "--split", "all", "--size", "360x240", "--out", tmp_path / "a", "--workers", "1")
    b = export(cli, ws, "--split", "all", "--size", "360x240", "--out", tmp_path / "b", "--workers", "3")
    assert (a / "manifest.jsonl").read_bytes() == (b / "manifest.jsonl").read_bytes()
    assert (a / "README.md").read_bytes() == (b / "README.md").read_bytes()
    assert (a / "train/lq").exists() and (a / "test/lq").exists()
    # Re-export into the same folder: everything is already right, nothing is rewritten.
    lq = sorted((a / "train/lq").iterdir())[0]
    mtime = lq.stat().st_mtime_ns
    r = cli("-w", ws.root, "export", "--split", "all", "--size", "360x240", "--out", a)
    assert "0 files written" in r.stderr, r.stderr
    assert lq.stat().st_mtime_ns == mtime
    # A damaged file is noticed and rewritten; the rest is skipped.
    lq.write_bytes(b"garbage")
    r = cli("-w", ws.root, "export", "--split", "all", "--size", "360x240", "--out", a)
    assert "1 files written" in r.stderr, r.stderr
    assert Image.open(lq).size == (360, 240)
    # GT files of one scene share their bytes (hard links where the file system has them).
    gts = sorted((a / "train/gt").glob("1_*.png"))
    assert len(gts) == 2 and gts[0].read_bytes() == gts[1].read_bytes()


def test_aspect_ratio_mismatch_is_cropped_or_refused(cli, ws, tmp_path):
    out = export(cli, ws, "--split", "all", "--size", "300x200", "--out", tmp_path / "c")
    rec = next(r for r in manifest(out) if r["scene"] == "4")  # a 200x150 (4:3) scene
    gt = np.asarray(Image.open(out / rec["gt"]))
    assert gt.shape == (200, 300, 3)
    r = cli("-w", ws.root, "export", "--split", "all", "--size", "300x200", "--fit", "refuse", "--out", tmp_path / "d")
    assert r.exit_code == 1 and "scene 4" in r.output and "200x150" in r.output
    assert not (tmp_path / "d").exists()


def test_imagefolder_loads_with_datasets(cli, ws, tmp_path):
    datasets = pytest.importorskip("datasets")
    out = export(cli, ws, "--split", "all", "--format", "imagefolder", "--size", "360x240", "--out", tmp_path / "hf")
    ds = datasets.load_dataset("imagefolder", data_dir=str(out), cache_dir=str(tmp_path / "cache"))
    rows = manifest(out)
    assert set(ds) == {"train", "test"}
    for split in ("train", "test"):
        want = [r for r in rows if r["split"] == split]
        assert ds[split].num_rows == len(want)
        sample = ds[split][0]
        assert sample["gt"].size == sample["lq"].size == sample["mask"].size == sample["reflection"].size == (360, 240)
        assert {s["scene"] for s in ds[split]} == {r["scene"] for r in want}
    assert not {s["scene"] for s in ds["train"]} & {s["scene"] for s in ds["test"]}


def test_webdataset_shards_load_with_webdataset(cli, ws, tmp_path):
    wds = pytest.importorskip("webdataset")
    out = export(cli, ws, "--split", "train", "--format", "webdataset", "--size", "360x240", "--shard-size", "4", "--out", tmp_path / "w")
    rows = manifest(out)
    shards = sorted(str(p) for p in out.glob("train-*.tar"))
    assert len(shards) == -(-len(rows) // 4)
    samples = list(wds.WebDataset(shards, shardshuffle=False).decode("rgb"))
    assert [s["__key__"] for s in samples] == [r["name"] for r in rows]
    for s, r in zip(samples, rows):
        assert s["gt.png"].shape == s["lq.png"].shape == s["mask.png"].shape == s["reflection.png"].shape == (240, 360, 3)
        assert s["json"]["pair_id"] == r["pair_id"] and s["json"]["split"] == "train"
        assert r["gt"].startswith("train-0000") and r["gt"].endswith(f".tar/{r['name']}.gt.png")
    first = (out / shards[0]).read_bytes()
    again = export(cli, ws, "--split", "train", "--format", "webdataset", "--size", "360x240", "--shard-size", "4", "--out", tmp_path / "w2")
    assert (again / Path(shards[0]).name).read_bytes() == first  # deterministic tar bytes


def test_include_rejected_adds_rejected_pairs_with_their_status(cli, ws, tmp_path):
    out = export(cli, ws, "--split", "all", "--size", "90x60", "--include-rejected", "--out", tmp_path / "r")
    statuses = {r["pair_id"]: r["status"] for r in manifest(out)}
    assert statuses[4] == "rejected" and 13 not in statuses  # the failed pair has no files to export


def test_export_refuses_a_folder_that_is_not_an_export(cli, ws, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    r = cli("-w", ws.root, "export", "--out", tmp_path / "mine")
    assert r.exit_code == 1 and "not an rdrf export" in r.output
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"
