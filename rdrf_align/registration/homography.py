"""Registration of a degraded shot onto its ground truth: a homography, degraded px -> GT px.

Coarse to fine, so that a 15-60 MP pair costs about what one reduced image costs:

1. coarse: SIFT on reduced copies (the GT's computed once per scene, `prepare_reference`), FLANN +
   Lowe's ratio, MAGSAC++ - good to a pixel or two at full resolution, and scale/rotation invariant,
   so strong viewpoint changes on small images are found too;
2. fine: at full resolution, ~100 textured GT patches spread over the frame are compared with the
   degraded image warped by the current estimate; ECC (translation, invariant to gain and offset, so
   to glass transmission and exposure drift) measures each patch's residual shift to ~0.02 px; a
   robust homography fit through the corrected patch centres, twice. Patches on raindrops correlate
   poorly or disagree with the rest and are dropped. On small frames, where SIFT ran at full
   resolution, its inliers where no patch was measured join the last fit (`_gap_points`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import cv2
import numpy as np

from rdrf_align.registration import features as feat
from rdrf_align.registration.concurrency import threads
from schemas.parallel import ordered_map
from schemas.imageio import to_float

MIN_COARSE_INLIERS = 8
PATCH_MIN_CC = 0.6
PROBE_STEP = 2
PROBE_MIN_PATCHES = 40
# the last round's screen of each patch (`_unlike`): pixels this many robust spreads unlike the GT,
# grown by this many px, are left out; a patch more than SCREEN_MAX unlike is not measured
SCREEN_K = 2.5
SCREEN_MIN = 0.8  # ... and at least this far (in the patches' own spread): noise and a tenth of a pixel never are
SCREEN_GROW = 3
SCREEN_MAX = 0.5
NO_MATCHES = np.zeros((0, 2, 2), np.float64)
# SIFT positions of two views at one scale are detected at the same scale-space level; under a zoom
# they are not, and lose precision (a 0.8x view pulled the fit off by 0.03 px mean): gap points only
# between views within this of one scale (a tripod series; `_gap_points`).
SAME_SCALE = 0.05


class RegistrationFailed(Exception):
    """No homography could be estimated; the message is the pair's reason."""


@dataclass
class Reference:
    """A GT image prepared for registering any number of degraded shots onto it."""

    height: int
    width: int
    gray8: np.ndarray  # 8-bit luma, full resolution (what SIFT reads at other factors); no float copy
    factor: float
    features: feat.Features
    patch: int
    origins: np.ndarray  # (M, 2) int top-left corners of the GT patches
    patches: list[np.ndarray]
    normed: list[np.ndarray]  # each patch at zero mean and unit spread (what `_unlike` compares)
    extra: dict = field(default_factory=dict)  # features at other factors, computed on demand
    indexes: dict = field(default_factory=dict)  # FLANN index of the features at each factor, on first use
    # two pairs of a scene may be registered at once (runner._in_process): one at a time builds an
    # index or searches one (OpenCV does not promise a FlannBasedMatcher is safe to share)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def features_at(self, factor: float) -> feat.Features:
        if factor == self.factor:
            return self.features
        if factor not in self.extra:
            self.extra[factor] = feat.detect(self.gray8, factor)
        return self.extra[factor]

    def index_at(self, factor: float) -> cv2.FlannBasedMatcher:
        if factor not in self.indexes:
            self.indexes[factor] = feat.index(self.features_at(factor))
        return self.indexes[factor]


@dataclass
class Registration:
    homography: np.ndarray  # 3x3 float64, degraded px -> GT px
    n_matches: int
    n_inliers: int
    inlier_ratio: float
    reproj_error: float  # RMS residual (full-resolution px) of the fit that produced `homography`
    coarse_homography: np.ndarray
    n_patches: int = 0
    n_patch_inliers: int = 0
    refined: bool = False
    factor: float = 1.0
    coarse_model: str = "homography"  # or "affine": the fallback when the homography from features was implausible

    def figures(self) -> dict:
        return {
            "coarse_factor": round(self.factor, 3),
            "coarse_model": self.coarse_model,
            "patches": self.n_patches,
            "patch_inliers": self.n_patch_inliers,
            "refined": self.refined,
        }


def patch_size(width: int, height: int) -> int:
    return int(np.clip(round(max(width, height) / 64 / 2) * 2, 32, 96))


def select_patches(gray: np.ndarray, patch: int, grid: tuple[int, int] | None = None, margin: int = 0) -> np.ndarray:
    """Top-left corners of the most textured patch (largest minimum eigenvalue of the structure
    tensor, so that a shift is measurable in both directions) in each cell of a grid over the frame.
    `gray`: luma, 8 or 16 bits or float [0, 1]; only its reduced copy is made float."""
    h, w = gray.shape
    if grid is None:
        grid = (int(np.clip(w // (2 * patch), 4, 10)), int(np.clip(h // (2 * patch), 3, 7)))
    nx, ny = grid
    factor = max(1.0, max(w, h) / 1200)
    small = cv2.resize(gray, (round(w / factor), round(h / factor)), interpolation=cv2.INTER_AREA) if factor > 1 else gray
    if small.dtype != np.float32:
        small = to_float(small)
    score = cv2.cornerMinEigenVal(small, blockSize=max(3, int(patch / factor) | 1))
    half = patch / 2 + margin
    lo_x, hi_x, lo_y, hi_y = half, w - half, half, h - half
    if hi_x <= lo_x or hi_y <= lo_y:
        return np.zeros((0, 2), np.int32)
    out = []
    floor = max(1e-6, float(np.percentile(score, 50)) * 0.1)
    for j in range(ny):
        for i in range(nx):
            x0 = lo_x + (hi_x - lo_x) * i / nx
            x1 = lo_x + (hi_x - lo_x) * (i + 1) / nx
            y0 = lo_y + (hi_y - lo_y) * j / ny
            y1 = lo_y + (hi_y - lo_y) * (j + 1) / ny
            sx0, sx1 = int(x0 / factor), max(int(x0 / factor) + 1, int(x1 / factor))
            sy0, sy1 = int(y0 / factor), max(int(y0 / factor) + 1, int(y1 / factor))
            cell = score[sy0:sy1, sx0:sx1]
            if cell.size == 0:
                continue
            k = int(np.argmax(cell))
            if cell.flat[k] < floor:
                continue  # featureless cell (sky, wall): a shift there is not measurable
            cy, cx = divmod(k, cell.shape[1])
            x = int(np.clip((sx0 + cx + 0.5) * factor - patch / 2, lo_x - patch / 2, hi_x - patch / 2))
            y = int(np.clip((sy0 + cy + 0.5) * factor - patch / 2, lo_y - patch / 2, hi_y - patch / 2))
            out.append((x, y))
    return np.array(out, np.int32).reshape(-1, 2)


def _to_u8(luma: np.ndarray) -> np.ndarray:
    """8-bit luma for SIFT (the top byte of a 16-bit one)."""
    return luma if luma.dtype == np.uint8 else (luma >> 8).astype(np.uint8)


def prepare_reference(gt: np.ndarray) -> Reference:
    h, w = gt.shape[:2]
    luma = cv2.cvtColor(gt, cv2.COLOR_BGR2GRAY)
    g8 = _to_u8(luma)
    factor = feat.coarse_factor(w, h)
    p = patch_size(w, h)
    origins = select_patches(luma, p, margin=max(4, p // 8))
    patches = [to_float(luma[y : y + p, x : x + p]) for x, y in origins]  # [0, 1]: what ECC compares
    ref = Reference(h, w, g8, factor, feat.detect(g8, factor), p, origins, patches, [_normed(t) for t in patches])
    return ref


def _coarse(ref: Reference, lq8: np.ndarray, factor: float, model: str = "homography") -> tuple[np.ndarray | None, int, int, float, np.ndarray]:
    """Coarse estimate from SIFT matches: (H, matches, inliers, RMS of the inliers in full px, the
    inlier matches as (N, 2, 2) [degraded point, GT point]). `model` "affine" fits 6 parameters
    instead of 8 (the fallback, see `register`)."""
    lq_feats = feat.detect(lq8, factor)
    gt_feats = ref.features_at(factor)
    if len(gt_feats) < MIN_COARSE_INLIERS:
        raise RegistrationFailed(f"GT image has {len(gt_feats)} keypoints: featureless (uniform?) - nothing to align to")
    if len(lq_feats) < MIN_COARSE_INLIERS:
        raise RegistrationFailed(f"degraded image has {len(lq_feats)} keypoints: featureless (uniform?) - nothing to align")
    with ref.lock:
        src, dst = feat.match(lq_feats, gt_feats, trained=ref.index_at(factor) if len(gt_feats) >= 2 else None)
    n = len(src)
    if n < MIN_COARSE_INLIERS:
        return None, n, 0, float("nan"), NO_MATCHES
    thr = 1.5 * factor
    feat.reseed()
    if model == "affine":
        A, inl = cv2.estimateAffine2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=thr, maxIters=5000, confidence=0.9999)
        H = None if A is None else np.vstack([A, [0.0, 0.0, 1.0]])
    else:
        H, inl = cv2.findHomography(src, dst, cv2.USAC_MAGSAC, thr, maxIters=5000, confidence=0.9999)
    if H is None or inl is None:
        return None, n, 0, float("nan"), NO_MATCHES
    inl = inl.ravel().astype(bool)
    proj = cv2.perspectiveTransform(src[inl].reshape(-1, 1, 2).astype(np.float64), H).reshape(-1, 2)
    rms = float(np.sqrt(np.mean(np.sum((proj - dst[inl]) ** 2, axis=1)))) if inl.any() else float("nan")
    return H, n, int(inl.sum()), rms, np.stack([src[inl], dst[inl]], axis=1).astype(np.float64)


def _plausible(H: np.ndarray | None, w: int, h: int) -> bool:
    """A homography that keeps the frame a convex, non-degenerate quadrilateral of sane size."""
    if H is None or not np.all(np.isfinite(H)) or abs(np.linalg.det(H)) < 1e-8:
        return False
    c = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64).reshape(-1, 1, 2)
    q = cv2.perspectiveTransform(c, H).reshape(-1, 2)
    z = H[2, 0] * c[:, 0, 0] + H[2, 1] * c[:, 0, 1] + H[2, 2]
    if np.any(z <= 0):
        return False
    area = cv2.contourArea(q.astype(np.float32))
    return 0.05 * w * h < area < 20 * w * h and cv2.isContourConvex(q.astype(np.float32))


def _refine_once(ref: Reference, lq_gray: np.ndarray, H: np.ndarray, step: int = 1, screen: bool = False):
    """One round of patch measurements: (degraded points, GT points) for the patches that correlate.
    `lq_gray` is the degraded luma as decoded (any depth: ECC is blind to gain); only the few
    pixels under each patch are converted to float, not the whole frame. The patches are measured
    side by side (concurrency.threads); each is a function of its own pixels. `screen`: leave
    out of each patch's ECC the pixels that do not look like the GT (`_unlike`) - for a round that
    starts within a fraction of a pixel."""
    Hinv = np.linalg.inv(H)
    jobs = list(zip(ref.origins[::step], ref.patches[::step], ref.normed[::step]))
    found = [r for r in ordered_map(lambda job: _measure_patch(ref.patch, lq_gray, Hinv, *job, screen), jobs, threads())
             if r is not None]
    src = [q for q, _ in found]
    dst = [c for _, c in found]
    return np.array(src, np.float64).reshape(-1, 2), np.array(dst, np.float64).reshape(-1, 2)


_ECC_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 30, 1e-3)


def _measure_patch(p: int, lq_gray: np.ndarray, Hinv: np.ndarray, origin: np.ndarray, tpl: np.ndarray, tpl_n: np.ndarray,
                   screen: bool = False):
    """(degraded point, GT point) of one GT patch whose shift ECC measured, or None."""
    x0, y0 = origin
    lh, lw = lq_gray.shape
    corners = np.array([[0, 0], [p, 0], [p, p], [0, p]], np.float64).reshape(-1, 1, 2)
    M = Hinv @ np.array([[1, 0, x0], [0, 1, y0], [0, 0, 1]], np.float64)
    qc = cv2.perspectiveTransform(corners, M).reshape(-1, 2)
    if qc.min() < 2 or np.any(qc[:, 0] > lw - 3) or np.any(qc[:, 1] > lh - 3):
        return None  # patch not seen by the degraded frame
    # the patch's footprint, with the 2 px bicubic interpolation reaches beyond it
    x0r, y0r = int(np.floor(qc[:, 0].min())) - 2, int(np.floor(qc[:, 1].min())) - 2
    x1r, y1r = int(np.ceil(qc[:, 0].max())) + 3, int(np.ceil(qc[:, 1].max())) + 3
    roi = lq_gray[max(0, y0r) : y1r, max(0, x0r) : x1r].astype(np.float32)
    Mr = np.array([[1, 0, -max(0, x0r)], [0, 1, -max(0, y0r)], [0, 0, 1]], np.float64) @ M
    warped = cv2.warpPerspective(roi, Mr, (p, p), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP)
    keep = None
    if screen:
        unlike = _unlike(tpl_n, warped)
        if unlike.mean() > SCREEN_MAX:
            return None  # mostly water (or a moved object): what is left is too little to measure
        keep = 1 - unlike
    warp = np.eye(2, 3, dtype=np.float32)
    try:
        cc, warp = cv2.findTransformECC(tpl, warped, warp, cv2.MOTION_TRANSLATION, _ECC_CRITERIA, keep, 5)
    except cv2.error:
        return None  # did not converge: a raindrop, a reflection, or nothing to hold on to
    t = warp[:, 2].astype(np.float64)
    if cc < PATCH_MIN_CC or np.any(np.abs(t) > p / 4):
        return None
    c = np.array([x0 + (p - 1) / 2, y0 + (p - 1) / 2])
    q = Hinv @ np.array([c[0] + t[0], c[1] + t[1], 1.0])
    return q[:2] / q[2], c


def _normed(x: np.ndarray) -> np.ndarray:
    """`x` at zero mean and unit spread (ECC's own invariance to gain and offset)."""
    mean, std = cv2.meanStdDev(x)
    return (x - float(mean[0, 0])) / (float(std[0, 0]) + 1e-6)


def _unlike(tpl_n: np.ndarray, warped: np.ndarray) -> np.ndarray:
    """1 where the warped degraded patch does not look like the GT patch (`tpl_n`, `_normed`), else
    0 (uint8): both normalized to zero mean and unit spread (ECC's own invariance to gain and offset), their
    difference smoothed over a few pixels, and pixels beyond SCREEN_K robust spreads of it (and
    SCREEN_MIN), grown by SCREEN_GROW px. A raindrop over part of a patch shows a flipped, blurred view of elsewhere: ECC
    over the whole patch then measures a shift between the GT's texture and the drop's, biased by
    up to a pixel (on a dense-drop 4752x3168 pair, patches partly under drops were off 0.64 px on
    average, clean ones 0.03, and the fit was 0.9 px off at a corner). With the estimate already
    within a fraction of a pixel, the clean part of the patch is what still matches."""
    d = cv2.absdiff(cv2.GaussianBlur(cv2.subtract(_normed(warped), tpl_n), (0, 0), 2.0), 0.0)
    spread = 1.4826 * float(np.median(d)) + 1e-6
    unlike = (d > max(SCREEN_K * spread, SCREEN_MIN)).astype(np.uint8)
    return cv2.dilate(unlike, np.ones((2 * SCREEN_GROW + 1, 2 * SCREEN_GROW + 1), np.uint8))


def _scale_at_centre(H: np.ndarray, w: int, h: int) -> float:
    """How much `H` magnifies around the frame's centre (the square root of its local area ratio)."""
    c = np.array([[[w / 2, h / 2]], [[w / 2 + 1, h / 2]], [[w / 2, h / 2 + 1]]], np.float64)
    q = cv2.perspectiveTransform(c, H).reshape(3, 2)
    (ax, ay), (bx, by) = q[1] - q[0], q[2] - q[0]
    return float(np.sqrt(abs(ax * by - ay * bx)))


def _gap_points(matches: np.ndarray, measured: np.ndarray, patch: int) -> tuple[np.ndarray, np.ndarray]:
    """The feature inliers (degraded points, GT points) lying where no patch was measured: further
    than a patch side from every measured patch centre. `register` adds them to the last fit when
    SIFT ran at full resolution (frames up to ~960 px), where its positions are good to a few tenths
    of a pixel. Where drops, a reflection or a plain area leave part of a small frame without patch
    measurements, the homography was otherwise extrapolated there: 1-1.6 px off at a corner while the
    patches agreed to 0.15 px. On 200 good 720x480 `bench.qc` pairs the worst-corner error went from
    mean 0.29 / p90 0.74 / 19 pairs over 0.75 px to 0.19 / 0.39 / 3. Only the gaps, and only between
    views of one scale: features (less precise than the patches, and far more numerous) added
    everywhere, or under a 0.8x zoom, pulled the fit off; at 1600x1064 (SIFT at 1/2) they made it
    worse altogether. Not after the affine fallback either: its few matches are the least sure."""
    if len(matches) == 0:
        return np.zeros((0, 2)), np.zeros((0, 2))
    if len(measured) == 0:
        return matches[:, 0], matches[:, 1]
    d = np.linalg.norm(matches[:, 1, None, :] - measured[None, :, :], axis=2).min(axis=1)
    far = d > patch
    return matches[far, 0], matches[far, 1]


def _robust_fit(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray | None, np.ndarray, float]:
    """Least-squares homography on the patch measurements that agree; outliers trimmed iteratively."""
    if len(src) < 8:
        return None, np.zeros(len(src), bool), float("nan")
    feat.reseed()
    H, inl = cv2.findHomography(src, dst, cv2.USAC_MAGSAC, 1.0, maxIters=2000, confidence=0.999)
    if H is None:
        return None, np.zeros(len(src), bool), float("nan")
    keep = inl.ravel().astype(bool)
    for _ in range(3):
        if keep.sum() < 8:
            return None, keep, float("nan")
        H, _ = cv2.findHomography(src[keep], dst[keep], 0)
        if H is None:
            return None, keep, float("nan")
        res = np.linalg.norm(cv2.perspectiveTransform(src.reshape(-1, 1, 2), H).reshape(-1, 2) - dst, axis=1)
        sigma = 1.4826 * np.median(res[keep]) + 1e-3
        new = res < max(3.5 * sigma, 0.15)
        if np.array_equal(new, keep):
            break
        keep = new
    rms = float(np.sqrt(np.mean(res[keep] ** 2))) if keep.any() else float("nan")
    return H, keep, rms


def register(ref: Reference, lq: np.ndarray, refine_rounds: int = 3) -> Registration:
    """Homography mapping `lq` (same size as the reference) onto the reference GT."""
    gray = cv2.cvtColor(lq, cv2.COLOR_BGR2GRAY)
    lq8 = _to_u8(gray)
    lh, lw = lq8.shape
    factor = ref.factor
    H, n, ninl, rms, matches = _coarse(ref, lq8, factor)
    if (H is None or ninl < 30) and factor > 1.5:  # few features at this scale: look closer
        H2, n2, ninl2, rms2, matches2 = _coarse(ref, lq8, factor / 2)
        if H2 is not None and ninl2 > ninl:
            H, n, ninl, rms, factor, matches = H2, n2, ninl2, rms2, factor / 2, matches2
    coarse_model = "homography"
    if H is None or ninl < MIN_COARSE_INLIERS or not _plausible(H, lw, lh):
        # Few true matches among many false ones (dense drops add keypoints the GT lacks; a low-texture
        # GT has few): MAGSAC's best 8-parameter model can be a wrong one that folds the frame. The
        # coarse stage only has to land within a pixel or two, and between shots from a tripod the
        # perspective part is tiny, so an affine model - two fewer parameters, found from fewer true
        # matches - is tried; it is kept only if the patch refinement then confirms it (below).
        Ha, na, ninla, rmsa, matchesa = _coarse(ref, lq8, factor, "affine")
        if Ha is not None and ninla >= MIN_COARSE_INLIERS and _plausible(Ha, lw, lh):
            H, n, ninl, rms, coarse_model, matches = Ha, na, ninla, rmsa, "affine", matchesa
    if H is None or ninl < MIN_COARSE_INLIERS:
        raise RegistrationFailed(
            f"no consistent homography: {ninl} feature inliers of {n} matches "
            "(images do not overlap, are featureless, or show different scenes)"
        )
    if not _plausible(H, lw, lh):
        raise RegistrationFailed(
            f"no plausible homography: the best one from {ninl} feature inliers of {n} matches folds or collapses "
            "the frame (images do not overlap, or show different scenes)"
        )
    H = H / H[2, 2]
    reg = Registration(H, n, ninl, ninl / max(n, 1), rms, H.copy(), factor=factor, coarse_model=coarse_model)
    for k in range(refine_rounds):
        # the first of several rounds only has to bring the estimate within ~0.1 px of the last's
        # (which then converges in a few ECC iterations): every other patch does, where that leaves
        # enough of them; ECC from the coarse estimate's 1-2 px costs twice as many iterations
        step = PROBE_STEP if k < refine_rounds - 1 and len(ref.patches) >= PROBE_MIN_PATCHES else 1
        src, dst = _refine_once(ref, gray, reg.homography, step, screen=k == refine_rounds - 1 and k > 0)
        if step > 1 and len(src) < 2 * MIN_COARSE_INLIERS:  # dense drops left too few of every other patch: all of them
            src, dst = _refine_once(ref, gray, reg.homography, 1)
        n_patches = len(src)
        if (k == refine_rounds - 1 and factor == 1 and coarse_model == "homography"
                and abs(_scale_at_centre(reg.homography, lw, lh) - 1) < SAME_SCALE):
            gs, gd = _gap_points(matches, dst, ref.patch)
            src, dst = np.concatenate([src, gs]), np.concatenate([dst, gd])
        Hf, keep, frms = _robust_fit(src, dst)
        if Hf is None or not _plausible(Hf, lw, lh):
            break
        reg.homography = Hf / Hf[2, 2]
        reg.reproj_error = frms
        reg.n_patches = n_patches
        reg.n_patch_inliers = int(keep[:n_patches].sum())
        reg.refined = True
    if not reg.refined and len(ref.patches) >= MIN_COARSE_INLIERS:
        # the features' homography alone is good to a pixel or a few: a pair must not be judged on it
        # (a dense-drop 1600x1064 pair was accepted 1.5 px off at a corner this way)
        raise RegistrationFailed(
            f"the image patches did not confirm the feature homography ({ninl} inliers of {n} matches): too few of the "
            f"GT's {len(ref.patches)} patches could be measured in the degraded image (dense drops, or a changed scene)"
        )
    if coarse_model == "affine" and not reg.refined:
        raise RegistrationFailed(
            f"no plausible homography: the feature matches ({ninl} affine inliers of {n}) were not confirmed by the "
            "image patches (images do not overlap, or show different scenes)"
        )
    return reg


def corner_error(H_est: np.ndarray, H_true: np.ndarray, width: int, height: int) -> np.ndarray:
    """Displacement (px) between the two homographies' images of the degraded frame's 4 corners."""
    c = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], np.float64).reshape(-1, 1, 2)
    a = cv2.perspectiveTransform(c, np.asarray(H_est, np.float64)).reshape(-1, 2)
    b = cv2.perspectiveTransform(c, np.asarray(H_true, np.float64)).reshape(-1, 2)
    return np.linalg.norm(a - b, axis=1)
