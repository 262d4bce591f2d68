"""A training run SIGKILLed after a checkpoint and resumed, through the real CLI in a subprocess:
shared by stage I's test (`test_train_loop`) and the baseline tests (issue 15)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from rdrf_train.runs import RunFolder

REPO = Path(__file__).resolve().parents[1]


def metrics(run: Path) -> list[dict]:
    path = run / "metrics.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []


def kill_and_resume(stage: str, export: Path, run: Path, sets: list[str], max_steps: int, kill_after: int) -> tuple[RunFolder, dict, int]:
    """Train `stage` to `max_steps`, SIGKILL it once a checkpoint at `kill_after` or later is complete,
    resume to the end. Returns the run, the killed run's metrics lines by step, and the step resumed from."""
    args = [sys.executable, "-c", "from rdrf.cli import main; main()", "-q", "train", "--stage", stage,
            "--data", str(export), "--output", str(run), "--max-steps", str(max_steps), *[x for o in sets for x in ("--set", o)]]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    folder = RunFolder(run)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        latest = folder.latest()
        if latest and latest[0] >= kill_after:
            break
        time.sleep(0.1)
    assert proc.poll() is None, proc.stderr.read().decode()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {m["step"]: m for m in metrics(run) if "loss" in m}
    resume_step = folder.latest()[0]
    done = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return folder, before, resume_step


def check_resumed(folder: RunFolder, before: dict, resume_step: int, max_steps: int, kill_after: int) -> None:
    """The resumed run went on from its latest checkpoint: one resume event at that step, every step
    logged once, and (deterministic on CPU) the same loss as the killed run at the first new step."""
    import pytest

    assert resume_step >= kill_after and max(before) < max_steps
    after = metrics(folder.path)
    assert [m["step"] for m in after if m.get("event") == "resume"] == [resume_step]
    steps = [m for m in after if "loss" in m]
    assert [m["step"] for m in steps] == list(range(1, max_steps + 1))  # no gap, no duplicate
    first_new = next(m for m in steps if m["step"] == resume_step + 1)
    if resume_step + 1 in before:
        assert first_new["loss"] == pytest.approx(before[resume_step + 1]["loss"], rel=1e-5)
    assert folder.latest()[0] == max_steps
