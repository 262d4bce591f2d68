"""The RDRF capture protocol (seeds/000 sec. 3.2) as a plan of steps with what the operator must do.

Step 1: the ground truth - dry glass, light-blocking box on (no reflections from the camera side).
Step 2: degraded shots - box off, water sprayed on the glass, the glass rotated to a new angle, the
camera and the scene untouched. A scene that already has its GT continues its degraded series with
the next number, so a session can be interrupted and resumed at any time.
Step 3 (the GT bracket, unless the operator opts out): a closing GT - box back on, glass dried or the
dry slab swapped in, camera untouched. Its difference from the opening GT is what drifted during the
series (tripod, light, scene): the scene's noise floor (rdrf_align.registration.drift).
"""

from __future__ import annotations

from dataclasses import dataclass
from schemas.vocabulary import Role


@dataclass(frozen=True)
class Step:
    role: Role
    index: int  # the shot's number within its role, as it will be catalogued
    of: int  # last number of this role in the session
    bracket: bool = False  # the closing GT of the series

    @property
    def title(self) -> str:
        if self.bracket:
            return f"closing GT {self.index}"
        return f"GT {self.index}" if self.role == "gt" else f"degraded {self.index}"


def plan(existing_gt: int, existing_lq: int, *, gt_count: int = 1, lq: int = 5, bracket: bool = True) -> list[Step]:
    """The session's steps: GT shots only if the scene has none, then `lq` degraded shots numbered on,
    then (`bracket`, and only after degraded shots) the closing GT, numbered after every GT."""
    steps: list[Step] = []
    n_gt = existing_gt
    if existing_gt == 0:
        steps += [Step("gt", i, gt_count) for i in range(1, gt_count + 1)]
        n_gt = gt_count
    last = existing_lq + lq
    steps += [Step("lq", i, last) for i in range(existing_lq + 1, last + 1)]
    if bracket and lq > 0:
        steps.append(Step("gt", n_gt + 1, n_gt + 1, bracket=True))
    return steps


def instructions(step: Step, scene: str, glass_mm: float, *, first_of_role: bool) -> str:
    """What to do with the rig before this shot."""
    if step.bracket:
        return (
            f"Scene {scene}, closing GT: put the light-blocking box back ON and dry the glass (or swap in the dry "
            f"{glass_mm:g} mm slab at the same place). Do not touch the camera or the tripod: this GT measures how "
            "far the scene drifted during the series."
        )
    if step.role == "gt":
        if first_of_role:
            return (
                f"Scene {scene}, ground truth ({step.index}/{step.of}): {glass_mm:g} mm glass in front of the lens, "
                "dry. Put the light-blocking box ON so nothing behind the camera reflects in the glass. "
                "Focus on the background, then lock focus (MF) and exposure (M)."
            )
        return f"Scene {scene}, ground truth ({step.index}/{step.of}): box still on, glass dry, nothing moved."
    if first_of_role:
        return (
            f"Scene {scene}, degraded shot {step.index}: take the light-blocking box OFF, spray water on the "
            "glass and rotate the glass to a new angle. Do not touch the camera or the tripod."
        )
    return f"Scene {scene}, degraded shot {step.index}/{step.of}: spray again and rotate the glass to another angle."


def trigger_hint(trigger: str, interactive: bool) -> str:
    if trigger == "remote":
        return "Fire the shutter with the wireless remote" + (" (q + Enter to stop)." if interactive else ".")
    return "Press Enter to shoot over USB, q + Enter to stop." if interactive else "Shooting over USB."
