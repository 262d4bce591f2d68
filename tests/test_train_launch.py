"""How runs behave when launched as several processes (CPU, gloo): each process draws its own noise,
and a launch Accelerate does not join into one run is refused before it writes anything."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from schemas.errors import RdrfError

REPO = Path(__file__).resolve().parents[1]

RANK_SCRIPT = """
import json, torch
from accelerate import Accelerator
from rdrf_train.loop import check_launch, seed_processes
acc = Accelerator()
check_launch(acc)
seed_processes(0)
noise = torch.randn(8)
t = torch.randint(0, 1000, (4,))
seen = acc.gather(noise[None])  # the processes really form one group
print(json.dumps({"rank": acc.process_index, "n": acc.num_processes, "noise": noise.tolist(), "t": t.tolist(),
                  "gathered": seen.shape[0]}), flush=True)
acc.end_training()  # destroy the process group as the training loop does; gloo threads left alive can abort the exit
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # two spawned training processes, ~10 s (CI runs -m slow)
def test_every_process_draws_its_own_noise_in_a_two_process_cpu_run():
    port = _free_port()
    procs = []
    for rank in range(2):
        env = dict(os.environ, OMP_NUM_THREADS="1", ACCELERATE_USE_CPU="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
                   RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", LOCAL_WORLD_SIZE="2",
                   PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
        procs.append(subprocess.Popen([sys.executable, "-c", RANK_SCRIPT], cwd=REPO, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    a, b = sorted(results, key=lambda r: r["rank"])
    assert a["n"] == b["n"] == 2 and a["gathered"] == 2
    assert a["noise"] != b["noise"] and a["t"] != b["t"]


def test_a_torchrun_launch_accelerate_does_not_join_is_refused(monkeypatch, tmp_path):
    from rdrf_train.loop import check_launch

    class Alone:  # what Accelerate reports when it did not see the launch as distributed
        num_processes = 1

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    with pytest.raises(RdrfError, match="ACCELERATE_USE_CPU=1.*accelerate launch --cpu --num_processes 2"):
        check_launch(Alone())
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("LOCAL_RANK", "0")
    check_launch(Alone())  # a plain single-process run
