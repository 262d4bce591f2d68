"""What a capture session reports: one record per shot taken, and the lines shown at its end."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from rdrf_capture.protocol import Step
from schemas.errors import RdrfError


@dataclass
class ShotReport:
    step: Step
    shot_id: int
    index: int
    files: list[str]
    qa: Optional[dict]
    timing: dict[str, float]  # seconds: camera, libgphoto2, qa, store, total (+ CPU seconds)


@dataclass
class SessionSummary:
    scene: str
    shots: list[ShotReport] = field(default_factory=list)
    stopped: Optional[str] = None  # why the session ended early (operator, interrupt, camera gone)
    error: Optional[RdrfError] = None  # the failure that ended it (camera, storage), if any
    interrupted: bool = False
    developed: int = 0  # RAW shots developed in the background
    bracket_planned: bool = False  # the session was to end with a closing GT

    @property
    def flagged(self) -> list[ShotReport]:
        return [r for r in self.shots if r.qa and not r.qa.get("ok", True)]

    def lines(self) -> list[str]:
        gt = [r for r in self.shots if r.step.role == "gt" and not r.step.bracket]
        lq = [r for r in self.shots if r.step.role == "lq"]
        closing = [r for r in self.shots if r.step.bracket]
        out = [f"scene {self.scene}: {len(gt)} GT and {len(lq)} degraded shot(s) captured this session"]
        if lq:
            idx = [r.index for r in lq]
            out.append(f"  degraded shots {min(idx)}..{max(idx)}; {sum(bool(r.qa and r.qa.get('ok', True)) for r in lq)} passed live QA")
        for r in closing:
            out.append(f"  closing GT gt-{r.index:03d}: " + ("drift within limits" if r.qa and r.qa.get("ok", True) else "drift over the limits (below)"))
        if lq and not closing:
            out.append(
                "  no closing GT: the series stopped before it; the scene's next session ends with one"
                if self.bracket_planned
                else "  no closing GT (--no-gt-bracket): the scene's drift is not measured"
            )
        for r in self.flagged:
            out.append(f"  flagged {r.step.role}-{r.index:03d}: " + "; ".join(r.qa.get("flags", [])))
        if self.shots:
            over = [r.timing["total"] - r.timing["camera"] for r in self.shots]
            out.append(f"  per shot: {sum(over) / len(over):.2f} s added by rdrf beyond the camera's own time")
        if self.stopped:
            out.append(f"  stopped early: {self.stopped}")
        return out
