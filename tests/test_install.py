"""What the core install promises: every import declared, the core never needs torch, and a command
that needs an extra says which one in one line."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_every_imported_module_is_declared_in_pyproject():
    deptry = shutil.which("deptry") or str(Path(sys.executable).with_name("deptry"))
    r = subprocess.run([deptry, "."], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_cli_and_core_commands_never_import_torch():
    code = (
        "import sys; import rdrf.cli; "
        "from rdrf.commands import align, capture, export, import_, report, split, synth, verify; "
        "import rdrf_align.registration.pair, rdrf_capture.capture, schemas.workspace; "
        "bad = sorted(m for m in ('torch', 'diffusers', 'transformers', 'accelerate') if m in sys.modules); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize(
    "args, command",
    [
        (["train", "--data", "nowhere"], "train"),
        (["restore", "x.png", "--checkpoint", "run"], "restore"),
        (["eval", "--data", "nowhere", "--checkpoint", "run"], "eval"),
        (["benchmark", "--data", "nowhere", "--run", "a=run"], "benchmark"),
        (["info", "model"], "info model"),
        (["demo", "--out", "nowhere"], "demo"),
    ],
)
def test_a_command_needing_the_train_extra_names_it_without_a_traceback(cli, monkeypatch, args, command):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    r = cli(*args)
    assert r.exit_code == 2, r.output
    assert f"`rdrf {command}` needs the 'train' extra" in r.output and "pip install 'rdrf[train]'" in r.output
    assert "Traceback" not in r.output
