"""`rdrf cameras --check`: the pre-session self-test of a connected body.

What the body itself reports - libgphoto2 version, model, firmware, serial, battery, free card space,
every profile setting read back, focus and exposure mode - and, on request, one test capture timed
end to end. On the day the real bodies are connected this is where what the source cannot tell shows
up (docs/NOTES.md, "Real bodies"): which widgets the body advertises, whether the capture target
took, which file arrives first. The rig is "ready" only when opening applied the profile (no refusal),
every check passed and the test shot, if taken, delivered every file; otherwise the reasons say why.
"""

from __future__ import annotations

import time
from typing import Any, Optional

from pydantic import BaseModel, Field

from hardware.camera import CameraError

NOT_REPORTED = "not reported"
FREE_SPACE_FIELD = 128  # GP_STORAGEINFO_FREESPACEKBYTES (gphoto2-filesys.h)


class TrialShot(BaseModel):
    files: list[str]
    sizes: list[int]
    seconds: float = Field(description="end to end: drain, press, events, downloads (the virtual rig's rendering excluded)")
    camera_s: float = Field(description="of which inside libgphoto2")
    retries: int
    notes: list[str] = Field(default_factory=list)


class CameraCheck(BaseModel):
    """One body's self-test, as `rdrf cameras --check --json` prints it."""

    model: str
    port: str
    profile: str
    libgphoto2: Optional[str] = None
    firmware: Optional[str] = None
    serial: Optional[str] = None
    battery: Optional[str] = None  # None: the body does not report it
    free_space_mb: Optional[float] = None
    focus_mode: Optional[str] = None
    focus_distance: Optional[str] = None
    exposure_program: Optional[str] = None
    settings: dict[str, Optional[str]] = Field(default_factory=dict, description="each profile setting and check, read back")
    warnings: list[str] = Field(default_factory=list)
    test_shot: Optional[TrialShot] = None
    ready: bool
    reasons: list[str] = Field(default_factory=list, description="why the rig is not ready")

    def rows(self) -> list[tuple[str, str]]:
        """(what, value) for the table; absent values say so rather than leave a blank."""

        def show(v: Any) -> str:
            return NOT_REPORTED if v is None or v == "" else str(v)

        rows = [
            ("model", self.model), ("port", show(self.port)), ("profile", self.profile),
            ("libgphoto2", show(self.libgphoto2)), ("firmware", show(self.firmware)), ("serial", show(self.serial)),
            ("battery", show(self.battery)),
            ("free card space", NOT_REPORTED if self.free_space_mb is None else f"{self.free_space_mb:,.0f} MB"),
            ("focus mode", show(self.focus_mode)), ("focus distance", show(self.focus_distance)),
            ("exposure program", show(self.exposure_program)),
        ]
        rows += [(f"setting {k}", show(v)) for k, v in self.settings.items()]
        if self.test_shot is not None:
            t = self.test_shot
            rows.append(("test shot", f"{', '.join(t.files)} in {t.seconds:.2f} s ({t.camera_s:.2f} s in libgphoto2, {t.retries} busy retries)"))
        rows.append(("ready", "yes" if self.ready else "NO"))
        return rows


def free_space_mb(cam: Any) -> Optional[float]:
    """Free space over every storage the body reports; None where it reports none (a Sony in PC
    control may show no storage at all)."""
    try:
        infos = list(cam.get_storageinfo())
    except Exception:  # not supported by the body, or a double without it
        return None
    free = [i.freekbytes for i in infos if getattr(i, "fields", 0) & FREE_SPACE_FIELD]
    return sum(free) / 1024 if free else None


def check_camera(cam: Any, *, shot: bool = False) -> CameraCheck:
    """Read the opened body `cam` (a GPhotoCamera), optionally fire one test shot (not stored)."""
    state = cam.rig_state()
    report = cam.body_report()
    reasons = list(cam.warnings)
    test: Optional[TrialShot] = None
    if shot:
        t0 = time.perf_counter()
        try:
            got = cam.capture()
        except CameraError as exc:
            reasons.append(f"test shot failed: {exc}")
        else:
            test = TrialShot(
                files=got.names, sizes=[len(f.data) for f in got.files],
                seconds=round(time.perf_counter() - t0 - getattr(cam, "render_s", 0.0), 3),
                camera_s=round(got.camera_s, 3), retries=got.retries, notes=got.notes,
            )
            want = cam.profile.files_per_shot
            if want and len(got.files) != want:
                reasons.append(f"the test shot delivered {len(got.files)} file(s), the profile expects {want} ({', '.join(got.names)})")
    return CameraCheck(
        model=cam.model, port=cam.port, profile=cam.profile.name, libgphoto2=state["libgphoto2"], firmware=state["firmware"],
        serial=state["serial"], battery=report["battery"], free_space_mb=report["free_space_mb"], focus_mode=state["focus_mode"],
        focus_distance=state["focus_distance"], exposure_program=report["exposure_program"], settings=state["settings"],
        warnings=list(cam.warnings), test_shot=test, ready=not reasons, reasons=reasons,
    )


def not_ready(model: str, port: str, reason: str, libgphoto2: Optional[str] = None) -> CameraCheck:
    """The check of a body that could not even be opened (refused profile, old libgphoto2, no body)."""
    return CameraCheck(model=model, port=port, profile=NOT_REPORTED, libgphoto2=libgphoto2, ready=False, reasons=[reason])
