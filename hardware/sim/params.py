"""What one degraded shot of the virtual rig is made of, with the ranges of the RDRF protocol.

Pixel quantities are given at the paper's resolution (REFERENCE_WIDTH = 4752 px wide) and scaled to
the width actually rendered, so the same parameters look the same at any size.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

REFERENCE_WIDTH = 4752
GLASS_INDEX = 1.52


class DegradationParams(BaseModel):
    """Everything that differs between the GT shot and one degraded shot of the same scene."""

    model_config = ConfigDict(extra="forbid")

    # Raindrops on the glass (sprayed water).
    drops: bool = True
    drop_count: int = Field(300, ge=0, description="drops on the frame (sparse ~40, dense ~2500)")
    drop_radius_px: tuple[float, float] = Field((8.0, 70.0), description="min/max drop radius, reference px")
    drop_shape_mix: tuple[float, float, float] = Field(
        (0.4, 0.35, 0.25), description="fractions of circular, elliptical and irregular drops"
    )
    flow_traces: int = Field(0, ge=0, description="drops that ran down the glass, leaving a trail")
    drop_blur_px: float = Field(10.0, ge=0, description="defocus radius of the glass plane, reference px")
    drop_view_frac: float = Field(0.6, gt=0, description="half-width of the scene area each drop shows (a flipped fish-eye view), / width")
    drop_rim_dark: float = Field(0.6, ge=0, le=1, description="darkening of the steep drop rims")
    drop_highlight: float = Field(0.35, ge=0, le=1, description="strength of specular highlights")
    mask_threshold: float = Field(0.1, gt=0, lt=1, description="drop-layer opacity from which a pixel counts as raindrop")

    # Reflection from the camera side (light-blocking box removed).
    reflection: bool = True
    reflection_strength: float = Field(0.15, ge=0, le=1, description="reflected layer weight (weak 0.04 .. strong 0.45)")
    reflection_blur_px: float = Field(6.0, ge=0, description="defocus of the reflected scene, reference px")
    reflection_distance_m: float = Field(1.5, gt=0, description="distance of the reflected objects behind the camera")
    reflection_shift_px: tuple[float, float] = Field((0.0, 0.0), description="where the reflected scene sits, reference px")
    glass_mm: float = Field(5.0, gt=0, description="slab thickness: 3, 5 or 8 mm in the RDRF rig")
    glass_angle_deg: float = Field(20.0, ge=0, lt=80, description="tilt of the glass to the optical axis")
    ghost_dir_deg: float = Field(0.0, description="direction of the double image (the glass's tilt axis + 90 deg)")
    transmission: float = Field(0.9, gt=0, le=1, description="glass transmission (both surfaces + absorption)")
    glass_tint: tuple[float, float, float] = Field((0.985, 1.0, 0.99), description="RGB transmission tint of the glass")

    # Rain streaks in the air (seeds/003 GT-Rain; off for the RDRF glass protocol).
    streaks: bool = False
    streak_count: int = Field(20000, ge=0, description="streaks on a reference-size frame, over all depth layers")
    streak_length_px: tuple[float, float] = Field((40.0, 260.0), description="streak length of the farthest and nearest layer, reference px")
    streak_width_px: float = Field(5.0, ge=0, description="width of the nearest layer's streaks, reference px")
    streak_angle_deg: float = Field(8.0, ge=-60, le=60, description="fall direction from vertical (wind)")
    streak_layers: int = Field(3, ge=1, le=8, description="depth layers: near ones long, wide, defocused; far ones short, thin, dense")
    streak_blur_px: float = Field(6.0, ge=0, description="defocus of the nearest layer, reference px")
    streak_strength: float = Field(0.6, ge=0, le=1, description="peak opacity of the nearest layer")
    streak_brightness: float = Field(0.8, ge=0, le=1, description="linear radiance of a streak (lit drops are bright)")

    # Rain accumulation: the veil of distant rain (seeds/003 GT-Rain).
    accumulation: bool = False
    accumulation_density: float = Field(1.2, ge=0, description="beta of t = exp(-beta d) at the farthest depth")
    accumulation_airlight: float = Field(0.75, ge=0, le=1, description="linear radiance of the veil (overcast sky)")

    # Camera between the GT shot and this shot.
    motion_px: float = Field(6.0, ge=0, description="largest corner displacement of the homography, reference px")
    exposure_ev: float = Field(0.0, description="exposure drift in stops")
    wb_gains: tuple[float, float, float] = Field((1.0, 1.0, 1.0), description="white-balance drift, RGB gains")
    noise: bool = True
    noise_shot: float = Field(0.0003, ge=0, description="shot-noise variance per unit linear intensity")
    noise_read: float = Field(0.001, ge=0, description="read-noise standard deviation, linear")
    jpeg_quality: int = Field(92, ge=1, le=100, description="quality the camera encodes the shot with")
    focal_px: float = Field(4600.0, gt=0, description="focal length in reference px (35 mm lens on a 36 mm sensor)")

    def ghost_px(self) -> float:
        """Offset between the front- and back-surface reflections (the slab's double image), reference px.

        Parallel rays reflected by the two surfaces of a slab of thickness t at incidence theta are
        displaced by 2 t tan(theta_t) cos(theta); an object at distance D sees that as an angle d/D.
        """
        theta = math.radians(self.glass_angle_deg)
        theta_t = math.asin(math.sin(theta) / GLASS_INDEX)
        offset_mm = 2.0 * self.glass_mm * math.tan(theta_t) * math.cos(theta)
        # Even at normal incidence a tilted camera sees the two images a little apart.
        offset_mm = max(offset_mm, 0.15 * self.glass_mm)
        return self.focal_px * offset_mm / (self.reflection_distance_m * 1000.0)

    def fresnel(self) -> tuple[float, float]:
        """Reflectance of the front surface and of the back surface (seen through the front) at the glass angle."""
        theta = math.radians(self.glass_angle_deg)
        theta_t = math.asin(math.sin(theta) / GLASS_INDEX)
        ci, ct = math.cos(theta), math.cos(theta_t)
        n = GLASS_INDEX
        rs = ((ci - n * ct) / (ci + n * ct)) ** 2
        rp = ((ct - n * ci) / (ct + n * ci)) ** 2
        r = 0.5 * (rs + rp)
        return r, r * (1.0 - r) ** 2


def sample_params(
    rng: np.random.Generator,
    *,
    reflections: bool = True,
    motion_px: float | None = None,
    glass_mm: float = 5.0,
    drops: bool = True,
    streaks: bool = False,
    accumulation: bool = False,
) -> DegradationParams:
    """Draw one degraded shot's parameters with the variety of the RDRF dataset (sec. 3.2, Fig. 3).

    Drops range from sparse to dense and small to large; a third of the shots have flow traces;
    reflections range from weak to strong as the glass is rotated; the camera moves a few px to tens
    of px between shots (remote trigger on a tripod) unless `motion_px` fixes it. Streak and
    accumulation parameters are drawn after all others and only when asked for, so a seed gives the
    same drops-and-reflection shots it always gave.
    """
    density = rng.choice(["sparse", "medium", "dense"], p=[0.3, 0.45, 0.25])
    count = {"sparse": rng.integers(30, 150), "medium": rng.integers(150, 600), "dense": rng.integers(600, 2200)}[density]
    r_max = float(rng.uniform(40, 120)) if density != "dense" else float(rng.uniform(30, 75))
    r_min = float(rng.uniform(4, 10))
    shape = rng.dirichlet([3.0, 2.5, 2.0])
    angle = float(rng.uniform(5, 45))
    params = DegradationParams(
        drop_count=int(count),
        drop_radius_px=(r_min, r_max),
        drop_shape_mix=(float(shape[0]), float(shape[1]), float(shape[2])),
        flow_traces=int(rng.integers(2, 14)) if rng.random() < 0.35 else 0,
        drop_blur_px=float(rng.uniform(3, min(22.0, 0.45 * r_max))),  # drops stay legible blobs, as in RDRF Fig. 3
        drop_view_frac=float(rng.uniform(0.35, 0.9)),
        drop_rim_dark=float(rng.uniform(0.4, 0.8)),
        drop_highlight=float(rng.uniform(0.2, 0.6)),
        reflection=reflections,
        reflection_strength=float(np.exp(rng.uniform(np.log(0.04), np.log(0.45)))),
        reflection_blur_px=float(rng.uniform(2, 16)),
        reflection_distance_m=float(rng.uniform(0.6, 4.0)),
        reflection_shift_px=(float(rng.uniform(-600, 600)), float(rng.uniform(-400, 400))),
        glass_mm=glass_mm,
        glass_angle_deg=angle,
        ghost_dir_deg=float(rng.choice([0.0, 180.0]) + rng.normal(0, 12)),
        transmission=float(np.clip(0.93 - 0.006 * glass_mm - rng.uniform(0, 0.04), 0.7, 1.0)),
        glass_tint=(float(rng.uniform(0.97, 0.995)), 1.0, float(rng.uniform(0.98, 1.0))),
        motion_px=float(motion_px) if motion_px is not None else float(np.exp(rng.uniform(np.log(1.5), np.log(40)))),
        exposure_ev=float(rng.normal(0, 0.08)),
        wb_gains=(float(rng.normal(1, 0.02)), 1.0, float(rng.normal(1, 0.02))),
        noise_shot=float(np.exp(rng.uniform(np.log(5e-5), np.log(8e-4)))),  # ISO 100 .. 1600
        noise_read=float(rng.uniform(0.0005, 0.002)),
        jpeg_quality=int(rng.integers(85, 98)),
        focal_px=float(rng.uniform(3000, 9000)),
    )
    extra: dict = {"drops": drops}
    if streaks:  # light drizzle .. downpour, calm .. windy
        extra.update(streaks=True, streak_count=int(np.exp(rng.uniform(np.log(5000), np.log(60000)))),
                     streak_angle_deg=float(rng.normal(0, 12)), streak_strength=float(rng.uniform(0.35, 0.8)),
                     streak_length_px=(float(rng.uniform(25, 60)), float(rng.uniform(150, 400))),
                     streak_brightness=float(rng.uniform(0.6, 0.95)))
    if accumulation:  # thin mist .. heavy veil
        extra.update(accumulation=True, accumulation_density=float(rng.uniform(0.3, 2.0)),
                     accumulation_airlight=float(rng.uniform(0.55, 0.9)))
    return params.model_copy(update=extra)
