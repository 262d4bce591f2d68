"""Water on the glass: drops as small lenses, out of focus, over the background the camera focuses on.

Each drop is a height field (a spherical cap, stretched to an ellipse or an irregular outline). Its
surface normal decides where a ray through it lands: a drop is a short-focal-length lens, so it
shows a flipped, minified view of a wide area behind it, and its steep rims bend light away
(dark rims) or mirror the sky (highlights). The whole water layer sits on the glass, a few cm from
the lens, so the camera sees it through a large defocus disk, composited over the sharp background.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from hardware.sim.camera import Aperture, defocus
from hardware.sim.params import REFERENCE_WIDTH, DegradationParams

WORK_WIDTH = 1600  # the water layer is defocused: it is built at most this wide and upsampled


@dataclass
class DropLayer:
    """The water layer in the frame it was rendered for (full resolution)."""

    alpha: np.ndarray  # float32 HxW: opacity of the defocused water layer
    color: np.ndarray  # float32 HxWx3: premultiplied linear colour of the layer
    drops: np.ndarray  # float32 Nx3: centre x, centre y, mean radius of each drop (full-res px)
    halves: dict = field(default_factory=dict)  # dual pixel: "left"/"right" -> (alpha, color) through that half of the aperture


def _stamp(h: np.ndarray, cx: float, cy: float, rx: float, ry: float, theta: float, harmonics: np.ndarray, hk: float) -> None:
    """Raise `h` to a cap of outline radius r(phi) = (rx, ry) * (1 + sum a_k cos(k phi + p_k))."""
    rmax = max(rx, ry) * (1.0 + float(np.abs(harmonics[:, 0]).sum())) + 1.5
    x0, x1 = int(max(0, np.floor(cx - rmax))), int(min(h.shape[1], np.ceil(cx + rmax) + 1))
    y0, y1 = int(max(0, np.floor(cy - rmax))), int(min(h.shape[0], np.ceil(cy + rmax) + 1))
    if x0 >= x1 or y0 >= y1:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    dx, dy = xx - cx, yy - cy
    c, s = np.cos(theta), np.sin(theta)
    u, v = dx * c + dy * s, -dx * s + dy * c
    rho = np.sqrt((u / rx) ** 2 + (v / ry) ** 2)
    if len(harmonics):
        phi = np.arctan2(dy, dx)
        outline = np.ones_like(phi)
        for k, (amp, phase) in enumerate(harmonics, start=1):
            outline += amp * np.cos(k * phi + phase)
        rho /= np.maximum(outline, 0.3)
    cap = hk * min(rx, ry) * np.sqrt(np.clip(1.0 - rho * rho, 0.0, None))
    np.maximum(h[y0:y1, x0:x1], cap, out=h[y0:y1, x0:x1])


def _drop_shape(rng: np.random.Generator, r: float, mix: tuple[float, float, float]) -> tuple[float, float, float, np.ndarray]:
    kind = rng.choice(3, p=np.asarray(mix) / np.sum(mix))
    harmonics = np.zeros((0, 2))
    if kind == 0:  # circular (small drops are held round by surface tension)
        rx = ry = r
        theta = 0.0
    elif kind == 1:  # elliptical, mostly stretched along gravity
        aspect = rng.uniform(0.55, 0.9)
        rx, ry = r * np.sqrt(aspect), r / np.sqrt(aspect)
        theta = rng.normal(0, 0.35) if rng.random() < 0.7 else rng.uniform(0, np.pi)
    else:  # irregular: merged or pinned drops
        rx = ry = r
        theta = 0.0
        k = rng.integers(3, 6)
        harmonics = np.stack([rng.uniform(0.02, 0.12, k) / np.arange(1, k + 1) ** 0.7, rng.uniform(0, 2 * np.pi, k)], 1)
    if r > 6:  # heavy drops sag: a bulge towards the bottom (phi = +pi/2 is down in image coords)
        sag = np.array([[min(0.12, 0.004 * r), -np.pi / 2]])
        harmonics = sag if len(harmonics) == 0 else np.vstack([harmonics[:1] + sag, harmonics[1:]])
    return float(rx), float(ry), float(theta), harmonics


def _flow_trace(h: np.ndarray, rng: np.random.Generator, r_head: float, drops: list) -> None:
    """A drop that ran down the glass: a clean wet track with beads left behind, the drop at its foot."""
    height, width = h.shape
    length = rng.uniform(0.15, 0.55) * height
    x0, y0 = rng.uniform(0, width), rng.uniform(-0.1, 0.55) * height
    n = max(8, int(length / 2))
    t = np.linspace(0, 1, n)
    wander = np.cumsum(rng.normal(0, 1, n)) * rng.uniform(0.2, 0.8)
    wander = cv2.GaussianBlur(wander.reshape(1, -1).astype(np.float32), (0, 0), 4).ravel()
    xs = x0 + wander + rng.normal(0, 0.15) * length * t
    ys = y0 + length * t
    half = r_head * (0.15 + 0.35 * t)  # the track widens towards the drop that made it
    track = np.zeros_like(h, dtype=np.uint8)
    for i in range(n - 1):
        cv2.line(track, (int(xs[i]), int(ys[i])), (int(xs[i + 1]), int(ys[i + 1])), 255, max(1, int(2 * half[i])), cv2.LINE_AA)
    corridor = cv2.dilate(track, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    h[corridor > 0] = 0  # the running drop swept up the drops on its way
    dist = cv2.distanceTransform((track > 127).astype(np.uint8), cv2.DIST_L2, 3)
    film = cv2.GaussianBlur(dist * np.float32(0.35), (0, 0), max(1.0, 0.4 * float(half.mean())))
    np.maximum(h, film, out=h)
    for i in range(2, n - 4, max(3, int(rng.uniform(6, 16)))):  # a few beads left behind
        if rng.random() < 0.3:
            rb = half[i] * rng.uniform(0.7, 1.3)
            _stamp(h, xs[i] + rng.normal(0, 0.3 * half[i]), ys[i], rb, rb * rng.uniform(1.0, 1.4), 0.0, np.zeros((0, 2)), 0.6)
            drops.append((xs[i], ys[i], rb))
    head = r_head * rng.uniform(0.9, 1.3)
    _stamp(h, xs[-1], ys[-1] + 0.3 * head, head * 0.85, head * 1.25, 0.0, np.array([[0.08, -np.pi / 2]]), 0.75)
    drops.append((xs[-1], ys[-1] + 0.3 * head, head))


def drop_heights(width: int, height: int, params: DegradationParams, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Height field of the water on the glass (px units of this size) and the drop list (x, y, r)."""
    px = width / REFERENCE_WIDTH
    h = np.zeros((height, width), np.float32)
    r_min, r_max = (max(0.6, r * px) for r in params.drop_radius_px)
    r_max = max(r_max, r_min)
    count = int(round(params.drop_count * (height / width) / (2 / 3)))  # drop_count is per 3:2 frame
    # Sizes: many small, few large (a truncated power law).
    u = rng.random(count)
    radii = r_min * (r_max / r_min) ** (u**1.6)
    order = np.argsort(-radii)  # big ones first: small ones may sit on them and merge
    xs, ys = rng.uniform(0, width, count), rng.uniform(0, height, count)
    drops: list[tuple[float, float, float]] = []
    for i in order:
        rx, ry, theta, harmonics = _drop_shape(rng, radii[i], params.drop_shape_mix)
        _stamp(h, xs[i], ys[i], rx, ry, theta, harmonics, rng.uniform(0.45, 0.85))
        drops.append((xs[i], ys[i], radii[i]))
    for _ in range(params.flow_traces):
        _flow_trace(h, rng, max(2.0, rng.uniform(0.35, 0.8) * r_max), drops)
    return h, np.asarray(drops, np.float32).reshape(-1, 3)


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0, 1)
    return t * t * (3 - 2 * t)


def render_drops(behind: np.ndarray, params: DegradationParams, rng: np.random.Generator, dual_pixel: bool = False) -> DropLayer:
    """The defocused water layer over `behind` (linear float32 HxWx3, what the glass transmits).

    With `dual_pixel`, also the layer as each half of the aperture sees it (`DropLayer.halves`): the
    same sharp water defocused by a half disk, so each drop moves sideways by ~0.42 of its blur
    radius in each view; the draws from `rng` are the same either way."""
    height, width = behind.shape[:2]
    factor = max(1.0, width / WORK_WIDTH)
    ww, wh = int(round(width / factor)), int(round(height / factor))
    small = cv2.resize(behind, (ww, wh), interpolation=cv2.INTER_AREA) if factor > 1 else behind
    h, drops = drop_heights(ww, wh, params, rng)

    gx = cv2.Sobel(h, cv2.CV_32F, 1, 0, ksize=3, scale=1 / 8)
    gy = cv2.Sobel(h, cv2.CV_32F, 0, 1, ksize=3, scale=1 / 8)
    # Refraction: a ray through the cap lands at p + K grad(h), i.e. c + (p - c)(1 - K/h) near the
    # centre: flipped and minified, every drop showing about K px around itself, whatever its size.
    k = np.float32(params.drop_view_frac * ww * 0.5)
    limit = np.float32(1.2 * ww)
    mx = np.clip(gx * k, -limit, limit)
    my = np.clip(gy * k, -limit, limit)
    grid_x, grid_y = np.meshgrid(np.arange(ww, dtype=np.float32), np.arange(wh, dtype=np.float32))
    lensed = cv2.GaussianBlur(small, (0, 0), 1.2)  # a drop is a poor lens
    view = cv2.remap(lensed, grid_x + mx, grid_y + my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)

    slope = np.sqrt(gx * gx + gy * gy)
    shade = 1.0 - params.drop_rim_dark * _smoothstep(0.45, 1.6, slope)
    view *= (0.92 * shade)[..., None]  # surface losses, total internal reflection at the rims
    # Specular highlight of the bright sky above: where the normal bisects view and light.
    norm = 1.0 / np.sqrt(1.0 + slope * slope)
    light = np.array([-0.3, -0.75, 0.6], np.float32)
    half = light + np.array([0, 0, 1], np.float32)
    half /= np.linalg.norm(half)
    ndoth = np.clip((-gx * half[0] - gy * half[1] + half[2]) * norm, 0, 1)
    sky = np.float32(np.percentile(small[: max(1, wh // 4)], 90)) if wh >= 4 else np.float32(1)
    spec = params.drop_highlight * (ndoth**30) * (1.5 * sky + 0.3)
    view += spec[..., None]

    water = (h > 0.05).astype(np.float32)
    radius = params.drop_blur_px * (width / REFERENCE_WIDTH) / factor
    sharp = view * water[..., None]

    def seen(half: Aperture) -> tuple[np.ndarray, np.ndarray]:
        alpha = defocus(water, radius, half)
        color = defocus(sharp, radius, half)
        if factor > 1:
            alpha = cv2.resize(alpha, (width, height), interpolation=cv2.INTER_LINEAR)
            color = cv2.resize(color, (width, height), interpolation=cv2.INTER_LINEAR)
        return np.clip(alpha, 0, 1), color

    alpha, color = seen("full")
    halves = {half: seen(half) for half in ("left", "right")} if dual_pixel else {}
    if factor > 1:
        drops = drops * np.float32(factor)
    return DropLayer(alpha=alpha, color=color, drops=drops, halves=halves)
