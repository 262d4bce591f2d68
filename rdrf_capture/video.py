"""`rdrf import-video`: static-camera footage as a video scene (GT-Rain, seeds/003).

A static camera films a scene in rain; the clean ground truth is one frame the user picks, the mean of
a range of frames (GT-Rain averages clean frames to remove noise), or the mean of a separate clean
clip. Frames are taken at a chosen rate (`every` N-th frame, or about `fps` frames a second) and each
becomes a degraded shot of the scene, with its frame number and time in the clip, and is aligned to the
GT like any other shot (`rdrf align` absorbs small camera shake). The GT frames themselves never
become degraded shots. Frames are stored as lossless PNG (what OpenCV decoded, no second loss); the
clip's name and SHA-256 go in each shot's QA record, so every frame names where it came from.

Frame selection and GT averaging are pure functions of the decoded frames; the file reading is
`read_frames`. A folder of frames (natural name order) stands for a clip at `folder_fps`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import cv2
import numpy as np

from sqlalchemy import select

from rdrf_capture.image_check import is_supported
from rdrf_capture.ingest import IncomingFile, IngestResult, SetupInfo, ShotInfo, check_label, ingest_shots
from schemas import imageio
from schemas.catalogue import Scene
from schemas.errors import RdrfError
from schemas.storage import sha256_bytes, sha256_file
from schemas.views import scene_order
from schemas.vocabulary import Degradation
from schemas.workspace import Catalogue


@dataclass(frozen=True)
class GtChoice:
    """Exactly one of: a frame number, an inclusive frame range (averaged), or a clean clip (averaged)."""

    frame: Optional[int] = None
    first: Optional[int] = None
    last: Optional[int] = None
    clip: Optional[Path] = None

    @classmethod
    def parse(cls, frame: Optional[int], frame_range: Optional[str], clip: Optional[Path]) -> "GtChoice":
        given = [x is not None for x in (frame, frame_range, clip)]
        if sum(given) != 1:
            raise RdrfError("choose the ground truth with exactly one of --gt-frame N, --gt-range A:B or --gt-clip FILE", exit_code=2)
        if frame is not None:
            if frame < 0:
                raise RdrfError(f"--gt-frame {frame}: expected a frame number >= 0", exit_code=2)
            return cls(frame=frame)
        if frame_range is not None:
            try:
                a, b = (int(x) for x in frame_range.split(":"))
            except ValueError:
                raise RdrfError(f"--gt-range {frame_range!r}: expected A:B, two frame numbers (inclusive), e.g. 0:9", exit_code=2) from None
            if not 0 <= a <= b:
                raise RdrfError(f"--gt-range {frame_range}: expected 0 <= A <= B", exit_code=2)
            return cls(first=a, last=b)
        return cls(clip=clip)

    def frames(self) -> Optional[range]:
        """The frames of the footage that make the GT (None: they come from a separate clip)."""
        if self.frame is not None:
            return range(self.frame, self.frame + 1)
        if self.first is not None:
            return range(self.first, self.last + 1)
        return None


def every_for(fps_wanted: Optional[float], every: Optional[int], native_fps: float) -> int:
    """The frame step: `every` as given, or the native rate over the wanted one (at least 1)."""
    if every is not None and fps_wanted is not None:
        raise RdrfError("give --fps or --every, not both", exit_code=2)
    if every is not None:
        if every < 1:
            raise RdrfError(f"--every {every}: expected at least 1", exit_code=2)
        return every
    if fps_wanted is None:
        return 1
    if fps_wanted <= 0:
        raise RdrfError(f"--fps {fps_wanted}: expected a rate above 0", exit_code=2)
    if native_fps <= 0:
        raise RdrfError("--fps needs the clip's frame rate, which it does not record; use --every N")
    return max(1, int(round(native_fps / fps_wanted)))


def mean_frame(frames: list[np.ndarray], what: str) -> np.ndarray:
    """The per-pixel mean of frames of one size, rounded back to their dtype (GT-Rain's averaged GT)."""
    if not frames:
        raise RdrfError(f"{what}: no frames to average")
    shapes = {f.shape for f in frames}
    if len(shapes) > 1:
        raise RdrfError(f"{what}: frames of different sizes {sorted(shapes)}")
    acc = np.zeros(frames[0].shape, np.float64)
    for f in frames:
        acc += f
    top = np.iinfo(frames[0].dtype).max
    return np.clip(np.rint(acc / len(frames)), 0, top).astype(frames[0].dtype)


@dataclass
class Footage:
    path: Path
    fps: float  # 0 when unknown
    sha256: str  # of the clip file; of the sorted frame hashes for a folder


def _folder_frames(folder: Path) -> list[Path]:
    files = sorted((p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")), key=lambda p: scene_order(p.name))
    bad = [p.name for p in files if not is_supported(p.name) or imageio.is_raw(p.name)]
    if bad:
        raise RdrfError(f"{folder}: {', '.join(bad[:5])} are not frames; expected a folder of JPEG/PNG/TIFF frames")
    if not files:
        raise RdrfError(f"{folder}: no frames")
    return files


def open_footage(path: Path, folder_fps: Optional[float] = None) -> Footage:
    path = path.expanduser().resolve()
    if path.is_dir():
        files = _folder_frames(path)
        joined = "".join(sha256_file(p)[0] for p in files).encode()
        return Footage(path, folder_fps or 0.0, sha256_bytes(joined))
    if not path.is_file():
        raise RdrfError(f"{path}: no such video file or frame folder")
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise RdrfError(f"{path}: OpenCV cannot open it as a video; expected a clip (mp4, avi, mov, ...) or a folder of frames")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    finally:
        cap.release()
    return Footage(path, fps if np.isfinite(fps) else 0.0, sha256_file(path)[0])


def read_frames(footage: Footage) -> Iterator[tuple[int, np.ndarray]]:
    """(frame number, BGR frame) in order, decoded one at a time."""
    if footage.path.is_dir():
        for i, p in enumerate(_folder_frames(footage.path)):
            yield i, imageio.read(p)
        return
    cap = cv2.VideoCapture(str(footage.path))
    try:
        i = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            yield i, frame
            i += 1
    finally:
        cap.release()


def _check_same_gt(catalogue: Catalogue, scene: str, gt_sha256: str) -> None:
    """More footage of a catalogued scene must come with the scene's own GT: a different one would be
    a second, unpaired GT, and the frames would silently pair with the first."""
    with catalogue.session() as s:
        row = s.scalar(select(Scene).where(Scene.label == scene))
        if row is None:
            return
        gts = [shot for shot in row.shots if shot.role == "gt"]
        known = {f.sha256 for shot in gts for f in shot.files if f.kind == "original"}
        if gts and gt_sha256 not in known:
            raise RdrfError(
                f"scene {scene} already has its ground truth ({gts[0].original_name}); this GT choice gives another image - "
                "give the same --gt-frame/--gt-range/--gt-clip as before, or import the footage under another --scene"
            )


@dataclass
class VideoImport:
    scene: str
    frames_total: int
    gt_frames: int  # frames averaged into the GT
    results: list[IngestResult]

    @property
    def added(self) -> int:
        return sum(r.added for r in self.results)


def import_video(
    catalogue: Catalogue,
    source: Path,
    scene: str,
    gt: GtChoice,
    *,
    fps: Optional[float] = None,
    every: Optional[int] = None,
    folder_fps: Optional[float] = None,
    degradation: Degradation = "unknown",
    category: Optional[str] = None,
    camera: Optional[str] = None,
) -> VideoImport:
    """Extract, build the GT, and ingest the scene in one transaction (nothing stored on an error)."""
    check_label(scene)
    footage = open_footage(source, folder_fps)
    step = every_for(fps, every, footage.fps)
    gt_range = gt.frames()
    gt_frames: list[np.ndarray] = []
    degraded: list[tuple[int, bytes]] = []
    total, shape = 0, None
    for i, frame in read_frames(footage):
        total += 1
        shape = shape or frame.shape
        if gt_range is not None and i in gt_range:
            gt_frames.append(frame)
        elif i % step == 0:
            degraded.append((i, imageio.encode_png(frame, level=3)))
    if gt_range is not None and (not gt_frames or gt_range.stop > total):
        raise RdrfError(f"{footage.path}: the ground truth asks for frames {gt_range.start}..{gt_range.stop - 1} "
                        f"but the footage has {total} frames (0..{total - 1})")
    if gt.clip is not None:
        clean = open_footage(gt.clip, folder_fps)
        gt_frames = [f for _, f in read_frames(clean)]
        gt_name = f"gt_clip_{clean.path.stem}.png"
        gt_source = {"clip": clean.path.name, "sha256": clean.sha256, "frames": len(gt_frames)}
    else:
        gt_name = f"gt_frame_{gt.frame:06d}.png" if gt.frame is not None else f"gt_frames_{gt.first:06d}-{gt.last:06d}.png"
        gt_source = {"clip": footage.path.name, "sha256": footage.sha256, "frames": [gt_range.start, gt_range.stop - 1]}
    gt_image = mean_frame(gt_frames, f"ground truth of {footage.path.name}")
    if not degraded:
        raise RdrfError(f"{footage.path}: no degraded frames left (footage of {total} frames, every {step}, GT frames excluded)")
    if shape != gt_image.shape:
        raise RdrfError(f"{footage.path}: frames are {shape[1]}x{shape[0]} but the ground truth is {gt_image.shape[1]}x"
                        f"{gt_image.shape[0]}; the clean clip must come from the same camera and framing")
    gt_png = imageio.encode_png(gt_image, level=3)
    _check_same_gt(catalogue, scene, sha256_bytes(gt_png))
    setup = SetupInfo(camera_model=camera)
    common = dict(trigger="import", category=category, setup=setup, scene_kind="video")
    shots = [([IncomingFile(gt_name, gt_png)],
              ShotInfo(role="gt", degradation="none", qa={"video_gt": gt_source}, **common))]
    for i, png in degraded:
        t = i / footage.fps if footage.fps > 0 else None
        shots.append(([IncomingFile(f"frame_{i:06d}.png", png)],
                      ShotInfo(role="lq", degradation=degradation, frame_index=i, timestamp_s=t,
                               qa={"video": {"clip": footage.path.name, "sha256": footage.sha256, "frame": i, "every": step}},
                               **common)))
    results = ingest_shots(catalogue, scene, shots)
    return VideoImport(scene, total, len(gt_frames), results)
