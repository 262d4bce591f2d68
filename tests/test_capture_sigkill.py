"""SIGKILL during a capture (mid-download / mid-store): the catalogue verifies and the next run goes on."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

from tests.test_capture_cli import VIRTUAL

RUN = "import sys; from rdrf.cli import main; sys.argv[0] = 'rdrf'; main()"


def start(ws, tmp_path, *args):
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "RDRF_WORKSPACE": str(ws)}
    return subprocess.Popen([sys.executable, "-c", RUN, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def journalled(db) -> int:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.05)
        try:
            return con.execute("select count(*) from ingest_journal where path like 'originals/%'").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def test_sigkill_mid_store_then_verify_and_continue(workspace, tmp_path, cli):
    with open(workspace / "rdrf.toml", "a") as f:
        f.write(VIRTUAL)
    db = workspace / "catalogue.sqlite"
    capture = ("capture", "--camera", "virtual", "--scene", "5", "--glass", "5mm", "--yes")

    # 1. killed the moment a shot's files are being written (its journal rows are committed)
    p = start(workspace, tmp_path, *capture, "--lq", "30")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and p.poll() is None:
        with sqlite3.connect(db) as con:
            done = con.execute("select count(*) from shots").fetchone()[0]
        if done >= 3 and journalled(db):
            break
        time.sleep(0.002)
    assert p.poll() is None, p.communicate()[1]
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    v = cli("--workspace", workspace, "verify", "--json")
    assert v.exit_code == 0, v.output
    report = json.loads(v.stdout)
    assert report["ok"]
    # what the kill left half-written is explained (journalled or temporary) and belongs to scene 5
    assert all(p.startswith(("originals/5/", "developed/5/")) for p in report["interrupted"]), report["interrupted"]
    before = json.loads(cli("--workspace", workspace, "shots", "--scene", "5", "--json").stdout)
    originals = lambda shot: sorted(f["path"].rsplit(".", 1)[1] for f in shot["files"] if f["kind"] == "original")  # noqa: E731
    assert len(before) >= 3 and all(originals(s) == ["DNG", "JPG"] for s in before)  # no half-registered shot
    assert all(s["qa"] and "timing" in s["qa"] for s in before)  # a shot is catalogued with its QA or not at all

    # 2. killed at an arbitrary moment of the next shot
    p = start(workspace, tmp_path, *capture, "--lq", "30")
    for line in p.stderr:
        if "stored" in line:
            break
    time.sleep(0.3)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert cli("--workspace", workspace, "verify").exit_code == 0
    mid = json.loads(cli("--workspace", workspace, "shots", "--scene", "5", "--json").stdout)
    assert all(s["qa"] for s in mid)

    # 3. the next run continues the series after the last catalogued shot
    last = max(s["index"] for s in mid if s["role"] == "lq")
    r = cli("--workspace", workspace, *capture, "--lq", "2")
    assert r.exit_code == 0, r.output
    after = json.loads(cli("--workspace", workspace, "shots", "--scene", "5", "--json").stdout)
    assert sorted(s["index"] for s in after if s["role"] == "lq")[-2:] == [last + 1, last + 2]
    assert sum(s["role"] == "gt" and not s["bracket"] for s in after) == 1  # closing GTs end each series
    assert all(len(s["files"]) == 3 for s in after)  # RAW development left by the kills was caught up
    v = cli("--workspace", workspace, "verify", "--json")
    assert v.exit_code == 0 and json.loads(v.stdout)["unknown"] == []
    old = {(s["role"], s["index"]): [f for f in s["files"] if f["kind"] == "original"] for s in before}
    for s in after:
        if (s["role"], s["index"]) in old:
            assert [f for f in s["files"] if f["kind"] == "original"] == old[(s["role"], s["index"])]
