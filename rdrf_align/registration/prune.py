"""`rdrf align --prune-legacy`: remove what versions before catalogue revision 0003 stored per pair
and rdrf no longer needs - the warped degraded image (`aligned/<scene>/lqNNN.png`, rendered on demand
from the original and the homography now) and the valid area (`lqNNN.valid.png`, derived from the
homography). Never done silently: only on request, with the files and bytes named.

Crash safety, as for every write under aligned/: in one transaction the alignments stop pointing at
the files, their File rows go and their paths are journalled; then the files are unlinked and the
journal cleared. Killed in between, `rdrf verify` lists the remaining files as interrupted (explained)
and the next `--prune-legacy` finishes the job. It takes align's lock, so it never races an align run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import delete, select, update

from rdrf_align.registration.runner import AlignLock
from schemas.catalogue import Alignment, File, IngestJournal
from schemas.vocabulary import LEGACY_KINDS
from schemas.workspace import Catalogue

SOURCE = "rdrf align --prune-legacy"


@dataclass
class Pruned:
    paths: list[str] = field(default_factory=list)
    bytes: int = 0


def prune_legacy(cat: Catalogue) -> Pruned:
    ws = cat.workspace
    lock = AlignLock(ws)
    try:
        with cat.session() as s:
            files = list(s.scalars(select(File).where(File.kind.in_(LEGACY_KINDS)).order_by(File.path)))
            done = Pruned([f.path for f in files], sum(f.size for f in files))
            for col in (Alignment.aligned_file_id, Alignment.valid_mask_file_id):
                s.execute(update(Alignment).where(col.is_not(None)).values({col: None}))
            for f in files:
                s.add(IngestJournal(path=f.path, source=SOURCE))
                s.delete(f)
        with cat.session() as s:  # also what a killed earlier run left journalled
            paths = list(s.scalars(select(IngestJournal.path).where(IngestJournal.source == SOURCE)))
        for rel in paths:
            ws.abs(rel).unlink(missing_ok=True)
        with cat.session() as s:
            s.execute(delete(IngestJournal).where(IngestJournal.source == SOURCE))
        return done
    finally:
        lock.release()
