"""A synthetic RDRF-like dataset on disk: the import layout plus the truth of every degraded shot.

    OUT/<scene>/gt.png                 the scene through the dry glass, box on (lossless; sensor noise, no JPEG)
    OUT/<scene>/lq/<scene>_<k>.jpg     degraded shots, JPEG like a camera
    OUT/<scene>/scene.toml             category, glass_mm, degradation, notes (read by `rdrf import`)
    OUT/<scene>/truth/<name>_mask.png  the true raindrop mask in the GT frame (255 = raindrop)
    OUT/<scene>/truth/<name>_reflection.png  with reflections: the light the glass reflects into each GT
                                       pixel (mean over RGB, linear, 255 = full scale; the layer the
                                       reflection map of `rdrf align` estimates)
    OUT/<scene>/truth/<name>_streaks.png  with --kind streaks: the rain streaks' opacity in the GT frame (255 = opaque)
    OUT/<scene>/truth/<name>_transmission.png  with --kind accumulation: the veil's transmission t in the
                                       GT frame (255 = clear air; I = J t + A (1 - t), A in params)
    OUT/<scene>/lq/<scene>_<k>_L.png   with --dual-pixel: the left and right half-aperture views (lossless; the
    OUT/<scene>/lq/<scene>_<k>_R.png   JPEG beside them is the combined picture, their mean in linear light)
    OUT/<scene>/truth/<name>_mask_L.png  with --dual-pixel: each view's raindrop mask in the GT frame (_R: right)
    OUT/truth.json                     per degraded file: homography (lq px -> GT px), mask path, params

truth.json is written last: a folder without it is an interrupted run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from hardware.sim import CATEGORIES, encode_jpeg, load_background, render_degraded, render_scene, sample_params
from schemas.errors import RdrfError
from schemas.imageio import READABLE_IMAGE_EXTS, encode_png
from schemas.storage import durable_write
from schemas.vocabulary import KIND_DEGRADATION, DegradationKind, degradation_of

GLASS_MM = (3.0, 5.0, 8.0)
TRUTH_VERSION = 2  # 2: streaks, transmission and degradation per file
CAMERA = "rdrf synth"  # what the catalogue records as the body: these shots have no EXIF


@dataclass
class SynthSummary:
    out: Path
    scenes: int
    lq_files: int
    truth: Path


def _png(image: np.ndarray) -> bytes:
    """RGB image or mask -> PNG; zlib level 3 keeps the bytes synth has always written (same seed, same bytes)."""
    return encode_png(image, order="rgb", level=3)


def _backgrounds(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise RdrfError(f"--backgrounds {folder}: not a folder; expected a folder of photographs (JPEG/PNG/TIFF)")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in READABLE_IMAGE_EXTS)
    if not files:
        raise RdrfError(f"--backgrounds {folder}: no photographs in it (expected .jpg, .png or .tif files)")
    return files


def synthesize(
    out: Path,
    *,
    scenes: int,
    lq: int,
    width: int = 1188,
    height: int = 792,
    seed: int = 0,
    reflections: bool = True,
    kinds: frozenset[DegradationKind] | None = None,
    backgrounds: Path | None = None,
    dual_pixel: bool = False,
    advance: Callable[[], None] = lambda: None,
) -> SynthSummary:
    """Render `scenes` scenes with `lq` degraded shots each into `out` (which must be new or empty).

    The same arguments give the same bytes. Default size is a quarter of the paper's 4752x3168 per
    side, which keeps a dataset quick to make; the renderer works at any size. `kinds` (combinable)
    chooses the degradations; by default drops and, with `reflections`, reflection (the RDRF protocol).
    `dual_pixel` adds each degraded shot's left and right half-aperture views and their masks (DPRRN).
    """
    if kinds is None:
        kinds = frozenset({"drops", "reflection"} if reflections else {"drops"})
    if not kinds:
        raise RdrfError("--kind: choose at least one of drops, streaks, accumulation, reflection")
    if scenes < 1 or lq < 1:
        raise RdrfError(f"--scenes and --lq must be at least 1 (got {scenes} and {lq})")
    if width < 64 or height < 64:
        raise RdrfError(f"--size {width}x{height} is too small; expected at least 64x64")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RdrfError(f"{out} already exists and is not an empty folder; choose a new folder (nothing was written)")
    photos = _backgrounds(backgrounds) if backgrounds is not None else []
    digits = max(3, len(str(scenes)))
    root = np.random.SeedSequence(seed)
    order = np.random.default_rng(root.spawn(1)[0]).permutation(len(CATEGORIES))
    files: dict[str, dict] = {}
    scene_index: dict[str, dict] = {}
    for i, scene_seq in enumerate(np.random.SeedSequence([seed, 1]).spawn(scenes)):
        label = f"{i + 1:0{digits}d}"
        scene = _SceneSpec(
            out, label, CATEGORIES[int(order[i % len(order)])], np.random.default_rng(scene_seq), width, height, kinds, dual_pixel
        )
        scene_index[label] = _synth_scene(scene, photos[i % len(photos)] if photos else None, lq, files, advance)
    truth = {
        "version": TRUTH_VERSION,
        "seed": seed,
        "size": [width, height],
        "homography": "maps a degraded (lq) pixel to the GT pixel, full resolution of these files",
        "mask": "PNG in the GT frame, 255 where the defocused water layer's opacity >= params.mask_threshold",
        "reflection": "PNG in the GT frame (null without reflections): reflected light, mean over RGB, linear, 255 = full scale",
        "streaks": "PNG in the GT frame (null without streaks): rain-streak opacity, 255 = opaque",
        "transmission": "PNG in the GT frame (null without accumulation): veil transmission t, 255 = clear; I = J t + A (1 - t)",
        "kinds": sorted(kinds),
        **({"views": "per file with --dual-pixel: left/right view images (lq frame) and mask_left/mask_right (GT frame, like mask)"}
           if dual_pixel else {}),
        "scenes": scene_index,
        "files": files,
    }
    path = out / "truth.json"
    durable_write(json.dumps(truth, indent=1, sort_keys=True).encode(), path)
    return SynthSummary(out=out, scenes=scenes, lq_files=len(files), truth=path)


@dataclass
class _SceneSpec:
    out: Path
    label: str
    category: str
    rng: np.random.Generator  # the scene's own stream: every draw below is made in a fixed order
    width: int
    height: int
    kinds: frozenset
    dual_pixel: bool = False

    @property
    def reflections(self) -> bool:
        return "reflection" in self.kinds


def _synth_scene(sc: _SceneSpec, photo: Path | None, lq: int, files: dict[str, dict], advance: Callable[[], None]) -> dict:
    """One scene folder: its world (painted or a photo), the GT through the dry glass, scene.toml and
    `lq` degraded shots with their truth (added to `files`); returns the scene's truth entry."""
    rng, label, folder = sc.rng, sc.label, sc.out / sc.label
    glass = float(rng.choice(GLASS_MM))
    if photo is not None:
        world = load_background(photo, sc.width, sc.height)
        notes = f"synthetic: background photo {photo.name}, glass {glass:g} mm"
    else:
        world = render_scene(sc.category, sc.width, sc.height, int(rng.integers(2**31)))
        notes = f"synthetic: rendered {sc.category} scene, glass {glass:g} mm"
    behind = CATEGORIES[int(rng.integers(len(CATEGORIES)))]
    reflected = render_scene(behind, max(64, sc.width // 2), max(64, sc.height // 2), int(rng.integers(2**31)))
    # One slab per scene: every shot, the GT included, sees the scene through the same glass. The GT is
    # the dry glass with the light-blocking box on - no drops, no reflection, no drift - and its own noise.
    slab = sample_params(rng, glass_mm=glass)
    glass_fields = {"transmission": slab.transmission, "glass_tint": slab.glass_tint, "glass_mm": glass}
    gt_params = slab.model_copy(update=dict(
        glass_fields, drops=False, reflection=False, motion_px=0.0, exposure_ev=0.0, wb_gains=(1.0, 1.0, 1.0),
    ))
    gt = render_degraded(world, gt_params, int(rng.integers(2**31))).image
    durable_write(_png(gt), folder / "gt.png")
    degradation = degradation_of(KIND_DEGRADATION[k] for k in sc.kinds)
    meta = (
        f'category = "{sc.category}"\nglass_mm = {glass:g}\ndegradation = "{degradation}"\n'
        f'camera = "{CAMERA}"\nnotes = "{notes}"\n'
    )
    durable_write(meta.encode(), folder / "scene.toml")
    shots = []
    for k in range(lq):
        params = sample_params(rng, reflections=sc.reflections, glass_mm=glass, drops="drops" in sc.kinds,
                               streaks="streaks" in sc.kinds, accumulation="accumulation" in sc.kinds).model_copy(update=glass_fields)
        shot = render_degraded(world, params, int(rng.integers(2**31)), reflection_scene=reflected, dual_pixel=sc.dual_pixel)
        name = f"{label}_{k + 1:02d}"
        lq_rel = f"{label}/lq/{name}.jpg"
        mask_rel = f"{label}/truth/{name}_mask.png"
        durable_write(encode_jpeg(shot.image, params.jpeg_quality), sc.out / lq_rel)
        durable_write(_png(shot.raindrop_mask), sc.out / mask_rel)
        reflection_rel = None
        if shot.reflection.any():
            reflection_rel = f"{label}/truth/{name}_reflection.png"
            durable_write(_png(reflection_truth(shot.reflection)), sc.out / reflection_rel)
        streaks_rel = transmission_rel = None
        if shot.streak_alpha is not None:
            streaks_rel = f"{label}/truth/{name}_streaks.png"
            durable_write(_png(unit_map(shot.streak_alpha)), sc.out / streaks_rel)
        if shot.transmission is not None:
            transmission_rel = f"{label}/truth/{name}_transmission.png"
            durable_write(_png(unit_map(shot.transmission)), sc.out / transmission_rel)
        views = {}
        for half, tag in (("left", "L"), ("right", "R")) if sc.dual_pixel else ():
            views[half] = f"{label}/lq/{name}_{tag}.png"
            views[f"mask_{half}"] = f"{label}/truth/{name}_mask_{tag}.png"
            durable_write(_png(shot.views[half]), sc.out / views[half])
            durable_write(_png(shot.view_masks[half]), sc.out / views[f"mask_{half}"])
        files[lq_rel] = {
            **({"views": views} if views else {}),
            "scene": label,
            "degradation": degradation,
            "streaks": streaks_rel,
            "transmission": transmission_rel,
            "gt": f"{label}/gt.png",
            "homography": shot.homography.tolist(),
            "mask": mask_rel,
            "mask_coverage": round(float((shot.raindrop_mask > 0).mean()), 6),
            "reflection": reflection_rel,
            "drops": int(len(shot.drops)),
            "params": params.model_dump(mode="json"),
        }
        shots.append(lq_rel)
        advance()
    return {
        "category": sc.category,
        "glass_mm": glass,
        "gt": f"{label}/gt.png",
        "gt_params": gt_params.model_dump(mode="json"),
        "lq": shots,
        "reflected_category": behind,
    }


def unit_map(values: np.ndarray) -> np.ndarray:
    """A [0, 1] map as 8-bit, 255 = 1."""
    return np.clip(np.rint(values * 255), 0, 255).astype(np.uint8)


def reflection_truth(layer: np.ndarray) -> np.ndarray:
    """The renderer's reflected layer (linear RGB, GT frame) as an 8-bit strength map: mean over the
    channels, 255 = full scale."""
    return np.clip(np.rint(layer.mean(axis=2) * 255), 0, 255).astype(np.uint8)


def parse_size(text: str) -> tuple[int, int]:
    """'WxH' -> (W, H)."""
    parts = text.lower().replace("×", "x").split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise RdrfError(f"--size {text!r}: expected WIDTHxHEIGHT, e.g. 1188x792 or 4752x3168")
    return int(parts[0]), int(parts[1])
