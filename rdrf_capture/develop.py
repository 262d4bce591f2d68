"""RAW development with identical parameters for every shot of a scene.

The paper's pairs differ only by the glass: so all shots of a scene are developed with the GT's
as-shot white balance, no auto-brightness and 16-bit output, and half-size when asked (which gives
4752x3168 from a Sony ILCE-7RM4A's 9504x6336).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete, select

from rdrf_capture import dual_pixel
from schemas.catalogue import File, IngestJournal, Scene, Shot
from schemas.errors import RdrfError
from schemas.imageio import encode_png, is_raw
from schemas.storage import clear_temporaries, durable_write
from schemas.views import scene_gt
from schemas.vocabulary import VIEW_KIND, View
from schemas.workspace import Catalogue


@dataclass(frozen=True)
class DevelopParams:
    white_balance: tuple[float, float, float, float]
    half_size: bool = False


def as_shot_white_balance(data: bytes, name: str) -> tuple[float, float, float, float]:
    import rawpy

    try:
        with rawpy.imread(io.BytesIO(data)) as raw:
            wb = tuple(float(v) for v in raw.camera_whitebalance)
    except (rawpy.LibRawError, ValueError, OSError) as exc:
        raise RdrfError(f"{name}: unreadable RAW file ({exc})") from exc
    if not any(wb):  # no as-shot WB recorded: fall back to daylight multipliers
        with rawpy.imread(io.BytesIO(data)) as raw:
            wb = tuple(float(v) for v in raw.daylight_whitebalance)
    if wb[3] == 0:  # three-colour bodies report G2 as 0: it is the same green as G1
        wb = (wb[0], wb[1], wb[2], wb[1])
    return wb  # type: ignore[return-value]


def develop(data: bytes, name: str, params: DevelopParams) -> np.ndarray:
    """RGB uint16, sRGB gamma, white balance fixed by `params` (never the camera's auto)."""
    import rawpy

    try:
        with rawpy.imread(io.BytesIO(data)) as raw:
            return raw.postprocess(
                user_wb=list(params.white_balance),
                use_camera_wb=False,
                use_auto_wb=False,
                no_auto_bright=True,
                output_bps=16,
                half_size=params.half_size,
                output_color=rawpy.ColorSpace.sRGB,
            )
    except (rawpy.LibRawError, ValueError, OSError) as exc:
        raise RdrfError(f"{name}: RAW development failed ({exc})") from exc


def develop_mosaic(data: bytes, name: str, params: DevelopParams, mosaic: np.ndarray, exp_shift: float = 1.0) -> np.ndarray:
    """`develop` of the file's frame 0 with its visible mosaic replaced by `mosaic` (a dual-pixel view,
    rdrf_capture/dual_pixel.py), brightened by `exp_shift` (linear; 2.0: one photodiode of two)."""
    import rawpy

    try:
        with rawpy.imread(io.BytesIO(data)) as raw:
            raw.raw_image_visible[:] = mosaic
            return raw.postprocess(
                user_wb=list(params.white_balance), use_camera_wb=False, use_auto_wb=False, no_auto_bright=True,
                output_bps=16, half_size=params.half_size, output_color=rawpy.ColorSpace.sRGB, exp_shift=exp_shift,
            )
    except (rawpy.LibRawError, ValueError, OSError) as exc:
        raise RdrfError(f"{name}: RAW development failed ({exc})") from exc


def _raw_of(shot: Shot) -> File | None:
    return next((f for f in shot.files if f.kind == "original" and is_raw(f.path)), None)


def developed_path(shot: Shot) -> str:
    return f"developed/{shot.scene.label}/{shot.role}-{shot.index:03d}.png"


def undeveloped(catalogue: Catalogue, scene_label: str) -> list[int]:
    """Shots of the scene with a RAW original and no developed file, GT first."""
    with catalogue.session() as s:
        scene = s.scalar(select(Scene).where(Scene.label == scene_label))
        if scene is None:
            return []
        todo = [sh for sh in scene.shots if _raw_of(sh) and not any(f.kind == "developed" for f in sh.files)]
        return [sh.id for sh in sorted(todo, key=lambda sh: (sh.role != "gt", sh.index))]


def _scene_white_balance(catalogue: Catalogue, shot: Shot) -> tuple | None:
    gt = scene_gt(shot.scene)
    raw = _raw_of(gt) if gt is not None else None
    if raw is None:
        return None
    return as_shot_white_balance(catalogue.workspace.abs(raw.path).read_bytes(), raw.path)


def develop_shot(catalogue: Catalogue, shot_id: int) -> bool:
    """Develop one stored RAW shot into developed/<scene>/<role>-<index>.png; False if nothing to do.

    Journalled like ingestion: the path is recorded, the PNG written durably, then the File row
    registered and the journal cleared in one transaction; killed half-way, a re-run redoes it.
    """
    ws = catalogue.workspace
    half_size = ws.settings.develop.half_size
    with catalogue.session() as s:
        shot = s.get(Shot, shot_id)
        raw = _raw_of(shot) if shot else None
        if raw is None or any(f.kind == "developed" for f in shot.files):
            return False
        rel = developed_path(shot)
        wb = _scene_white_balance(catalogue, shot)
        raw_path = raw.path
        frame1 = ((shot.qa or {}).get("dual_pixel_raw") or {}).get("frame1")  # a Canon DPRAW: which view frame 1 is
        views = {side: view_path(rel, side) for side in VIEW_KIND} if frame1 else {}
        for path in (rel, *views.values()):
            s.add(IngestJournal(path=path, source=f"develop {raw_path}"))
    clear_temporaries(ws.abs(rel).parent)
    data = ws.abs(raw_path).read_bytes()
    params = DevelopParams(wb or as_shot_white_balance(data, raw_path), half_size)
    rgb = develop(data, raw_path, params)
    stored = {"developed": (rel, durable_write(encode_png(rgb, order="rgb", level=1), ws.abs(rel)))}
    if frame1:

        for side, img in develop_views(data, raw_path, params, frame1).items():
            stored[VIEW_KIND[side]] = (views[side], durable_write(encode_png(img, order="rgb", level=1), ws.abs(views[side])))
    with catalogue.session() as s:
        shot = s.get(Shot, shot_id)
        for kind, (path, st) in stored.items():
            if s.scalar(select(File.id).where(File.path == path)) is None:
                s.add(File(shot=shot, kind=kind, path=path, sha256=st.sha256, size=st.size))
        shot.width, shot.height = int(rgb.shape[1]), int(rgb.shape[0])
        s.execute(delete(IngestJournal).where(IngestJournal.path.in_([path for path, _ in stored.values()])))
    return True


def view_path(developed: str, side: str) -> str:
    """Where a Dual Pixel RAW's developed view goes: beside its combined image (`NAME.left.png`)."""
    return developed.removesuffix(".png") + f".{side}.png"


def develop_views(data: bytes, name: str, params, frame1: View) -> dict[View, np.ndarray]:
    """Both views of a Dual Pixel RAW, developed like its combined image (same white balance, no
    auto-brightness, 16-bit sRGB) and one stop brighter (each photodiode gets half the light), so a
    view and the combined image have one exposure. `frame1`: which view the file's frame 1 is."""
    frames = dual_pixel.read_dual_pixel_raw(data, name)
    other, _ = dual_pixel.other_view(frames.combined, frames.one_view, frames.black, frames.white)
    mosaics = {frame1: frames.one_view, dual_pixel.OTHER[frame1]: other}
    return {side: develop_mosaic(data, name, params, mosaics[side], exp_shift=2.0) for side in ("left", "right")}
