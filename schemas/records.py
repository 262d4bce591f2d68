"""Records that cross a boundary: what `--json` prints, what an export's manifest holds and what
rdrf_train reads. Their JSON Schema files live in schemas/jsonschema/ (`rdrf schemas --write`)."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field

from schemas.vocabulary import AlignStatus, BracketStatus, Degradation, FileKind, MaskMethod, PairStatus, Role, SceneKind, SceneSplit, Trigger

Homography = list[list[float]]

CATEGORIES: tuple[str, ...] = (
    "building facades & structures",
    "streets & traffic",
    "public & open spaces",
    "functional components of building",
    "industrial & commercial facilities",
    "signs & markers",
    "infrastructure & obstacles",
    "others",
)


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FileRecord(Record):
    path: str = Field(description="relative to the workspace, POSIX separators")
    kind: FileKind
    sha256: str
    size: int


class DriftRecord(Record):
    """The drift between a scene's opening GT and one closing GT (rdrf_align.registration.drift)."""

    closing_gt: int = Field(description="index of the closing GT shot")
    opening_gt: Optional[int] = Field(default=None, description="index of the GT it was measured against")
    measured_at: Optional[str] = None
    version: Optional[int] = None
    registered: bool = Field(description="false: the GTs could not be compared (see reason); flagged")
    reason: Optional[str] = None
    width: Optional[int] = Field(default=None, description="the originals' width the pixel figures refer to")
    motion_px: Optional[float] = Field(default=None, description="largest corner displacement closing -> opening GT, px")
    motion_ref_px: Optional[float] = Field(default=None, description="the same at the RDRF width of 4752 px")
    inliers: Optional[int] = None
    reproj_error: Optional[float] = None
    exposure_ev: Optional[float] = Field(default=None, description="closing vs opening GT, stops, linear light")
    colour_shift: Optional[list[Optional[float]]] = Field(default=None, description="relative change of R/G and B/G, linear light")
    mean_abs_diff: Optional[float] = Field(default=None, description="|closing registered - opening|, 8-bit levels: the noise floor")
    p99_abs_diff: Optional[float] = None
    changed_fraction: Optional[float] = Field(default=None, description="of the frame still different after exposure/colour correction")
    flags: list[str] = Field(default_factory=list, description="what was over the [bracket] limits when measured")


class RigRecord(BaseModel):
    """What the body reported about itself when the shot was taken (hardware Camera.rig_state). Keys
    a newer driver adds are kept (extra allowed): a record of the rig must not lose facts."""

    model_config = ConfigDict(extra="allow")

    libgphoto2: Optional[str] = Field(default=None, description="libgphoto2 version the shot went through")
    model: Optional[str] = None
    serial: Optional[str] = None
    firmware: Optional[str] = Field(default=None, description="the body's PTP deviceversion")
    focus_mode: Optional[str] = None
    focus_distance: Optional[str] = None
    settings: dict[str, Optional[str]] = Field(default_factory=dict, description="profile settings read back, widget -> value")
    error: Optional[str] = Field(default=None, description="set when the body could not report its state")


class SceneRecord(Record):
    scene: str = Field(description="the user's scene label, e.g. '17'")
    kind: SceneKind = "paired"
    category: Optional[str] = None
    notes: str = ""
    split: Optional[SceneSplit] = None
    split_pinned: bool = False
    gt_shots: int = 0
    lq_shots: int = 0
    glass_mm: list[float] = Field(default_factory=list)
    cameras: list[str] = Field(default_factory=list)
    bracket: BracketStatus = Field(default="no bracket", description="the GT bracket's verdict when it was measured")
    gt_drift: list[DriftRecord] = Field(default_factory=list, description="one per closing GT, oldest first")


class ShotRecord(Record):
    shot_id: int
    scene: str
    role: Role
    index: int
    degradation: Degradation
    trigger: Trigger
    original_name: str
    captured_at: Optional[datetime] = None
    iso: Optional[float] = None
    shutter_s: Optional[float] = None
    aperture: Optional[float] = None
    width: Optional[int] = None
    height: Optional[int] = None
    frame_index: Optional[int] = Field(default=None, description="a video frame's number in its source clip")
    timestamp_s: Optional[float] = Field(default=None, description="a video frame's time in its source clip, seconds")
    camera: Optional[str] = None
    glass_mm: Optional[float] = None
    qa: Optional[dict] = None
    bracket: bool = Field(default=False, description="a closing GT (the GT bracket); pairs use the scene's first GT")
    rig: Optional[RigRecord] = Field(default=None, description="null: no rig record (imported, or catalogued before rdrf recorded it)")
    files: list[FileRecord] = Field(default_factory=list)


class AlignmentRecord(Record):
    pair_id: int
    method: str
    version: str
    status: AlignStatus
    reason: str = ""
    homography: Optional[Homography] = None
    n_matches: Optional[int] = None
    n_inliers: Optional[int] = None
    inlier_ratio: Optional[float] = None
    reproj_error: Optional[float] = None
    gain: Optional[list[float]] = None
    offset: Optional[list[float]] = None
    valid_fraction: Optional[float] = None
    mask_coverage: Optional[float] = None
    mask_method: Optional[MaskMethod] = None
    seconds: Optional[float] = None


class PairRecord(Record):
    pair_id: int
    scene: str
    gt_shot: int
    lq_shot: int
    lq_original: str = Field(description="the degraded shot's original file name")
    status: PairStatus
    reason: str = ""
    homography: Optional[Homography] = Field(
        default=None, description="3x3, degraded pixel -> GT pixel at full resolution"
    )
    gt_image: Optional[str] = Field(default=None, description="the GT image the homography maps onto (workspace-relative)")
    lq_image: Optional[str] = Field(
        default=None, description="the degraded image the homography maps from; the aligned image is rendered from it on demand"
    )
    raindrop_mask: Optional[str] = None
    aligned_lq: Optional[str] = Field(default=None, description="the stored warped image; written before catalogue revision 0003 only")
    valid_mask: Optional[str] = Field(default=None, description="the stored valid area; written before catalogue revision 0003 only")
    reflection: Optional[str] = Field(
        default=None, description="small 8-bit map of the estimated reflection layer's strength, GT frame (255 = full scale)"
    )
    lq_left: Optional[str] = Field(default=None, description="dual-pixel shots: the left view (null for ordinary shots)")
    lq_right: Optional[str] = Field(default=None, description="dual-pixel shots: the right view (null for ordinary shots)")
    mask_left: Optional[str] = Field(default=None, description="dual-pixel pairs: the left view's raindrop mask, GT frame")
    mask_right: Optional[str] = Field(default=None, description="dual-pixel pairs: the right view's raindrop mask, GT frame")
    alignment: Optional[AlignmentRecord] = None


class ExportRecord(Record):
    """One line of an export's manifest.jsonl; paths are relative to the export folder. A record of an
    unpaired (wild) export has no pair, GT or mask: `gt`, `mask` and `pair_id` are null."""

    pair_id: Optional[int] = Field(description="null in an unpaired (wild) export")
    name: str = Field(description="file stem shared by gt/lq/mask/reflection in the export, no dots")
    scene: str
    split: SceneSplit
    kind: SceneKind = Field(default="paired", description="the scene's kind: paired, video or wild")
    degradation: Optional[Degradation] = Field(default=None, description="the degraded shot's degradation, to filter on")
    frame_index: Optional[int] = Field(default=None, description="video scenes: the frame's number in its clip")
    timestamp_s: Optional[float] = Field(default=None, description="video scenes: the frame's time in its clip, seconds")
    category: Optional[str] = None
    glass_mm: Optional[float] = None
    camera: Optional[str] = None
    gt: Optional[str] = Field(description="null in an unpaired (wild) export: there is no ground truth")
    lq: str
    mask: Optional[str] = Field(description="null in an unpaired (wild) export")
    reflection: Optional[str] = Field(
        default=None,
        description="8-bit map of the estimated reflection layer's strength at the export size (255 = full scale); "
        "None for a pair aligned before reflection maps existed (catalogue revision < 0004)",
    )
    lq_left: Optional[str] = Field(
        default=None, description="dual-pixel pairs: the left half-aperture view, warped like lq (same homography); null for ordinary pairs"
    )
    lq_right: Optional[str] = Field(default=None, description="dual-pixel pairs: the right view, warped like lq; null for ordinary pairs")
    mask_left: Optional[str] = Field(default=None, description="dual-pixel pairs: the left view's raindrop mask; null for ordinary pairs")
    mask_right: Optional[str] = Field(default=None, description="dual-pixel pairs: the right view's raindrop mask; null for ordinary pairs")
    width: int
    height: int
    crop: Optional[list[int]] = Field(
        default=None,
        description="[x0, y0, x1, y1]: the part of the GT frame (full-resolution pixels) the exported images were cut "
        "from before resizing to width x height; relates export pixels to the homography",
    )
    frame: Optional[list[int]] = Field(
        default=None,
        description="[width, height] of the GT frame at full resolution - the degraded shot's too (a pair is shot at "
        "one size): with crop and homography, where the warped shot covers the exported image",
    )
    homography: Optional[Homography] = None
    lq_original: str
    status: Optional[PairStatus] = Field(default="ok", description="the pair's status; null in an unpaired (wild) export")
    n_inliers: Optional[int] = None
    inlier_ratio: Optional[float] = None
    reproj_error: Optional[float] = None
    gain: Optional[list[float]] = None
    offset: Optional[list[float]] = None
    valid_fraction: Optional[float] = None
    mask_coverage: Optional[float] = None
    mask_method: Optional[MaskMethod] = None


class StatusRecord(Record):
    workspace: str
    scenes: int
    gt_shots: int
    lq_shots: int
    files: int
    pairs: dict[str, int]
    splits: dict[str, int]
    brackets: dict[str, int] = Field(default_factory=dict, description="scenes per GT bracket verdict")
    drifted: dict[str, list[str]] = Field(default_factory=dict, description="scene -> what drifted between its GTs")
    kinds: dict[str, int] = Field(default_factory=dict, description="scenes by kind: paired, video, wild")
    dual_pixel_shots: int = Field(default=0, description="degraded shots that carry left/right dual-pixel views")


RECORDS: dict[str, type[Record]] = {
    "scene": SceneRecord,
    "shot": ShotRecord,
    "file": FileRecord,
    "pair": PairRecord,
    "alignment": AlignmentRecord,
    "export_record": ExportRecord,
}
