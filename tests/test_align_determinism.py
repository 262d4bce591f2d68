"""A pair's alignment is a pure function of its two images: bit-identical whatever else the process
aligned before it, in whatever order, with however many workers, and after a kill and resume
(issue 11: resumed runs differed by up to 0.4 px and 4.7 points of mask coverage)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from tests.align_runs import kill_align_part_way
from tests.align_synth import add_drops, make_pair, random_homography
from sqlalchemy import select

from rdrf_align.registration import features as feat
from rdrf_align.registration.pair import SceneGT, align_pair
from schemas.catalogue import Pair, Scene, Shot
from schemas.workspace import Catalogue, Workspace

W, H = 640, 448
SCENES = ("1", "2", "3")
SHOTS = 3


def _rainy_scene(seed: int, n: int = SHOTS) -> tuple[np.ndarray, list[np.ndarray]]:
    """A GT and `n` noisy degraded shots with raindrops: pairs whose coarse matches are borderline
    enough that a differently built FLANN index moves the final homography and mask."""
    rng = np.random.default_rng(seed)
    gt, lqs = None, []
    for k in range(n):
        gt, lq = make_pair(W, H, random_homography(W, H, 8, rng), seed, noise=4)
        lqs.append(add_drops(lq, 40, 8, 30, seed * 10 + k)[0])
    return gt, lqs


def _write(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".png", img)
    assert ok
    path.write_bytes(buf.tobytes())


@pytest.fixture(scope="module")
def layout(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("rainy") / "incoming"
    for i, label in enumerate(SCENES):
        gt, lqs = _rainy_scene(i * 2)  # seeds 0, 2, 4
        _write(src / label / "gt.png", gt)
        for k, lq in enumerate(lqs, 1):
            _write(src / label / "lq" / f"IMG_{k:04d}.png", lq)
    return src


def _workspace(tmp_path: Path, name: str, cli, layout: Path) -> Path:
    ws = tmp_path / name
    assert cli("init", ws).exit_code == 0
    r = cli("--workspace", ws, "import", layout)
    assert r.exit_code == 0, r.output
    return ws


def _results(ws: Path) -> dict[tuple[str, str], dict]:
    """Per (scene, degraded file): status, every figure, and the bytes of every output."""
    cat = Catalogue(Workspace(ws))
    out = {}
    with cat.session() as s:
        rows = s.execute(
            select(Pair, Scene.label, Shot.original_name).join(Scene, Pair.scene_id == Scene.id).join(Shot, Pair.lq_shot_id == Shot.id)
        ).all()
        for pair, label, name in rows:
            a = pair.alignment
            assert a is not None, (label, name)
            params = {k: v for k, v in (a.params or {}).items() if k != "timings_s"}
            files = {
                kind: (f.path, f.sha256)
                for kind, f in (("mask", a.raindrop_mask_file), ("gt", a.gt_file), ("lq", a.lq_file))
                if f is not None
            }
            out[(label, name)] = {
                "status": a.status, "reason": a.reason, "homography": a.homography, "n_matches": a.n_matches,
                "n_inliers": a.n_inliers, "inlier_ratio": a.inlier_ratio, "reproj_error": a.reproj_error, "gain": a.gain,
                "offset": a.offset, "valid_fraction": a.valid_fraction, "mask_coverage": a.mask_coverage,
                "params": params, "files": files,
            }
    cat.close()
    return out


def _assert_identical(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    diffs = []
    for key in sorted(a):
        for field, value in a[key].items():
            if value != b[key][field]:
                diffs.append(f"{key} {field}: {value} != {b[key][field]}")
    assert not diffs, "\n".join(diffs)


def test_index_does_not_depend_on_the_process_rng():
    """FLANN's randomized KD-trees draw from OpenCV's per-thread RNG: the root cause of issue 11."""
    gt, (lq, *_) = _rainy_scene(0, 1)
    g = feat.detect(cv2.cvtColor(gt, cv2.COLOR_BGR2GRAY), 1.0)
    q = feat.detect(cv2.cvtColor(lq, cv2.COLOR_BGR2GRAY), 1.0)
    runs = []
    for seed in (1, 2, 3):
        cv2.setRNGSeed(seed)  # what earlier index builds in the same process would have done
        runs.append(feat.match(q, g, trained=feat.index(g)))
    for src, dst in runs[1:]:
        assert np.array_equal(src, runs[0][0]) and np.array_equal(dst, runs[0][1])


def test_align_pair_does_not_depend_on_history():
    """The same pair after other pairs (which build and cache indexes, at other factors too) and
    after the process RNG moved on: bit-identical homography, figures and mask."""
    gt, lqs = _rainy_scene(2)
    first = align_pair(SceneGT.prepare(gt), lqs[0])
    scene = SceneGT.prepare(gt)
    cv2.setRNGSeed(12345)
    for lq in lqs[1:]:
        align_pair(scene, lq)
    cv2.randu(np.zeros(1000, np.float32), 0, 1)
    again = align_pair(scene, lqs[0])
    assert first.status == again.status and first.reason == again.reason
    assert np.array_equal(first.homography, again.homography)
    assert np.array_equal(first.mask, again.mask) and np.array_equal(first.valid, again.valid)
    assert first.params().keys() == again.params().keys()
    assert {k: v for k, v in first.params().items() if k != "timings_s"} == {
        k: v for k, v in again.params().items() if k != "timings_s"
    }


def test_align_pair_does_not_depend_on_the_thread_count():
    """`--workers N` gives each worker cpu_count // N OpenCV threads; one worker runs with all."""
    gt, lqs = _rainy_scene(4, 1)
    before = cv2.getNumThreads()
    try:
        outs = []
        for threads in (1, 4):
            cv2.setNumThreads(threads)
            outs.append(align_pair(SceneGT.prepare(gt), lqs[0]))
    finally:
        cv2.setNumThreads(before)
    a, b = outs
    assert np.array_equal(a.homography, b.homography) and np.array_equal(a.mask, b.mask)
    assert np.array_equal(a.valid, b.valid) and a.mask_coverage == b.mask_coverage


def test_pairs_in_flight_share_the_cores_and_give_them_back():
    """One `rdrf align` process splits its OpenCV threads between the pairs it aligns at once (one
    each on two cores, so they do not contend for each other's cores) and restores the setting."""
    from rdrf_align.registration import concurrency

    before = cv2.getNumThreads()
    try:
        for total, lanes, each in ((1, 1, 1), (2, 2, 1), (8, concurrency.MAX_LANES, 8 // concurrency.MAX_LANES)):
            cv2.setNumThreads(total)
            with concurrency.lanes() as n:
                assert (n, cv2.getNumThreads(), concurrency.process_threads()) == (lanes, each, lanes * each)
            assert cv2.getNumThreads() == total and concurrency.process_threads() == total
    finally:
        cv2.setNumThreads(before)


@pytest.mark.timeout(300)
def test_order_and_workers_do_not_change_results(tmp_path, cli, layout):
    """Uninterrupted in one process, two pairs in flight on threads (runner._in_process, one OpenCV
    thread each), vs one scene first then the rest on two spawned workers (one pair at a time each)."""
    straight = _workspace(tmp_path, "straight", cli, layout)
    before = cv2.getNumThreads()
    cv2.setNumThreads(2)  # the in-process run pipelines pairs from two threads on: on any machine
    try:
        assert cli("--workspace", straight, "align", "--all").exit_code == 0
    finally:
        cv2.setNumThreads(before)
    reordered = _workspace(tmp_path, "reordered", cli, layout)
    cv2.setRNGSeed(987)  # the in-process run must not depend on what this process did before either
    assert cli("--workspace", reordered, "align", "--scene", "3").exit_code == 0
    assert cli("--workspace", reordered, "align", "--scene", "2", "--scene", "1", "--workers", "2").exit_code == 0
    a, b = _results(straight), _results(reordered)
    assert len(a) == len(SCENES) * SHOTS
    _assert_identical(a, b)


@pytest.mark.timeout(300)
def test_kill_and_resume_gives_the_uninterrupted_result(tmp_path, cli, layout):
    straight = _workspace(tmp_path, "straight", cli, layout)
    assert cli("--workspace", straight, "align", "--all").exit_code == 0
    resumed = _workspace(tmp_path, "resumed", cli, layout)
    done = kill_align_part_way(resumed, "--all", "--workers", "2", timeout=150)
    assert 2 <= done < len(SCENES) * SHOTS, "the run should have been killed part-way"
    assert cli("--workspace", resumed, "align", "--all").exit_code == 0
    _assert_identical(_results(straight), _results(resumed))


@pytest.mark.timeout(300)
def test_full_disk_stops_the_run_and_the_resume_gives_the_uninterrupted_result(tmp_path, cli, layout, monkeypatch):
    import errno

    from rdrf_align.registration import outputs, runner

    straight = _workspace(tmp_path, "straight", cli, layout)
    assert cli("--workspace", straight, "align", "--all").exit_code == 0
    resumed = _workspace(tmp_path, "resumed", cli, layout)
    real, calls = outputs.durable_write, []
    per_pair = len(runner.output_paths("1", 1))  # files a pair writes

    def disk_fills_up(data, dest):
        calls.append(dest)
        if len(calls) > 3 * per_pair + 1:  # three pairs and one file of the fourth
            raise OSError(errno.ENOSPC, "No space left on device", str(dest))
        return real(data, dest)

    monkeypatch.setattr(outputs, "durable_write", disk_fills_up)
    r = cli("--workspace", resumed, "align", "--all")
    assert r.exit_code == 1 and "No space left on device" in r.output and "run `rdrf align` again" in r.output
    monkeypatch.setattr(outputs, "durable_write", real)
    assert len(_results_so_far(resumed)) == 3  # the pairs done before the disk filled up are kept
    assert cli("--workspace", resumed, "align", "--all").exit_code == 0
    _assert_identical(_results(straight), _results(resumed))


def _results_so_far(ws: Path) -> list[int]:
    cat = Catalogue(Workspace(ws))
    with cat.session() as s:
        done = list(s.scalars(select(Pair.id).where(Pair.alignment_id.is_not(None))))
    cat.close()
    return done
