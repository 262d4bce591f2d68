"""The virtual rig's optics: photo-like scenes and what wet, reflecting glass and a camera do to them.

    gt = render_scene("streets & traffic", 1188, 792, seed=7)
    params = sample_params(np.random.default_rng(7), glass_mm=5)
    shot = render_degraded(gt, params, seed=7)      # shot.image, .homography, .raindrop_mask, .reflection
    jpeg = encode_jpeg(shot.image, params.jpeg_quality)
"""

from hardware.sim.camera import encode_jpeg
from hardware.sim.params import REFERENCE_WIDTH, DegradationParams, sample_params
from hardware.sim.render import Degraded, render_degraded
from hardware.sim.scenes import CATEGORIES, load_background, render_scene

__all__ = [
    "CATEGORIES",
    "REFERENCE_WIDTH",
    "Degraded",
    "DegradationParams",
    "encode_jpeg",
    "load_background",
    "render_degraded",
    "render_scene",
    "sample_params",
]
