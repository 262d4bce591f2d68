"""Raindrop masks in the GT frame (uint8, 255 = raindrop), and the reflection layer they explain away.

`agan_mask` is the procedure of AGAN (seeds/004 sec. 3) that RDRF-style training code uses: a pixel is
a raindrop where the aligned degraded image and the GT differ by more than 30 (8-bit scale; here the
mean absolute difference over the three channels), nothing else - kept for reproducing published
numbers.

`default_mask` follows the image formation, degraded = transmission x scene + reflection + water. The
cue maps below describe each pixel in those terms; a small network (drop_net.py) reads them and
decides:

- the glass and the exposure are global and linear (photometric.py): taken out first;
- the reflection is a defocused second scene *added* to the light: where it has no structure it is
  a smooth layer (a robust median of the residual at a coarse scale, drops being a minority), and
  wherever the scene has fine detail, an added layer leaves that detail in place, contrast and all
  (`scene_match`: the local regression of aligned detail on GT detail keeps its neighbourhood's
  typical slope and correlation). A residual at such a pixel - a reflection's edge, its doubled copy,
  exposure drift - is not water, whatever its size;
- the layer adds in *linear* light, not in encoded values: over a dark door it lifts the encoded
  values far more than over a pale wall (an encoded layer smoothed across the door's edge leaves the
  edge), and it compresses the encoded contrast of the texture it covers. So where a reflection is
  found, the layer is also estimated in linear light (gamma 2, `linear`; the transmission per channel
  from the detail regression, `transmission`, which an added layer does not pull as it pulls the
  encoded gain/offset fit), the GT's local range is predicted through it, and the detail comparison
  expects the compression (`_detail_gain`). A camera's tone curve lies between "adds in encoded
  values" and "adds in linear light": a residual that either model explains is not water (their
  minimum). On the bench's held-out seed this took the mean IoU with reflections from 0.57 to 0.65
  (1600x1064) and 0.64 to 0.72 (4752x3168) and left no `ok` mask over 1.5x the true area
  (docs/NOTES.md);
- water replaces what is behind it with a defocused, flipped view: the scene's detail there loses
  its correlation or most of its contrast (1 - slope / typical slope is the water's opacity), even
  where colours barely change (flow traces over a wall). Comparing a slope with the typical slope of
  its neighbourhood (a median over cells wider than a drop) cancels the blur the pixels there share
  (interpolation in the warp, JPEG's treatment of that texture, the reduced copy);
- the last fraction of a pixel of misalignment: the distance to the GT's local min/max, not to the
  GT itself (`Residual.outside`); beside it the signed residual without that slack
  (`Residual.signed`), where a small drop's few levels show against JPEG's texture-shaped loss;
- a drop is a compact blob whose interior may look like the scene, with a dark rim or a highlight:
  a shape, which thresholds on single pixels could not use. The hand-set rule this module used
  before (hysteresis from strong seeds, closing, hole filling) reached a mean IoU of 0.67-0.71 at
  720x480 on the renderer's held-out pairs, the network 0.79-0.82 (docs/NOTES.md, "Stop 24"). The
  rule's hysteresis still gives the scene-motion cue its change map (motion.py), which QC judges.

Every size is a fraction of the image, or a pixel of the working grid, so the method behaves the
same from 720x480 to 9504x6336. The grid has a long side near MASK_LONG_SIDE: a larger frame is
area-reduced to it; a smaller one is enlarged (bilinear, at most MASK_MAX_UPSAMPLE, `work_size`),
because the pixel-level operators (the 3x3 range, the finest detail band) cannot be finer than one
pixel, and at 720x480 one pixel is already a large share
of a small drop. The GT's range keeps its footprint in the copy's pixels (5x5 on a 2x grid), so the
copy's own noise stays inside it. On the renderer's 720x480 pairs this raised the mean IoU from
0.62 to 0.67 (bicubic or Lanczos enlargement less: their ringing on JPEG blocks reads as detail; a
blur without enlarging: 0.64; see docs/NOTES.md). The network runs on that grid halved (720-800 px
long side) and its probability is brought back to full size (bilinear) and cut at
MaskParams.water_probability, which
keeps a 60 MP pair's memory and time small. The smooth reflection layer becomes a small 8-bit map (`reflection_map`).

Deterministic: fixed-order OpenCV/numpy arithmetic, no randomness, medians over fixed samples, and
a network whose output does not depend on the thread count - a rerun gives bit-identical masks and
maps.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from rdrf_align.registration import drop_net
from rdrf_align.registration.motion import scene_motion
from rdrf_align.registration.photometric import Photometric
from schemas.imageio import channel_max, full_scale, to_float

AGAN_THRESHOLD = 30
MASK_LONG_SIDE = 1600
MASK_MAX_UPSAMPLE = 2.0  # a smaller frame is analysed on a copy up to this much larger, towards MASK_LONG_SIDE
REFLECTION_LONG_SIDE = 512  # the reflection layer is defocused: a small map holds all of it


def reflection_map(smooth: np.ndarray, v_s: np.ndarray, full: tuple[int, int]) -> np.ndarray:
    """The reflection layer's strength as a small 8-bit map in the GT frame: the light the glass
    adds over the scene (mean over channels of the smooth residual, clipped at 0, since a reflection
    only adds; in linear light where a reflection was found, `residual_map`), 255 = full scale; 0
    outside the valid area. `full` is the GT's (width, height)."""
    w, h = full
    f = max(1.0, max(w, h) / REFLECTION_LONG_SIDE)
    size = (max(1, round(w / f)), max(1, round(h / f)))
    level = cv2.resize(np.clip(smooth.mean(axis=2), 0, 1), size, interpolation=cv2.INTER_LINEAR)
    out = np.round(level * 255).astype(np.uint8)
    inside = cv2.resize(v_s, size, interpolation=cv2.INTER_AREA) > 127
    out[~inside] = 0
    return out


@dataclass(frozen=True)
class MaskParams:
    k_sigma: float = 4.0  # weak threshold, in robust standard deviations of the residual
    min_threshold: float = 0.02  # weak threshold never below this residual (full-scale units)
    strong_threshold: float = 0.07  # a blob needs a pixel this far off to count (seeds the hysteresis)
    strong_factor: float = 2.5  # ... and at least strong_factor x the weak threshold
    reflection_scale: float = 0.04  # low-pass window for the reflection layer, / long side
    reflection_scale_fine: float = 0.015  # ... when a reflection is present
    reflection_present: float = 0.004  # median |low-pass residual| (full scale) that says so
    water_probability: float = 0.6  # the drop network's probability from which a pixel is water (0.5: same IoU on the
    # renderer to 0.01, more of a sharp drop's 1-px fringe and of a sharp reflection's specks; docs/NOTES.md)
    min_area: float = 2e-5  # smallest blob kept, / image area: specks below the smallest drop are not water
    max_drop: float = 0.06  # largest drop diameter, / long side (RDRF's biggest sprayed drops: ~2.5% radius)
    detail_sigma: float = 1.5  # fine detail = luma - its Gaussian blur of this sigma (working px: the finest scale)
    detail_window: float = 2.0  # Gaussian window of the local detail statistics (working px)
    detail_min: float = 0.01  # GT fine-detail amplitude (full scale) from which the comparison means something
    kept_ncc: float = 0.5  # scene visible: detail still correlates this well ...
    kept_attenuation: float = 0.1  # ... and lost at most this fraction of its contrast
    lost_ncc: float = 0.2  # scene hidden: detail correlates less than this ...
    lost_attenuation: float = 0.5  # ... or lost more than half its contrast (more water than scene)
    detail_cell: float = 0.08  # the typical detail slope is a median over cells this size (/ long side): wider
    # than a drop, small enough to follow how JPEG and the warp treat each texture


def agan_mask(aligned: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None, rows: int = 512) -> np.ndarray:
    """|aligned - GT| > 30 on the 8-bit scale (mean over channels); exactly the published recipe,
    limited to the valid area (outside it there is no degraded pixel to compare). In strips of rows,
    so a 60 MP pair needs no full-size float copy."""
    h, w = gt.shape[:2]
    out = np.empty((h, w), np.uint8)
    thr = 3 * AGAN_THRESHOLD * full_scale(gt) / 255.0
    ones = np.ones((1, 3), np.float32)
    for y in range(0, h, rows):
        diff = cv2.absdiff(aligned[y : y + rows], gt[y : y + rows])
        total = cv2.transform(diff.astype(np.float32), ones)
        out[y : y + rows] = cv2.threshold(total, thr, 255, cv2.THRESH_BINARY)[1]
    if valid is not None:
        cv2.bitwise_and(out, valid, dst=out)
    return out


def mask_factor(width: int, height: int) -> int:
    """An integer reduction (OpenCV's area resize has a fast path for those)."""
    return max(1, int(np.ceil(max(width, height) / MASK_LONG_SIDE - 0.05)))


def work_size(width: int, height: int) -> tuple[int, int]:
    """The grid the mask's pixel-level statistics run on, for a reduced copy of `width` x `height`:
    that copy itself, or - below MASK_LONG_SIDE - a bilinear enlargement of it (at most
    MASK_MAX_UPSAMPLE), so that the 3x3 range, the detail band and the morphology are as fine a
    fraction of the frame at 720x480 as at full size."""
    f = min(MASK_MAX_UPSAMPLE, MASK_LONG_SIDE / max(width, height))
    if f < 1.25:  # a reduced copy of a large frame (1584 px from 4752) is fine as it is
        return width, height
    return round(width * f), round(height * f)


def _to_work(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return img if (img.shape[1], img.shape[0]) == size else cv2.resize(img, size, interpolation=cv2.INTER_LINEAR)


def _valid_to_work(valid_s: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The valid area on the working grid, still 0/255 (only pixels wholly inside stay valid)."""
    if (valid_s.shape[1], valid_s.shape[0]) == size:
        return valid_s
    return np.where(_to_work(valid_s, size) > 250, 255, 0).astype(np.uint8)


# linear light = encoded^2 (gamma 2): near sRGB's 2.2 (the same IoU to 0.004 on the bench), and a
# multiply and a sqrt where 2.2 needs `pow` (3x the time)
LUMA = np.array([[0.114, 0.587, 0.299]], np.float32)  # BGR


TRANSMISSION_REDUCTION = 4  # the transmission is one number per channel: a quarter-size copy is plenty
_UNIT8 = np.arange(256, dtype=np.float32).reshape(1, 256) / np.float32(255)


def linear(x: np.ndarray) -> np.ndarray:
    """Encoded values (float, full-scale units) to linear light."""
    x = cv2.threshold(x, 0.0, 0.0, cv2.THRESH_TOZERO)[1]
    return cv2.multiply(x, x)


def _linear_of(img: np.ndarray) -> np.ndarray:
    """An 8- or 16-bit image in linear light (8-bit: a table look-up)."""
    return cv2.LUT(img, _UNIT8 * _UNIT8) if img.dtype == np.uint8 else linear(to_float(img))


def transmission(a_lin: np.ndarray, g_lin: np.ndarray, valid: np.ndarray, sigma: float, window: float) -> np.ndarray:
    """Per channel (BGR), the factor glass, exposure and white balance apply to the scene's light: the
    median local regression slope of the aligned shot's fine detail on the GT's, in linear light, over
    the GT's most textured quarter (one number per channel: `a_lin`, `g_lin` and `valid` are small
    copies, `TRANSMISSION_REDUCTION`). A reflection adds detail that does not correlate with the
    scene's, so it leaves the slope alone (an encoded-value fit is pulled by it: gains 1.15, offsets
    -0.08 seen); drops are a minority."""
    v = valid > 250
    ha, hg = _fine(a_lin, sigma), _fine(g_lin, sigma)
    sab = cv2.GaussianBlur(cv2.multiply(ha, hg), (0, 0), window)
    sgg = cv2.GaussianBlur(cv2.multiply(hg, hg), (0, 0), window)
    t = np.ones(3, np.float32)
    for c in range(3):
        power = sgg[..., c][v]
        if power.size < 100:
            continue
        top = v & (sgg[..., c] >= np.percentile(power, 75)) & (sgg[..., c] > 1e-10)
        if np.count_nonzero(top) >= 50:
            t[c] = np.median(sab[..., c][top] / sgg[..., c][top])
    return np.clip(t, 0.05, 20.0)


def _small_size(w: int, h: int) -> tuple[int, int]:
    return max(8, w // TRANSMISSION_REDUCTION), max(8, h // TRANSMISSION_REDUCTION)


def _hysteresis(weak: np.ndarray, strong: np.ndarray) -> np.ndarray:
    """The connected components (8-connected) of `weak` that hold a pixel of `strong`, as 0/255."""
    n, labels = cv2.connectedComponents(weak.view(np.uint8) if weak.dtype == bool else weak.astype(np.uint8), connectivity=8)
    seeded = np.zeros(n, bool)
    seeded[labels[strong & weak]] = True  # repeated labels are fine: no sort needed
    seeded[0] = False
    return np.where(seeded, 255, 0).astype(np.uint8).take(labels)


def _drop_specks(p: np.ndarray, cut: int, min_px: int) -> np.ndarray:
    """The probability map (uint8) with components (p > cut, 8-connected) under `min_px` pixels set to `cut`."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats((p > cut).view(np.uint8), connectivity=8)
    small = stats[:, cv2.CC_STAT_AREA] < min_px
    small[0] = False  # the background
    if not small.any():
        return p
    return np.where(small[labels], np.minimum(p, cut), p).astype(np.uint8)


def _coarse_size(w: int, h: int, scale: float) -> tuple[int, int]:
    cf = max(1.0, max(h, w) * scale / 5)
    return max(3, round(w / cf)), max(3, round(h / cf))


class _CoarseValid:
    """The valid area on coarse grids (pixels mostly inside it), each size computed once per pair."""

    def __init__(self, valid_s: np.ndarray):
        self.valid_s, self.sizes = valid_s, {}

    def at(self, size: tuple[int, int]) -> np.ndarray:
        if size not in self.sizes:
            self.sizes[size] = cv2.resize(self.valid_s, size, interpolation=cv2.INTER_AREA) > 200
        return self.sizes[size]


def _smooth_residual(r: np.ndarray, valid: _CoarseValid, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """The smooth layer at a coarse scale, and which of its pixels lie inside the valid area."""
    h, w = r.shape[:2]
    return _smooth_coarse(cv2.resize(r, _coarse_size(w, h, scale), interpolation=cv2.INTER_AREA), valid)


def _smooth_coarse(coarse: np.ndarray, valid: _CoarseValid) -> tuple[np.ndarray, np.ndarray]:
    """`_smooth_residual` of a residual already area-reduced to its coarse grid."""
    vcoarse = valid.at((coarse.shape[1], coarse.shape[0]))
    coarse[~vcoarse] = 0
    smooth = cv2.merge([cv2.medianBlur(np.ascontiguousarray(c), 5) for c in cv2.split(coarse)])
    return cv2.GaussianBlur(smooth, (0, 0), 1.0), vcoarse


@dataclass(frozen=True)
class ReducedGT:
    """What the default mask needs from a GT's reduced copy: it depends on the GT alone, so a scene
    computes it once for all its degraded shots (`prepare_gt`)."""

    image: np.ndarray  # the reduced copy, as `reduce` returns it (photometry and QC use it)
    unit: np.ndarray  # float32, full-scale units, on the working grid (`work_size`); so are the fields below
    mid: np.ndarray  # centre of `unit`'s local range [min, max] (3x3 pixels of the reduced copy)
    half: np.ndarray  # half its width
    detail: np.ndarray  # `detail(image)`, enlarged to the working grid
    fine: np.ndarray  # luma minus its blur (MaskParams.detail_sigma)
    fine_power: np.ndarray  # its local power (MaskParams.detail_window)
    # in linear light (`linear`), for a reflection, which adds to the scene's light:
    low_lin: np.ndarray  # the ends of `unit`'s local range
    high_lin: np.ndarray
    level_lin: np.ndarray  # the luma's local level (MaskParams.detail_sigma), one channel
    lin_small: np.ndarray  # `unit`, area-reduced for `transmission` (`_small_size`)
    lin_coarse: np.ndarray  # `unit`, area-reduced to the fine reflection layer's grid


def prepare_gt(g_s: np.ndarray, params: "MaskParams | None" = None) -> ReducedGT:
    params = params or MaskParams()
    size = work_size(g_s.shape[1], g_s.shape[0])
    g_w = _to_work(g_s, size)
    g = to_float(g_w)
    # the slack for misalignment and resampling is the GT's range over 3x3 pixels *of the copy*: on an
    # enlarged grid, the same footprint (a 3x3 range on the copy's own grid would make its noise a residual)
    r = round(size[0] / g_s.shape[1])
    k = np.ones((2 * r + 1, 2 * r + 1), np.uint8)
    low, high = cv2.erode(g, k), cv2.dilate(g, k)
    mid, half = cv2.addWeighted(high, 0.5, low, 0.5, 0.0), cv2.addWeighted(high, 0.5, low, -0.5, 0.0)
    fine = _fine(to_float(cv2.cvtColor(g_w, cv2.COLOR_BGR2GRAY)), params.detail_sigma)
    power = cv2.GaussianBlur(cv2.multiply(fine, fine), (0, 0), params.detail_window)
    # the sharpness test compares Laplacians, which an enlargement flattens: measured on the copy itself
    lin = linear(g)
    level = cv2.GaussianBlur(cv2.transform(lin, LUMA), (0, 0), params.detail_sigma)
    small = cv2.resize(lin, _small_size(*size), interpolation=cv2.INTER_AREA)
    coarse = cv2.resize(lin, _coarse_size(*size, params.reflection_scale_fine), interpolation=cv2.INTER_AREA)
    return ReducedGT(g_s, g, mid, half, _to_work(detail(g_s), size), fine, power, linear(low), linear(high), level, small, coarse)


@dataclass(frozen=True)
class Residual:
    """What the aligned shot differs from its GT by, on the working grid (full-scale units)."""

    outside: np.ndarray  # distance outside the GT's local range after photometry, reflection and sub-pixel slack
    smooth: np.ndarray  # the smooth layer taken out (BGR, coarse grid): signed, encoded values without a
    # reflection; linear light, >= 0, with one
    gain: np.ndarray | None  # with a reflection, how much it compresses the scene's encoded detail (`_detail_gain`)
    encoded: np.ndarray  # `outside` of the encoded model alone (the same array without a reflection): the motion cue's
    signed: np.ndarray  # HxWx3: aligned - GT after photometry and the encoded smooth layer, no slack


def residual_map(
    aligned_s: np.ndarray, gt_s: np.ndarray | ReducedGT, valid_s: np.ndarray, photo: Photometric, params: MaskParams
) -> Residual:
    """The residual left after photometry, the reflection and sub-pixel slack (`Residual`).
    OpenCV calls throughout: numpy's per-pixel channel reductions are several times slower."""
    gt = gt_s if isinstance(gt_s, ReducedGT) else prepare_gt(gt_s)
    size = (gt.unit.shape[1], gt.unit.shape[0])
    aligned_s, valid_s = _to_work(aligned_s, size), _valid_to_work(valid_s, size)
    fs = 1.0 / full_scale(gt.image)
    m = np.zeros((3, 4), np.float32)
    m[[0, 1, 2], [0, 1, 2]] = photo.gain * fs
    m[:, 3] = photo.offset
    a = cv2.transform(aligned_s.astype(np.float32), m)
    h, w = gt.unit.shape[:2]
    # smooth reflection layer: a median of the signed residual at a coarse scale, drops being a
    # minority; where a reflection is clearly present, a finer scale follows its structure better
    r = cv2.subtract(a, gt.unit)
    coarse_valid = _CoarseValid(valid_s)
    smooth, vs = _smooth_residual(r, coarse_valid, params.reflection_scale)
    energy = np.abs(smooth).max(axis=2)[vs]  # a small coarse image
    gain = None
    if energy.size and float(np.percentile(energy, 75)) > params.reflection_present:
        smooth, _ = _smooth_residual(r, coarse_valid, params.reflection_scale_fine)
        lifted = cv2.subtract(a, cv2.resize(smooth, (w, h), interpolation=cv2.INTER_LINEAR))
        d_enc = _outside(lifted, gt.mid, gt.half)
        # the same layer in linear light, where it adds to the transmitted scene whatever the scene
        # is: in encoded values it lifts a dark door more than a white wall, so an encoded layer
        # smoothed across their edge leaves the edge as a residual
        a_lin = _linear_of(aligned_s)
        small = _small_size(w, h)
        t = transmission(cv2.resize(a_lin, small, interpolation=cv2.INTER_AREA), gt.lin_small,
                         cv2.resize(valid_s, small, interpolation=cv2.INTER_AREA), params.detail_sigma, params.detail_window)
        tm = np.zeros((3, 3), np.float32)
        tm[[0, 1, 2], [0, 1, 2]] = t
        csize = _coarse_size(w, h, params.reflection_scale_fine)
        g_coarse = gt.lin_coarse
        if (g_coarse.shape[1], g_coarse.shape[0]) != csize:  # the GT was prepared with other parameters
            g_coarse = cv2.resize(linear(gt.unit), csize, interpolation=cv2.INTER_AREA)
        coarse = cv2.subtract(cv2.resize(a_lin, csize, interpolation=cv2.INTER_AREA), cv2.transform(g_coarse, tm))
        layer, _ = _smooth_coarse(coarse, coarse_valid)  # area reduction is linear: the reduced residual
        layer = np.maximum(layer, 0.0)  # a reflection only adds light
        up = cv2.resize(layer, (w, h), interpolation=cv2.INTER_LINEAR)
        res = channel_max(d_enc)
        encoded = cv2.max(res, 0.0)  # what the encoded model alone leaves (the scene-motion cue's change)
        encoded[valid_s == 0] = 0
        # the GT's local range seen through the glass, in encoded values (its ends are >= 0; a sensor
        # clips at 1), at the pixels the encoded model leaves outside half the smallest threshold
        # (the others stay below any threshold whatever this model says; ~15% of the pixels)
        idx = np.flatnonzero(res > 0.5 * params.min_threshold)
        if idx.size:
            pick = lambda x: np.take(x.reshape(-1, 3), idx, axis=0)  # noqa: E731
            lift = pick(up)
            low = pick(gt.low_lin)
            low *= t
            low += lift
            np.sqrt(np.minimum(low, np.float32(1.0), out=low), out=low)
            high = pick(gt.high_lin)
            high *= t
            high += lift
            np.sqrt(high, out=high)
            a_px = to_float(pick(aligned_s))
            d_lin = np.maximum(np.subtract(low, a_px, out=low), np.subtract(a_px, high, out=high), out=low)
            # the camera's tone curve lies between the two models: what either explains is not water
            np.minimum(pick(d_enc), d_lin, out=d_lin)
            res.reshape(-1)[idx] = channel_max(d_lin)
        gain = _detail_gain(gt.level_lin, layer, t, (w, h))
        smooth = layer
    else:
        lifted = cv2.subtract(a, cv2.resize(smooth, (w, h), interpolation=cv2.INTER_LINEAR))
        d = _outside(lifted, gt.mid, gt.half)
        res = channel_max(d)
        encoded = None
    res = cv2.max(res, 0.0)
    res[valid_s == 0] = 0
    return Residual(res, smooth, gain, res if encoded is None else encoded, cv2.subtract(lifted, gt.unit))


def _outside(a: np.ndarray, mid: np.ndarray, half: np.ndarray) -> np.ndarray:
    """Signed distance of `a` outside the range mid +- half (negative inside): forgives residual
    misalignment and interpolation at edges (|a - mid| - half: two passes, not three)."""
    return cv2.subtract(cv2.absdiff(a, mid), half)


def _detail_gain(level: np.ndarray, layer: np.ndarray, t: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """How much the encoded luma's fine detail is scaled where the glass transmits t of the scene
    (local luma level `level`, linear) and adds `layer` (linear, coarse): t * (level under the layer /
    level)^(1/2 - 1). A bright layer compresses the scene's encoded contrast though the scene
    shows through unchanged."""
    added = cv2.resize(cv2.transform(layer, LUMA), size, interpolation=cv2.INTER_LINEAR)
    tl = float((LUMA @ t.reshape(3))[0])
    ratio = cv2.divide(cv2.addWeighted(level, tl, added, 1.0, 0.0), np.maximum(level, 1e-4))
    return tl / cv2.sqrt(ratio)  # ratio^(1/2 - 1)


@dataclass(frozen=True)
class MaskAnalysis:
    mask: np.ndarray  # uint8, GT frame, full resolution, 255 = raindrop
    motion_fraction: float  # of the valid area: solid, in-focus change larger than a drop (motion.scene_motion)
    threshold: float  # the weak residual threshold used (full-scale units)
    reflection: np.ndarray  # uint8, GT frame, long side <= REFLECTION_LONG_SIDE: light added by the glass (`reflection_map`)


def detail(img: np.ndarray) -> np.ndarray:
    """Local fine detail: box-averaged |Laplacian| of the luma, in full-scale units."""
    g = to_float(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))
    return cv2.blur(np.abs(cv2.Laplacian(g, cv2.CV_32F, ksize=3)), (9, 9))


@dataclass(frozen=True)
class SceneMatch:
    """How much of the GT's fine detail the degraded shot still carries, pixel by pixel."""

    ncc: np.ndarray  # local normalized correlation of the two fine-detail layers (-1..1)
    strength: np.ndarray  # the GT's local fine-detail amplitude (full-scale units)
    attenuation: np.ndarray  # 1 - local detail gain / its neighbourhood's typical gain: the water's opacity, where textured
    textured: np.ndarray  # bool: enough GT detail for the two above to mean something


def _fine(luma: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.subtract(luma, cv2.GaussianBlur(luma, (0, 0), sigma))


def scene_match(
    a_s: np.ndarray, gt: "ReducedGT", v_s: np.ndarray, params: "MaskParams", gain: np.ndarray | None = None
) -> SceneMatch:
    """Compare the fine detail (luma minus its blur) of the aligned shot with the GT's, locally.

    The glass and a reflection add light: the scene's detail stays under them, scaled by one
    transmission for the whole frame (and blurred alike everywhere by interpolation and JPEG), and
    a defocused reflection brings almost no fine detail of its own. Water replaces what is behind it
    with a defocused view: the local regression slope of aligned detail on GT detail falls by the
    water's opacity. The typical slope around a pixel (the median over textured pixels of a cell
    wider than a drop: drops are a minority there) is the reference, so gain and the blur that
    neighbourhood shares cancel."""
    ya = to_float(cv2.cvtColor(a_s, cv2.COLOR_BGR2GRAY))
    ha, hg = _fine(ya, params.detail_sigma), gt.fine
    w = params.detail_window
    sab = cv2.GaussianBlur(cv2.multiply(ha, hg), (0, 0), w)
    saa = cv2.GaussianBlur(cv2.multiply(ha, ha), (0, 0), w)
    ncc = sab / np.sqrt(saa * gt.fine_power + 1e-12)
    beta = sab / (gt.fine_power + 1e-12)
    if gain is not None:  # a reflection's expected compression of the detail (`_detail_gain`)
        beta = beta / np.maximum(gain, 0.05)
    strength = np.sqrt(gt.fine_power)
    textured = (strength > params.detail_min) & (v_s > 0)
    b0 = float(np.median(beta[textured][::3])) if np.count_nonzero(textured) > 100 else 1.0
    base = _local_median(beta, textured, max(4, round(params.detail_cell * max(beta.shape))), b0)
    return SceneMatch(ncc, strength, 1.0 - beta / np.maximum(base, 1e-3), textured)


def _local_median(x: np.ndarray, where: np.ndarray, cell: int, default: float) -> np.ndarray:
    """Median of x over `where` in square cells of `cell` px (on every other pixel), bilinearly
    interpolated to x's size; `default` where a cell has too few samples."""
    h, w = x.shape
    xs, ws, c = x[::2, ::2], where[::2, ::2], max(2, cell // 2)
    gh, gw = -(-xs.shape[0] // c), -(-xs.shape[1] // c)
    pad = np.full((gh * c, gw * c), np.nan, np.float32)
    pad[: xs.shape[0], : xs.shape[1]] = np.where(ws, xs, np.nan)
    blocks = pad.reshape(gh, c, gw, c).transpose(0, 2, 1, 3).reshape(gh, gw, -1)
    count = np.count_nonzero(~np.isnan(blocks), axis=2)
    enough = count >= 0.1 * c * c
    # nanmedian, 10x faster: a sort puts the NaNs last, the median is the mean of the middle two
    ordered = np.sort(blocks, axis=2)
    n = np.maximum(count, 1)[..., None]
    lo = np.take_along_axis(ordered, (n - 1) // 2, axis=2)[..., 0]
    hi = np.take_along_axis(ordered, n // 2, axis=2)[..., 0]
    med = np.where(enough, (lo + hi) / 2, default).astype(np.float32)
    return cv2.resize(med, (w, h), interpolation=cv2.INTER_LINEAR)


def reduce(img: np.ndarray) -> np.ndarray:
    """The copy masks are computed on (area-averaged)."""
    h, w = img.shape[:2]
    f = mask_factor(w, h)
    if f <= 1:
        return img
    return cv2.resize(img, (round(w / f), round(h / f)), interpolation=cv2.INTER_AREA)


def reduce_valid(valid: np.ndarray) -> np.ndarray:
    v = reduce(valid)
    return v if v is valid else np.where(v > 250, 255, 0).astype(np.uint8)


def default_mask(
    aligned: np.ndarray, gt: np.ndarray, valid: np.ndarray, photo: Photometric, params: MaskParams = MaskParams()
) -> np.ndarray:
    return analyse(reduce(aligned), reduce(gt), reduce_valid(valid), valid, photo, params).mask


def _cues(a_s: np.ndarray, gt: ReducedGT, v_s: np.ndarray, photo: Photometric, params: MaskParams
          ) -> tuple[np.ndarray, np.ndarray, Residual, SceneMatch]:
    """The cue maps on the working grid: the aligned copy and valid area brought onto it, the
    residual, the scene-match maps."""
    size = (gt.unit.shape[1], gt.unit.shape[0])
    a_s, v_s = _to_work(a_s, size), _valid_to_work(v_s, size)  # a small frame: onto the working grid
    r = residual_map(a_s, gt, v_s, photo, params)
    return a_s, v_s, r, scene_match(a_s, gt, v_s, params, r.gain)


def _network_input(r: Residual, sm: SceneMatch, v_s: np.ndarray) -> np.ndarray:
    return drop_net.features(r.signed, r.outside, sm.ncc, sm.attenuation, sm.textured, v_s)


def network_input(a_s: np.ndarray, g_s: np.ndarray | ReducedGT, v_s: np.ndarray, photo: Photometric,
                  params: MaskParams = MaskParams()) -> np.ndarray:
    """What the drop network reads for this pair (drop_net.features): the same code `analyse` runs,
    for fitting the network (rdrf_train.mask_net)."""
    gt = g_s if isinstance(g_s, ReducedGT) else prepare_gt(g_s, params)
    _, v_w, r, sm = _cues(a_s, gt, v_s, photo, params)
    return _network_input(r, sm, v_w)


def analyse(
    a_s: np.ndarray,
    g_s: np.ndarray | ReducedGT,
    v_s: np.ndarray,
    valid: np.ndarray,
    photo: Photometric,
    params: MaskParams = MaskParams(),
) -> MaskAnalysis:
    """The default mask at `valid`'s (full) resolution, from reduced copies of aligned, GT (or the
    scene's `prepare_gt` of it), valid; with the scene-motion figure and the reflection map."""
    gt = g_s if isinstance(g_s, ReducedGT) else prepare_gt(g_s, params)
    h, w = valid.shape[:2]
    size = (gt.unit.shape[1], gt.unit.shape[0])
    a_reduced = a_s
    a_s, v_s, r, sm = _cues(a_s, gt, v_s, photo, params)
    res = r.outside
    inside = res[v_s > 0][::7]
    sigma = 1.4826 * float(np.median(inside)) if inside.size else 0.0
    weak = max(params.min_threshold, params.k_sigma * sigma)
    strong = max(params.strong_threshold, weak * params.strong_factor)
    # the scene shows through unchanged: a residual there is a reflection or exposure, not water
    kept = sm.textured & (sm.ncc > params.kept_ncc) & (sm.attenuation < params.kept_attenuation)
    # the scene's detail is gone or mostly gone: water, whatever the colours say (flow traces)
    lost = sm.textured & ((sm.ncc < params.lost_ncc) | (sm.attenuation > params.lost_attenuation))
    # scene motion is judged on the change the encoded model leaves: the linear reflection layer,
    # smooth over ~1.5% of the frame, takes in part of a large moved object (a car behind dense
    # drops read 57% changed instead of solid) - what explains a reflection's edge must not explain a car
    changed = _hysteresis(((r.encoded > weak) & ~kept) | lost, (r.encoded > strong) & ~kept)
    motion_fraction = scene_motion(changed, lambda: _to_work(detail(a_reduced), size), gt.detail, kept, v_s, params.max_drop)
    # the mask: the drop network on the cue maps, its probability brought to full size and cut
    p = drop_net.probability(_network_input(r, sm, v_s))
    cut = int(round(255 * params.water_probability)) - 1  # p > cut: at least that probability
    p = _drop_specks(p, cut, max(1, round(params.min_area * p.shape[0] * p.shape[1])))
    m = p if (p.shape[1], p.shape[0]) == (w, h) else cv2.resize(p, (w, h), interpolation=cv2.INTER_LINEAR)
    cv2.threshold(m, cut, 255, cv2.THRESH_BINARY, dst=m)  # in place: no second full-size array
    cv2.bitwise_and(m, valid, dst=m)
    return MaskAnalysis(m, motion_fraction, weak, reflection_map(r.smooth, v_s, (w, h)))


def iou(a: np.ndarray, b: np.ndarray, within: np.ndarray | None = None) -> float:
    a, b = a > 0, b > 0
    if within is not None:
        a, b = a & (within > 0), b & (within > 0)
    union = np.count_nonzero(a | b)
    return float(np.count_nonzero(a & b) / union) if union else 1.0
