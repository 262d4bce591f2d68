"""The workspace layout (DESIGN.md) and opening its catalogue.

Discovery (walking up from the current folder, --workspace, RDRF_WORKSPACE) belongs to the CLI; this
module only knows what a workspace holds once its root is known.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Iterator

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from schemas.errors import RdrfError
from schemas.settings import Settings, load_settings

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


def make_engine(url: str) -> Engine:
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


class Catalogue:
    """An open catalogue, upgraded to the current schema. One per command."""

    def __init__(self, workspace: Workspace):
        from schemas.migrate import upgrade

        self.workspace = workspace
        self.engine = make_engine(workspace.database_url)
        upgrade(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One explicit transaction: committed when the block ends, rolled back on any error."""
        with self._sessions() as session, session.begin():
            yield session

    def close(self) -> None:
        self.engine.dispose()


def create_workspace(root: Path, *, half_size: bool = False) -> Workspace:
    root = root.resolve()
    try:
        root.mkdir(parents=True, exist_ok=True)
        for name in FOLDERS:
            (root / name).mkdir(exist_ok=True)
        ws = Workspace(root)
        if not ws.marker.exists():
            ws.marker.write_text(
                "# rdrf workspace. Settings a stage reads go in their own [section].\n"
                "[workspace]\nversion = 1\n\n"
                "# RAW development, identical for every shot of a scene (half_size: 9504x6336 -> 4752x3168)\n"
                f"[develop]\nhalf_size = {'true' if half_size else 'false'}\n"
            )
    except OSError as exc:
        raise RdrfError(f"{root}: cannot create a workspace here ({exc.strerror}); choose a writable folder") from exc
    Catalogue(ws).close()
    return ws
