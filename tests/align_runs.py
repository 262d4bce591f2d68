"""Running `rdrf align` in a subprocess and killing it part-way, for the resume tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from schemas.catalogue import Alignment
from schemas.workspace import Catalogue, Workspace


def kill_align_part_way(workspace: Path, *args: str, after: int = 2, timeout: float = 120) -> int:
    """Start `rdrf align ARGS` on `workspace`, SIGKILL it and its workers (as a power cut would) once
    `after` alignments are catalogued; how many there were by then."""
    env = dict(os.environ, RDRF_WORKSPACE=str(workspace))
    proc = subprocess.Popen([sys.executable, "-c", f"from rdrf.cli import main; main(['align', *{list(args)!r}])"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    cat = Catalogue(Workspace(workspace))
    deadline, done = time.time() + timeout, 0
    try:
        while time.time() < deadline and proc.poll() is None:
            with cat.session() as s:
                done = s.scalar(select(func.count(Alignment.id)))
            if done >= after:
                break
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        cat.close()
    return done
