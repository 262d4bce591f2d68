"""Two rigs, one workspace (issue 13): two `rdrf capture` processes at once on two scenes keep every
shot; a second process on a scene another one is writing is refused, naming the holder."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_capture_cli import VIRTUAL

ROOT = Path(__file__).resolve().parents[1]
LQ = 4


@pytest.fixture
def ws(workspace, tmp_path):
    with open(workspace / "rdrf.toml", "a") as f:
        f.write(VIRTUAL)
    return workspace


def rdrf(ws: Path, *args: str, tmp: Path) -> subprocess.Popen:
    """`rdrf ARGS` in a process of its own, as a second terminal would run it."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env["XDG_CONFIG_HOME"] = str(tmp / "xdg")
    env.pop("RDRF_WORKSPACE", None)
    return subprocess.Popen(
        [sys.executable, "-m", "rdrf", "--workspace", str(ws), *args],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


def capture(ws: Path, scene: str, tmp: Path, lq: int = LQ) -> subprocess.Popen:
    # --interval: each degraded shot waits a little, so the two sessions interleave their shots
    return rdrf(ws, "capture", "--camera", "virtual", "--scene", scene, "--glass", "5mm", "--lq", str(lq), "--interval", "0.4", "--yes", tmp=tmp)


def finish(p: subprocess.Popen) -> tuple[int, str]:
    out, err = p.communicate(timeout=300)
    return p.returncode, out + err


def test_two_captures_at_once_on_two_scenes_keep_every_shot(ws, cli, tmp_path):
    two_rigs(ws, cli, tmp_path)


def two_rigs(ws: Path, cli, tmp_path: Path) -> None:
    """Scenes A and B captured by two processes at once: every shot there once, `rdrf verify` passes."""
    a, b = capture(ws, "A", tmp_path / "a"), capture(ws, "B", tmp_path / "b")
    (rc_a, out_a), (rc_b, out_b) = finish(a), finish(b)
    assert rc_a == 0, out_a
    assert rc_b == 0, out_b
    assert "locked" not in out_a + out_b and "busy" not in out_a + out_b

    r = cli("--workspace", ws, "shots", "--json")
    assert r.exit_code == 0, r.output
    shots = json.loads(r.stdout)
    for scene in ("A", "B"):
        mine = sorted((s["role"], s["index"]) for s in shots if s["scene"] == scene)
        assert mine == [("gt", 1), ("gt", 2)] + [("lq", i) for i in range(1, LQ + 1)], scene  # opening + closing GT
    # the sessions really ran at the same time: each one's shots span some of the other's
    times = {sc: sorted(s["captured_at"] for s in shots if s["scene"] == sc) for sc in ("A", "B")}
    assert times["A"][0] < times["B"][-1] and times["B"][0] < times["A"][-1], times

    files = [f for s in shots for f in s["files"]]
    assert len(files) == 2 * (2 + LQ) * 3  # JPEG + DNG + developed PNG per shot (two GTs per scene)
    assert len({f["path"] for f in files}) == len(files)
    originals = [f["sha256"] for f in files if f["kind"] == "original"]
    assert len(set(originals)) == len(originals)  # no shot stored twice, none stored over another
    on_disk = sorted(p.relative_to(ws).as_posix() for p in (ws / "originals").rglob("*") if p.is_file())
    assert on_disk == sorted(f["path"] for f in files if f["kind"] == "original")

    pairs = json.loads(cli("--workspace", ws, "pairs", "--json").stdout)
    assert len(pairs) == 2 * LQ
    r = cli("--workspace", ws, "verify")
    assert r.exit_code == 0, r.output
    assert "0 missing, 0 changed, 0 unknown, 0 interrupted" in r.output
    assert not any((ws / "locks").iterdir())  # both sessions let go of their scenes


HOLD = """
import sys
from pathlib import Path
from schemas.locks import scene_lock
with scene_lock(Path(sys.argv[1]), None, sys.argv[2], "rdrf capture"):
    print("held", flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def holder(ws):
    """A process holding scene A (as a running capture session does) until the test lets go."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(ws), "A"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    assert p.stdout.readline().strip() == "held"
    yield p
    p.stdin.close()
    assert p.wait(timeout=60) == 0


def test_a_second_capture_on_a_scene_being_written_is_refused_naming_the_holder(ws, cli, tmp_path, holder):
    rc, out = finish(capture(ws, "A", tmp_path / "a", lq=2))
    assert rc == 1, out
    assert f"scene A is being written by another rdrf process (pid {holder.pid} on {socket.gethostname()}, rdrf capture" in out
    assert "wait for it to finish, or use another scene" in out
    assert "Traceback" not in out
    assert json.loads(cli("--workspace", ws, "shots", "--json").stdout) == []
    assert not any((ws / "originals").iterdir())  # (other scenes go on meanwhile: the import test below)


def test_an_import_into_a_scene_being_captured_is_refused_and_other_scenes_go_in(ws, cli, tmp_path, holder):
    from tests.test_foundation_import import make_shoot

    src = make_shoot(tmp_path / "shoot")
    (src / "1").rename(src / "A")
    r = cli("--workspace", ws, "import", src)
    assert r.exit_code == 1, r.output
    assert f"scene A is being written by another rdrf process (pid {holder.pid}" in r.output
    scenes = {s["scene"] for s in json.loads(cli("--workspace", ws, "scenes", "--json").stdout)}
    assert scenes == {p.name for p in src.iterdir() if p.is_dir()} - {"A"}


def test_the_lock_goes_with_its_holder_even_when_killed(ws, tmp_path):
    from schemas.locks import scene_lock

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(ws), "A"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    assert p.stdout.readline().strip() == "held"
    p.kill()
    p.wait(timeout=60)
    lock = ws / "locks" / "scene-a.lock"
    assert lock.exists()  # the killed holder could not remove it
    with scene_lock(ws, None, "A", "rdrf import"):  # taken at once: no stale lock to clear by hand
        assert lock.read_text().startswith(f"pid {os.getpid()} on {socket.gethostname()}, rdrf import, since ")
    assert not lock.exists()  # a released lock leaves nothing in the workspace
