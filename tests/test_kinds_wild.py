"""Wild (unpaired) scenes end to end: import and capture with no GT, their own split, an unpaired
export, and evaluation that is no-reference only and says why (issue 16)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tests.images import textured, write_jpeg

VIRTUAL = """
[virtual]
width = 192
height = 128
raw = false

[virtual.params]
drop_count = 40
flow_traces = 0
"""


def _paired_shoot(root: Path, scenes: int = 4) -> Path:
    for n in range(1, scenes + 1):
        gt = textured(96, 144, n)
        write_jpeg(root / str(n) / "gt.jpg", gt)
        write_jpeg(root / str(n) / "lq" / "0001.jpg", np.roll(gt, 2, axis=1))
    return root


def _wild_folder(root: Path) -> Path:
    """Images directly in the folder (one scene) and a sub-folder (another), one RAW-less JPEG each."""
    for i in range(3):
        write_jpeg(root / f"drive_{i:03d}.jpg", textured(80, 120, 10 + i))
    write_jpeg(root / "night" / "a.jpg", textured(80, 120, 20))
    (root / "night" / "scene.toml").write_text('degradation = "rain_streak"\n')
    return root


def _json(cli, ws, *args):
    r = cli("--workspace", ws, *args, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_wild_import_is_its_own_split_and_exports_unpaired(cli, workspace, tmp_path):
    assert cli("--workspace", workspace, "import", _paired_shoot(tmp_path / "paired")).exit_code == 0
    wild = _wild_folder(tmp_path / "dashcam")
    r = cli("--workspace", workspace, "import", "--wild", wild, "--scene-prefix", "w-")
    assert r.exit_code == 0, r.output
    scenes = {s["scene"]: s for s in _json(cli, workspace, "scenes")}
    assert scenes["w-dashcam"]["kind"] == "wild" and scenes["w-dashcam"]["split"] == "wild"
    assert scenes["w-dashcam"]["gt_shots"] == 0 and scenes["w-dashcam"]["lq_shots"] == 3
    assert scenes["w-night"]["lq_shots"] == 1
    shots = _json(cli, workspace, "shots", "--scene", "w-night")
    assert [s["degradation"] for s in shots] == ["rain_streak"]  # scene.toml says; otherwise unknown
    assert {s["degradation"] for s in _json(cli, workspace, "shots", "--scene", "w-dashcam")} == {"unknown"}
    status = _json(cli, workspace, "status")
    assert status["kinds"] == {"paired": 4, "wild": 2} and status["splits"]["wild"] == 2
    table = cli("--workspace", workspace, "status").stdout
    assert "wild scenes" in table and "paired scenes" in table
    assert not [p for p in _json(cli, workspace, "pairs") if p["scene"].startswith("w-")]  # nothing to align

    # Splits: the paired scenes get train/test, the wild ones stay wild and are never moved.
    assert cli("--workspace", workspace, "split").exit_code == 0
    scenes = {s["scene"]: s for s in _json(cli, workspace, "scenes")}
    assert {scenes[str(n)]["split"] for n in range(1, 5)} <= {"train", "test"}
    assert scenes["w-dashcam"]["split"] == "wild"
    r = cli("--workspace", workspace, "split", "set", "w-dashcam", "train")
    assert r.exit_code == 1 and "wild scene" in r.stderr and "Traceback" not in r.output

    # Paired shots never go into a wild scene, nor wild ones into a paired scene.
    r = cli("--workspace", workspace, "import", "--wild", tmp_path / "paired" / "1" / "lq", "--scene-prefix", "")
    assert r.exit_code == 0  # folder 'lq' is a new wild scene: fine
    (tmp_path / "again" / "1").mkdir(parents=True)
    write_jpeg(tmp_path / "again" / "1" / "x.jpg", textured(80, 120, 99))
    r = cli("--workspace", workspace, "import", "--wild", tmp_path / "again" / "1")
    assert r.exit_code == 1 and "scene 1 is a paired scene, not wild" in r.stderr

    out = tmp_path / "wild-export"
    r = cli("--workspace", workspace, "export", "--split", "wild", "--size", "96x64", "--out", out, "--clean-domain")
    assert r.exit_code == 0, r.output
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert {r["scene"] for r in records} == {"w-dashcam", "w-night", "lq"}
    assert all(r["gt"] is None and r["mask"] is None and r["pair_id"] is None and r["kind"] == "wild" for r in records)
    for rec in records:
        from schemas import imageio

        img = imageio.read(out / rec["lq"])
        assert img.shape == (64, 96, 3)
    train = [s for s, v in scenes.items() if v["split"] == "train"]
    clean = (out / "clean" / "meta_info.txt").read_text().split()
    assert len(clean) == len(train) and all((out / "clean" / name).is_file() for name in clean)
    assert "no ground truth" in (out / "README.md").read_text().lower()
    # ... and the paired export holds no wild scene; align passes over the wild scenes cleanly.
    r = cli("--workspace", workspace, "align", "--scene", "w-dashcam")
    assert r.exit_code == 0 and "wild" in r.stderr and "Traceback" not in r.output, r.output
    assert cli("--workspace", workspace, "align", "--all").exit_code == 0
    r = cli("--workspace", workspace, "export", "--split", "all", "--size", "96x64", "--out", tmp_path / "paired-export")
    assert r.exit_code == 0, r.output
    paired = [json.loads(line) for line in (tmp_path / "paired-export" / "manifest.jsonl").read_text().splitlines()]
    assert paired and all(r["kind"] == "paired" and r["gt"] and r["degradation"] == "both" for r in paired)
    assert "### Per degradation and scene kind" in (tmp_path / "paired-export" / "README.md").read_text()

    # The report draws every wild scene's shots (no GT frame) and does not call a missing GT a problem.
    r = cli("--workspace", workspace, "report", "--out", tmp_path / "qa")
    assert r.exit_code == 0, r.output
    html = Path(r.stdout.strip()).read_text()
    assert "w-dashcam has no GT" not in html and "no GT image to put" not in html
    assert html.count("scene-w-dashcam") >= 1 and "Needs attention" not in html


def test_wild_folder_with_a_bad_file_is_refused_by_name(cli, workspace, tmp_path):
    wild = _wild_folder(tmp_path / "dashcam")
    (wild / "night" / "notes.txt").write_text("x")
    r = cli("--workspace", workspace, "import", "--wild", wild)
    assert r.exit_code == 1 and "notes.txt: unsupported file type" in r.stderr
    assert {s["scene"] for s in _json(cli, workspace, "scenes")} == {"dashcam"}  # the good scene went in
    r = cli("--workspace", workspace, "export", "--split", "wild", "--format", "webdataset")
    assert r.exit_code == 2 and "folder or imagefolder" in r.stderr
    r = cli("--workspace", workspace, "export", "--split", "wild", "--borders", "keep")  # nothing is warped: not silently ignored
    assert r.exit_code == 2 and "--borders" in r.stderr


@pytest.fixture
def vws(workspace, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    with open(workspace / "rdrf.toml", "a") as f:
        f.write(VIRTUAL)
    return workspace


def test_wild_capture_takes_no_gt_and_benchmark_scores_no_reference_only(cli, vws, tmp_path, monkeypatch):
    r = cli("--workspace", vws, "capture", "--camera", "virtual", "--scene", "w1", "--glass", "5mm", "--lq", "2", "--wild", "--yes")
    assert r.exit_code == 0, r.output
    assert "wild shot 1/2" in r.stderr and "light-blocking box" not in r.stderr
    shots = _json(cli, vws, "shots", "--scene", "w1")
    assert [(s["role"], s["index"]) for s in shots] == [("lq", 1), ("lq", 2)]
    assert all(s["qa"]["reference"] is False and s["qa"]["skipped"] and s["degradation"] == "unknown" for s in shots)
    r = cli("--workspace", vws, "capture", "--camera", "virtual", "--scene", "w1", "--glass", "5mm", "--lq", "1", "--yes")
    assert r.exit_code == 1 and "capture it with --wild" in r.stderr
    assert len(_json(cli, vws, "shots", "--scene", "w1")) == 2  # refused before a shot was fired

    out = tmp_path / "wx"
    assert cli("--workspace", vws, "export", "--split", "wild", "--size", "96x64", "--out", out).exit_code == 0
    names = [json.loads(line)["name"] for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert names == ["w1_001", "w1_002"]

    pytest.importorskip("torch")
    # eval needs pairs: refused with the reason and what to run instead
    r = cli("eval", "--data", out, "--checkpoint", tmp_path / "no-run")
    assert r.exit_code == 1 and "unpaired export" in r.stderr and "rdrf benchmark" in r.stderr and "Traceback" not in r.output
    # benchmark: restored images from outside (here: the degraded image blurred)
    import cv2

    restored = tmp_path / "restored"
    restored.mkdir()
    for name in names:
        img = cv2.imread(str(out / "wild" / "lq" / f"{name}.png"))
        cv2.imwrite(str(restored / f"{name}.png"), cv2.GaussianBlur(img, (5, 5), 0))
    # without NR weights there is nothing to score: refused, saying why
    r = cli("benchmark", "--data", out, "--split", "wild", "--run", f"blur={restored}")
    assert r.exit_code == 1 and "no ground truth" in r.stderr and "--iqa-weights" in r.stderr
    # with a no-reference metric available, only no-reference columns
    from rdrf_train import benchmark as bench
    from rdrf_train.iqa import NRMetrics

    def sharpness(names, weights, device):
        m = NRMetrics()
        m.metrics["lapvar"] = lambda img: float(cv2.Laplacian((img * 255).astype(np.float32).mean(axis=2), cv2.CV_32F).var())
        m.higher_better["lapvar"] = True
        return m

    monkeypatch.setattr(bench, "load_nr_metrics", sharpness)
    r = cli("benchmark", "--data", out, "--split", "wild", "--run", f"blur={restored}", "--format", "json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert [c["key"] for c in report["columns"]] == ["lapvar"]
    assert any("no ground truth" in n and "no-reference metrics only" in n for n in report["notices"])
    scores = {row["method"]: row["scores"]["lapvar"] for row in report["rows"]}
    assert scores["blur"] < scores[report["rows"][0]["method"]]  # blurring lowers sharpness below the input's
