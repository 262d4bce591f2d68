"""rdrf.toml: the workspace's settings, one pydantic model with a sub-model per section.

Parsed once per command (`Workspace.settings`); an unknown section or key, or a value of the wrong
type, is refused with the file, the section and the key named - a typo must never silently leave a
threshold at its default.

    [develop]      half_size
    [virtual]      width, height, seed, raw, motion_px, background, params
    [capture]      gt_bracket
    [capture.qa]   max_motion_px, max_exposure_ev, max_wb_shift, min_sharpness, min_inliers
    [bracket]      max_motion_px, max_exposure_ev, max_colour_shift, max_changed_fraction
    [align]        workers, mask, min_inliers, min_inlier_ratio, max_reproj_px, min_valid_fraction,
                   max_motion_fraction, max_gain_ratio, max_offset, max_mask_coverage
    [split]        test_fraction
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.errors import RdrfError
from schemas.vocabulary import MaskMethod

# The paper: 216 training and 36 test scenes (seeds/000 sec. 3.2).
DEFAULT_TEST_FRACTION = 36 / 252
# GT bracket limits, from `python -m bench.bracket --scenes 8 --size 960x640` (docs/NOTES.md, issue 13):
# between its two GTs an untouched virtual rig measures <= 2.2 px of motion (at 4752 wide), |EV| <=
# 0.07, colour <= 2.3%, <= 0.9% changed; a camera moved by 8 px 5.2-8.4 px, a light change of
# faults.FAULT_EV's 0.5 EV >= 0.46 EV, a 5-6% colour change >= 4.9%, a moved object (faults.moved_object)
# >= 4.8% changed.
BRACKET_MOTION_PX = 4.0
BRACKET_EXPOSURE_EV = 0.25
BRACKET_COLOUR_SHIFT = 0.035
BRACKET_CHANGED_FRACTION = 0.025


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WorkspaceSection(Section):
    """[workspace]: the layout version `rdrf init` wrote."""

    version: int = 1


class DevelopSettings(Section):
    """[develop]: RAW development, identical for every shot of a scene."""

    half_size: bool = Field(False, description="develop at half size (Sony ILCE-7RM4A 9504x6336 -> 4752x3168)")


class VirtualSettings(Section):
    """[virtual]: the virtual rig behind `rdrf capture --camera virtual`."""

    width: int = Field(4752, ge=16)
    height: int = Field(3168, ge=16)
    seed: int = 0
    raw: bool = Field(True, description="a DNG beside each JPEG (RAW+JPEG shots)")
    motion_px: float = Field(2.0, ge=0, description="how far the simulated tripod drifts between shots")
    background: Optional[Path] = Field(None, description="a photograph to use as the scene instead of a painted one")
    params: dict[str, Any] = Field(default_factory=dict, description="hardware.sim.DegradationParams fields fixed for every degraded shot")


class CaptureQASettings(Section):
    """[capture.qa]: live QA limits, checked against the GT after every degraded shot."""

    max_motion_px: float = Field(12.0, gt=0, description="camera movement, in pixels of a 4752-wide frame (~0.25% of the width)")
    max_exposure_ev: float = Field(0.5, gt=0)
    max_wb_shift: float = Field(0.25, gt=0, description="relative change of R/G or B/G (a strong reflection tints by up to ~15%)")
    min_sharpness: float = Field(0.2, ge=0, description="90th percentile of per-tile Laplacian energy vs the GT (dense drops ~0.35, 1-px blur ~0.07)")
    min_inliers: int = Field(12, ge=4)


class CaptureSettings(Section):
    """[capture]: the protocol's options and live QA."""

    gt_bracket: bool = Field(
        True, description="end every degraded series with a closing GT (box on, glass dry) that measures the scene's drift; `--no-gt-bracket` opts out"
    )
    qa: CaptureQASettings = CaptureQASettings()


class BracketSettings(Section):
    """[bracket]: how far a scene may drift between its opening and closing GT (live QA and `rdrf align`'s
    QC). Between the virtual rig's normal drift between two GTs and the faults of hardware/sim/faults.py;
    see docs/NOTES.md "GT bracket and rig record (issue 13)"."""

    max_motion_px: float = Field(BRACKET_MOTION_PX, gt=0, description="largest corner displacement between the GTs, px at 4752 wide")
    max_exposure_ev: float = Field(BRACKET_EXPOSURE_EV, gt=0, description="exposure change between the GTs, stops, linear light")
    max_colour_shift: float = Field(BRACKET_COLOUR_SHIFT, gt=0, description="relative change of R/G or B/G between the GTs")
    max_changed_fraction: float = Field(
        BRACKET_CHANGED_FRACTION, gt=0, le=1, description="of the frame still different after registration and exposure/colour correction"
    )


class AlignSettings(Section):
    """[align]: command defaults and the QC thresholds a pair must meet to be `ok`."""

    workers: int = Field(1, ge=1, description="worker processes aligning pairs in parallel (1: this process, its cores split between up to 4 pairs at a time)")
    mask: MaskMethod = "default"
    min_inliers: int = Field(
        12, ge=4, description="feature inliers of the coarse homography (dense drops hide features; the patch fit and max_reproj_px guard the result)"
    )
    min_inlier_ratio: float = Field(0.15, ge=0, le=1)
    max_reproj_px: float = Field(0.75, gt=0, description="RMS residual of the final fit, full-resolution px")
    min_valid_fraction: float = Field(0.80, ge=0, le=1, description="of the GT frame covered by the warped degraded shot")
    max_motion_fraction: float = Field(
        0.006, ge=0, le=1, description="of the valid area: solid, in-focus change in patches larger than any drop (the"
        " largest drop covers ~0.004; 720x480 bench.qc: good pairs <= 0.0044, moving objects >= 0.0074)"
    )
    max_gain_ratio: float = Field(
        2.5, ge=1, description="fence against a failed photometric fit: any channel's gain outside [1/r, r] (exposure is judged by glass_ev / max_exposure_ev)"
    )
    max_offset: float = Field(0.3, ge=0, description="fence likewise: |offset| in full-scale units (a strong reflection's veil reaches ~0.2)")
    glass_ev: float = Field(
        -0.2, le=0, description="brightness change the glass alone causes (transmission ~0.87), stops; the exposure check is centred here"
    )
    max_exposure_ev: float = Field(
        0.4, gt=0, description="exposure drift allowed around glass_ev, stops, measured in linear light with reflections excluded:"
        " halfway between the drift of a tripod series (< 0.3) and an exposure change (>= 0.5)"
    )
    min_detail_retained: float = Field(
        0.3, ge=0, le=1, description="fraction of the GT's fine detail the degraded shot keeps (in focus 0.4-0.9, defocused < 0.2)"
    )
    max_mask_coverage: float = Field(0.6, ge=0, le=1, description="more 'raindrop' than that means the pair does not match")


class SplitSettings(Section):
    """[split]: the test fraction for scenes assigned from now on (assigned scenes never move)."""

    test_fraction: float = Field(DEFAULT_TEST_FRACTION, gt=0, lt=1)


class Settings(Section):
    """The whole of rdrf.toml; every section optional."""

    workspace: WorkspaceSection = WorkspaceSection()
    develop: DevelopSettings = DevelopSettings()
    virtual: VirtualSettings = VirtualSettings()
    capture: CaptureSettings = CaptureSettings()
    bracket: BracketSettings = BracketSettings()
    align: AlignSettings = AlignSettings()
    split: SplitSettings = SplitSettings()


def _where(loc: tuple) -> tuple[str, str]:
    """('[capture.qa]', 'max_motion') from a pydantic error location."""
    parts = [str(p) for p in loc]
    if len(parts) == 1:
        return "", parts[0]
    return f"[{'.'.join(parts[:-1])}]", parts[-1]


def parse_settings(text: str, source: str | Path = "rdrf.toml") -> Settings:
    """Settings from rdrf.toml text; any problem is one RdrfError naming file, section and key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RdrfError(f"{source}: not valid TOML ({exc})") from exc
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            section, key = _where(err["loc"])
            where = f"{section} {key}" if section else f"[{key}]"
            if err["type"] == "extra_forbidden":
                known = _known_keys(err["loc"][:-1])
                kind = "section" if not section else "setting"
                problems.append(f"unknown {kind} {where}; known: {', '.join(known)}")
            else:
                problems.append(f"{where} = {err.get('input')!r}: {err['msg']}")
        raise RdrfError(f"{source}: " + "; ".join(problems)) from exc


def _known_keys(loc: tuple) -> list[str]:
    model: type[BaseModel] = Settings
    for part in loc:
        field = model.model_fields.get(str(part))
        if field is None or not isinstance(field.annotation, type) or not issubclass(field.annotation, BaseModel):
            return []
        model = field.annotation
    return sorted(model.model_fields)


def load_settings(path: Path) -> Settings:
    """The settings in `path`; defaults when the file does not exist."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return Settings()
    return parse_settings(text, path)
