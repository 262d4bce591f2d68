"""Virtual rig -> import -> align -> split -> export --split all -> rdrf train -> rdrf eval / restore,
through the CLI only: the training side reads exactly what `rdrf export` writes, in every layout."""

from __future__ import annotations

import json

import cv2
import pytest
import torch

pytestmark = pytest.mark.slow

TINY = ["model.dim=8", "model.blocks=[1,1,1,1]", "run.num_workers=0", "data.crop=64", "run.log_every=2",
        "run.val_every=6", "run.checkpoint_every=6", "run.val_max_images=2", "data.val_crop=128", "tile=256", "tile_overlap=32"]


@pytest.fixture(scope="module")
def workspace_aligned(tmp_path_factory):
    """One virtual-rig workspace, imported, aligned and split, shared by the three layouts."""
    from typer.testing import CliRunner

    from rdrf.cli import app

    def run_cli(*args):
        result = CliRunner().invoke(app, [str(a) for a in args])
        assert result.exit_code == 0, (args, result.output, result.exception)
        return result

    root = tmp_path_factory.mktemp("e2e")
    shoot, ws = root / "shoot", root / "ws"
    run_cli("synth", shoot, "--scenes", "6", "--lq", "2", "--size", "594x396", "--seed", "5")
    run_cli("init", ws)
    run_cli("-w", ws, "import", shoot)
    run_cli("-w", ws, "align", "--all")  # rejected pairs are reported, not an error: exit 0
    run_cli("-w", ws, "split", "--test-fraction", "0.34")
    return shoot, ws


@pytest.mark.parametrize("layout", ["folder", "webdataset", "imagefolder"])
def test_training_reads_what_rdrf_export_writes(tmp_path, cli, layout, workspace_aligned):
    torch.set_num_threads(1)
    shoot, ws = workspace_aligned
    r = cli("-w", ws, "export", "--split", "all", "--format", layout, "--out", tmp_path / "export")
    assert r.exit_code == 0, r.output
    export = tmp_path / "export"

    run = tmp_path / "run"
    args = ["train", "--stage", "restore", "--data", export, "--output", run, "--max-steps", "6", "--batch-size", "2"]
    r = cli(*args, *[x for o in TINY for x in ("--set", o)])
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert lines[-1]["step"] == 6 and "val_psnr" in lines[-1]

    r = cli("eval", "--data", export, "--checkpoint", run, "--json", "--max-images", "1")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["rows"][0]["method"].startswith("identity")

    src = next((shoot).glob("*/lq/*.jpg"))
    r = cli("restore", src, "--checkpoint", run, "--out", tmp_path / "restored")
    assert r.exit_code == 0, r.output
    assert cv2.imread(str(tmp_path / "restored" / f"{src.stem}.png")).shape == cv2.imread(str(src)).shape
