"""SIFT keypoints on a reduced copy of an image, and matching them (FLANN + Lowe's ratio test).

The coarse stage of registration only needs a homography good to a pixel or two at full resolution
(the patch refinement does the rest), so features are found on a copy whose long side is about
`COARSE_LONG_SIDE` pixels (~100x fewer than a 4752x3168 frame; OpenCV's SIFT doubles its input for the
first octave, so it still sees a ~950 px image) and far fewer keypoints to match. On bench.align's
twelve 4752x3168 pairs, 480 instead of 640 px cost the coarse estimate nothing it needs (worst
corner 11 px against 9, which the patches' first round corrects; final corner errors unchanged) and
halved the SIFT time of a pair. Frames under `FULL_RESOLUTION_BELOW` are matched as they are:
SIFT's positions there are precise enough to fill the patches' gaps (homography._gap_points).

Determinism: FLANN's randomized KD-trees draw their split dimensions and the order they insert points
from OpenCV's per-thread RNG (`cv::theRNG`), a process-wide state every earlier index build advanced.
With approximate search (`checks`) different trees return different neighbours, so the matches, the
coarse homography and in the end the refined homography and the mask of a pair depended on which
pairs (and which GT indexes, built lazily) the same process handled before - a resumed or reordered
`rdrf align` differed from an uninterrupted one by up to 0.4 px. `reseed()` puts that RNG in a fixed
state before every draw from it, so a pair's result is a function of its two images alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

COARSE_LONG_SIDE = 480
FULL_RESOLUTION_BELOW = 960
MAX_KEYPOINTS = 1500
LOWE_RATIO = 0.8
RNG_SEED = 0x5EED  # any constant: what matters is that every index starts from the same RNG state


def reseed() -> None:
    """Put OpenCV's RNG of this thread in a fixed state: call it right before any OpenCV call that
    draws from it (FLANN index builds; cv2.findHomography's robust methods, which today seed
    themselves, are reseeded too so that no OpenCV update can make them depend on history)."""
    cv2.setRNGSeed(RNG_SEED)


@dataclass(frozen=True)
class Features:
    """Keypoint positions in full-resolution pixels and their SIFT descriptors."""

    points: np.ndarray  # (N, 2) float32
    descriptors: np.ndarray  # (N, 128) float32

    def __len__(self) -> int:
        return len(self.points)


def coarse_factor(width: int, height: int, long_side: int = COARSE_LONG_SIDE) -> float:
    """Full-resolution pixels per coarse pixel (1 for frames under FULL_RESOLUTION_BELOW); an
    integer, for OpenCV's fast area-resize path."""
    long = max(width, height)
    return 1.0 if long < FULL_RESOLUTION_BELOW else float(max(2, round(long / long_side)))


def detect(gray_u8: np.ndarray, factor: float, max_keypoints: int = MAX_KEYPOINTS, mask: np.ndarray | None = None) -> Features:
    """SIFT on `gray_u8` reduced by `factor`; positions returned in the input's pixels."""
    h, w = gray_u8.shape
    f = int(factor)
    if f == factor and f > 1 and h >= f and w >= f:
        # an integer factor on a frame cropped to a multiple of it: OpenCV's fast area path, twice as
        # fast as the general one; the last < f rows/columns are no loss to a homography
        h, w = h // f * f, w // f * f
        small = cv2.resize(gray_u8[:h, :w], (w // f, h // f), interpolation=cv2.INTER_AREA)
    elif factor > 1.0:
        small = cv2.resize(gray_u8, (round(w / factor), round(h / factor)), interpolation=cv2.INTER_AREA)
    else:
        small = gray_u8
    if mask is not None and mask.shape != small.shape:
        mask = cv2.resize(mask, small.shape[::-1], interpolation=cv2.INTER_NEAREST)
    sift = cv2.SIFT_create(nfeatures=max_keypoints)
    kps, desc = sift.detectAndCompute(small, mask)
    if not kps:
        return Features(np.zeros((0, 2), np.float32), np.zeros((0, 128), np.float32))
    pts = np.array([k.pt for k in kps], np.float32)
    # coarse pixel centres -> full-resolution pixel centres
    sx, sy = w / small.shape[1], h / small.shape[0]
    pts = (pts + 0.5) * np.array([sx, sy], np.float32) - 0.5
    return Features(pts, desc.astype(np.float32))


def index(train: Features) -> cv2.FlannBasedMatcher:
    """A FLANN KD-tree index over `train`'s descriptors: built once for a GT's features, it serves
    every degraded shot of the scene (building it is a quarter of a match's cost). The same
    descriptors always give the same trees (`reseed`), whatever the process built before."""
    reseed()
    flann = cv2.FlannBasedMatcher({"algorithm": 1, "trees": 5}, {"checks": 50})
    flann.add([train.descriptors])
    flann.train()
    return flann


def match(
    query: Features, train: Features, ratio: float = LOWE_RATIO, trained: cv2.FlannBasedMatcher | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Matched point arrays (query points, train points) passing Lowe's ratio test; `trained` is
    `index(train)` where the caller keeps one."""
    if len(query) < 2 or len(train) < 2:
        return np.zeros((0, 2), np.float32), np.zeros((0, 2), np.float32)
    flann = trained if trained is not None else index(train)
    pairs = flann.knnMatch(query.descriptors, k=2)
    qi, ti = [], []
    for m in pairs:
        if len(m) == 2 and m[0].distance < ratio * m[1].distance:
            qi.append(m[0].queryIdx)
            ti.append(m[0].trainIdx)
    return query.points[qi], train.points[ti]
