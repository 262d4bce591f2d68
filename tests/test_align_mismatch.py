"""`rdrf align` on shots that cannot be a pair, and on files that cannot be read: each pair ends
`failed` with a reason that says why (and names the file), never `ok`, never a traceback."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from tests.align_synth import make_pair, random_homography
from sqlalchemy import select

from schemas.catalogue import Pair, Scene, Setup, Shot
from schemas.views import shot_image
from schemas.workspace import Catalogue, Workspace

W, H = 640, 448


def _scene(seed: int, n: int) -> tuple[np.ndarray, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    gt, lqs = None, []
    for _ in range(n):
        gt, lq = make_pair(W, H, random_homography(W, H, 6, rng), seed)
        lqs.append(lq)
    return gt, lqs


def _grey(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)  # stored as a one-channel file


def _write(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(path.suffix, img)
    assert ok
    path.write_bytes(buf.tobytes())


def _layout(root: Path, scenes: dict[str, tuple[np.ndarray, list[np.ndarray]]], toml: dict[str, str] | None = None) -> Path:
    for label, (gt, lqs) in scenes.items():
        _write(root / label / "gt.png", gt)
        for i, lq in enumerate(lqs, 1):
            _write(root / label / "lq" / f"IMG_{i:04d}.png", lq)
        if toml and label in toml:
            (root / label / "scene.toml").write_text(toml[label])
    return root


def _outcomes(ws: Path) -> dict[tuple[str, str], tuple[str, str, bool]]:
    """(scene, degraded file) -> (status, reason, has outputs)."""
    cat = Catalogue(Workspace(ws))
    with cat.session() as s:
        rows = s.execute(
            select(Pair, Scene.label, Shot.original_name).join(Scene, Pair.scene_id == Scene.id).join(Shot, Pair.lq_shot_id == Shot.id)
        ).all()
        out = {(label, Path(name).stem): (p.status, p.reason, p.alignment.aligned_file_id is not None) for p, label, name in rows}
    cat.close()
    return out


def _image_path(ws: Path, scene: str, role: str, index: int = 1) -> Path:
    cat = Catalogue(Workspace(ws))
    with cat.session() as s:
        shot = s.scalar(select(Shot).join(Scene).where(Scene.label == scene, Shot.role == role, Shot.index == index))
        path = ws / shot_image(shot).path
    cat.close()
    return path


def test_glass_and_camera_mismatch_fail_with_the_reason(tmp_path, cli, workspace):
    """An 8 mm shot filed into a 5.5 mm scene, and a shot from another body, are not pairs."""
    src = _layout(tmp_path / "in", {"1": _scene(1, 4)}, {"1": 'glass_mm = 5.5\ncamera = "ILCE-7RM4A"\n'})
    assert cli("--workspace", workspace, "import", src).exit_code == 0
    cat = Catalogue(Workspace(workspace))
    with cat.session() as s:
        scene = s.scalar(select(Scene).where(Scene.label == "1"))
        lq = {sh.index: sh for sh in scene.shots if sh.role == "lq"}
        lq[2].setup = Setup(scene=scene, camera_model="ILCE-7RM4A", glass_mm=8.0)
        lq[3].setup = Setup(scene=scene, camera_model="NIKON D7100", glass_mm=5.5)
        lq[4].setup = None  # nothing recorded: cannot be confirmed to share the GT's setup
    cat.close()
    r = cli("--workspace", workspace, "align", "--all")
    assert r.exit_code == 0, r.output
    out = _outcomes(workspace)
    assert out[("1", "IMG_0001")][0] == "ok", out
    status, reason, stored = out[("1", "IMG_0002")]
    assert status == "failed" and "8 mm glass" in reason and "5.5 mm" in reason and not stored
    status, reason, stored = out[("1", "IMG_0003")]
    assert status == "failed" and "NIKON D7100" in reason and "ILCE-7RM4A" in reason and not stored
    status, reason, stored = out[("1", "IMG_0004")]
    assert status == "failed" and "not for the degraded shot" in reason and not stored


def test_greyscale_next_to_colour_fails(tmp_path, cli, workspace):
    gt2, lqs2 = _scene(2, 2)
    gt3, lqs3 = _scene(3, 2)
    scenes = {
        "2": (gt2, [lqs2[0], _grey(lqs2[1])]),  # colour GT: a colour and a greyscale degraded shot
        "3": (_grey(gt3), [lqs3[0], _grey(lqs3[1])]),  # greyscale GT: a colour and a greyscale one
    }
    assert cli("--workspace", workspace, "import", _layout(tmp_path / "in", scenes)).exit_code == 0
    r = cli("--workspace", workspace, "align", "--all")
    assert r.exit_code == 0, r.output
    out = _outcomes(workspace)
    assert out[("2", "IMG_0001")][0] == "ok"
    status, reason, stored = out[("2", "IMG_0002")]
    assert status == "failed" and "degraded image is greyscale" in reason and not stored
    status, reason, stored = out[("3", "IMG_0001")]
    assert status == "failed" and "GT is greyscale" in reason and not stored
    assert out[("3", "IMG_0002")][0] == "ok", out[("3", "IMG_0002")]  # both grey: a greyscale pair


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims `width` x `height` and whose data is a few bytes."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_unreadable_images_fail_naming_the_file(tmp_path, cli, workspace, workers):
    """Beyond OpenCV's pixel limit, truncated, or not an image at all: the pair (or every pair of a
    scene whose GT it is) ends failed naming the file; the others are aligned; exit 0."""
    scenes = {"4": _scene(4, 4), "5": _scene(5, 2)}
    assert cli("--workspace", workspace, "import", _layout(tmp_path / "in", scenes)).exit_code == 0
    huge, truncated, garbage = (_image_path(workspace, "4", "lq", i) for i in (2, 3, 4))
    huge.write_bytes(_png_claiming(100_000, 100_000))
    truncated.write_bytes(truncated.read_bytes()[:2000])
    garbage.write_bytes(b"this is not an image at all" * 100)
    gt5 = _image_path(workspace, "5", "gt")
    gt5.write_bytes(_png_claiming(60_000, 40_000))
    r = cli("--workspace", workspace, "align", "--all", "--workers", workers)
    assert r.exit_code == 0, r.output
    out = _outcomes(workspace)
    assert out[("4", "IMG_0001")][0] == "ok"
    for key, path, phrase in [
        (("4", "IMG_0002"), huge, "at most 170 million pixels"),
        (("4", "IMG_0003"), truncated, "cannot be decoded"),
        (("4", "IMG_0004"), garbage, "cannot be decoded"),
        (("5", "IMG_0001"), gt5, "at most 170 million pixels"),
        (("5", "IMG_0002"), gt5, "at most 170 million pixels"),
    ]:
        status, reason, stored = out[key]
        assert status == "failed" and str(path) in reason and phrase in reason and not stored, (key, reason)


def _killed_on_pair_3(task):
    """A stand-in for `runner.work` whose worker dies on pair 3, as the OOM killer would make it."""
    import os
    import signal

    from rdrf_align.registration.runner import TaskResult

    if task.pair_id == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return TaskResult(task.pair_id, "ok", "")


@pytest.mark.timeout(120)
def test_a_killed_worker_fails_its_pair_and_the_run_goes_on():
    """multiprocessing.Pool waited forever for a pair whose worker died; now that pair (and only it)
    ends failed, and the pairs in flight beside it are aligned again in a worker of their own."""
    from rdrf_align.registration.runner import Task, _results

    tasks = [Task(i, "1", "/ws", f"gt{i}.png", f"lq{i}.png", {}) for i in range(1, 7)]
    journaled = []
    results = {t.pair_id: r for t, r in _results(tasks, 2, journaled.append, fn=_killed_on_pair_3)}
    assert sorted(results) == [1, 2, 3, 4, 5, 6]
    assert results[3].status == "failed" and "killed" in results[3].reason and "lq3.png" in results[3].reason
    assert all(results[i].status == "ok" for i in (1, 2, 4, 5, 6))
    assert sorted(t.pair_id for t in journaled) == [1, 2, 3, 4, 5, 6]  # each journaled once
