"""Training end to end on a small synthetic export: the loss falls and the model beats the identity
baseline; a SIGKILLed run resumes at the right step and learning rate; `rdrf eval`, `rdrf restore`
and `rdrf info model` on the result. Tiny DRSformer configs go through the same code as the paper's."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from rdrf_train.loop import train
from rdrf_train.runs import RunFolder
from rdrf_train.lr_schedule import lr_at
from rdrf_train.stages.restore import RestoreConfig
from tests.baseline_helpers import check_resumed, kill_and_resume
from tests.train_helpers import make_export

TINY = ["model.dim=8", "model.blocks=[1,1,1,1]", "run.num_workers=0"]
REPO = Path(__file__).resolve().parents[1]




@pytest.fixture(scope="module")
def export(tmp_path_factory):
    return make_export(tmp_path_factory.mktemp("train") / "export", n_train=8, n_test=2)


def _train(export, out, steps, one_thread=None) -> RunFolder:
    return train(
        "restore", export, out,
        overrides=TINY + [f"run.max_steps={steps}", "run.batch_size=2", "data.crop=32", f"run.log_every={steps // 10}",
                          f"run.val_every={steps // 2}", f"run.checkpoint_every={steps // 4}", "run.keep_checkpoints=2",
                          "run.grad_clip=0.5", "tile=64", "tile_overlap=16"],
        show_progress=False,
    )


def _check_training(run: RunFolder, steps: int) -> None:
    lines = [m for m in run.metrics() if "loss" in m]
    assert [m["step"] for m in lines][-1] == steps
    assert all({"step", "loss", "lr"} <= set(m) for m in lines)
    first, last = lines[0]["loss"], np.mean([m["loss"] for m in lines[-3:]])
    assert last < 0.6 * first, (first, last)
    final = lines[-1]
    assert final["val_psnr"] > final["val_psnr_identity"] + 2.0, final
    # checkpoints: a limit of 2 keeps the last two; the resolved config is in the run folder
    assert [s for s, _ in run.checkpoints()] == [steps * 3 // 4, steps]
    assert isinstance(run.load_config(RestoreConfig), RestoreConfig) and run.load_config(RestoreConfig).model.dim == 8
    assert (run.checkpoints()[-1][1] / "weights" / "restorer.safetensors").exists()


@pytest.fixture(scope="module")
def trained(export, tmp_path_factory, one_thread) -> RunFolder:
    # ~40 s on the 2-core CI machine when nothing else runs
    return _train(export, tmp_path_factory.mktemp("runs") / "stage1", 200)


def test_200_cpu_steps_lower_the_loss_and_beat_the_identity_baseline(trained):
    _check_training(trained, 200)


def test_eval_prints_table_2_columns_with_the_identity_row(cli, trained, export):
    r = cli("eval", "--data", export, "--checkpoint", trained.path)
    assert r.exit_code == 0, r.output
    assert "| identity (degraded input) |" in r.stdout and "PSNR" in r.stdout and "SSIM" in r.stdout
    assert "| PSNR RGB ↑ | SSIM RGB ↑ | PSNR Y ↑ | SSIM Y ↑ | SSIM pyiqa ↑ |" in r.stdout  # every convention named
    assert "- PSNR Y: PSNR on BT.601 Y" in r.stdout and "- SSIM pyiqa: pyiqa 'ssim'" in r.stdout
    assert "LPIPS skipped" in r.stderr
    r = cli("eval", "--data", export, "--checkpoint", trained.path, "--json")
    report = json.loads(r.stdout)
    identity, model = report["rows"]
    assert report["images"] == 2 and report["step"] == 200
    assert model["psnr"] > identity["psnr"] and len(report["per_image"]) == 2
    # the same figures as the last validation during training
    assert model["psnr"] == pytest.approx(trained.metrics()[-1]["val_psnr"], abs=1e-3)
    assert model["lpips"] is None
    conventions = {"psnr", "ssim", "psnr_y", "ssim_y", "ssim_pyiqa"}
    assert set(report["conventions"]) == conventions and conventions <= set(model) and conventions <= set(identity)
    assert conventions <= set(report["per_image"][0]) and conventions <= set(report["per_image"][0]["identity"])


def test_eval_adds_lpips_when_local_weights_are_given(cli, trained, export, tmp_path):
    from rdrf_train.lpips import LPIPS

    ref = LPIPS()
    torch.save({f"features.{k}": v for k, v in ref.features.state_dict().items()}, tmp_path / "alexnet.pth")
    torch.save({f"lin{i}.model.1.weight": c.weight.data.abs() for i, c in enumerate(ref.lins)}, tmp_path / "alex.pth")
    r = cli("eval", "--data", export, "--checkpoint", trained.path, "--json", "--lpips-weights", tmp_path)
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)["rows"]
    assert all(row["lpips"] is not None and row["lpips"] > 0 for row in rows)
    assert "LPIPS skipped" not in r.stderr


def test_restore_writes_images_the_size_of_the_inputs(cli, trained, tmp_path):
    rng = np.random.default_rng(0)
    small = (rng.random((45, 77, 3)) * 255).astype(np.uint8)
    large = (rng.random((150, 170, 3)) * 255).astype(np.uint8)  # larger than the run's 64 px tile: tiled
    cv2.imwrite(str(tmp_path / "small.jpg"), small)
    cv2.imwrite(str(tmp_path / "large.png"), large)
    r = cli("restore", tmp_path / "small.jpg", tmp_path / "large.png", "--checkpoint", trained.path, "--out", tmp_path / "out")
    assert r.exit_code == 0, r.output
    assert cv2.imread(str(tmp_path / "out" / "small.png")).shape == small.shape
    assert cv2.imread(str(tmp_path / "out" / "large.png")).shape == large.shape
    r = cli("restore", tmp_path / "missing.png", "--checkpoint", trained.path)
    assert r.exit_code == 1 and "missing.png does not exist" in r.output
    r = cli("restore", tmp_path / "small.jpg", "--checkpoint", tmp_path)
    assert r.exit_code == 1 and "neither a training run" in r.output
    r = cli("restore", tmp_path / "small.jpg", "--checkpoint", trained.path, "--steps", "10", "--out", tmp_path / "o2")
    assert r.exit_code == 1 and "--steps applies to stage II runs" in r.output


def test_info_model_prints_the_parameter_count(cli):
    r = cli("info", "model", "--stage", "restore", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["total"]["trainable"] == 3_716_804


def _metrics(run: Path) -> list[dict]:
    path = run / "metrics.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []


@pytest.mark.slow  # a kill-and-resume training run (15 s): CI runs it with -m slow
def test_a_sigkilled_run_resumes_at_the_right_step_and_learning_rate(export, tmp_path):
    sets = TINY + ["run.batch_size=2", "data.crop=32", "run.log_every=1", "run.checkpoint_every=3", "run.val_every=1000",
                   "run.keep_checkpoints=2", "schedule.constant_fraction=0"]
    folder, before, resume_step = kill_and_resume("restore", export, tmp_path / "run", sets, 24, 6)
    check_resumed(folder, before, resume_step, 24, 6)  # one resume event, every step once, the same loss
    after = _metrics(folder.path)
    event = next(m for m in after if m.get("event") == "resume")
    config = folder.load_config(RestoreConfig)
    expected_lr = lr_at(resume_step, 24, config.optim, config.schedule)
    assert event["lr"] == pytest.approx(expected_lr, rel=1e-9)
    first_new = next(m for m in after if "loss" in m and m["step"] == resume_step + 1)
    assert first_new["lr"] == pytest.approx(expected_lr, rel=1e-9)
    if resume_step + 1 in before:  # the killed run got there too: the same LR
        assert first_new["lr"] == pytest.approx(before[resume_step + 1]["lr"], rel=1e-9)
    assert len(folder.checkpoints()) == 2 and folder.latest()[0] == 24


def test_benchmark_prints_table_2_from_each_run_and_caches_the_restorations(cli, trained, export, tmp_path):
    # a method restored outside rdrf: a folder with NAME.png per test pair (here: the GT blurred)
    from rdrf_train.export_reader import read_manifest

    outside = tmp_path / "outside"
    outside.mkdir()
    for r in read_manifest(export, "test"):
        gt = cv2.imread(str(export / r.gt))
        cv2.imwrite(str(outside / f"{r.name}.png"), cv2.GaussianBlur(gt, (0, 0), 1.5))
    cache = tmp_path / "cache"
    args = ["benchmark", "--data", export, "--run", f"DRSformer†={trained.path}", "--run", f"blurred GT={outside}", "--cache", cache]
    r = cli(*args, "--format", "json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert [row["method"] for row in report["rows"]] == ["Degraded input", "DRSformer†", "blurred GT"]
    assert [c["key"] for c in report["columns"]] == ["psnr", "ssim"] and report["convention"] == "pyiqa"
    assert "LPIPS skipped" in r.stderr and "no-reference metrics" in r.stderr  # pyiqa cannot run with the CPU torch
    # each row is computed from its own run: the run's row is `rdrf eval`'s in the same convention
    ev = json.loads(cli("eval", "--data", export, "--checkpoint", trained.path, "--json").stdout)["rows"]
    identity, run_row, blurred = report["rows"]
    assert identity["scores"]["psnr"] == pytest.approx(ev[0]["psnr"]) and identity["scores"]["ssim"] == pytest.approx(ev[0]["ssim_pyiqa"])
    assert run_row["scores"]["psnr"] == pytest.approx(ev[1]["psnr"]) and run_row["scores"]["ssim"] == pytest.approx(ev[1]["ssim_pyiqa"])
    assert blurred["scores"]["psnr"] != run_row["scores"]["psnr"]
    # the restorations are cached: a second table in another convention restores nothing
    cached = sorted(p for p in cache.rglob("*.png"))
    assert len(cached) == len(read_manifest(export, "test"))
    stamps = [p.stat().st_mtime_ns for p in cached]
    y = cli(*args, "--convention", "y", "--format", "json")
    assert [p.stat().st_mtime_ns for p in cached] == stamps
    assert json.loads(y.stdout)["rows"][1]["scores"]["psnr"] == pytest.approx(ev[1]["psnr_y"])
    cached[0].write_bytes(b"damaged")  # a damaged cache entry is restored again
    assert cli(*args, "--format", "csv").exit_code == 0 and cv2.imread(str(cached[0])) is not None
    index = cached[0].parent / "index.json"
    index.write_text('{"truncated')  # so is everything a damaged index vouched for
    assert cli(*args, "--format", "csv").exit_code == 0 and json.loads(index.read_text()).keys() == {p.stem for p in cached}
    # the markdown table: arrows, best bold and second underlined among the methods, identity unranked
    md = cli(*args).stdout
    assert md.splitlines()[0] == "| Method | PSNR ↑ | SSIM ↑ |"
    ranked = [line for line in md.splitlines() if line.startswith("| DRSformer†") or line.startswith("| blurred GT")]
    assert all(("**" in line) or ("<u>" in line) for line in ranked)
    assert "**" not in next(line for line in md.splitlines() if line.startswith("| Degraded input"))
    latex = cli(*args, "--format", "latex").stdout
    assert r"\textbf{" in latex and r"\underline{" in latex and "PSNR$\\uparrow$" in latex
    # a folder missing a pair's image, and a malformed --run, are clear errors
    next(outside.iterdir()).unlink()
    bad = cli(*args)
    assert bad.exit_code == 1 and "has no image for pair" in bad.output
    bad = cli("benchmark", "--data", export, "--run", str(trained.path))
    assert bad.exit_code == 2 and "expected NAME=PATH" in bad.output
    # scoring the warp's valid area needs records that say where it is (this synthetic export's do not)
    bad = cli("benchmark", "--data", export, "--run", f"DRSformer†={trained.path}", "--cache", cache, "--valid-only")
    assert bad.exit_code == 1 and "re-export with this version" in bad.output and "Traceback" not in bad.output


def test_ablation_rows_are_checked_against_the_runs_they_name(tmp_path):
    from rdrf_train.benchmark import ABLATIONS, Method, check_ablations
    from schemas.errors import RdrfError

    def run(name: str, stage: str, condition: str | None = None, control: Path | None = None) -> Method:
        folder = tmp_path / name
        folder.mkdir()
        model = f'condition = "{condition}"\n' if condition else f'control = "{control}"\n'
        (folder / "config.toml").write_text(f'stage = "{stage}"\n[model]\n{model}')
        return Method(name=name, path=folder)

    b1 = run("baseline1", "control", "lq")
    mg = run("mg-control", "control", "modulate_gate")
    full = run("full", "fidelity", control=mg.path)
    rows, notices = check_ablations([full, b1])
    assert [m.label for m in rows] == [ABLATIONS["baseline1"][0], ABLATIONS["full"][0]]  # the paper's order
    assert len(notices) == 3 and all("rdrf_train/configs/ablations/" in n for n in notices)
    for key in ABLATIONS:
        assert (REPO / "rdrf_train" / "configs" / "ablations" / f"{key}.toml").exists()
    wrong = run("baseline2", "control", "lq")  # Baseline 2 conditions on I_s, not I_lq
    with pytest.raises(RdrfError, match="condition 's'"):
        check_ablations([wrong])
    with pytest.raises(RdrfError, match="unknown row"):
        check_ablations([Method(name="mine", path=mg.path)])


def test_the_shipped_ablation_configs_resolve_over_their_stage_default():
    from rdrf_train.benchmark import ABLATIONS
    from rdrf_train.config import resolve_dict, validate
    from rdrf_train.stages import get_stage

    for key, (_, stage, condition) in ABLATIONS.items():
        path = REPO / "rdrf_train" / "configs" / "ablations" / f"{key}.toml"
        train_stage = "control" if key == "no-modulate-gate" else stage  # its control run; the row is its fidelity run
        data = resolve_dict(train_stage, path)
        assert data["stage"] == train_stage
        validate(get_stage(train_stage).config_class, data, str(path))
        if train_stage == "control":
            assert data["model"]["condition"] == condition, key
