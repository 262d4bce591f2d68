"""Video scenes (issue 16): footage made here with OpenCV's VideoWriter imports as a video scene whose
frames align to the chosen GT (homographies checked against the shake that made them); the GT-Rain
folder layout imports."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from tests.align_synth import random_homography, textured, view

W, H, M, FPS = 480, 360, 80, 10.0


def _streaks(img: np.ndarray, seed: int) -> np.ndarray:
    """Thin semi-transparent slanted lines, a stand-in for rain streaks that alignment must see past."""
    rng = np.random.default_rng(seed)
    layer = np.zeros_like(img)
    for _ in range(25):
        x, y = int(rng.integers(0, W)), int(rng.integers(0, H))
        cv2.line(layer, (x, y), (x + 4, y + 22), (255, 255, 255), 1, cv2.LINE_AA)
    return np.clip(img + 0.5 * layer.astype(np.float32), 0, 255).astype(np.uint8)


def _footage(path: Path, frames: int = 11, clean: int = 3) -> dict[int, np.ndarray]:
    """A static camera with small shake: frames 0..clean-1 clean and still, the rest shaken with rain.
    Returns the true homography (frame px -> GT px) of each shaken frame."""
    canvas = textured(H + 2 * M, W + 2 * M, 5)
    rng = np.random.default_rng(7)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), FPS, (W, H))
    assert writer.isOpened()
    truth = {}
    for i in range(frames):
        if i < clean:
            frame = view(canvas, np.eye(3), W, H, M)
        else:
            truth[i] = random_homography(W, H, 2.5, rng)
            frame = _streaks(view(canvas, truth[i], W, H, M), i)
        writer.write(np.ascontiguousarray(frame))
    writer.release()
    return truth


def _corner_error(Ha: np.ndarray, Hb: np.ndarray) -> float:
    pts = np.float32([[0, 0], [W, 0], [W, H], [0, H]]).reshape(-1, 1, 2)
    a = cv2.perspectiveTransform(pts, Ha)
    b = cv2.perspectiveTransform(pts, Hb)
    return float(np.abs(a - b).max())


def _json(cli, ws, *args):
    r = cli("--workspace", ws, *args, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_video_frames_align_to_the_averaged_gt(cli, workspace, tmp_path):
    clip = tmp_path / "rain.avi"
    truth = _footage(clip)
    r = cli("--workspace", workspace, "import-video", clip, "--scene", "v1", "--gt-range", "0:2", "--every", "2",
            "--degradation", "rain_streak")
    assert r.exit_code == 0, r.output
    shots = _json(cli, workspace, "shots", "--scene", "v1")
    gt = [s for s in shots if s["role"] == "gt"]
    lq = [s for s in shots if s["role"] == "lq"]
    assert len(gt) == 1 and gt[0]["qa"]["video_gt"]["frames"] == [0, 2]
    assert [s["frame_index"] for s in lq] == [4, 6, 8, 10]  # every 2nd frame, the GT frames left out
    assert [s["timestamp_s"] for s in lq] == pytest.approx([0.4, 0.6, 0.8, 1.0])
    assert {s["degradation"] for s in lq} == {"rain_streak"}
    scene = {s["scene"]: s for s in _json(cli, workspace, "scenes")}["v1"]
    assert scene["kind"] == "video"

    assert cli("--workspace", workspace, "align", "--scene", "v1").exit_code == 0
    pairs = _json(cli, workspace, "pairs", "--scene", "v1")
    by_frame = {s["shot_id"]: s["frame_index"] for s in lq}
    assert len(pairs) == 4
    for p in pairs:
        assert p["status"] == "ok", p["reason"]
        err = _corner_error(np.array(p["homography"]), truth[by_frame[p["lq_shot"]]])
        assert err < 0.5, (by_frame[p["lq_shot"]], err)

    # The report shows the scene as a frame strip: the GT, then the frames in order.
    r = cli("--workspace", workspace, "report", "--out", tmp_path / "qa")
    assert r.exit_code == 0 and "no GT image" not in Path(r.stdout.strip()).read_text(), r.output

    # Re-running adds nothing.
    r = cli("--workspace", workspace, "import-video", clip, "--scene", "v1", "--gt-range", "0:2", "--every", "2",
            "--degradation", "rain_streak")
    assert r.exit_code == 0 and "(0 shots added)" in r.stderr
    # ... and another GT choice for the same scene is refused, nothing added
    r = cli("--workspace", workspace, "import-video", clip, "--scene", "v1", "--gt-frame", "5", "--every", "2")
    assert r.exit_code == 1 and "already has its ground truth" in r.stderr
    assert len(_json(cli, workspace, "shots", "--scene", "v1")) == 5


def test_video_gt_choices_are_checked_before_anything_is_stored(cli, workspace, tmp_path):
    clip = tmp_path / "rain.avi"
    _footage(clip, frames=5, clean=2)
    r = cli("--workspace", workspace, "import-video", clip, "--scene", "v2")
    assert r.exit_code == 2 and "exactly one of --gt-frame" in r.stderr
    r = cli("--workspace", workspace, "import-video", clip, "--scene", "v2", "--gt-range", "3:9")
    assert r.exit_code == 1 and "has 5 frames" in r.stderr
    r = cli("--workspace", workspace, "import-video", tmp_path / "missing.mp4", "--scene", "v2", "--gt-frame", "0")
    assert r.exit_code == 1 and "missing.mp4" in r.stderr
    assert _json(cli, workspace, "scenes") == []
    # a separate clean clip of another size is refused, naming both sizes
    other = tmp_path / "clean.avi"
    wr = cv2.VideoWriter(str(other), cv2.VideoWriter_fourcc(*"FFV1"), FPS, (160, 120))
    wr.write(np.zeros((120, 160, 3), np.uint8))
    wr.release()
    r = cli("--workspace", workspace, "import-video", clip, "--scene", "v2", "--gt-clip", other)
    assert r.exit_code == 1 and "480x360" in r.stderr and "160x120" in r.stderr
    assert _json(cli, workspace, "scenes") == []


def test_gt_rain_layout_imports(cli, workspace, tmp_path):
    """The published layout (UCLA-VMG/GT-RAIN, its loaders): one folder per scene, rainy frames
    `*-R-NNN.png`, the clean frame `*-C-000.png`."""
    canvas = textured(H + 2 * M, W + 2 * M, 9)
    root = tmp_path / "GT-RAIN_train"
    rng = np.random.default_rng(3)
    for scene in ("Oinari_0-0", "M1135_0-0"):
        folder = root / scene
        folder.mkdir(parents=True)
        cv2.imwrite(str(folder / f"{scene}-C-000.png"), view(canvas, np.eye(3), W, H, M))
        for k in range(3):
            cv2.imwrite(str(folder / f"{scene}-R-{k:03d}.png"), _streaks(view(canvas, random_homography(W, H, 1.5, rng), W, H, M), k))
    r = cli("--workspace", workspace, "import", root, "--layout", "gt-rain", "--degradation", "rain_streak+rain_accumulation")
    assert r.exit_code == 0, r.output
    scenes = {s["scene"]: s for s in _json(cli, workspace, "scenes")}
    assert set(scenes) == {"Oinari_0-0", "M1135_0-0"}
    assert all(s["kind"] == "video" and s["gt_shots"] == 1 and s["lq_shots"] == 3 for s in scenes.values())
    lq = [s for s in _json(cli, workspace, "shots", "--scene", "M1135_0-0") if s["role"] == "lq"]
    assert [s["frame_index"] for s in lq] == [0, 1, 2]
    assert {s["degradation"] for s in lq} == {"rain_streak+rain_accumulation"}
    assert len(_json(cli, workspace, "pairs")) == 6
    # a scene folder without its clean frame is refused by name; the others still go in
    bad = tmp_path / "bad" / "Nope_0-0"
    bad.mkdir(parents=True)
    cv2.imwrite(str(bad / "Nope_0-0-R-000.png"), view(canvas, np.eye(3), W, H, M))
    r = cli("--workspace", workspace, "import", tmp_path / "bad", "--layout", "gt-rain")
    assert r.exit_code == 1 and "Nope_0-0" in r.stderr and "C-000" in r.stderr


def test_frame_strip_puts_the_gt_first_and_wraps_rows():
    from rdrf_align.report.sheets import RED, frame_strip

    gt = np.full((30, 40, 3), 200, np.uint8)
    shots = [(np.full((30, 40, 3), 10 * i, np.uint8), f"frame {i}", "ok") for i in range(10)]
    strip = frame_strip(gt, shots, per_row=4, cell_width=40, gap=6)
    assert strip.shape == (3 * (30 + 6) + 6, 4 * (40 + 6) + 6, 3)  # 11 tiles in rows of 4
    assert tuple(strip[3, 3]) == tuple(RED)  # the GT cell is framed in red
    wild = frame_strip(None, shots[:3], per_row=4, cell_width=40, gap=6)
    assert wild.shape == (30 + 12, 3 * 46 + 6, 3) and tuple(wild[3, 3]) != tuple(RED)
