"""Workspace and catalogue commands: init, status, listings, verify, schemas."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table
from sqlalchemy import func, select

from rdrf import context
from rdrf.console import console, print_json, progress, say
from schemas.catalogue import File, Pair, Scene, Shot
from schemas.records import RECORDS, StatusRecord
from schemas.views import pair_record, scene_record, shot_record
from schemas.workspace import create_workspace

JSON = Annotated[bool, typer.Option("--json", help="Print the records as JSON.")]
SCHEMA_DIR = Path(__import__("schemas").__file__).parent / "jsonschema"


class PairStatus(str, Enum):
    pending = "pending"
    ok = "ok"
    rejected = "rejected"
    failed = "failed"


def _scene_order(label: str) -> tuple:
    from rdrf_capture.importer import natural_key

    return tuple(natural_key(label))


def schema_files() -> dict[str, str]:
    """The JSON Schema text of every record, as `rdrf schemas --write` writes it."""
    return {
        f"{name}.schema.json": json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n"
        for name, model in RECORDS.items()
    }


def register(app: typer.Typer) -> None:
    @app.command()
    def init(
        directory: Annotated[Path, typer.Argument(help="Folder to make a workspace of.")] = Path("."),
        half_size: Annotated[bool, typer.Option("--half-size", help="Develop RAW at half size (9504x6336 -> 4752x3168).")] = False,
    ) -> None:
        """Create a workspace: catalogue, originals/, developed/, aligned/, exports/, reports/.

        Example: rdrf init ~/rdrf-data --half-size
        """
        ws = create_workspace(directory, half_size=half_size)
        say(f"workspace ready at [bold]{ws.root}[/]")

    @app.command()
    def status(json_: JSON = False) -> None:
        """Summary of the catalogue: scenes, shots, files, pairs by status, splits.

        Example: rdrf status
        """
        cat = context.open_catalogue()
        with cat.session() as s:
            rec = StatusRecord(
                workspace=str(cat.workspace.root),
                scenes=s.scalar(select(func.count(Scene.id))) or 0,
                gt_shots=s.scalar(select(func.count(Shot.id)).where(Shot.role == "gt")) or 0,
                lq_shots=s.scalar(select(func.count(Shot.id)).where(Shot.role == "lq")) or 0,
                files=s.scalar(select(func.count(File.id))) or 0,
                pairs={st: n for st, n in s.execute(select(Pair.status, func.count(Pair.id)).group_by(Pair.status))},
                splits={str(sp): n for sp, n in s.execute(select(Scene.split, func.count(Scene.id)).group_by(Scene.split))},
            )
        if json_:
            print_json(rec)
            return
        table = Table(title=f"rdrf workspace {rec.workspace}", show_header=False)
        table.add_row("scenes", str(rec.scenes))
        table.add_row("GT shots", str(rec.gt_shots))
        table.add_row("degraded shots", str(rec.lq_shots))
        table.add_row("files", str(rec.files))
        for st in ("pending", "ok", "rejected", "failed"):
            table.add_row(f"pairs {st}", str(rec.pairs.get(st, 0)))
        for sp, n in sorted(rec.splits.items()):
            table.add_row(f"split {'unassigned' if sp == 'None' else sp}", str(n))
        console.print(table)

    @app.command()
    def scenes(json_: JSON = False) -> None:
        """List scenes with category, split and shot counts.

        Example: rdrf scenes --json
        """
        with context.open_catalogue().session() as s:
            records = sorted((scene_record(sc) for sc in s.scalars(select(Scene))), key=lambda r: _scene_order(r.scene))
        if json_:
            print_json(records)
            return
        table = Table("scene", "category", "split", "GT", "degraded", "glass mm", "camera")
        for r in records:
            table.add_row(r.scene, r.category or "-", r.split or "-", str(r.gt_shots), str(r.lq_shots),
                          ", ".join(f"{g:g}" for g in r.glass_mm) or "-", ", ".join(r.cameras) or "-")
        console.print(table)

    @app.command()
    def shots(
        scene: Annotated[Optional[str], typer.Option("--scene", "-s", help="Only this scene.")] = None,
        json_: JSON = False,
    ) -> None:
        """List shots with role, exposure, trigger and files.

        Example: rdrf shots --scene 17
        """
        with context.open_catalogue().session() as s:
            q = select(Shot).join(Scene)
            if scene is not None:
                q = q.where(Scene.label == scene)
            records = sorted((shot_record(sh) for sh in s.scalars(q)), key=lambda r: (_scene_order(r.scene), r.role, r.index))
        if json_:
            print_json(records)
            return
        table = Table("id", "scene", "role", "#", "original", "ISO", "shutter s", "f/", "trigger", "files")
        for r in records:
            table.add_row(str(r.shot_id), r.scene, r.role, str(r.index), r.original_name,
                          f"{r.iso:g}" if r.iso else "-", f"{r.shutter_s:g}" if r.shutter_s else "-",
                          f"{r.aperture:g}" if r.aperture else "-", r.trigger, str(len(r.files)))
        console.print(table)

    @app.command()
    def pairs(
        scene: Annotated[Optional[str], typer.Option("--scene", "-s", help="Only this scene.")] = None,
        status: Annotated[Optional[PairStatus], typer.Option("--status", help="Only pairs with this status.")] = None,
        json_: JSON = False,
    ) -> None:
        """List pairs (degraded shot + its scene's GT) with alignment status and reason.

        Example: rdrf pairs --status rejected
        """
        with context.open_catalogue().session() as s:
            q = select(Pair).join(Scene)
            if scene is not None:
                q = q.where(Scene.label == scene)
            if status is not None:
                q = q.where(Pair.status == status.value)
            records = sorted((pair_record(p) for p in s.scalars(q)), key=lambda r: (_scene_order(r.scene), r.pair_id))
        if json_:
            print_json(records)
            return
        table = Table("pair", "scene", "GT shot", "degraded shot", "original", "status", "reason")
        for r in records:
            table.add_row(str(r.pair_id), r.scene, str(r.gt_shot), str(r.lq_shot), r.lq_original, r.status, r.reason)
        console.print(table)

    @app.command()
    def verify(json_: JSON = False) -> None:
        """Re-hash every catalogued file; report missing, changed and unknown files. Exit 1 if any.

        Files left by an interrupted import or capture are listed as explained, not as errors.

        Example: rdrf verify
        """
        from rdrf_capture.verify import total_files, verify as run_verify

        cat = context.open_catalogue()
        with progress(total_files(cat), "verifying") as advance:
            report = run_verify(cat, on_file=advance)
        if json_:
            print(json.dumps({**report.__dict__, "ok": report.ok}, indent=2))
        else:
            for label, paths, style in (("missing", report.missing, "red"), ("changed", report.changed, "red"),
                                        ("unknown", report.unknown, "red"), ("interrupted (explained)", report.interrupted, "yellow")):
                for p in paths:
                    console.print(f"[{style}]{label}[/]: {p}", highlight=False, soft_wrap=True)
            verdict = "[green]ok[/]" if report.ok else "[red]FAILED[/]"
            console.print(f"{verdict}: {report.checked} files checked, {len(report.missing)} missing, "
                          f"{len(report.changed)} changed, {len(report.unknown)} unknown, {len(report.interrupted)} interrupted")
        if not report.ok:
            raise typer.Exit(1)

    @app.command("schemas")
    def schemas_cmd(
        write: Annotated[bool, typer.Option("--write", help="Write the JSON Schema files into schemas/jsonschema/.")] = False,
    ) -> None:
        """Print (or write) the JSON Schema of every record that crosses a boundary.

        Example: rdrf schemas --write
        """
        files = schema_files()
        if write:
            SCHEMA_DIR.mkdir(exist_ok=True)
            for name, text in files.items():
                (SCHEMA_DIR / name).write_text(text)
            say(f"wrote {len(files)} schema files to {SCHEMA_DIR}")
        else:
            print(json.dumps({name: json.loads(text) for name, text in files.items()}, indent=2))
