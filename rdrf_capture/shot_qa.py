"""Live QA of the shot just taken, from its bytes in memory, before it is stored.

The QA dict is catalogued with the shot in one transaction (`ShotInfo.qa`): no shot is ever
catalogued without its QA, and nothing just written is read back. The reference is the scene's GT:
the first GT shot of this session, or the catalogued GT when a session continues a scene.

A shot is checked on its JPEG (libjpeg's reduced decoding, ~tens of ms); a shot without one on its
RAW developed at half size in memory with the GT's white balance - the dataset's own development
runs later in the background (background_develop.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from sqlalchemy import select

from rdrf_capture import live_qa
from rdrf_capture.develop import DevelopParams, as_shot_white_balance, develop
from rdrf_capture.exif import read_exposure
from rdrf_capture.ingest import primary
from schemas.catalogue import Scene
from schemas.errors import RdrfError
from schemas.imageio import is_jpeg, is_plain_image, is_raw, jpeg_size, to_uint8
from schemas.settings import CaptureQASettings
from schemas.views import scene_gt
from schemas.workspace import Catalogue

EXPOSURE_KEYS = ("iso", "shutter_s", "aperture")
WhiteBalance = tuple[float, float, float, float]


@dataclass
class _Reference:
    frame: live_qa.Frame
    exif: Optional[dict]  # the GT's EXIF exposure (EXPOSURE_KEYS)
    white_balance: Optional[WhiteBalance]  # set when the GT was checked on its RAW


def qa_source(names: Sequence[str]) -> Optional[int]:
    """The file QA reads: the camera JPEG, else another plain image, else the RAW; None if none."""
    for wanted in (is_jpeg, is_plain_image, is_raw):
        for i, name in enumerate(names):
            if wanted(name):
                return i
    return None


def exposure(names: Sequence[str], data: Sequence[bytes]) -> dict:
    """The shot's EXIF exposure, from the file the catalogue takes it from (ingest.primary)."""
    exp = read_exposure(data[primary(names)])
    return {k: getattr(exp, k) for k in EXPOSURE_KEYS}


class ShotQA:
    """The QA of each shot of one session of a scene (holds the GT frame, prepared once)."""

    def __init__(self, catalogue: Catalogue, scene: str, thresholds: CaptureQASettings, files_expected: int):
        self.catalogue = catalogue
        self.scene = scene
        self.thresholds = thresholds
        self.files_expected = files_expected
        self.half_size = catalogue.workspace.settings.develop.half_size
        self._ref: Optional[_Reference] = None

    def check(self, role: str, names: Sequence[str], data: Sequence[bytes]) -> dict:
        """The QA dict of one shot (its files by name and bytes), stored as Shot.qa."""
        return self._check_gt(names, data) if role == "gt" else self._check_lq(names, data)

    def check_wild(self, names: Sequence[str]) -> dict:
        """A wild scene's shot: there is no GT to compare with, so only the file count is checked
        (the full decode check runs at ingestion, as for every shot)."""
        n, want = len(names), self.files_expected
        qa = {"version": live_qa.VERSION, "ok": True, "reference": False, "flags": [], "files": n,
              "skipped": ["live QA against a GT (wild scene: no GT)"]}
        if want and n < want:
            qa["ok"] = False
            qa["flags"] = [f"only {n} of {want} files arrived: check the body's image quality setting"]
        return qa

    def _check_gt(self, names: Sequence[str], data: Sequence[bytes]) -> dict:
        """A GT is the reference, not judged; only a missing file is flagged."""
        if self._ref is None:
            frame, wb = self._frame(names, data, None)
            if frame is not None:
                self._ref = _Reference(frame, exposure(names, data), wb)
        n, want = len(names), self.files_expected
        qa = {"version": live_qa.VERSION, "ok": True, "reference": True, "flags": [], "files": n}
        if want and n < want:
            qa["ok"] = False
            qa["flags"] = [f"only {n} of {want} files arrived: check the body's image quality setting"]
        return qa

    def _check_lq(self, names: Sequence[str], data: Sequence[bytes]) -> dict:
        ref = self._ref or self._catalogued_reference()
        self._ref = ref
        frame, _ = self._frame(names, data, ref.white_balance if ref else None)
        if ref is None or frame is None:
            return {"version": live_qa.VERSION, "ok": False, "flags": ["no GT image to check against"], "files": len(names)}
        return live_qa.assess(
            ref.frame,
            frame,
            self.thresholds,
            files=len(names),
            files_expected=self.files_expected,
            exif_gt=ref.exif,
            exif_shot=exposure(names, data),
        )

    def _catalogued_reference(self) -> Optional[_Reference]:
        """The scene's catalogued GT (a session continuing a scene): only the file QA reads is read."""
        with self.catalogue.session() as s:
            scene = s.scalar(select(Scene).where(Scene.label == self.scene))
            gt = scene_gt(scene) if scene else None
            if gt is None:
                return None
            paths = [f.path for f in gt.files if f.kind == "original"]
            exif = {k: getattr(gt, k) for k in EXPOSURE_KEYS}
        which = qa_source(paths)
        if which is None:
            return None
        data = self.catalogue.workspace.abs(paths[which]).read_bytes()
        frame, wb = self._frame([paths[which]], [data], None)
        return _Reference(frame, exif, wb) if frame is not None else None

    def _frame(
        self, names: Sequence[str], data: Sequence[bytes], white_balance: Optional[WhiteBalance]
    ) -> tuple[Optional[live_qa.Frame], Optional[WhiteBalance]]:
        """The QA frame of a shot, and the white balance its RAW was developed with (None for a JPEG).
        An undecodable file gives no frame: ingestion then refuses it with its name."""
        which = qa_source(names)
        if which is None:
            return None, None
        name, raw = names[which], data[which]
        if not is_raw(name):
            rgb = live_qa.decode_for_qa(raw)
            if rgb is None:
                return None, None
            return live_qa.prepare(rgb, jpeg_size(raw) or (rgb.shape[1], rgb.shape[0])), None
        try:
            wb = white_balance or as_shot_white_balance(raw, name)
            rgb = to_uint8(develop(raw, name, DevelopParams(wb, half_size=True)))
        except RdrfError:
            return None, None
        scale = 1 if self.half_size else 2  # full size: the development the catalogue will hold
        return live_qa.prepare(rgb, (rgb.shape[1] * scale, rgb.shape[0] * scale)), wb
