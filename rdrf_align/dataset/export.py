"""`rdrf export`: writing a planned export (plan.py) into its folder, resumably.

Files are written in parallel, each one durably. `manifest.jsonl` is written last, so a folder with a
manifest is a complete export. Its bytes depend only on the catalogue and the parameters (records
sorted by split, scene, shot; no dates), so exporting the same state twice gives the same file.
Re-exporting into the same folder skips every file that is still right (folders.py keeps the recipe
and hash of each), rewrites the rest and deletes files of pairs that left the export.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

from rdrf_align.dataset.datasheet import render_datasheet
from rdrf_align.dataset.folders import DATASHEET, MANIFEST, check_out_folder, read_state, write_state
from rdrf_align.dataset.plan import ExportPlan
from rdrf_align.dataset.splits import check_split_map
from rdrf_align.dataset.writers import WRITERS, Advance, Outputs
from schemas.catalogue import Export
from schemas.errors import RdrfError
from schemas.records import ExportRecord
from schemas.storage import durable_write, sha256_bytes
from schemas.workspace import Catalogue


@dataclass
class ExportResult:
    out: Path
    n_records: int
    written: int
    skipped: int
    removed: int
    manifest_sha256: str
    digest: str
    export_id: int


def manifest_bytes(records: Iterable[ExportRecord]) -> bytes:
    return "".join(r.model_dump_json() + "\n" for r in records).encode()


def write_export(plan: ExportPlan, catalogue: Catalogue, workers: int = 4, advance: Advance = lambda n=1: None) -> ExportResult:
    """Write the planned export. The manifest goes last; the Export row records it."""
    out = plan.out
    check_out_folder(out, plan.workspace)
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).unlink(missing_ok=True)
    old = read_state(out)
    old_scenes: dict[str, str] = old.get("scenes", {})
    outputs = Outputs(out, old, advance)
    # Until it completes, the folder may hold both the old and the new scenes: say so for leak checks.
    write_state(out, outputs.old, {**old_scenes, **plan.scene_splits})
    try:
        WRITERS[plan.params.format](plan, outputs, workers).write()
    except BaseException:
        write_state(out, {**outputs.old, **outputs.new}, {**old_scenes, **plan.scene_splits})
        raise
    removed = outputs.remove_stale()

    manifest = manifest_bytes(plan.records)
    # The check again, on the bytes that go out: no scene under two splits.
    leaks = check_split_map((json.loads(line)["scene"], json.loads(line)["split"]) for line in manifest.decode().splitlines())
    if leaks:
        raise RdrfError("refusing to write the manifest: " + "; ".join(map(str, leaks)))
    manifest_sha = sha256_bytes(manifest)
    durable_write(render_datasheet(plan, manifest_sha).encode(), out / DATASHEET)
    write_state(out, outputs.new, plan.scene_splits)
    durable_write(manifest, out / MANIFEST)
    export_id = _record(plan, catalogue, workers, manifest_sha)
    return ExportResult(out, len(plan.items), outputs.written, outputs.skipped, removed, manifest_sha, plan.digest, export_id)


def _record(plan: ExportPlan, catalogue: Catalogue, workers: int, manifest_sha: str) -> int:
    """The Export row: where the export is, how it was made, what it holds."""
    ws, out = plan.workspace, plan.out
    inside = ws.root.resolve() in out.parents
    with catalogue.session() as session:
        row = Export(
            path=ws.rel(out) if inside else str(out),
            split=plan.params.split,
            format=plan.params.format,
            size=plan.params.size,
            params={**asdict(plan.params), "workers": workers, "version": plan.version, "test_fraction": plan.test_fraction},
            n_records=len(plan.items),
            manifest_sha256=manifest_sha,
            catalogue_digest=plan.digest,
        )
        session.add(row)
        session.flush()
        return row.id
