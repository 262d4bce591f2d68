"""`rdrf status`, `rdrf scenes`, `rdrf shots`, `rdrf pairs`: look at the catalogue."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.table import Table
from sqlalchemy import func, select

from rdrf import context
from rdrf.console import console, print_json
from rdrf.options import JsonFlag
from schemas.catalogue import File, Pair, Scene, Shot
from schemas.records import StatusRecord
from schemas.views import bracket_status, pair_record, scene_drifts, scene_order, scene_record, shot_record
from schemas.vocabulary import BracketStatus, PairStatus, SceneKind, values

app = typer.Typer()


@app.command()
def status(json_: JsonFlag = False) -> None:
    """Summary of the catalogue: scenes (by kind), shots (dual-pixel ones counted), files, pairs by status, splits, GT brackets.

    Example: rdrf status
    """
    cat = context.open_catalogue("read")
    with cat.session() as s:
        all_scenes = sorted(s.scalars(select(Scene)), key=lambda sc: scene_order(sc.label))
        verdicts = {sc.label: bracket_status(sc) for sc in all_scenes}
        rec = StatusRecord(
            workspace=str(cat.workspace.root),
            scenes=s.scalar(select(func.count(Scene.id))) or 0,
            gt_shots=s.scalar(select(func.count(Shot.id)).where(Shot.role == "gt")) or 0,
            lq_shots=s.scalar(select(func.count(Shot.id)).where(Shot.role == "lq")) or 0,
            files=s.scalar(select(func.count(File.id))) or 0,
            pairs={st: n for st, n in s.execute(select(Pair.status, func.count(Pair.id)).group_by(Pair.status))},
            splits={str(sp): n for sp, n in s.execute(select(Scene.split, func.count(Scene.id)).group_by(Scene.split))},
            brackets={v: sum(x == v for x in verdicts.values()) for v in values(BracketStatus) if v in verdicts.values()},
            drifted={
                sc.label: _drift_flags(scene_drifts(sc)) for sc in all_scenes if verdicts[sc.label] == "drifted"
            },
            kinds={k: n for k, n in s.execute(select(Scene.kind, func.count(Scene.id)).group_by(Scene.kind))},
            dual_pixel_shots=s.scalar(select(func.count(func.distinct(File.shot_id))).where(File.kind == "view_left")) or 0,
        )
    if json_:
        print_json(rec)
        return
    table = Table(title=f"rdrf workspace {rec.workspace}", show_header=False)
    table.add_row("scenes", str(rec.scenes))
    for kind in values(SceneKind):
        if rec.kinds.get(kind):
            table.add_row(f"  {kind} scenes", str(rec.kinds[kind]))
    table.add_row("GT shots", str(rec.gt_shots))
    table.add_row("degraded shots", str(rec.lq_shots))
    if rec.dual_pixel_shots:
        table.add_row("  with dual-pixel views", str(rec.dual_pixel_shots))
    table.add_row("files", str(rec.files))
    for st in values(PairStatus):
        table.add_row(f"pairs {st}", str(rec.pairs.get(st, 0)))
    for sp, n in sorted(rec.splits.items()):
        table.add_row(f"split {'unassigned' if sp == 'None' else sp}", str(n))
    for verdict in values(BracketStatus):
        table.add_row(f"scenes: GT bracket {verdict}", str(rec.brackets.get(verdict, 0)))
    for label, flags in rec.drifted.items():
        table.add_row(f"scene {label} drifted", "; ".join(flags))
    console.print(table)


def _drift_flags(drifts: list[dict] | None) -> list[str]:
    out: list[str] = []
    for d in drifts or []:
        for f in d.get("flags") or ([d.get("reason") or "not measured"] if not d.get("registered") else []):
            if f not in out:
                out.append(f)
    return out


def _drift_cell(r) -> str:
    """The scenes table's drift column: the latest bracket's figures, or why there are none."""
    if not r.gt_drift:
        return "no bracket"
    d = r.gt_drift[-1]
    if not d.registered:
        return f"drifted: {d.reason}"
    text = f"{d.motion_px:.2f} px, {d.exposure_ev if d.exposure_ev is not None else float('nan'):+.2f} EV, floor {d.mean_abs_diff:.1f}"
    return f"drifted: {text}" if r.bracket == "drifted" else text

@app.command()
def scenes(json_: JsonFlag = False) -> None:
    """List scenes with category, split, shot counts and the GT bracket's drift ("no bracket" when none).

    Example: rdrf scenes --json
    """
    with context.open_catalogue("read").session() as s:
        records = sorted((scene_record(sc) for sc in s.scalars(select(Scene))), key=lambda r: scene_order(r.scene))
    if json_:
        print_json(records)
        return
    table = Table("scene", "kind", "category", "split", "GT", "degraded", "glass mm", "camera", "GT drift")
    for r in records:
        table.add_row(r.scene, r.kind, r.category or "-", r.split or "-", str(r.gt_shots), str(r.lq_shots),
                      ", ".join(f"{g:g}" for g in r.glass_mm) or "-", ", ".join(r.cameras) or "-", _drift_cell(r))
    console.print(table)

@app.command()
def shots(
    scene: Annotated[Optional[str], typer.Option("--scene", "-s", help="Only this scene.")] = None,
    json_: JsonFlag = False,
) -> None:
    """List shots with role, exposure, trigger, files and the rig they were taken with (--json: the full rig record).

    Example: rdrf shots --scene 17
    """
    with context.open_catalogue("read").session() as s:
        q = select(Shot).join(Scene)
        if scene is not None:
            q = q.where(Scene.label == scene)
        records = sorted((shot_record(sh) for sh in s.scalars(q)), key=lambda r: (scene_order(r.scene), r.role, r.index))
    if json_:
        print_json(records)
        return
    table = Table("id", "scene", "role", "#", "original", "ISO", "shutter s", "f/", "trigger", "files", "libgphoto2 / firmware")
    for r in records:
        table.add_row(str(r.shot_id), r.scene, r.role + (" (closing)" if r.bracket else ""), str(r.index), r.original_name,
                      f"{r.iso:g}" if r.iso else "-", f"{r.shutter_s:g}" if r.shutter_s else "-",
                      f"{r.aperture:g}" if r.aperture else "-", r.trigger, str(len(r.files)), _rig_cell(r.rig))
    console.print(table)

def _rig_cell(rig) -> str:
    if rig is None:
        return "no rig record"
    if rig.error:
        return rig.error
    parts = [f"{rig.libgphoto2 or '?'} / {rig.firmware or '?'}"]
    if rig.focus_mode:
        parts.append(f"focus {rig.focus_mode}")
    return ", ".join(parts)


@app.command()
def pairs(
    scene: Annotated[Optional[str], typer.Option("--scene", "-s", help="Only this scene.")] = None,
    status: Annotated[Optional[PairStatus], typer.Option("--status", help="Only pairs with this status.")] = None,
    json_: JsonFlag = False,
) -> None:
    """List pairs (degraded shot + its scene's GT) with alignment status and reason.

    Example: rdrf pairs --status rejected
    """
    with context.open_catalogue("read").session() as s:
        q = select(Pair).join(Scene)
        if scene is not None:
            q = q.where(Scene.label == scene)
        if status is not None:
            q = q.where(Pair.status == status)
        records = sorted((pair_record(p) for p in s.scalars(q)), key=lambda r: (scene_order(r.scene), r.pair_id))
    if json_:
        print_json(records)
        return
    table = Table("pair", "scene", "GT shot", "degraded shot", "original", "status", "reason")
    for r in records:
        table.add_row(str(r.pair_id), r.scene, str(r.gt_shot), str(r.lq_shot), r.lq_original, r.status, r.reason)
    console.print(table)
