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

from rdrf_capture.develop import develop_shot
from schemas.errors import RdrfError
from schemas.workspace import Catalogue


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

