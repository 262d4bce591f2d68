"""Pairs the quality control must judge, good and faulty, each with its truth.

A published dataset holds only pairs whose degraded shot is the GT scene photographed through wet
glass, nothing else changed. The faults here are what goes wrong on a real shoot, rendered with the
same optics as a good pair (`render_degraded`), so that only the fault tells them apart:

- `good`: sparse to dense drops, with and without reflections, a small camera nudge, the exposure
  and white-balance drift a body has between shots (|EV| < 0.3, WB within a few percent);
- `motion`: something in the scene moved between the GT and the degraded shot (a car, a person,
  foliage in the wind) - sharp, behind the glass, not a drop;
- `exposure`: the exposure changed by 0.5 EV or more (a dial knocked, auto exposure left on);
- `focus`: the scene behind the glass is out of focus in the degraded shot (autofocus hunted onto
  the drops);
- `camera_moved`: the tripod moved so far that the degraded shot covers too little of the GT frame;
- `other_scene`: the degraded shot is of another scene (a mis-filed shot).

    pair = render_fault("focus", 960, 640, seed=3)   # pair.gt, pair.lq (RGB uint8), pair.truth
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from hardware.sim.camera import defocus, to_linear, to_srgb
from hardware.sim.params import REFERENCE_WIDTH, DegradationParams, sample_params
from hardware.sim.render import Degraded, render_degraded
from hardware.sim.scenes import CATEGORIES, Painter, _car, _tree, render_scene

FAULT_KINDS = ("good", "motion", "exposure", "focus", "camera_moved", "other_scene")
GOOD_EV = 0.3  # good pairs drift by less than this (stops)
FAULT_EV = (0.5, 1.2)  # exposure faults: |EV| in this range
MOVED_AREA = (0.04, 0.15)  # a moving object's footprint (GT and new position), / frame area
FOCUS_BLUR_PX = (8.0, 30.0)  # defocus radius of a focus fault, reference px (~0.2-0.6 % of the width)
MOVED_VALID = (0.45, 0.72)  # fraction of the GT frame a moved camera still sees


@dataclass
class FaultPair:
    """A GT, a degraded shot of it (RGB uint8, before JPEG) and what was done."""

    kind: str
    gt: np.ndarray
    lq: np.ndarray
    params: DegradationParams
    degraded: Degraded
    truth: dict = field(default_factory=dict)  # per kind: exposure_ev, blur_px, moved_mask, valid_fraction, ...

    @property
    def homography(self) -> np.ndarray:
        return self.truth.get("homography", self.degraded.homography)


def _rngs(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    a, b = np.random.SeedSequence([seed, 911]).spawn(2)
    return np.random.default_rng(a), np.random.default_rng(b)


def good_params(rng: np.random.Generator, *, reflections: bool | None = None) -> DegradationParams:
    """A good shot's parameters: the renderer's variety, with exposure drift anywhere in |EV| < GOOD_EV."""
    refl = bool(rng.random() < 0.5) if reflections is None else reflections
    p = sample_params(rng, reflections=refl)
    return p.model_copy(update={"exposure_ev": float(rng.uniform(-GOOD_EV, GOOD_EV) * 0.97)})


def _person(p: Painter, x: float, base_y: float, height: float) -> None:
    """A standing figure: legs, coat, arms, head; sharp, in clothing colours."""
    u = height
    coat = tuple(float(v) for v in p.rng.uniform(0.05, 0.8, 3))
    legs = tuple(float(v) for v in p.rng.uniform(0.05, 0.35, 3))
    skin = (0.85, 0.65, 0.5)
    for dx in (-0.06, 0.06):
        cv2.line(p.img, (int(x + dx * u), int(base_y)), (int(x + dx * 0.5 * u), int(base_y - 0.45 * u)), legs, max(2, int(0.07 * u)), cv2.LINE_AA)
    body = [[x - 0.13 * u, base_y - 0.42 * u], [x + 0.13 * u, base_y - 0.42 * u], [x + 0.11 * u, base_y - 0.8 * u], [x - 0.11 * u, base_y - 0.8 * u]]
    p.poly(body, coat)
    for dx in (-0.14, 0.14):
        cv2.line(p.img, (int(x + dx * u), int(base_y - 0.78 * u)), (int(x + dx * 1.2 * u), int(base_y - 0.45 * u)), coat, max(2, int(0.05 * u)), cv2.LINE_AA)
    cv2.circle(p.img, (int(x), int(base_y - 0.88 * u)), max(2, int(0.075 * u)), skin, -1, cv2.LINE_AA)
    cv2.line(p.img, (int(x - 0.09 * u), int(base_y - 0.6 * u)), (int(x + 0.09 * u), int(base_y - 0.6 * u)), legs, max(1, int(0.02 * u)), cv2.LINE_AA)


def _object(kind: str, img: np.ndarray, x: float, y: float, size: float, seed: int) -> np.ndarray:
    """`img` (RGB uint8) with a sharp car / person / tree painted with its base at (x, y)."""
    p = Painter(np.random.default_rng(seed), img.shape[1], img.shape[0])
    p.img = img.astype(np.float32) / 255.0
    if kind == "car":
        _car(p, x - size / 2, y, size)
    elif kind == "person":
        _person(p, x, y, size)
    else:
        _tree(p, x, y, size)
    return np.clip(p.img * 255 + 0.5, 0, 255).astype(np.uint8)


def moved_object(gt: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """(GT with the object, the scene at the degraded shot, changed-pixels mask, object kind).

    A car drove on, a person walked, a tree swayed (new leaves, same place). The object's size is
    drawn so that its footprint in both shots covers MOVED_AREA of the frame."""
    h, w = gt.shape[:2]
    kind = str(rng.choice(["car", "person", "foliage"]))
    area = rng.uniform(*MOVED_AREA) * w * h
    # footprint per placement as a fraction of size^2 (measured on the painters), two placements
    size = float(np.sqrt(area / {"car": 0.35, "person": 0.12, "foliage": 0.5}[kind] / (1 if kind == "foliage" else 2)))
    size = min(size, 0.8 * h if kind != "car" else 0.9 * w)
    y = rng.uniform(0.75, 0.98) * h
    x0 = rng.uniform(0.25, 0.75) * w
    x1 = x0 if kind == "foliage" else x0 + rng.choice([-1, 1]) * rng.uniform(0.6, 1.0) * size
    s0, s1 = (int(v) for v in rng.integers(2**31, size=2))
    before = _object(kind, gt, x0, y, size, s0)
    after = _object(kind, gt, x1, y, size, s1)
    changed = np.abs(before.astype(np.int16) - after.astype(np.int16)).max(axis=2) > 12
    return before, after, np.where(changed, 255, 0).astype(np.uint8), kind


def _translation_for_valid(rng: np.random.Generator, w: int, h: int, valid: float) -> tuple[float, float]:
    """A camera shift (px) leaving `valid` of the frame covered."""
    a = rng.uniform(0, 1)  # share of the loss along x
    fx = 1 - valid ** a
    fy = 1 - valid / (1 - fx)
    return float(rng.choice([-1, 1]) * fx * w), float(rng.choice([-1, 1]) * fy * h)


def render_fault(
    kind: str, width: int, height: int, seed: int, *, reflections: bool | None = None, exposure_ev: float | None = None
) -> FaultPair:
    """One pair of `kind` (FAULT_KINDS) at width x height, the same for the same seed; `reflections`
    and `exposure_ev` (the drift of a good shot, in stops) fix what is otherwise drawn."""
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}")
    rng, scene_rng = _rngs(seed)
    category = CATEGORIES[int(scene_rng.integers(len(CATEGORIES)))]
    scene_seed = int(scene_rng.integers(2**31))
    params = good_params(rng, reflections=reflections)
    if exposure_ev is not None:
        params = params.model_copy(update={"exposure_ev": float(exposure_ev)})
    truth: dict = {"category": category}
    if kind == "camera_moved":
        # a wider view of the scene: the GT is its middle, the moved camera sees another part of it
        valid = float(rng.uniform(*MOVED_VALID))
        tx, ty = _translation_for_valid(rng, width, height, valid)
        pad_x, pad_y = int(abs(tx)) + 8, int(abs(ty)) + 8
        world = render_scene(category, width + 2 * pad_x, height + 2 * pad_y, scene_seed)
        gt = np.ascontiguousarray(world[pad_y : pad_y + height, pad_x : pad_x + width])
        sx, sy = pad_x + int(round(tx)), pad_y + int(round(ty))
        seen = np.ascontiguousarray(world[sy : sy + height, sx : sx + width])
        params = params.model_copy(update={"motion_px": min(params.motion_px, 10.0)})
        d = render_degraded(seen, params, seed)
        shift = np.array([[1, 0, sx - pad_x], [0, 1, sy - pad_y], [0, 0, 1]], np.float64)
        truth.update(valid_fraction=valid, homography=shift @ d.homography)
        return FaultPair(kind, gt, d.image, params, d, truth)
    gt = render_scene(category, width, height, scene_seed)
    behind = gt
    if kind == "motion":
        gt, behind, changed, obj = moved_object(gt, rng)
        truth.update(object=obj, moved_mask=changed, moved_fraction=float(np.count_nonzero(changed)) / changed.size)
    elif kind == "exposure":
        ev = float(rng.choice([-1, 1]) * rng.uniform(*FAULT_EV))
        params = params.model_copy(update={"exposure_ev": ev})
    elif kind == "focus":
        r = float(rng.uniform(*FOCUS_BLUR_PX))
        behind = to_srgb(defocus(to_linear(gt), r * width / REFERENCE_WIDTH))  # blur happens in linear light
        truth.update(blur_px=r)
    elif kind == "other_scene":
        other = CATEGORIES[int(scene_rng.integers(len(CATEGORIES)))]
        behind = render_scene(other, width, height, scene_seed + 1)
        truth.update(other_category=other)
    d = render_degraded(behind, params, seed)
    truth.setdefault("exposure_ev", params.exposure_ev)
    return FaultPair(kind, gt, d.image, params, d, truth)
