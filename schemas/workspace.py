"""The workspace layout (DESIGN.md) and opening its catalogue.

Discovery (walking up from the current folder, --workspace, RDRF_WORKSPACE) belongs to the CLI; this
module only knows what a workspace holds once its root is known.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Iterator, Literal, Optional
from urllib.parse import quote

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from schemas.errors import RdrfError, WorkspaceError
from schemas.locks import migration_lock, scene_lock
from schemas.settings import Settings, load_settings
from schemas.storage import free_bytes, no_space_message

MARKER = "rdrf.toml"
FOLDERS = ("originals", "developed", "aligned", "exports", "reports")
DATABASE_ENV = "RDRF_DATABASE_URL"


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def marker(self) -> Path:
        return self.root / MARKER

    @property
    def database_url(self) -> str:
        return os.environ.get(DATABASE_ENV) or f"sqlite:///{self.root / 'catalogue.sqlite'}"

    @property
    def originals(self) -> Path:
        return self.root / "originals"

    @property
    def developed(self) -> Path:
        return self.root / "developed"

    @property
    def aligned(self) -> Path:
        return self.root / "aligned"

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    def rel(self, path: Path) -> str:
        """Catalogue form of a path: relative to the root, POSIX separators."""
        return Path(os.path.relpath(path, self.root)).as_posix()

    def abs(self, rel: str) -> Path:
        return self.root / rel

    @cached_property
    def settings(self) -> Settings:
        """The workspace's rdrf.toml, parsed and checked once (schemas.settings)."""
        return load_settings(self.marker)


def is_workspace(path: Path) -> bool:
    return (path / MARKER).is_file()


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_read_only_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA query_only=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


# The catalogue on a database server: rdrf talks to PostgreSQL through psycopg 3 (the 'postgres' extra).
POSTGRES_DRIVER = "psycopg"


def database_url(url: str | URL) -> URL:
    """The URL as rdrf opens it: `postgresql://...` means psycopg 3 (SQLAlchemy's own default is
    psycopg2, which rdrf does not install); an explicit `postgresql+driver://` is kept."""
    u = make_url(url)
    if u.drivername == "postgresql":
        u = u.set(drivername=f"postgresql+{POSTGRES_DRIVER}")
    return u


def _missing_driver(given: str | URL, url: URL, exc: ImportError) -> RdrfError:
    shown = make_url(given).render_as_string(hide_password=True)
    if url.get_backend_name() == "postgresql" and url.get_driver_name() == POSTGRES_DRIVER:
        return RdrfError(
            f"{DATABASE_ENV}={shown} names a PostgreSQL catalogue, which needs the 'postgres' extra (psycopg not "
            "installed): pip install 'rdrf[postgres]'",
            exit_code=2,
        )
    return RdrfError(f"{DATABASE_ENV}={shown}: its database driver is not installed ({exc}); rdrf supports SQLite and PostgreSQL", exit_code=2)


def make_engine(url: str | URL, *, read_only: bool = False) -> Engine:
    given, url = url, database_url(url)
    try:
        engine = create_engine(url)
    except ImportError as exc:
        raise _missing_driver(given, url, exc) from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_read_only_pragmas if read_only else _sqlite_pragmas)
    return engine


# How a command opens the catalogue: `create` only for `rdrf init`; `write` for a command that changes
# the catalogue or the workspace; `read` for one that only looks (it works on a read-only workspace).
OpenMode = Literal["create", "write", "read"]

# The first bytes of every SQLite database file.
SQLITE_HEADER = b"SQLite format 3\x00"
# What a command that only looks may run on a read-only workspace (named in the errors).
READ_ONLY_COMMANDS = "status, scenes, shots, pairs, verify, report --out elsewhere"


def sqlite_file(url: str) -> Optional[Path]:
    """The file of a plain SQLite URL (None for another database, memory or a URI filename)."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:" or u.query.get("uri"):
        return None
    return Path(u.database)


def _file_url(path: Path, **query: str) -> URL:
    """A SQLite URI filename URL (mode=rw never creates the file; mode=ro never writes it)."""
    return URL.create("sqlite", database=f"file:{quote(str(path))}", query={**query, "uri": "true"})


def is_writable(folder: Path) -> bool:
    """False on a read-only mount or a folder without write permission (root passes the latter)."""
    return os.access(folder, os.W_OK)


def read_only_error(folder: Path) -> WorkspaceError:
    return WorkspaceError(
        f"{folder} is read-only, and this command writes to the workspace; run it on a writable copy "
        f"(read-only commands work here: {READ_ONLY_COMMANDS})"
    )


class Catalogue:
    """An open catalogue, upgraded to the current schema. One per command.

    Only `mode="create"` (`rdrf init`) makes a catalogue: a missing catalogue.sqlite is an error, never
    an empty new one (the catalogue is the only record of what the originals are). `mode="read"` opens
    a read-only workspace read-only instead of failing on SQLite's -wal/-shm files.
    """

    def __init__(self, workspace: Workspace, mode: OpenMode = "write"):
        self.workspace = workspace
        self.mode = mode
        self.path = sqlite_file(workspace.database_url)
        self.read_only = False
        url: str | URL = workspace.database_url
        if self.path is not None and mode == "create":
            if not is_writable(self.path.parent):
                raise read_only_error(self.path.parent)
            if self.path.is_file():
                self._check_header()
        elif self.path is not None:
            self._check_exists()
            blocked = [p for p in (self.path.parent, self.path, workspace.root) if not is_writable(p)]
            if mode == "write" and blocked:
                raise read_only_error(blocked[0])
            self.read_only = bool({self.path.parent, self.path} & set(blocked))  # SQLite cannot write here
            url = self._read_only_url() if self.read_only else _file_url(self.path, mode="rw")
        try:
            self.engine = make_engine(url, read_only=self.read_only)
            self._upgrade()
        except DBAPIError as exc:
            raise self.explain(exc) from exc
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def name(self) -> str:
        """The catalogue as an error names it: its file, or its URL without a password."""
        if self.path is not None:
            return str(self.path)
        return make_url(self.workspace.database_url).render_as_string(hide_password=True)

    def _check_exists(self) -> None:
        if self.path.is_file():
            self._check_header()
            return
        if self.path.exists():
            raise WorkspaceError(f"{self.path}: not a file; expected the workspace's catalogue (SQLite)")
        originals = self.workspace.originals
        held = sum(len(files) for _dir, _sub, files in os.walk(originals))
        if held:
            raise WorkspaceError(
                f"{self.path} is missing, but {originals} holds {held} file(s) it catalogued: without it rdrf "
                "does not know their scenes, shots or pairs. Restore catalogue.sqlite from a backup "
                "(rdrf never makes a new one here: an empty catalogue would silently report 0 scenes)"
            )
        raise WorkspaceError(
            f"{self.path} is missing; restore it from a backup, or make an empty one with `rdrf init {self.workspace.root}`"
        )

    def _check_header(self) -> None:
        """Refuse a file that is not SQLite before SQLite opens it (and may write into it, say when a
        -wal file is left beside it). An empty file is a catalogue made before its first revision."""
        try:
            with open(self.path, "rb") as f:
                head = f.read(len(SQLITE_HEADER))
        except OSError as exc:
            raise WorkspaceError(f"{self.path}: cannot read the catalogue ({exc.strerror})") from exc
        if head and head != SQLITE_HEADER:
            raise self._corrupt("file is not a database")

    def _corrupt(self, detail: str) -> WorkspaceError:
        return WorkspaceError(
            f"{self.name}: not a readable rdrf catalogue (SQLite: {detail}); restore catalogue.sqlite from a backup - "
            "rdrf does not overwrite it"
        )

    def _read_only_url(self) -> URL:
        """mode=ro needs the -shm file to exist or be creatable; on a read-only folder without one,
        `immutable` reads the file alone - exact only when no -wal file holds changes not yet in it."""
        try:
            probe = sqlite3.connect(f"file:{quote(str(self.path))}?mode=ro", uri=True)
            try:
                probe.execute("PRAGMA schema_version").fetchall()
                return _file_url(self.path, mode="ro")
            finally:
                probe.close()
        except sqlite3.Error:
            pass
        wal = self.path.with_name(self.path.name + "-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise WorkspaceError(
                f"{wal} holds changes not yet merged into {self.path.name}, and {self.path.parent} is read-only, so they "
                "cannot be read; open the workspace once where it is writable (any command), then read it here"
            )
        return _file_url(self.path, immutable="1")

    def _upgrade(self) -> None:
        from schemas.migrate import current_revision, head_revision, upgrade

        if self.path is None and self.mode != "create" and current_revision(self.engine) is None:
            raise WorkspaceError(
                f"{self.name} holds no rdrf catalogue; make one there with `rdrf init {self.workspace.root}` "
                f"({DATABASE_ENV} set as now), or point {DATABASE_ENV} at the database that holds the workspace's catalogue"
            )
        if not self.read_only:
            if current_revision(self.engine) != head_revision():
                with migration_lock(self.workspace.root):
                    upgrade(self.engine)
            return
        current = current_revision(self.engine)
        if current != head_revision():
            raise WorkspaceError(
                f"{self.path}: made by an older rdrf (schema {current or 'none'}); it must be upgraded, which needs "
                f"write access - run any command once where {self.path.parent} is writable"
            )

    def explain(self, exc: DBAPIError) -> WorkspaceError:
        """The database's failure as one line naming the catalogue and what to do."""
        detail = str(exc.orig) if exc.orig is not None else str(exc)
        if self.path is None:
            return self._explain_server(detail)
        low = detail.lower()
        if "not a database" in low or "malformed" in low:
            return self._corrupt(detail)
        where = self.path or self.workspace.root
        if "disk is full" in low or ("disk i/o error" in low and free_bytes(where) == 0):
            return WorkspaceError(f"{no_space_message(where)} (SQLite: {detail}); its last transaction was not stored")
        if "disk i/o error" in low:
            return WorkspaceError(
                f"{self.name}: SQLite could not read or write it (disk I/O error; {free_bytes(where)} bytes free): the "
                "disk is failing or was removed; check it, then run the command again"
            )
        if "readonly" in low or "read-only" in low:
            return read_only_error(self.path.parent if self.path is not None else self.workspace.root)
        if "locked" in low or "busy" in low:
            return WorkspaceError(f"{self.name}: busy (SQLite: {detail}); another rdrf command is writing it - wait for it to finish")
        return WorkspaceError(f"{self.name}: the catalogue cannot be used (SQLite: {detail})")

    def _explain_server(self, detail: str) -> WorkspaceError:
        """A catalogue on a server (PostgreSQL): its own message, first line, naming the URL (no password)."""
        first = " ".join(detail.strip().splitlines()[:1]) or "no detail"
        low = detail.lower()
        if "connection" in low and ("refused" in low or "failed" in low or "timeout" in low):
            hint = f"is the database server running and {DATABASE_ENV} right?"
        elif "does not exist" in low and "database" in low:
            hint = "create the database (createdb), then `rdrf init`"
        elif "authentication" in low or "password" in low:
            hint = f"check the user and password in {DATABASE_ENV}"
        else:
            hint = "the command's transaction was rolled back"
        return WorkspaceError(f"{self.name}: the catalogue cannot be used ({self.engine_name}: {first}); {hint}")

    @property
    def engine_name(self) -> str:
        return "PostgreSQL" if make_url(self.workspace.database_url).get_backend_name() == "postgresql" else "database"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One explicit transaction: committed when the block ends, rolled back on any error."""
        try:
            with self._sessions() as session, session.begin():
                yield session
        except OperationalError as exc:
            raise self.explain(exc) from exc
        except DBAPIError as exc:
            # a server enforces what SQLite lets pass (VARCHAR lengths): one line, the transaction rolled back
            if self.path is None:
                raise self.explain(exc) from exc
            raise

    def scene_lock(self, scene: str, doing: str) -> AbstractContextManager[None]:
        """Hold the scene against other processes adding shots to it (schemas/locks.py)."""
        return scene_lock(self.workspace.root, self.engine, scene, doing)

    def close(self) -> None:
        self.engine.dispose()


def _refuse_a_new_catalogue_beside_originals(ws: Workspace) -> None:
    """`rdrf init` on a workspace whose catalogue is gone would hide every original behind 0 scenes."""
    path = sqlite_file(ws.database_url)
    if path is None or path.exists() or not ws.originals.is_dir() or not any(ws.originals.iterdir()):
        return
    raise WorkspaceError(
        f"{ws.root} already holds originals but its catalogue {path} is missing; restore it from a backup "
        "(an empty new catalogue would not know any of them), or make the workspace in an empty folder and import again"
    )


def create_workspace(root: Path, *, half_size: bool = False) -> Workspace:
    root = root.resolve()
    try:
        root.mkdir(parents=True, exist_ok=True)
        for name in FOLDERS:
            (root / name).mkdir(exist_ok=True)
        ws = Workspace(root)
        _refuse_a_new_catalogue_beside_originals(ws)
        if not ws.marker.exists():
            ws.marker.write_text(
                "# rdrf workspace. Settings a stage reads go in their own [section].\n"
                "[workspace]\nversion = 1\n\n"
                "# RAW development, identical for every shot of a scene (half_size: 9504x6336 -> 4752x3168)\n"
                f"[develop]\nhalf_size = {'true' if half_size else 'false'}\n"
            )
    except OSError as exc:
        raise RdrfError(f"{root}: cannot create a workspace here ({exc.strerror}); choose a writable folder") from exc
    Catalogue(ws, mode="create").close()
    return ws
