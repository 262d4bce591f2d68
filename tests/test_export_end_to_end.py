"""Virtual rig -> import -> align -> split -> export -> report, through the CLI only (the done-when checks)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
from PIL import Image

from schemas.records import ExportRecord

pytestmark = pytest.mark.slow


def test_virtual_rig_to_leak_free_exports_and_a_report(tmp_path, cli):
    shoot, ws = tmp_path / "shoot", tmp_path / "ws"
    assert cli("synth", shoot, "--scenes", "8", "--lq", "2", "--size", "594x396", "--seed", "3", "--no-reflections").exit_code == 0
    assert cli("init", ws).exit_code == 0
    # This test is about what happens after QC: loosen the scene-motion check, which rejects most
    # virtual-rig pairs at this small size, so both splits have ok pairs.
    with open(ws / "rdrf.toml", "a") as f:
        f.write("\n[align]\nmax_motion_fraction = 0.08\n")
    r = cli("-w", ws, "import", shoot)
    assert r.exit_code == 0, r.output
    r = cli("-w", ws, "align", "--all")
    assert r.exit_code == 0, r.output  # rejected pairs are reported, not an error (--strict makes them one)
    assert cli("-w", ws, "split", "--test-fraction", "0.25").exit_code == 0

    validator = jsonschema.Draft202012Validator(ExportRecord.model_json_schema())
    manifests = {}
    for split in ("train", "test"):
        r = cli("-w", ws, "export", "--split", split)
        assert r.exit_code == 0, r.output
        out = Path(r.stdout.strip().splitlines()[-1])
        rows = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
        assert rows
        for row in rows:
            validator.validate(row)
            for role in ("gt", "lq", "mask"):
                assert Image.open(out / row[role]).size == (1080, 720)
        manifests[split] = (out, rows)
    assert not {r["scene"] for r in manifests["train"][1]} & {r["scene"] for r in manifests["test"][1]}

    r = cli("-w", ws, "export", "--split", "train", "--out", tmp_path / "again")
    assert (tmp_path / "again" / "manifest.jsonl").read_bytes() == (manifests["train"][0] / "manifest.jsonl").read_bytes()

    datasets = pytest.importorskip("datasets")
    wds = pytest.importorskip("webdataset")
    assert cli("-w", ws, "export", "--split", "all", "--format", "imagefolder", "--out", tmp_path / "hf").exit_code == 0
    hf = datasets.load_dataset("imagefolder", data_dir=str(tmp_path / "hf"), cache_dir=str(tmp_path / "cache"))
    assert hf["train"].num_rows == len(manifests["train"][1]) and hf["test"].num_rows == len(manifests["test"][1])
    assert all(hf["test"][0][k].size == (1080, 720) for k in ("gt", "lq", "mask"))
    assert cli("-w", ws, "export", "--split", "test", "--format", "webdataset", "--out", tmp_path / "wds").exit_code == 0
    samples = list(wds.WebDataset(sorted(str(p) for p in (tmp_path / "wds").glob("test-*.tar")), shardshuffle=False).decode("rgb"))
    assert len(samples) == len(manifests["test"][1])
    assert all(s["gt.png"].shape == s["lq.png"].shape == s["mask.png"].shape == (720, 1080, 3) for s in samples)

    r = cli("-w", ws, "report")
    assert r.exit_code == 0, r.output
    page = ws / "reports" / "report.html"
    assert page.read_text().count('<figure class="scene"') == 8
    browser = shutil.which("chromium")
    if browser:
        shot = tmp_path / "report.png"
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,3000", f"--screenshot={shot}",
                        page.as_uri()], check=True, capture_output=True, timeout=120)
        assert Image.open(shot).size == (1400, 3000)
