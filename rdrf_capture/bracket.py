"""The GT bracket at capture: the closing GT measured against the scene's opening GT as soon as it
is taken, so the operator learns before leaving the scene that the camera moved or the light changed
during the series - and can shoot the series again while the scene is still there.

The measurement is `rdrf align`'s (rdrf_align.registration.drift): a 3 px tripod creep must not hide
in a registration error of a pixel, which live QA's reduced ORB match has. rdrf_capture does not
import rdrf_align (DESIGN.md's arrows): the CLI hands the measure and its judge in (`DriftCheck`).
Both GTs are compared as the same kind of file - the camera JPEGs when both have one, else their
RAWs developed at half size with the opening GT's white balance - so a development difference is
never taken for a light change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Optional, Sequence

import numpy as np
from sqlalchemy import select

from rdrf_capture.develop import DevelopParams, as_shot_white_balance, develop
from rdrf_capture.shot_qa import qa_source
from schemas.catalogue import Scene, Shot
from schemas.errors import RdrfError
from schemas.imageio import decode, is_jpeg, is_plain_image, is_raw
from schemas.settings import BracketSettings
from schemas.views import scene_gt
from schemas.workspace import Catalogue

# (opening BGR, closing BGR, full width) -> drift record; (record, limits) -> problems
Measure = Callable[[np.ndarray, np.ndarray, Optional[int]], dict]
Judge = Callable[[dict, BracketSettings], list[str]]


@dataclass(frozen=True)
class DriftCheck:
    measure: Measure
    problems: Judge


def _kind(name: str) -> Callable[[str], bool]:
    return next(k for k in (is_jpeg, is_plain_image, is_raw) if k(name))


def _image(name: str, data: bytes, white_balance) -> tuple[np.ndarray, int]:
    """BGR image of one GT file and its full width (RAW: developed at half size, `white_balance`)."""
    if not is_raw(name):
        img = decode(data, name)
        return img, img.shape[1]
    rgb = develop(data, name, DevelopParams(white_balance, half_size=True))
    return np.ascontiguousarray(rgb[..., ::-1]), rgb.shape[1] * 2


def measure_closing_gt(
    catalogue: Catalogue, scene: str, names: Sequence[str], data: Sequence[bytes], check: DriftCheck, limits: BracketSettings
) -> dict:
    """The drift record of a closing GT (its files by name and bytes) against the scene's opening GT,
    with `opening_gt`, `measured_at` and `flags` (problems against `limits`). A GT pair that cannot be
    compared is recorded as such, with the reason, and flagged: never a silent zero drift."""
    record: dict = {"measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    which = qa_source(names)
    with catalogue.session() as s:
        sc = s.scalar(select(Scene).where(Scene.label == scene))
        opening: Optional[Shot] = scene_gt(sc) if sc else None
        if opening is not None:
            record["opening_gt"] = opening.index
            files = [f.path for f in opening.files if f.kind == "original"]
    if opening is None or which is None:
        return _unmeasured(record, "the scene has no opening GT" if opening is None else "the closing GT has no image file", check, limits)
    kind = _kind(names[which])
    match = next((p for p in files if kind(p)), None)
    if match is None:
        return _unmeasured(record, f"the opening GT has no file of the closing GT's kind ({names[which]})", check, limits)
    try:
        opening_bytes = catalogue.workspace.abs(match).read_bytes()
        wb = as_shot_white_balance(opening_bytes, match) if is_raw(match) else None
        a, full = _image(match, opening_bytes, wb)
        b, _ = _image(names[which], data[which], wb)
    except (OSError, RdrfError) as exc:
        return _unmeasured(record, f"cannot read the GTs ({exc})", check, limits)
    try:
        record.update(check.measure(a, b, full))
    except Exception as exc:  # noqa: BLE001 - the closing GT is in memory only: a failed measurement must not cost it
        return _unmeasured(record, f"the drift could not be measured ({type(exc).__name__}: {exc})", check, limits)
    record["flags"] = check.problems(record, limits)
    return record


def _unmeasured(record: dict, reason: str, check: DriftCheck, limits: BracketSettings) -> dict:
    record.update(registered=False, reason=reason)
    record["flags"] = check.problems(record, limits)
    return record


def summary(record: dict) -> str:
    """One line for the operator: what drifted, and the noise floor."""
    if not record.get("registered"):
        return f"drift not measured: {record.get('reason')}"
    ev = record.get("exposure_ev")
    rg, bg = record.get("colour_shift") or (0.0, 0.0)
    return (
        f"drift since the opening GT: camera {record['motion_px']:.2f} px ({record['motion_ref_px']:.2f} at 4752 wide), "
        f"light {'n/a' if ev is None else f'{ev:+.2f} EV'}, colour R/G {rg:+.1%} B/G {bg:+.1%}, "
        f"changed {record['changed_fraction']:.1%}; noise floor {record['mean_abs_diff']:.1f} levels mean, "
        f"{record['p99_abs_diff']:.0f} at the 99th percentile"
    )
