"""SIGKILL during `rdrf import` leaves a catalogue that verifies, and a re-run completes it."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.images import textured, write_jpeg


def _count(db: Path, sql: str) -> int:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.2)
        try:
            return con.execute(sql).fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def _rdrf(ws: Path, *args: str, **kw) -> subprocess.CompletedProcess | subprocess.Popen:
    cmd = [sys.executable, "-m", "rdrf", "--workspace", str(ws), "--quiet", *map(str, args)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) if kw.get("background") else subprocess.run(cmd, capture_output=True, text=True)


@pytest.mark.slow  # ~35 s for both moments: CI runs -m slow; the default run stays under 6 minutes
@pytest.mark.parametrize("moment", ["while-writing-files", "between-scenes"])
def test_sigkill_mid_import_then_verify_and_rerun(workspace, tmp_path, moment):
    shoot = tmp_path / "shoot"
    for scene in range(8):
        for i, name in enumerate(["gt.jpg"] + [f"lq/{k:03d}.jpg" for k in range(4)]):
            write_jpeg(shoot / str(scene) / name, textured(1200, 1800, scene * 10 + i), quality=97)
    db = workspace / "catalogue.sqlite"
    proc = _rdrf(workspace, "import", shoot, background=True)
    # kill at a chosen moment: while a journalled write is in flight, or once one scene is committed
    sql = "select count(*) from ingest_journal" if moment == "while-writing-files" else "select count(*) from scenes"
    deadline = time.monotonic() + 120
    while _count(db, sql) == 0:
        assert proc.poll() is None, "import finished before it could be killed; make the shoot bigger"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    verified = _rdrf(workspace, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    scenes_after_kill = _count(db, "select count(*) from scenes")
    assert scenes_after_kill < 8

    rerun = _rdrf(workspace, "import", shoot)
    assert rerun.returncode == 0, rerun.stderr
    assert _count(db, "select count(*) from scenes") == 8
    assert _count(db, "select count(*) from shots") == 40
    assert _count(db, "select count(*) from pairs") == 32
    assert _count(db, "select count(*) from ingest_journal") == 0
    final = _rdrf(workspace, "verify")
    assert final.returncode == 0 and "interrupted" not in final.stdout.split("ok:")[0], final.stdout
