"""`rdrf verify`: prove every file the catalogue names is intact, and nothing stands unexplained."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy import select

from schemas.catalogue import File, IngestJournal
from schemas.storage import is_temporary, sha256_file
from schemas.vocabulary import LEGACY_KINDS
from schemas.workspace import Catalogue

CHECKED_FOLDERS = ("originals", "developed", "aligned")


@dataclass
class VerifyReport:
    checked: int = 0
    missing: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    interrupted: list[str] = field(default_factory=list)  # explained: journalled or temporary files
    # intact, catalogued files an older version wrote that rdrf no longer needs (schemas.vocabulary.LEGACY_KINDS):
    # still checked like every file; `rdrf align --prune-legacy` removes them
    legacy: list[str] = field(default_factory=list)
    legacy_bytes: int = 0

    @property
    def ok(self) -> bool:
        return not (self.missing or self.changed or self.unknown)


def verify(catalogue: Catalogue, on_file: Callable[[], None] = lambda: None) -> VerifyReport:
    ws = catalogue.workspace
    report = VerifyReport()
    with catalogue.session() as s:
        files = list(s.execute(select(File.path, File.sha256, File.size, File.kind)))
        journal = set(s.scalars(select(IngestJournal.path)))
    known = set()
    for path, sha, size, kind in files:
        known.add(path)
        target = ws.abs(path)
        if not target.is_file():
            report.missing.append(path)
        elif target.stat().st_size != size or sha256_file(target)[0] != sha:
            report.changed.append(path)
        elif kind in LEGACY_KINDS:
            report.legacy.append(path)
            report.legacy_bytes += size
        report.checked += 1
        on_file()
    for folder in CHECKED_FOLDERS:
        for dirpath, _dirs, names in os.walk(ws.root / folder):
            for name in names:
                rel = ws.rel(os.path.join(dirpath, name))
                if rel in known:
                    continue
                if rel in journal or is_temporary(ws.abs(rel)):
                    report.interrupted.append(rel)
                else:
                    report.unknown.append(rel)
    for part in (report.missing, report.changed, report.unknown, report.interrupted, report.legacy):
        part.sort()
    return report


def total_files(catalogue: Catalogue) -> int:
    from sqlalchemy import func

    with catalogue.session() as s:
        return s.scalar(select(func.count(File.id))) or 0
