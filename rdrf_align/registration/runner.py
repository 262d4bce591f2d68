"""`rdrf align`: every pair without a current alignment, in parallel, resumable.

Crash safety: a worker writes a pair's outputs with `durable_write` (temporary file, fsync, rename),
so a file under aligned/ is either absent or complete; the main process alone writes the catalogue,
one transaction per pair (File rows, an Alignment row, the Pair's status/reason/alignment_id), and
journals the output paths (IngestJournal) while a pair is in flight. Killed at any point, a re-run
finds the pair still without an alignment and redoes it, overwriting the same paths; nothing is
catalogued twice; a full disk stops the run with the file named, and the re-run finishes it. A
lock on aligned/ keeps two `rdrf align` runs out of one workspace. With two or more workers, a
worker that dies (out of memory, a crash in a decoder) fails the pair it was aligning, not the run
(with one, pairs are aligned in the command's own process, which dies with it).

Determinism: a pair's homography, figures and outputs are a function of its two images (and the
settings) alone - bit-identical whatever the order, the number of workers, or a kill and resume in
between (features.reseed; tests/test_align_determinism.py).

Cores: with `--workers 1` (the default) the command's own process aligns several pairs at once,
its cores split between them (`_in_process`, concurrency.lanes: on 2 cores two pairs with one
OpenCV thread each), and a pair's independent steps run side by side on its share; with
`--workers N` each spawned worker gets cpu_count // N threads. Both keep freed memory for the next
pair (schemas.heap).

Memory: a worker holds one pair and its scene's GT (the two decoded images, their 8-bit lumas, the
valid area and mask at full size, no full-size float or warped copy; reduced copies for the masks):
a 9504x6336 (60 MP) pair peaked at 0.8 GB per worker, and `--workers 2` on two of them at 1.6 GB
for all processes together. Pairs go out in scene order so each worker prepares a GT once per scene,
and never more than `workers` pairs are in flight. Per pair only the raindrop mask is written
(OUTPUTS): the warped image is rendered on demand elsewhere (schemas.warp).
"""

from __future__ import annotations

import fcntl
import multiprocessing as mp
import os
import threading
import time
from collections import Counter, deque
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np
from sqlalchemy import select, update

from rdrf_align.registration import concurrency, drift, dual_pixel, masks
from rdrf_align.registration.outputs import write_output
from rdrf_align.registration.pair import METHOD, VERSION, PairOutcome, SceneGT, align_pair
from rdrf_align.registration.quality import ShotSetup, setup_mismatch
from schemas.catalogue import Alignment, File, IngestJournal, Pair, Scene, Shot
from schemas import heap, imageio
from schemas.errors import RdrfError
from schemas.parallel import ordered_map, side_by_side
from schemas.settings import AlignSettings, BracketSettings
from schemas.storage import TMP_MARK
from schemas.views import scene_drifts, shot_image
from schemas.vocabulary import AlignStatus, MaskMethod, values
from schemas.workspace import Catalogue, Workspace

@dataclass(frozen=True)
class AlignOptions:
    scenes: tuple[str, ...] = ()  # empty: every scene
    workers: int = 1
    force: bool = False
    mask_method: MaskMethod = "default"
    quality: AlignSettings = AlignSettings()
    mask_params: masks.MaskParams = masks.MaskParams()
    bracket: BracketSettings = BracketSettings()


@dataclass(frozen=True)
class Task:
    pair_id: int
    scene: str
    root: str
    gt_path: str | None  # relative to the workspace
    lq_path: str | None
    outputs: dict[str, str]  # kind -> relative path
    problem: str = ""  # why the pair cannot even be read, or cannot be a pair (quality.setup_mismatch)
    mask_method: MaskMethod = "default"
    quality: AlignSettings = AlignSettings()
    mask_params: masks.MaskParams = masks.MaskParams()
    gt_file_id: int | None = None  # the files behind gt_path and lq_path, recorded on the Alignment
    lq_file_id: int | None = None
    bracket_reason: str = ""  # the scene drifted between its opening and closing GT (drift.scene_reason)
    views: dict[str, str] = field(default_factory=dict)  # a dual-pixel shot's view files by side (dual_pixel.py)


@dataclass
class TaskResult:
    pair_id: int
    status: AlignStatus
    reason: str
    figures: dict = field(default_factory=dict)  # Alignment columns
    params: dict = field(default_factory=dict)
    stored: dict[str, tuple[str, str, int]] = field(default_factory=dict)  # kind -> (path, sha256, size)
    seconds: float = 0.0


@dataclass
class Summary:
    counts: Counter = field(default_factory=Counter)
    results: list[TaskResult] = field(default_factory=list)
    skipped: int = 0  # pairs that already had an alignment


# What a pair leaves under aligned/, by file kind: only what alignment alone can compute (DESIGN.md).
# The warped image is rendered on demand (schemas.warp) and the valid area derived from the
# homography. Each output is an entry here and in `output_pngs`, a FileKind and an Alignment column
# `<kind>_file_id` (with its migration); `commit` needs no change.
OUTPUTS = {"raindrop_mask": ".mask.png", "reflection": ".reflection.png"}


def output_paths(scene: str, lq_index: int) -> dict[str, str]:
    stem = f"aligned/{scene}/lq{lq_index:03d}"
    return {kind: f"{stem}{suffix}" for kind, suffix in OUTPUTS.items()}


def shot_setup(shot: Shot) -> ShotSetup:
    """The catalogue's facts about the rig of `shot` that decide whether two shots can pair."""
    setup = shot.setup
    return ShotSetup(setup.camera_model, setup.glass_mm) if setup is not None else ShotSetup()


def wild_scenes(cat: Catalogue, labels: tuple[str, ...] = ()) -> list[str]:
    """The wild scenes among `labels` (all when empty): no GT, so no pairs and nothing to align."""
    with cat.session() as s:
        q = select(Scene.label).where(Scene.kind == "wild")
        if labels:
            q = q.where(Scene.label.in_(labels))
        return sorted(s.scalars(q))


def plan(cat: Catalogue, options: AlignOptions) -> tuple[list[Task], int]:
    """The pairs to align (scene order), and how many were skipped as already aligned."""
    ws = cat.workspace
    tasks, skipped = [], 0
    with cat.session() as s:
        if options.scenes:
            known = set(s.scalars(select(Scene.label).where(Scene.label.in_(options.scenes))))
            missing = [x for x in options.scenes if x not in known]
            if missing:
                raise RdrfError(f"no scene {', '.join(map(repr, missing))} in {ws.root}; `rdrf scenes` lists them")
        q = select(Pair).join(Scene, Pair.scene_id == Scene.id)
        if options.scenes:
            q = q.where(Scene.label.in_(options.scenes))
        pairs = list(s.scalars(q.order_by(Scene.label, Pair.id)))
        for pair in pairs:
            if pair.alignment_id is not None and not options.force:
                skipped += 1
                continue
            problem, gt, lq = "", None, None
            try:
                gt, lq = shot_image(pair.gt_shot), shot_image(pair.lq_shot)
            except LookupError as exc:
                problem = str(exc)
            for role, shot in (("GT", pair.gt_shot), ("degraded", pair.lq_shot)):
                if not problem and shot.scene_id != pair.scene_id:
                    problem = f"{role} shot {shot.id} belongs to scene {shot.scene.label}, not to the pair's scene {pair.scene.label}"
            if not problem:
                problem = setup_mismatch(shot_setup(pair.gt_shot), shot_setup(pair.lq_shot))
            views = dual_pixel.view_sources(pair.lq_shot)
            tasks.append(
                Task(
                    pair.id, pair.scene.label, str(ws.root), gt and gt.path, lq and lq.path,
                    output_paths(pair.scene.label, pair.lq_shot.index) | dual_pixel.output_paths(pair.scene.label, pair.lq_shot.index, views), problem,
                    options.mask_method, options.quality, options.mask_params, gt and gt.id, lq and lq.id,
                    bracket_reason=drift.scene_reason(pair.scene.label, scene_drifts(pair.scene), options.bracket), views=views,
                )
            )
    return tasks, skipped


# ---- worker side: no catalogue access here ------------------------------------------------------

_SCENE: tuple[str, SceneGT] | None = None
_SCENE_LOCK = threading.Lock()


def read_image(path: Path) -> np.ndarray:
    """`imageio.read`, with every way a file can fail to decode as an RdrfError naming it: OpenCV
    raises (rather than returning None) for a header beyond its size limit, and a header that
    claims a huge frame can exhaust memory. A bad file must end its pair `failed`, never the run."""
    try:
        return imageio.read(path)
    except cv2.error as exc:
        if "CV_IO_MAX_IMAGE_PIXELS" in str(exc):
            why = "its header claims more pixels than OpenCV decodes (CV_IO_MAX_IMAGE_PIXELS); a damaged or foreign file"
        else:
            why = f"OpenCV cannot decode it ({(getattr(exc, 'err', '') or str(exc)).strip()})"
        raise RdrfError(f"{path}: {why}; expected a JPEG, PNG or TIFF image") from None
    except MemoryError:
        raise RdrfError(f"{path}: too large to decode in this worker's memory; expected a JPEG, PNG or TIFF image") from None


def _scene_gt(path: Path) -> SceneGT:
    """The scene's prepared GT, made once per scene; under a lock, so that two pairs in flight
    (`_in_process`) never prepare one scene twice."""
    global _SCENE
    key = f"{path}:{path.stat().st_mtime_ns}"
    with _SCENE_LOCK:
        if _SCENE is None or _SCENE[0] != key:
            _SCENE = None  # let the previous scene's arrays go before reading the next
            _SCENE = (key, SceneGT.prepare(read_image(path)))
        return _SCENE[1]


def _init_worker(threads: int) -> None:
    cv2.setNumThreads(threads)
    heap.keep_freed_memory()


def output_pngs(out: PairOutcome) -> dict[str, bytes]:
    """The files a pair leaves under aligned/, by kind (OUTPUTS): lossless; the binary mask as a
    1-bit PNG with run-length coding (a 15 MP mask with ~300 drops: ~130 kB, ~3-4% of the camera
    JPEG, in 0.03 s; zlib level 6 is 15% smaller but twice as slow, level 9 ten times).
    The reflection map (masks.reflection_map, long side <= 512): 8-bit, level 1."""
    return {
        "raindrop_mask": imageio.encode_png(out.mask, level=1, bilevel=True, rle=True),
        "reflection": imageio.encode_png(out.reflection, level=1),
    }


def work(task: Task) -> TaskResult:
    """Align one pair and store its outputs; every failure becomes a failed result with a reason."""
    t0 = time.perf_counter()
    if task.problem:
        return TaskResult(task.pair_id, "failed", task.problem)
    root = Path(task.root)
    try:
        # a new scene's GT is decoded and prepared while the degraded shot is decoded
        scene, lq = side_by_side(
            lambda: _scene_gt(root / task.gt_path), lambda: read_image(root / task.lq_path),
            workers=concurrency.process_threads(),
        )
    except (RdrfError, OSError) as exc:
        return TaskResult(task.pair_id, "failed", str(exc), seconds=time.perf_counter() - t0)
    out = align_pair(scene, lq, task.quality, task.mask_method, task.mask_params)
    del lq
    res = TaskResult(task.pair_id, *drift.with_scene_reason(out.status, out.reason, task.bracket_reason), params=out.params())
    if out.homography is not None:
        gain, offset = out.photometric.rgb()
        res.figures = {
            "homography": [[float(v) for v in row] for row in out.homography],
            "n_matches": out.registration.n_matches,
            "n_inliers": out.registration.n_inliers,
            "inlier_ratio": round(out.registration.inlier_ratio, 4),
            "reproj_error": round(float(out.registration.reproj_error), 4),
            "gain": gain,
            "offset": offset,
            "valid_fraction": round(out.valid_fraction, 5),
            "mask_coverage": round(out.mask_coverage, 5),
        }
        t = time.perf_counter()
        for kind, data in output_pngs(out).items():
            rel = task.outputs[kind]
            st = write_output(data, root, rel)
            res.stored[kind] = (rel, st.sha256, st.size)
        dual_pixel.add_view_masks(task, scene, out, res, root)  # a dual-pixel pair: a mask per view
        res.params.setdefault("timings_s", {})["write"] = round(time.perf_counter() - t, 4)
    res.params["mask_method"] = task.mask_method
    res.seconds = time.perf_counter() - t0
    return res


# ---- main side: dispatch, journal, commit -------------------------------------------------------


def _journal(cat: Catalogue, task: Task) -> None:
    with cat.session() as s:
        for rel in task.outputs.values():
            s.add(IngestJournal(path=rel, source=f"rdrf align: pair {task.pair_id}"))


def commit(cat: Catalogue, task: Task, res: TaskResult, mask_method: MaskMethod) -> None:
    """One transaction: outputs' File rows, the Alignment row, the pair's status - or none of it."""
    with cat.session() as s:
        pair = s.get(Pair, task.pair_id)
        files: dict[str, File] = {}
        for kind, (rel, sha, size) in res.stored.items():
            f = s.scalar(select(File).where(File.path == rel))
            if f is None:
                f = File(shot_id=pair.lq_shot_id, kind=kind, path=rel, sha256=sha, size=size)
                s.add(f)
            else:
                # same path, new content: earlier attempts no longer own these bytes
                col = getattr(Alignment, f"{kind}_file_id")
                s.execute(update(Alignment).where(col == f.id).values({col: None}))
                f.shot_id, f.kind, f.sha256, f.size = pair.lq_shot_id, kind, sha, size
            files[kind] = f
        s.flush()
        a = Alignment(
            pair_id=pair.id,
            method=METHOD,
            version=VERSION,
            status=res.status,
            reason=res.reason,
            mask_method=mask_method if res.stored else None,
            params=res.params or None,
            seconds=round(res.seconds, 3),
            gt_file_id=task.gt_file_id if res.stored else None,
            lq_file_id=task.lq_file_id if res.stored else None,
            **{f"{kind}_file_id": f.id for kind, f in files.items()},
            **res.figures,
        )
        s.add(a)
        s.flush()
        pair.status, pair.reason, pair.alignment_id = res.status, res.reason, a.id
        s.query(IngestJournal).filter(IngestJournal.path.in_(list(task.outputs.values()))).delete(synchronize_session=False)


class AlignLock:
    """An exclusive flock on the aligned/ folder itself (no lock file for `verify` to trip over)."""

    def __init__(self, ws: Workspace):
        ws.aligned.mkdir(exist_ok=True)
        self.path = ws.aligned
        self.fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise RdrfError(f"another `rdrf align` is running in {ws.root} (it holds {self.path}); wait for it to finish") from None

    def release(self) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def _clear_leftovers(ws: Workspace) -> None:
    """Temporary files of a killed run (never catalogued, never complete)."""
    for p in ws.aligned.rglob(f"*{TMP_MARK}*"):
        p.unlink(missing_ok=True)


def _pool(workers: int, threads: int) -> ProcessPoolExecutor:
    # spawn: OpenCV's thread pool does not survive fork. An executor, not multiprocessing.Pool: when a
    # worker dies (the kernel's OOM killer, a segfault in a codec) the Pool silently replaces it and
    # waits forever for the lost pair; the executor fails that pair's future (BrokenProcessPool).
    return ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_init_worker, initargs=(threads,))


def _died(task: Task) -> TaskResult:
    return TaskResult(
        task.pair_id, "failed",
        f"the worker process aligning this pair was killed, twice (out of memory? a crash in an image decoder?); "
        f"check {task.gt_path} and {task.lq_path} (`rdrf verify`), or align it with fewer --workers",
    )


def _run_pool(pending: deque[Task], workers: int, threads: int, before: Callable[[Task], None], fn: Callable[[Task], TaskResult],
              lost: list[Task]) -> Iterator[tuple[Task, TaskResult]]:
    """Results as pairs finish; stops at the first dead worker, leaving the pairs then in flight in
    `lost` (the executor cannot tell which of them killed it)."""
    with _pool(workers, threads) as pool:
        inflight: dict[Future, Task] = {}
        while pending or inflight:
            while pending and len(inflight) < workers:
                t = pending.popleft()
                before(t)
                inflight[pool.submit(fn, t)] = t
            done, _ = wait(inflight, return_when=FIRST_COMPLETED)
            for f in done:
                t = inflight.pop(f)
                if isinstance(f.exception(), BrokenProcessPool):
                    lost.append(t)
                    continue
                yield t, f.result()  # any other exception is a bug: keep its traceback
            if lost:
                lost.extend(inflight.values())
                return


def _in_process(tasks: list[Task], before: Callable[[Task], None],
                fn: Callable[[Task], TaskResult]) -> Iterator[tuple[Task, TaskResult]]:
    """The pairs in this process, one per lane (concurrency.lanes: the process's OpenCV threads
    split between up to MAX_LANES pairs at once): a pair's chain of steps leaves a core idle much
    of the time (decoding, numpy), and pairs side by side fill them - the cores of one `rdrf align`
    process are used as `--workers` would use them, without spawned workers each preparing the
    scene's GT again. Results come in plan order; a pair is journaled (`before`) just before it is
    started, as in the pool."""

    def journaled() -> Iterator[Task]:
        for t in tasks:
            before(t)
            yield t

    heap.keep_freed_memory()
    with concurrency.lanes(min(concurrency.MAX_LANES, len(tasks))) as n:  # a lone pair keeps every thread
        # fn reports bad input as a failed result; a full disk (RdrfError) or a bug propagates from here
        yield from ordered_map(lambda t: (t, fn(t)), journaled(), n, window=n)


def _results(tasks: list[Task], workers: int, before: Callable[[Task], None],
             fn: Callable[[Task], TaskResult] = work) -> Iterator[tuple[Task, TaskResult]]:
    if workers <= 1 or len(tasks) <= 1:
        yield from _in_process(tasks, before, fn)
        return
    threads = max(1, (os.cpu_count() or 1) // workers)
    pending = deque(tasks)
    while pending:
        lost: list[Task] = []
        yield from _run_pool(pending, workers, threads, before, fn, lost)
        # a worker died: each pair it may have been aligning gets a fresh worker of its own; the one
        # that kills that one too ends failed, the others are aligned as usual
        for t in sorted(lost, key=lambda t: t.pair_id):
            with _pool(1, threads) as solo:
                try:
                    res = solo.submit(fn, t).result()
                except BrokenProcessPool:
                    res = _died(t)
            yield t, res


def align_workspace(cat: Catalogue, options: AlignOptions, on_plan: Callable[[int], None] | None = None,
                    on_result: Callable[[Task, TaskResult], None] | None = None) -> Summary:
    if options.mask_method not in values(MaskMethod):
        raise RdrfError(f"--mask {options.mask_method}: expected one of {', '.join(values(MaskMethod))}")
    if options.workers < 1:
        raise RdrfError(f"--workers {options.workers}: expected at least 1")
    ws = cat.workspace
    lock = AlignLock(ws)
    try:
        _clear_leftovers(ws)
        tasks, skipped = plan(cat, options)
        if on_plan:
            on_plan(len(tasks))
        summary = Summary(skipped=skipped)
        for task, res in _results(tasks, options.workers, lambda t: _journal(cat, t)):
            commit(cat, task, res, options.mask_method)
            summary.counts[res.status] += 1
            summary.results.append(res)
            if on_result:
                on_result(task, res)
        return summary
    finally:
        lock.release()
