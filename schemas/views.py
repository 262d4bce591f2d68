"""ORM rows -> records, and the few derived facts every stage needs about a shot."""

from __future__ import annotations

import re

from schemas.catalogue import Alignment, File, Pair, Scene, Shot
from schemas.imageio import is_plain_image
from schemas.records import AlignmentRecord, DriftRecord, FileRecord, PairRecord, RigRecord, SceneRecord, ShotRecord
from schemas.vocabulary import VIEW_KIND, BracketStatus


def scene_order(label: str) -> list:
    """Natural order for scene labels and file names: 2 before 10, case-insensitive, numbers first."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", label)]


def shot_image(shot: Shot) -> File:
    """The file to read as the shot's RGB image: its developed RAW when it has one, else its
    original JPEG/PNG/TIFF (the camera JPEG of a RAW+JPEG shot only when nothing was developed)."""
    developed = [f for f in shot.files if f.kind == "developed"]
    if developed:
        return developed[0]
    plain = [f for f in shot.files if f.kind == "original" and is_plain_image(f.path)]
    if not plain:
        raise LookupError(f"shot {shot.id} of scene {shot.scene.label} has no readable image file")
    return plain[0]


def shot_views(shot: Shot) -> dict[str, File]:
    """A dual-pixel shot's view files by side ('left', 'right'); {} for an ordinary shot (or one with a single view)."""
    found = {side: f for f in shot.files for side, kind in VIEW_KIND.items() if f.kind == kind}
    return found if len(found) == 2 else {}


def alignment_sources(pair: Pair) -> tuple[File, File]:
    """The GT and degraded images the pair's current alignment maps between - what its warped image
    is rendered from: the files the alignment recorded, else (rows from before catalogue revision
    0003, and pairs not aligned yet) its shots' images. LookupError when a shot has no image."""
    a = pair.alignment
    gt = a.gt_file if a is not None and a.gt_file is not None else shot_image(pair.gt_shot)
    lq = a.lq_file if a is not None and a.lq_file is not None else shot_image(pair.lq_shot)
    return gt, lq


def scene_gt(scene: Scene) -> Shot | None:
    """The scene's ground truth: its first GT shot that does not close a series (later GT shots and
    closing GTs are kept but not paired: every degraded shot was checked against the opening GT)."""
    gts = [s for s in scene.shots if s.role == "gt" and not is_closing_gt(s)] or [s for s in scene.shots if s.role == "gt"]
    return min(gts, key=lambda s: s.index) if gts else None


def is_closing_gt(shot: Shot) -> bool:
    """A GT that closes a degraded series (the GT bracket; capture records it in its QA)."""
    return shot.role == "gt" and bool((shot.qa or {}).get("bracket"))


def shot_rig(shot: Shot) -> dict | None:
    """What the body reported about itself for this shot; None: no rig record (imported, or older)."""
    return (shot.qa or {}).get("rig")


def scene_drifts(scene: Scene) -> list[dict]:
    """The drift records of the scene's closing GTs, oldest first (each with `closing_gt`, its index);
    empty: no bracket (imported, or captured with --no-gt-bracket)."""
    closing = sorted((s for s in scene.shots if is_closing_gt(s) and (s.qa or {}).get("drift")), key=lambda s: s.index)
    return [{"closing_gt": s.index, **s.qa["drift"]} for s in closing]


def bracket_status(scene: Scene) -> BracketStatus:
    """The verdict of the scene's GT brackets as recorded when they were measured."""
    drifts = scene_drifts(scene)
    if not drifts:
        return "no bracket"
    return "drifted" if any(d.get("flags") or not d.get("registered") for d in drifts) else "ok"


def shot_camera(shot: Shot) -> str | None:
    return shot.setup.camera_model if shot.setup else None


# The alignment's figures every record that describes a pair carries.
ALIGNMENT_FIGURES = ("n_inliers", "inlier_ratio", "reproj_error", "gain", "offset", "valid_fraction", "mask_coverage", "mask_method")


def alignment_figures(a: Alignment) -> dict:
    return {name: getattr(a, name) for name in ALIGNMENT_FIGURES}


def file_record(f: File) -> FileRecord:
    return FileRecord(path=f.path, kind=f.kind, sha256=f.sha256, size=f.size)


def shot_record(shot: Shot) -> ShotRecord:
    return ShotRecord(
        shot_id=shot.id,
        scene=shot.scene.label,
        role=shot.role,
        index=shot.index,
        degradation=shot.degradation,
        trigger=shot.trigger,
        original_name=shot.original_name,
        captured_at=shot.captured_at,
        iso=shot.iso,
        shutter_s=shot.shutter_s,
        aperture=shot.aperture,
        width=shot.width,
        height=shot.height,
        frame_index=shot.frame_index,
        timestamp_s=shot.timestamp_s,
        camera=shot_camera(shot),
        glass_mm=shot.setup.glass_mm if shot.setup else None,
        qa=shot.qa,
        bracket=is_closing_gt(shot),
        rig=RigRecord.model_validate(rig) if (rig := shot_rig(shot)) is not None else None,
        files=[file_record(f) for f in shot.files],
    )


def scene_record(scene: Scene) -> SceneRecord:
    setups = scene.setups
    return SceneRecord(
        scene=scene.label,
        kind=scene.kind,
        category=scene.category,
        notes=scene.notes,
        split=scene.split,
        split_pinned=scene.split_pinned,
        gt_shots=sum(s.role == "gt" for s in scene.shots),
        lq_shots=sum(s.role == "lq" for s in scene.shots),
        glass_mm=sorted({s.glass_mm for s in setups if s.glass_mm is not None}),
        cameras=sorted({s.camera_model for s in setups if s.camera_model}),
        bracket=bracket_status(scene),
        gt_drift=[DriftRecord.model_validate(d) for d in scene_drifts(scene)],
    )


def alignment_record(a: Alignment) -> AlignmentRecord:
    return AlignmentRecord(
        pair_id=a.pair_id,
        method=a.method,
        version=a.version,
        status=a.status,
        reason=a.reason,
        homography=a.homography,
        n_matches=a.n_matches,
        seconds=a.seconds,
        **alignment_figures(a),
    )


def pair_record(pair: Pair) -> PairRecord:
    a = pair.alignment
    try:
        sources = alignment_sources(pair)
    except LookupError:
        sources = None
    views = shot_views(pair.lq_shot)
    return PairRecord(
        pair_id=pair.id,
        scene=pair.scene.label,
        gt_shot=pair.gt_shot_id,
        lq_shot=pair.lq_shot_id,
        lq_original=pair.lq_shot.original_name,
        status=pair.status,
        reason=pair.reason,
        homography=a.homography if a else None,
        gt_image=sources[0].path if sources else None,
        lq_image=sources[1].path if sources else None,
        raindrop_mask=a.raindrop_mask_file.path if a and a.raindrop_mask_file else None,
        aligned_lq=a.aligned_file.path if a and a.aligned_file else None,
        valid_mask=a.valid_mask_file.path if a and a.valid_mask_file else None,
        reflection=a.reflection_file.path if a and a.reflection_file else None,
        lq_left=views["left"].path if views else None,
        lq_right=views["right"].path if views else None,
        mask_left=a.mask_left_file.path if a and a.mask_left_file else None,
        mask_right=a.mask_right_file.path if a and a.mask_right_file else None,
        alignment=alignment_record(a) if a else None,
    )
