"""Per-scene locks: one process at a time adds shots to a scene; other scenes go on in parallel.

Two processes on one scene would both number the next shot N, write the same
originals/<scene>/lq-N/ file names over each other, and one would then fail to register it - after its
bytes had replaced the other's file. So whatever adds shots to a scene (`rdrf capture` for its whole
session, `rdrf import` per scene) holds the scene's lock, and a second one is refused at once with
the holder's pid and host, instead of waiting for a session that may last an hour.

The lock is an flock on locks/scene-<label>.lock in the workspace (the kernel drops it when its
holder dies, even by SIGKILL, so no stale lock survives a crash; the file only tells who holds it,
and is removed on release).
With the catalogue on PostgreSQL the scene is also locked in the database (a session advisory lock,
dropped when its connection ends), so rigs on two machines sharing the catalogue exclude each other
as well. Re-entrant within a process: capture holds the scene and ingestion takes it again per shot.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import socket
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Optional

from sqlalchemy import Connection, Engine, text

from schemas.errors import RdrfError

LOCKS = "locks"  # a workspace folder; rdrf verify does not look in it
_held: dict[tuple[str, str], int] = {}  # (workspace root, scene) -> depth, for this process
_guard = threading.Lock()


class SceneLocked(RdrfError):
    """Another process is adding shots to the scene."""


def holder_text() -> str:
    """Who this process is, as a refusal names it."""
    return f"pid {os.getpid()} on {socket.gethostname()}"


def advisory_key(scene: str) -> int:
    """A stable signed 64-bit key for PostgreSQL's advisory locks (case-folded, as the labels are)."""
    digest = hashlib.sha256(f"rdrf scene {scene.lower()}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _lock_file(root: Path, scene: str) -> Path:
    # labels are checked (rdrf_capture.ingest.check_label) before a lock is taken: they name folders
    return root / LOCKS / f"scene-{scene.lower()}.lock"


def _refusal(scene: str, who: str, doing: str) -> SceneLocked:
    return SceneLocked(
        f"scene {scene} is being written by another rdrf process ({who}); {doing} was refused so that the two "
        f"do not number the same shots - wait for it to finish, or use another scene"
    )


def _flock(path: Path, blocking: bool) -> int:
    """An flock on `path`, which exists and is that file when this returns. Released files are removed
    (a workspace keeps no trace of a lock), so a lock taken on a file another process removed in the
    meantime is not the lock: then try again on the new file."""
    path.parent.mkdir(exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            if os.path.samestat(os.fstat(fd), os.stat(path)):
                return fd
        except FileNotFoundError:
            pass  # removed by its holder between our lock and our check
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def _unlock(path: Path, fd: int) -> None:
    """Remove the file while still holding it (see _flock), then let go."""
    try:
        path.unlink(missing_ok=True)
    finally:
        os.close(fd)


def _take_file(path: Path, scene: str, doing: str) -> int:
    try:
        fd = _flock(path, blocking=False)
    except OSError as exc:
        if exc.errno not in (errno.EAGAIN, errno.EACCES):
            raise RdrfError(f"{path}: cannot lock scene {scene} ({exc.strerror})") from exc
        try:
            who = path.read_text(errors="replace").strip()
        except OSError:
            who = ""
        raise _refusal(scene, who or "holder not yet recorded", doing) from exc
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
    os.ftruncate(fd, 0)  # a holder killed before removing its file left its line
    os.pwrite(fd, f"{holder_text()}, {doing}, since {stamp}\n".encode(), 0)
    return fd


def _take_advisory(engine: Engine, scene: str, doing: str) -> Connection:
    """PostgreSQL: a session-level advisory lock on a connection of its own, held until released."""
    conn = engine.connect()
    try:
        conn.execute(text("SELECT set_config('application_name', :name, false)"), {"name": f"{holder_text()}, {doing}"[:63]})
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": advisory_key(scene)}).scalar()
        conn.commit()
        if got:
            return conn
        who = conn.execute(
            text(
                "SELECT a.application_name, a.client_addr FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.pid <> pg_backend_pid() "
                "AND ((l.classid::bigint << 32) | l.objid::bigint) = :k"
            ),
            {"k": advisory_key(scene)},
        ).first()
        detail = f"{who[0]}{' from ' + str(who[1]) if who and who[1] else ''}" if who else "a session of the catalogue database"
        raise _refusal(scene, detail, doing)
    except BaseException:
        conn.close()
        raise


def _release_advisory(conn: Connection, scene: str) -> None:
    """Unlock before the connection goes back to the pool (a pooled session would keep the lock);
    if that fails, drop the connection: its session, and the lock, end with it."""
    try:
        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": advisory_key(scene)})
        conn.commit()
    except Exception:
        conn.invalidate()
    finally:
        conn.close()


@contextmanager
def scene_lock(root: Path, engine: Optional[Engine], scene: str, doing: str) -> Iterator[None]:
    """Hold scene `scene` of the workspace at `root` for the block, or raise SceneLocked naming the holder.

    `doing` says what the holder does ("rdrf capture"): it is recorded for the next one refused.
    """
    key = (str(root), scene.lower())
    with _guard:
        if _held.get(key):
            _held[key] += 1
            nested = True
        else:
            nested = False
    if nested:
        try:
            yield
        finally:
            with _guard:
                _held[key] -= 1
        return
    fd = _take_file(_lock_file(root, scene), scene, doing)
    conn: Optional[Connection] = None
    try:
        if engine is not None and engine.dialect.name == "postgresql":
            conn = _take_advisory(engine, scene, doing)
        with _guard:
            _held[key] = 1
        try:
            yield
        finally:
            with _guard:
                _held.pop(key, None)
    finally:
        if conn is not None:
            _release_advisory(conn, scene)
        _unlock(_lock_file(root, scene), fd)


@contextmanager
def migration_lock(root: Path) -> Iterator[None]:
    """One upgrader at a time: two commands started together on an older catalogue would otherwise
    both run the same migration (SQLite's DDL is not all inside one transaction). Waits, since an
    upgrade takes seconds; the second then finds the catalogue current. (PostgreSQL also serialises
    upgraders in the database: schemas/migrations/env.py.)"""
    path = root / LOCKS / "catalogue.lock"
    try:
        fd = _flock(path, blocking=True)
    except OSError:  # a catalogue elsewhere (PostgreSQL) beside a read-only folder: the database's lock remains
        yield
        return
    try:
        yield
    finally:
        _unlock(path, fd)
