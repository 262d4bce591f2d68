"""RAW development off the capture's critical path.

Developing a 15-60 MP RAW and writing it as a 16-bit PNG takes seconds to tens of seconds, while the
operator only needs the originals stored and the live QA (which reads the camera JPEG) before the
next shot. So `rdrf capture` ingests with `develop=False` and a worker thread develops each RAW shot
afterwards, with the ingestion's policy (every shot of a scene with the GT's as-shot white balance,
half size when the workspace asks): journal the path, write it durably, then register the File and
clear the journal in one transaction. Killed half-way, the journal explains the file; the next
session of the scene develops what is missing before it starts shooting.
"""

from __future__ import annotations

import queue
import threading
from typing import Callable, Optional

from sqlalchemy import delete, select

from rdrf_capture.develop import DevelopParams, as_shot_white_balance, develop, encode_png16
from rdrf_capture.images import is_raw
from schemas.catalogue import File, IngestJournal, Scene, Shot
from schemas.errors import RdrfError
from schemas.storage import durable_write
from schemas.views import scene_gt
from schemas.workspace import Catalogue


def _raw_of(shot: Shot) -> Optional[File]:
    return next((f for f in shot.files if f.kind == "original" and is_raw(f.path)), None)


def undeveloped(catalogue: Catalogue, scene_label: str) -> list[int]:
    """Shots of the scene with a RAW original and no developed file, GT first."""
    with catalogue.session() as s:
        scene = s.scalar(select(Scene).where(Scene.label == scene_label))
        if scene is None:
            return []
        todo = [sh for sh in scene.shots if _raw_of(sh) and not any(f.kind == "developed" for f in sh.files)]
        return [sh.id for sh in sorted(todo, key=lambda sh: (sh.role != "gt", sh.index))]


def _scene_white_balance(catalogue: Catalogue, shot: Shot) -> Optional[tuple]:
    gt = scene_gt(shot.scene)
    raw = _raw_of(gt) if gt is not None else None
    if raw is None:
        return None
    return as_shot_white_balance(catalogue.workspace.abs(raw.path).read_bytes(), raw.path)


def develop_shot(catalogue: Catalogue, shot_id: int) -> bool:
    """Develop one stored RAW shot into developed/<scene>/<role>-<index>.png; False if nothing to do."""
    ws = catalogue.workspace
    half_size = bool(ws.settings().get("develop", {}).get("half_size", False))
    with catalogue.session() as s:
        shot = s.get(Shot, shot_id)
        raw = _raw_of(shot) if shot else None
        if raw is None or any(f.kind == "developed" for f in shot.files):
            return False
        rel = f"developed/{shot.scene.label}/{shot.role}-{shot.index:03d}.png"
        wb = _scene_white_balance(catalogue, shot)
        raw_path = raw.path
        s.add(IngestJournal(path=rel, source=f"develop {raw_path}"))
    data = ws.abs(raw_path).read_bytes()
    rgb = develop(data, raw_path, DevelopParams(wb or as_shot_white_balance(data, raw_path), half_size))
    stored = durable_write(encode_png16(rgb), ws.abs(rel))
    with catalogue.session() as s:
        shot = s.get(Shot, shot_id)
        if s.scalar(select(File.id).where(File.path == rel)) is None:
            s.add(File(shot=shot, kind="developed", path=rel, sha256=stored.sha256, size=stored.size))
        shot.width, shot.height = int(rgb.shape[1]), int(rgb.shape[0])
        s.execute(delete(IngestJournal).where(IngestJournal.path == rel))
    return True


class Developer:
    """One worker thread developing submitted shots in order; errors are reported, never raised there."""

    def __init__(self, catalogue: Catalogue, on_error: Callable[[str], None] = lambda _m: None):
        self.catalogue = catalogue
        self.on_error = on_error
        self.done: list[int] = []
        self.failed: list[tuple[int, str]] = []
        self._queue: "queue.Queue[Optional[int]]" = queue.Queue()
        self._thread = threading.Thread(target=self._work, name="rdrf-develop", daemon=True)
        self._thread.start()

    def submit(self, shot_id: int) -> None:
        self._queue.put(shot_id)

    @property
    def pending(self) -> int:
        return self._queue.unfinished_tasks

    def _work(self) -> None:
        while True:
            shot_id = self._queue.get()
            try:
                if shot_id is None:
                    return
                if develop_shot(self.catalogue, shot_id):
                    self.done.append(shot_id)
            except (RdrfError, OSError) as exc:
                self.failed.append((shot_id, str(exc)))
                self.on_error(f"developing shot {shot_id} failed: {exc}")
            finally:
                self._queue.task_done()

    def finish(self) -> None:
        """Wait for every submitted shot (Ctrl-C leaves the rest for the next session)."""
        self._queue.put(None)
        self._thread.join()

