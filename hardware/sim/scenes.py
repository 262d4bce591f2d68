"""Photo-like background scenes for the paper's eight categories, deterministic from a seed.

The scenes are painted at the requested resolution (no upsampling), with textures down to a few
pixels - brick joints, window frames, lettering, grain - so feature matching has the structure it
has on real 4752x3168 photographs. They imitate the RDRF scenes: city facades, streets, plazas,
building parts, shop fronts, signs, infrastructure, seen from a tripod a few metres to a few
hundred metres away, in daylight.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from schemas.errors import RdrfError
from schemas.imageio import decode, to_uint8
from schemas.records import CATEGORIES

WORDS = (
    "EXIT", "PARKING", "MAIN ST", "NO ENTRY", "CAFE", "PHARMACY", "BUS STOP", "HOTEL", "BAKERY", "OPEN",
    "KEEP CLEAR", "STOP", "ONE WAY", "POLICE", "TAXI", "SALE", "BOOKS", "DANGER", "HIGH VOLTAGE", "GATE 3",
    "LOADING BAY", "NO PARKING", "FIRE EXIT", "PLATFORM 2", "CITY HALL", "MARKET", "PIZZA", "BANK", "METRO", "WC",
    "ELM AVENUE", "HARBOUR RD", "SLOW", "SCHOOL", "DELIVERIES", "LIBRARY", "GARAGE", "TICKETS", "INFO", "NO SMOKING",
)

FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_COMPLEX)


# ----------------------------------------------------------------------------------------------- textures


def fractal_noise(rng: np.random.Generator, width: int, height: int, scale: float, octaves: int = 4) -> np.ndarray:
    """Value noise in about [-1, 1]: features of `scale` px and finer octaves.

    The octaves are summed on a grid a third as fine as the finest octave, then upsampled once:
    a 15 MP frame costs one full-size resize, not one per octave.
    """
    scales = []
    for _ in range(octaves):
        scales.append(scale)
        scale /= 2.1
        if scale < 1.5:
            break
    f = max(1.0, scales[-1] / 3.0)
    ww, wh = max(2, int(round(width / f))), max(2, int(round(height / f)))
    out = np.zeros((wh, ww), np.float32)
    amp, total = 1.0, 0.0
    for sc in scales:
        gw, gh = max(2, int(width / sc) + 2), max(2, int(height / sc) + 2)
        grid = rng.random((gh, gw), dtype=np.float32) * 2 - 1
        out += amp * cv2.resize(grid, (ww, wh), interpolation=cv2.INTER_CUBIC)
        total += amp
        amp *= 0.55
    out /= np.float32(total)
    return cv2.resize(out, (width, height), interpolation=cv2.INTER_CUBIC) if (ww, wh) != (width, height) else out


def _jitter(color, rng: np.random.Generator, amount: float) -> np.ndarray:
    """A colour varied mostly in brightness, a little in hue (real materials are not confetti)."""
    c = np.asarray(color, np.float32) * (1 + rng.normal(0, amount)) * (1 + rng.normal(0, amount * 0.25, 3))
    return np.clip(c, 0, 1).astype(np.float32)


def _solid(width: int, height: int, color) -> np.ndarray:
    return np.broadcast_to(np.asarray(color, np.float32), (height, width, 3)).copy()


def _cells(rng: np.random.Generator, width: int, height: int, cw: int, ch: int, base, amount: float, joint: int, stagger: bool):
    """Bricks or tiles: each cell its own shade of `base`, painted one course at a time; returns (image, joints)."""
    n_rows, n_cols = height // ch + 1, width // cw + 2
    colors = np.asarray(base, np.float32) * (
        (1 + rng.normal(0, amount, (n_rows, n_cols, 1))) * (1 + rng.normal(0, amount * 0.3, (n_rows, n_cols, 3)))
    ).astype(np.float32)
    img = np.empty((height, width, 3), np.float32)
    joints = np.zeros((height, width), bool)
    x = np.arange(width)
    for r in range(n_rows):
        y0, y1 = r * ch, min(height, (r + 1) * ch)
        xs = x + ((r % 2) * (cw // 2) if stagger else 0)
        img[y0:y1] = colors[r, xs // cw][None]
        joints[y0:y1] = ((xs % cw) < joint)[None]
        joints[y0 : min(y1, y0 + joint)] = True
    return img, joints


def wall_texture(rng: np.random.Generator, width: int, height: int, kind: str, base, unit: float) -> np.ndarray:
    """A wall material at `unit` px per cm-ish: brick, concrete panels, plaster, tiles, corrugated metal, wood."""
    base = np.asarray(base, np.float32)
    joint = max(1, int(round(1.2 * unit)))
    if kind == "brick":
        img, joints = _cells(rng, width, height, max(6, int(22 * unit)), max(3, int(7.5 * unit)), base, 0.12, joint, True)
        img[joints] = np.clip(base * 0.6 + 0.35, 0, 1)
    elif kind == "tiles":
        t = max(4, int(rng.uniform(15, 40) * unit))
        img, joints = _cells(rng, width, height, t, t, base, 0.05, joint, False)
        img[joints] *= 0.7
    else:
        img = _solid(width, height, base)
    if kind == "concrete":
        step = max(20, int(rng.uniform(120, 260) * unit))
        for x in range(0, width, step):
            cv2.line(img, (x, 0), (x, height), tuple(float(v) * 0.7 for v in base), joint)
        for y in range(0, height, int(step * rng.uniform(0.5, 1.0))):
            cv2.line(img, (0, y), (width, y), tuple(float(v) * 0.72 for v in base), joint)
        for x in range(step // 4, width, step // 2):  # formwork tie holes
            for y in range(step // 4, height, step // 2):
                cv2.circle(img, (x, y), max(1, int(1.6 * unit)), tuple(float(v) * 0.55 for v in base), -1, cv2.LINE_AA)
    elif kind == "metal":
        period = max(4, int(rng.uniform(10, 18) * unit))
        x = np.arange(width, dtype=np.float32)
        img *= (0.8 + 0.25 * np.sin(2 * np.pi * x / period))[None, :, None]
    elif kind == "wood":
        plank = max(4, int(rng.uniform(10, 20) * unit))
        for y in range(0, height, plank):
            img[y : y + plank] *= _jitter((1, 1, 1), rng, 0.08)
            img[y : y + max(1, int(unit))] *= 0.6
        grain = fractal_noise(rng, max(2, width // 8), height, 30 * unit / 8, 3)
        img *= (1 + 0.12 * cv2.resize(grain, (width, height)))[..., None]
    # weathering (stains, streaks of runoff) and the fine grain of the material, in one pass
    stains = fractal_noise(rng, width, height, 90 * unit, 3)
    grain = fractal_noise(rng, width, height, 3 * unit + 2, 2)
    img *= (1 + 0.10 * stains + 0.07 * grain)[..., None]
    return img


def sky(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Daylight sky: a gradient from a deeper zenith to a pale horizon, with soft clouds or overcast."""
    t = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    if rng.random() < 0.45:  # overcast, the usual rainy-day sky
        top, bottom = _jitter((0.72, 0.75, 0.78), rng, 0.05), _jitter((0.86, 0.87, 0.88), rng, 0.03)
        cloud_amp = 0.06
    else:
        top, bottom = _jitter((0.35, 0.55, 0.85), rng, 0.08), _jitter((0.78, 0.85, 0.93), rng, 0.04)
        cloud_amp = 0.35
    img = np.broadcast_to(top * (1 - t) + bottom * t, (height, width, 3)).copy()
    clouds = np.clip(fractal_noise(rng, width, height, width / 3, 6) * 1.6 + rng.uniform(-0.4, 0.2), 0, 1)
    img += (cloud_amp * clouds)[..., None] * (np.float32(1.0) - img)
    return img.astype(np.float32)


# ------------------------------------------------------------------------------------------- composition


class Painter:
    """A float RGB canvas with the operations scenes are built from."""

    def __init__(self, rng: np.random.Generator, width: int, height: int):
        self.rng, self.w, self.h = rng, width, height
        self.u = width / 1000.0  # one "unit": a thousandth of the frame width
        self.img = np.zeros((height, width, 3), np.float32)

    def paste(self, texture: np.ndarray, quad, mask: np.ndarray | None = None) -> None:
        """Map a texture onto a quadrilateral (perspective), touching only its bounding box."""
        quad = np.asarray(quad, np.float32)
        x0, y0 = np.floor(quad.min(0)).astype(int)
        x1, y1 = np.ceil(quad.max(0)).astype(int)
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, self.w), min(y1, self.h)
        if x1 <= x0 or y1 <= y0:
            return
        th, tw = texture.shape[:2]
        src = np.array([[0, 0], [tw, 0], [tw, th], [0, th]], np.float32)
        m = cv2.getPerspectiveTransform(src, quad - np.array([x0, y0], np.float32))
        size = (x1 - x0, y1 - y0)
        warped = cv2.warpPerspective(texture, m, size, flags=cv2.INTER_AREA if tw > size[0] else cv2.INTER_LINEAR)
        if mask is None:
            mask = np.ones((th, tw), np.float32)
        alpha = cv2.warpPerspective(mask.astype(np.float32), m, size, flags=cv2.INTER_LINEAR)[..., None]
        region = self.img[y0:y1, x0:x1]
        region *= 1 - alpha
        region += warped * alpha

    def poly(self, pts, color) -> None:
        cv2.fillPoly(self.img, [np.asarray(pts, np.int32)], tuple(float(c) for c in color), cv2.LINE_AA)

    def darken(self, pts, amount: float, blur: float) -> None:
        """A soft shadow over a polygon (computed in its padded bounding box only)."""
        pts = np.asarray(pts, np.float32)
        pad = int(3 * blur) + 2
        x0, y0 = (np.floor(pts.min(0)).astype(int) - pad).clip(0)
        x1, y1 = np.ceil(pts.max(0)).astype(int) + pad
        x1, y1 = min(x1, self.w), min(y1, self.h)
        if x1 <= x0 or y1 <= y0:
            return
        m = np.zeros((y1 - y0, x1 - x0), np.float32)
        cv2.fillPoly(m, [np.round(pts - np.array([x0, y0], np.float32)).astype(np.int32)], 1.0, cv2.LINE_AA)
        if blur > 0.5:
            m = cv2.GaussianBlur(m, (0, 0), blur)
        self.img[y0:y1, x0:x1] *= (1 - amount * m)[..., None]


def facade_texture(rng: np.random.Generator, width: int, height: int, unit: float, *, shop: bool = False) -> np.ndarray:
    """A building face: wall material, floors of windows with frames, sills and reflections, a ground floor."""
    kind = rng.choice(["brick", "concrete", "plaster", "tiles", "metal"], p=[0.35, 0.25, 0.25, 0.1, 0.05])
    base = {
        "brick": _jitter((0.55, 0.3, 0.22), rng, 0.15),
        "concrete": _jitter((0.6, 0.6, 0.58), rng, 0.1),
        "plaster": _jitter(rng.choice([(0.85, 0.8, 0.68), (0.78, 0.72, 0.62), (0.7, 0.75, 0.78), (0.88, 0.86, 0.82)]), rng, 0.06),
        "tiles": _jitter((0.75, 0.75, 0.72), rng, 0.1),
        "metal": _jitter((0.55, 0.58, 0.6), rng, 0.1),
    }[kind]
    img = wall_texture(rng, width, height, kind, base, unit)
    floor_h = max(12, int(rng.uniform(310, 370) * unit))
    cols = int(rng.integers(3, 9))
    col_w = width / cols
    win_w = col_w * rng.uniform(0.4, 0.7)
    win_h = floor_h * rng.uniform(0.45, 0.65)
    glass_top, glass_bottom = _jitter((0.45, 0.55, 0.65), rng, 0.15), _jitter((0.18, 0.2, 0.24), rng, 0.2)
    frame = _jitter(rng.choice([(0.92, 0.92, 0.9), (0.25, 0.25, 0.27), (0.45, 0.32, 0.2)]), rng, 0.05)
    ground = int(height - floor_h * rng.uniform(1.0, 1.3))
    t = max(1, int(4 * unit))
    balconies = rng.random() < 0.3
    rail = _jitter(rng.choice([(0.2, 0.2, 0.22), (0.85, 0.85, 0.85), (0.4, 0.42, 0.45)]), rng, 0.05)
    for fy in range(int(floor_h * 0.25), ground - int(win_h * 0.8), floor_h):
        # a ledge between floors, with the shadow it casts
        cv2.rectangle(img, (0, fy - 2 * t), (width, fy), tuple(float(v) for v in np.clip(np.asarray(base) * 1.15, 0, 1)), -1)
        img[fy : fy + 3 * t] *= 0.8
        for c in range(cols):
            x0 = int(c * col_w + (col_w - win_w) / 2)
            y0 = int(fy + floor_h * 0.22)
            x1, y1 = int(x0 + win_w), int(y0 + win_h)
            g = np.linspace(0, 1, max(1, y1 - y0), dtype=np.float32)[:, None, None]
            pane = glass_top * (1 - g) + glass_bottom * g
            pane = pane * (1 + 0.15 * rng.normal(0, 1)) + 0.08 * fractal_noise(rng, x1 - x0, y1 - y0, 25 * unit, 2)[..., None]
            if rng.random() < 0.3:  # blinds or curtains
                pane = pane * 0.5 + 0.5 * _jitter((0.85, 0.82, 0.75), rng, 0.08)
                pane[:: max(2, int(3 * unit))] *= 0.85
            elif rng.random() < 0.15:  # lit interior
                pane = pane * 0.4 + 0.6 * _jitter((0.95, 0.85, 0.6), rng, 0.05)
            img[y0:y1, x0:x1] = pane
            reveal = max(1, int((y1 - y0) * 0.1))  # the recess shades the top and one side of the glass
            img[y0 : y0 + reveal, x0:x1] *= 0.6
            img[y0:y1, x0 : x0 + max(1, reveal // 2)] *= 0.7
            cv2.rectangle(img, (x0, y0), (x1, y1), tuple(float(v) for v in frame), t)
            cv2.line(img, ((x0 + x1) // 2, y0), ((x0 + x1) // 2, y1), tuple(float(v) for v in frame), max(1, t // 2 + 1))
            if rng.random() < 0.5:
                cv2.line(img, (x0, y0 + (y1 - y0) // 3), (x1, y0 + (y1 - y0) // 3), tuple(float(v) for v in frame), max(1, t // 2 + 1))
            cv2.rectangle(img, (x0 - t, y1), (x1 + t, y1 + 2 * t), (0.8, 0.8, 0.78), -1)  # sill
            img[y1 + 2 * t : y1 + 5 * t, x0:x1] *= 0.75
            if balconies and fy > floor_h:  # slab, railing bars and the shadow under the slab
                by0, by1 = y1 - int(win_h * 0.45), y1 + 3 * t
                bx0, bx1 = x0 - 6 * t, x1 + 6 * t
                img[by1 : by1 + 8 * t, max(0, bx0) : bx1] *= 0.6
                cv2.rectangle(img, (bx0, by1 - 2 * t), (bx1, by1 + 2 * t), tuple(float(v) for v in rail), -1)
                cv2.line(img, (bx0, by0), (bx1, by0), tuple(float(v) for v in rail), max(1, t))
                for bx in range(bx0, bx1 + 1, max(3, 5 * t)):
                    cv2.line(img, (bx, by0), (bx, by1), tuple(float(v) for v in rail), max(1, t // 2))
    # ground floor: entrance, or shop fronts with signs
    gy = max(0, ground)
    img[gy:] = wall_texture(rng, width, height - gy, "concrete" if rng.random() < 0.5 else "tiles", _jitter((0.5, 0.5, 0.48), rng, 0.1), unit)
    if shop or rng.random() < 0.5:
        n = int(rng.integers(1, 4))
        sw = width // n
        for i in range(n):
            x0, x1 = i * sw + 4 * t, (i + 1) * sw - 4 * t
            sign_h = int((height - gy) * 0.22)
            color = _jitter(rng.choice([(0.7, 0.1, 0.1), (0.1, 0.25, 0.5), (0.1, 0.4, 0.2), (0.15, 0.15, 0.15), (0.9, 0.75, 0.1)]), rng, 0.1)
            cv2.rectangle(img, (x0, gy + 2 * t), (x1, gy + 2 * t + sign_h), tuple(float(v) for v in color), -1)
            text_block(img, str(rng.choice(WORDS)), (x0, gy + 2 * t, x1, gy + 2 * t + sign_h), rng, light_on_dark=float(np.mean(color)) < 0.5)
            y_win = gy + 4 * t + sign_h
            g = np.linspace(0, 1, max(1, height - y_win), dtype=np.float32)[:, None, None]
            img[y_win:, x0:x1] = (0.35 * (1 - g) + 0.15 * g) * _jitter((1, 1.05, 1.1), rng, 0.05)
            for k in range(1, 4):
                xx = x0 + (x1 - x0) * k // 4
                cv2.line(img, (xx, y_win), (xx, height), (0.3, 0.3, 0.32), max(1, t))
    else:
        door_w = int(min(width * 0.25, 260 * unit))
        dx = int(rng.uniform(0.1, 0.9) * (width - door_w))
        cv2.rectangle(img, (dx, gy + (height - gy) // 6), (dx + door_w, height), tuple(float(v) for v in _jitter((0.3, 0.2, 0.12), rng, 0.2)), -1)
        cv2.rectangle(img, (dx, gy + (height - gy) // 6), (dx + door_w, height), (0.15, 0.15, 0.15), t)
        cv2.line(img, (dx + door_w // 2, gy + (height - gy) // 6), (dx + door_w // 2, height), (0.12, 0.12, 0.12), t)
    return np.clip(img, 0, 1)


def text_block(img: np.ndarray, text: str, box, rng: np.random.Generator, *, light_on_dark: bool = True) -> None:
    """Legible lettering filling a box (cv2 Hershey fonts)."""
    x0, y0, x1, y1 = (int(v) for v in box)
    bw, bh = x1 - x0, y1 - y0
    if bw < 8 or bh < 6:
        return
    font = FONTS[int(rng.integers(len(FONTS)))]
    (tw, th), base = cv2.getTextSize(text, font, 1.0, 2)
    scale = min(0.85 * bw / tw, 0.6 * bh / th)
    thick = max(1, int(scale * 2.2))
    (tw, th), base = cv2.getTextSize(text, font, scale, thick)
    # OpenCV 5 draws text on 8-bit images only: draw a coverage mask of the box and blend.
    ih, iw = img.shape[:2]
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, iw), min(y1, ih)
    if cx1 <= cx0 or cy1 <= cy0:
        return
    cover = np.zeros((cy1 - cy0, cx1 - cx0), np.uint8)
    org = (x0 - cx0 + (bw - tw) // 2, y0 - cy0 + (bh + th) // 2)
    cv2.putText(cover, text, org, font, scale, 255, thick, cv2.LINE_AA)
    color = np.array((0.96, 0.96, 0.94) if light_on_dark else (0.08, 0.08, 0.1), np.float32)
    a = (cover.astype(np.float32) / 255.0)[..., None]
    region = img[cy0:cy1, cx0:cx1]
    region *= 1 - a
    region += a * color


def perspective_quad(x0: float, x1: float, top0: float, bot0: float, top1: float, bot1: float) -> np.ndarray:
    """A wall seen at an angle: left edge x0 spans top0..bot0, right edge x1 spans top1..bot1."""
    return np.array([[x0, top0], [x1, top1], [x1, bot1], [x0, bot0]], np.float32)


def _building(p: Painter, x0: float, x1: float, top0: float, top1: float, bot0: float, bot1: float, *, shop: bool = False) -> None:
    """A facade on the quad (x0, top0..bot0) - (x1, top1..bot1), textured at about its on-screen size."""
    screen_h = max(bot0 - top0, bot1 - top1)
    receding = abs((bot0 - top0) - (bot1 - top1)) > 0.2 * screen_h
    tex_h = int(np.clip(screen_h, 64, p.h))
    tex_w = abs(x1 - x0) * tex_h / max(screen_h, 1)
    if receding:  # a side wall is longer than it looks
        tex_w = max(tex_w, tex_h * p.rng.uniform(1.2, 2.5))
    tex_w = int(np.clip(tex_w, 64, 1.2 * p.w))
    floors = int(p.rng.integers(3, 9))
    tex = facade_texture(p.rng, tex_w, tex_h, tex_h / (floors * 340 + 300), shop=shop)
    p.paste(tex, perspective_quad(x0, x1, top0, bot0, top1, bot1))


def _ground(p: Painter, horizon: float, kind: str, vx: float | None = None) -> None:
    """A ground plane below the horizon, seen from eye height: each pixel looks up its point on the
    ground in a mirrored-repeat material tile; far rows read a blurred tile (no moire) and fade into haze."""
    base = {"asphalt": (0.28, 0.28, 0.3), "pavement": (0.55, 0.53, 0.5), "grass": (0.25, 0.38, 0.15)}[kind]
    size = int(min(2048, max(64, p.w // 2)))
    tile = wall_texture(p.rng, size, size, "tiles" if kind == "pavement" else "plaster", _jitter(base, p.rng, 0.08), size / 600)
    if kind == "grass":
        tile *= (1 + 0.35 * fractal_noise(p.rng, size, size, size / 300 + 1, 2))[..., None]
    elif kind == "pavement":
        grit = (p.rng.random((size, size), dtype=np.float32) < 0.01) * p.rng.uniform(-0.3, 0.3, (size, size)).astype(np.float32)
        tile *= (1 + cv2.GaussianBlur(grit, (0, 0), max(0.6, size / 1500)))[..., None]
    elif kind == "asphalt":
        tile *= (1 + 0.12 * fractal_noise(p.rng, size, size, size / 400 + 1, 2))[..., None]
        # gravel in the binder, tar-sealed cracks and patches: what feature matchers lock on to in a road
        grit = (p.rng.random((size, size), dtype=np.float32) < 0.12) * p.rng.uniform(-0.6, 0.9, (size, size)).astype(np.float32)
        tile *= (1 + cv2.GaussianBlur(grit, (0, 0), max(0.7, size / 2000)))[..., None]
        for _ in range(int(p.rng.integers(0, 5))):
            steps = p.rng.normal(0, size / 60, (int(p.rng.integers(8, 20)), 2)) + p.rng.normal(0, size / 50, 2)
            pts = np.cumsum(steps, axis=0) + p.rng.uniform(0, size, 2)
            cv2.polylines(tile, [pts.astype(np.int32)], False, (0.13, 0.13, 0.14), max(1, size // 700), cv2.LINE_AA)
        for _ in range(int(p.rng.integers(0, 3))):
            x, y = p.rng.uniform(0, size, 2)
            w, h = p.rng.uniform(size / 20, size / 6, 2)
            cv2.rectangle(tile, (int(x), int(y)), (int(x + w), int(y + h)), tuple(float(v) for v in _jitter(base, p.rng, 0.15) * 0.85), -1)
    y0 = int(np.ceil(horizon + 1))
    if y0 >= p.h:
        return
    vx = p.w * p.rng.uniform(0.3, 0.7) if vx is None else vx
    f = 0.9 * p.w  # focal length, px
    eye = 1.6  # camera height, m
    per_m = size / p.rng.uniform(3.0, 6.0)  # tile pixels per metre
    ys = np.arange(y0, p.h, dtype=np.float32)
    z = f * eye / (ys - np.float32(horizon))  # distance of each row, m
    xs = np.arange(p.w, dtype=np.float32) - np.float32(vx)
    map_x = (xs[None, :] * (z / f)[:, None]) * np.float32(per_m)
    map_y = np.broadcast_to((z * np.float32(per_m))[:, None], map_x.shape).astype(np.float32)
    sharp = cv2.remap(tile, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    blurred = cv2.remap(cv2.GaussianBlur(tile, (0, 0), 4), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    texels = z / f * per_m  # tile pixels per screen pixel in each row
    w_far = np.clip((texels - 1.0) / 3.0, 0, 1)[:, None, None]
    haze = np.clip(1 - 30.0 / z, 0, 0.6)[:, None, None]
    ground = sharp * (1 - w_far) + blurred * w_far
    p.img[y0:] = ground * (1 - haze) + np.float32(0.75) * haze


def _tree(p: Painter, x: float, base_y: float, size: float) -> None:
    """A deciduous tree: trunk and limbs, a crown of many leaf clusters, each lit from above-left."""
    trunk = tuple(float(v) for v in _jitter((0.24, 0.18, 0.13), p.rng, 0.1))
    top = base_y - size * 0.55
    cv2.line(p.img, (int(x), int(base_y)), (int(x), int(top)), trunk, max(2, int(size * 0.05)), cv2.LINE_AA)
    for _ in range(4):  # limbs into the crown
        end = (x + p.rng.normal(0, size * 0.2), top - p.rng.uniform(0.05, 0.3) * size)
        cv2.line(p.img, (int(x), int(top + size * 0.1)), (int(end[0]), int(end[1])), trunk, max(1, int(size * 0.02)), cv2.LINE_AA)
    cx, cy = x, base_y - size * 0.78
    rx, ry = size * p.rng.uniform(0.3, 0.45), size * p.rng.uniform(0.25, 0.35)
    n = int(np.clip(size / 6, 20, 220))
    ang, rad = p.rng.uniform(0, 2 * np.pi, n), np.sqrt(p.rng.uniform(0, 1, n))
    bx, by = cx + rx * rad * np.cos(ang), cy + ry * rad * np.sin(ang)
    br = size * p.rng.uniform(0.05, 0.11, n)
    x0, x1 = int(max(0, (bx - br).min() - 2)), int(min(p.w, (bx + br).max() + 2))
    y0, y1 = int(max(0, (by - br).min() - 2)), int(min(p.h, (by + br).max() + 2))
    if x1 <= x0 or y1 <= y0:
        return
    cover = np.zeros((y1 - y0, x1 - x0), np.float32)
    light = np.zeros_like(cover)
    order = np.argsort(by)  # clusters lower in the crown are painted last, in front
    for i in order:
        c = (int(bx[i]) - x0, int(by[i]) - y0)
        cv2.circle(cover, c, int(br[i]), 1.0, -1, cv2.LINE_AA)
        lit = 0.55 + 0.5 * float(np.clip(((cx - bx[i]) / rx + (cy - by[i]) / ry) * 0.5 + 0.5, 0, 1))
        cv2.circle(light, c, int(br[i]), lit * 0.8, -1, cv2.LINE_AA)
        cv2.circle(light, (c[0] - int(br[i] * 0.3), c[1] - int(br[i] * 0.3)), max(1, int(br[i] * 0.55)), lit, -1, cv2.LINE_AA)
    leaf = fractal_noise(p.rng, x1 - x0, y1 - y0, max(2.0, size * 0.015), 3)
    cover *= np.clip((leaf + 0.75) * 3, 0, 1)  # gaps between leaves at the cluster edges
    color = _jitter((0.2, 0.32, 0.12), p.rng, 0.12)
    tex = color * (light * (0.8 + 0.45 * leaf))[..., None]
    region = p.img[y0:y1, x0:x1]
    region *= (1 - cover)[..., None]
    region += tex * cover[..., None]


def _pole_sign(p: Painter, x: float, base_y: float, height: float, *, big: bool = False, max_width: float | None = None) -> None:
    t = max(2, int(p.u * (6 if big else 4)))
    cv2.line(p.img, (int(x), int(base_y)), (int(x), int(base_y - height)), (0.42, 0.43, 0.45), t, cv2.LINE_AA)
    kind = p.rng.choice(["rect", "circle", "triangle"], p=[0.6, 0.25, 0.15])
    s = height * (0.35 if big else 0.22)
    cy = base_y - height + s * 0.6
    if kind == "rect":
        bw, bh = s * p.rng.uniform(1.5, 2.8), s * p.rng.uniform(0.5, 0.9)
        if max_width is not None and bw > max_width:
            bw, bh = max_width, bh * max_width / bw
        color = _jitter(p.rng.choice([(0.05, 0.35, 0.2), (0.1, 0.25, 0.6), (0.95, 0.95, 0.92), (0.9, 0.7, 0.1)]), p.rng, 0.05)
        box = (x - bw / 2, cy - bh / 2, x + bw / 2, cy + bh / 2)
        cv2.rectangle(p.img, (int(box[0]), int(box[1])), (int(box[2]), int(box[3])), tuple(float(v) for v in color), -1, cv2.LINE_AA)
        cv2.rectangle(p.img, (int(box[0]), int(box[1])), (int(box[2]), int(box[3])), (0.95, 0.95, 0.95), max(1, t // 2), cv2.LINE_AA)
        text_block(p.img, str(p.rng.choice(WORDS)), box, p.rng, light_on_dark=float(np.mean(color)) < 0.5)
    elif kind == "circle":
        r = int(s * 0.55)
        cv2.circle(p.img, (int(x), int(cy)), r, (0.8, 0.1, 0.1), -1, cv2.LINE_AA)
        cv2.circle(p.img, (int(x), int(cy)), int(r * 0.78), (0.96, 0.96, 0.96), -1, cv2.LINE_AA)
        text_block(p.img, str(p.rng.integers(10, 90)), (x - r * 0.7, cy - r * 0.6, x + r * 0.7, cy + r * 0.6), p.rng, light_on_dark=False)
    else:
        r = s * 0.65
        tri = [[x, cy - r], [x + r * 0.95, cy + r * 0.65], [x - r * 0.95, cy + r * 0.65]]
        p.poly(tri, (0.8, 0.1, 0.1))
        inner = [[x, cy - r * 0.6], [x + r * 0.6, cy + r * 0.42], [x - r * 0.6, cy + r * 0.42]]
        p.poly(inner, (0.96, 0.96, 0.96))
        text_block(p.img, "!", (x - r * 0.2, cy - r * 0.3, x + r * 0.2, cy + r * 0.4), p.rng, light_on_dark=False)


def _car(p: Painter, x: float, y: float, length: float) -> None:
    h = length * 0.32
    body = tuple(float(v) for v in _jitter(p.rng.choice([(0.7, 0.05, 0.05), (0.1, 0.1, 0.12), (0.85, 0.85, 0.85), (0.15, 0.25, 0.5), (0.5, 0.5, 0.52)]), p.rng, 0.1))
    p.darken([[x - length * 0.05, y], [x + length * 1.05, y], [x + length * 1.1, y + h * 0.15], [x - length * 0.1, y + h * 0.15]], 0.5, h * 0.05)
    cv2.rectangle(p.img, (int(x), int(y - h * 0.55)), (int(x + length), int(y - h * 0.1)), body, -1, cv2.LINE_AA)
    roof = [[x + length * 0.2, y - h * 0.55], [x + length * 0.3, y - h], [x + length * 0.72, y - h], [x + length * 0.85, y - h * 0.55]]
    p.poly(roof, body)
    win = [[x + length * 0.26, y - h * 0.58], [x + length * 0.33, y - h * 0.92], [x + length * 0.7, y - h * 0.92], [x + length * 0.8, y - h * 0.58]]
    p.poly(win, (0.2, 0.24, 0.28))
    cv2.line(p.img, (int(x + length * 0.52), int(y - h * 0.92)), (int(x + length * 0.52), int(y - h * 0.58)), body, max(1, int(length * 0.015)))
    for wx in (0.2, 0.8):
        cv2.circle(p.img, (int(x + length * wx), int(y - h * 0.1)), int(h * 0.22), (0.06, 0.06, 0.06), -1, cv2.LINE_AA)
        cv2.circle(p.img, (int(x + length * wx), int(y - h * 0.1)), int(h * 0.11), (0.6, 0.6, 0.62), -1, cv2.LINE_AA)
    plate = (x + length * 0.42, y - h * 0.4, x + length * 0.58, y - h * 0.28)
    cv2.rectangle(p.img, (int(plate[0]), int(plate[1])), (int(plate[2]), int(plate[3])), (0.95, 0.95, 0.9), -1)
    text_block(p.img, f"{p.rng.integers(10, 99)} {''.join(p.rng.choice(list('ABCDEFGHKMNPRSTXZ'), 3))}", plate, p.rng, light_on_dark=False)


# ------------------------------------------------------------------------------------------- categories


def _skyline(p: Painter, horizon: float) -> None:
    x = -p.rng.uniform(0, 80) * p.u
    while x < p.w:
        bw = p.rng.uniform(60, 220) * p.u
        bh = p.rng.uniform(80, 400) * p.u
        _building(p, x, x + bw, horizon - bh, horizon - bh, horizon, horizon)
        x += bw + p.rng.uniform(-10, 40) * p.u
    p.img[: int(horizon)] = p.img[: int(horizon)] * 0.85 + np.float32(0.15) * np.float32(0.8)  # aerial haze


def _scene_facade(p: Painter) -> None:
    p.img[:] = sky(p.rng, p.w, p.h)
    skyline = p.h * p.rng.uniform(0.1, 0.35)
    vx = p.rng.uniform(-0.5, 1.5) * p.w  # where the facade's horizontals converge
    bottom = p.h * 1.02
    top_l, top_r = skyline, skyline + (vx - p.w / 2) / p.w * p.h * 0.12
    _building(p, -0.02 * p.w, 1.02 * p.w, top_l, top_r, bottom, bottom + (top_r - top_l) * -0.3)
    if p.rng.random() < 0.5:
        _building(p, p.w * 0.7, p.w * 1.05, skyline - 0.15 * p.h, skyline - 0.2 * p.h, bottom, bottom)


def _scene_street(p: Painter) -> None:
    p.img[:] = sky(p.rng, p.w, p.h)
    horizon = p.h * p.rng.uniform(0.4, 0.55)
    vx = p.w * p.rng.uniform(0.35, 0.65)
    _skyline(p, horizon)
    _ground(p, horizon, "asphalt", vx)
    # sidewalks and the buildings along them, converging to (vx, horizon)
    for side in (-1, 1):
        near_x = vx + side * p.w * 0.75
        far_x = vx + side * p.w * 0.08
        curb_far = horizon + p.h * 0.01
        p.poly([[far_x, curb_far], [near_x + side * p.w * 0.5, p.h * 1.05], [side * 4 * p.w, p.h * 1.05], [side * 2 * p.w, curb_far]], _jitter((0.58, 0.56, 0.52), p.rng, 0.05))
        top_near, top_far = p.h * p.rng.uniform(-0.6, 0.05), horizon - p.h * p.rng.uniform(0.12, 0.3)
        x_near = near_x + side * p.w * 0.18
        _building(p, far_x + side * p.w * 0.02, x_near, top_far, top_near, curb_far, p.h * 1.3, shop=True) if side > 0 else _building(
            p, x_near, far_x + side * p.w * 0.02, top_near, top_far, p.h * 1.3, curb_far, shop=True
        )
    # lane markings
    for k in range(12):
        t0, t1 = (k / 12) ** 1.8, ((k + 0.5) / 12) ** 1.8
        y0, y1 = horizon + (p.h - horizon) * t0, horizon + (p.h - horizon) * t1
        w0, w1 = 1 + 6 * p.u * t0, 1 + 6 * p.u * t1
        p.poly([[vx - w0, y0], [vx + w0, y0], [vx + w1, y1], [vx - w1, y1]], (0.85, 0.85, 0.8))
    for _ in range(int(p.rng.integers(1, 4))):
        depth = p.rng.uniform(0.15, 0.8)
        y = horizon + (p.h - horizon) * depth
        length = 420 * p.u * depth
        _car(p, vx + p.rng.uniform(-0.6, 0.3) * p.w * depth, y, length)
    _pole_sign(p, vx + p.w * p.rng.uniform(0.2, 0.4), horizon + (p.h - horizon) * 0.5, p.h * 0.45)


def _scene_open(p: Painter) -> None:
    p.img[:] = sky(p.rng, p.w, p.h)
    horizon = p.h * p.rng.uniform(0.45, 0.65)
    _skyline(p, horizon)
    _ground(p, horizon, p.rng.choice(["pavement", "grass"]))
    for _ in range(int(p.rng.integers(2, 7))):
        depth = p.rng.uniform(0.05, 0.6)
        _tree(p, p.rng.uniform(0, p.w), horizon + (p.h - horizon) * depth, p.h * (0.15 + 0.6 * depth))
    for _ in range(int(p.rng.integers(1, 4))):  # lamp posts and benches
        depth = p.rng.uniform(0.2, 0.8)
        x, y = p.rng.uniform(0, p.w), horizon + (p.h - horizon) * depth
        cv2.line(p.img, (int(x), int(y)), (int(x), int(y - p.h * 0.5 * depth)), (0.2, 0.22, 0.2), max(2, int(5 * p.u * depth)), cv2.LINE_AA)
        cv2.ellipse(p.img, (int(x), int(y - p.h * 0.5 * depth)), (int(18 * p.u * depth) + 1, int(8 * p.u * depth) + 1), 0, 0, 360, (0.9, 0.9, 0.85), -1, cv2.LINE_AA)
        bw = 200 * p.u * depth
        for k in range(4):
            cv2.line(p.img, (int(x + 40 * p.u * depth), int(y - k * 8 * p.u * depth)), (int(x + 40 * p.u * depth + bw), int(y - k * 8 * p.u * depth)), (0.4, 0.25, 0.12), max(1, int(4 * p.u * depth)), cv2.LINE_AA)


def _scene_components(p: Painter) -> None:
    """Close-up of a building's working parts: door, vents, pipes, meter box, AC unit, railing."""
    base = _jitter((0.7, 0.66, 0.6), p.rng, 0.12)
    p.img[:] = wall_texture(p.rng, p.w, p.h, p.rng.choice(["brick", "concrete", "plaster", "tiles"]), base, p.u * 3)
    u = p.u
    # door
    dx = p.rng.uniform(0.05, 0.6) * p.w
    cv2.rectangle(p.img, (int(dx), int(p.h * 0.25)), (int(dx + 260 * u), p.h), tuple(float(v) for v in _jitter((0.35, 0.3, 0.28), p.rng, 0.3)), -1)
    for k in range(6):
        y = int(p.h * 0.3 + k * (p.h * 0.11))
        cv2.rectangle(p.img, (int(dx + 25 * u), y), (int(dx + 235 * u), y + int(p.h * 0.08)), (0.25, 0.22, 0.2), max(1, int(3 * u)))
    cv2.circle(p.img, (int(dx + 225 * u), int(p.h * 0.62)), max(2, int(9 * u)), (0.75, 0.7, 0.45), -1, cv2.LINE_AA)
    # pipes
    for _ in range(int(p.rng.integers(1, 4))):
        x = p.rng.uniform(0, p.w)
        w = max(3, int(p.rng.uniform(12, 35) * u))
        col = _jitter((0.6, 0.6, 0.62), p.rng, 0.2)
        x0 = int(x)
        g = np.cos(np.linspace(-1.3, 1.3, w, dtype=np.float32))[None, :, None]
        p.img[:, x0 : x0 + w] = (col * (0.45 + 0.6 * g))[:, : max(0, min(w, p.w - x0))]
        for y in range(int(p.rng.uniform(0, 200 * u)), p.h, int(300 * u)):
            cv2.rectangle(p.img, (x0 - 3, y), (x0 + w + 3, y + max(2, int(10 * u))), (0.35, 0.35, 0.36), -1)
    # AC unit / vent grille
    ax, ay = p.rng.uniform(0.4, 0.8) * p.w, p.rng.uniform(0.05, 0.4) * p.h
    aw, ah = 330 * u, 230 * u
    cv2.rectangle(p.img, (int(ax), int(ay)), (int(ax + aw), int(ay + ah)), (0.88, 0.88, 0.86), -1)
    cv2.circle(p.img, (int(ax + aw * 0.62), int(ay + ah / 2)), int(ah * 0.4), (0.3, 0.3, 0.3), -1, cv2.LINE_AA)
    for k in range(1, 14):
        xx = int(ax + aw * 0.62 - ah * 0.4 + k * ah * 0.8 / 14)
        cv2.line(p.img, (xx, int(ay + ah * 0.1)), (xx, int(ay + ah * 0.9)), (0.75, 0.75, 0.73), max(1, int(2 * u)))
    for k in range(8):
        yy = int(ay + ah * (0.15 + k * 0.09))
        cv2.line(p.img, (int(ax + aw * 0.05), yy), (int(ax + aw * 0.3), yy), (0.5, 0.5, 0.5), max(1, int(2 * u)))
    p.darken([[ax, ay + ah], [ax + aw, ay + ah], [ax + aw + 20 * u, ay + ah + 40 * u], [ax + 20 * u, ay + ah + 40 * u]], 0.35, 8 * u)
    # meter box with labels
    bx, by = p.rng.uniform(0.05, 0.7) * p.w, p.rng.uniform(0.5, 0.75) * p.h
    cv2.rectangle(p.img, (int(bx), int(by)), (int(bx + 200 * u), int(by + 260 * u)), (0.62, 0.64, 0.6), -1)
    cv2.rectangle(p.img, (int(bx), int(by)), (int(bx + 200 * u), int(by + 260 * u)), (0.3, 0.3, 0.3), max(1, int(3 * u)))
    cv2.rectangle(p.img, (int(bx + 30 * u), int(by + 30 * u)), (int(bx + 170 * u), int(by + 80 * u)), (0.95, 0.85, 0.1), -1)
    text_block(p.img, str(p.rng.choice(["DANGER", "HIGH VOLTAGE", "GAS", "METER 7"])), (bx + 30 * u, by + 30 * u, bx + 170 * u, by + 80 * u), p.rng, light_on_dark=False)
    # railing
    ry = p.rng.uniform(0.55, 0.85) * p.h
    cv2.line(p.img, (0, int(ry)), (p.w, int(ry)), (0.15, 0.15, 0.16), max(2, int(8 * u)), cv2.LINE_AA)
    for x in range(0, p.w, max(4, int(60 * u))):
        cv2.line(p.img, (x, int(ry)), (x, p.h), (0.18, 0.18, 0.19), max(1, int(5 * u)), cv2.LINE_AA)


def _scene_industrial(p: Painter) -> None:
    p.img[:] = sky(p.rng, p.w, p.h)
    horizon = p.h * p.rng.uniform(0.55, 0.75)
    _ground(p, horizon, "asphalt")
    x = -p.w * 0.05
    while x < p.w:
        bw = p.rng.uniform(0.3, 0.6) * p.w
        top = horizon - p.rng.uniform(0.2, 0.5) * p.h
        if p.rng.random() < 0.5:  # corrugated warehouse with roller doors
            tex = wall_texture(p.rng, int(bw), int(horizon - top), "metal", _jitter(p.rng.choice([(0.55, 0.6, 0.62), (0.7, 0.68, 0.6), (0.3, 0.45, 0.55)]), p.rng, 0.08), p.u * 2)
            door_w = int(bw * 0.3)
            d0 = int(p.rng.uniform(0.1, 0.6) * bw)
            tex[int(tex.shape[0] * 0.35) :, d0 : d0 + door_w] = 0.6
            tex[int(tex.shape[0] * 0.35) :: max(2, int(6 * p.u)), d0 : d0 + door_w] = 0.45
            cv2.rectangle(tex, (int(bw * 0.05), int(tex.shape[0] * 0.08)), (int(bw * 0.7), int(tex.shape[0] * 0.25)), (0.92, 0.92, 0.9), -1)
            text_block(tex, str(p.rng.choice(["LOADING BAY", "GATE 3", "DELIVERIES", "NO PARKING", "UNIT 12"])), (bw * 0.05, tex.shape[0] * 0.08, bw * 0.7, tex.shape[0] * 0.25), p.rng, light_on_dark=False)
            p.paste(np.clip(tex, 0, 1), [[x, top], [x + bw, top], [x + bw, horizon], [x, horizon]])
        else:
            _building(p, x, x + bw, top, top, horizon + 2, horizon + 2, shop=True)
        x += bw
    for _ in range(int(p.rng.integers(0, 3))):  # tanks and chimneys
        cx = p.rng.uniform(0, p.w)
        r = p.rng.uniform(40, 120) * p.u
        top = horizon - p.rng.uniform(0.3, 0.6) * p.h
        g = np.cos(np.linspace(-1.4, 1.4, int(2 * r), dtype=np.float32))[None, :, None]
        col = _jitter((0.75, 0.75, 0.73), p.rng, 0.05) * (0.45 + 0.6 * g)
        x0 = int(cx - r)
        x1 = min(p.w, x0 + int(2 * r))
        if x1 > max(x0, 0):
            p.img[int(top) : int(horizon), max(x0, 0) : x1] = col[:, max(0, -x0) : max(0, -x0) + x1 - max(x0, 0)]
            for yy in range(int(top), int(horizon), max(4, int(40 * p.u))):
                cv2.line(p.img, (max(x0, 0), yy), (x1, yy), (0.4, 0.4, 0.4), max(1, int(2 * p.u)))


def _scene_signs(p: Painter) -> None:
    _scene_facade(p) if p.rng.random() < 0.5 else _scene_open(p)
    p.img *= np.float32(0.9)
    n = int(p.rng.integers(1, 4))
    slots = (np.arange(n) + 0.5) / n  # side by side, as signs are put up, not stacked in front of each other
    for x in slots + p.rng.uniform(-0.15, 0.15, n) / n:
        _pole_sign(p, float(np.clip(x, 0.1, 0.9)) * p.w, p.h * p.rng.uniform(0.95, 1.1), p.h * p.rng.uniform(0.6, 0.95), big=True, max_width=0.85 * p.w / n)
    # a board of markings on the ground or wall
    if p.rng.random() < 0.6:
        y = p.h * p.rng.uniform(0.8, 0.92)
        text_block(p.img, str(p.rng.choice(["SLOW", "BUS", "STOP", "KEEP CLEAR", "SCHOOL"])), (p.w * 0.2, y, p.w * 0.8, min(p.h, y + p.h * 0.1)), p.rng)


def _scene_infrastructure(p: Painter) -> None:
    p.img[:] = sky(p.rng, p.w, p.h)
    horizon = p.h * p.rng.uniform(0.5, 0.7)
    _skyline(p, horizon)
    _ground(p, horizon, "asphalt")
    # an overpass: deck and piers
    deck_y = p.h * p.rng.uniform(0.15, 0.35)
    deck_h = p.h * 0.08
    p.paste(wall_texture(p.rng, p.w, int(deck_h) + 1, "concrete", _jitter((0.62, 0.6, 0.57), p.rng, 0.05), p.u * 2), [[0, deck_y], [p.w, deck_y], [p.w, deck_y + deck_h], [0, deck_y + deck_h]])
    p.darken([[0, deck_y + deck_h], [p.w, deck_y + deck_h], [p.w, deck_y + deck_h * 1.6], [0, deck_y + deck_h * 1.6]], 0.4, 10 * p.u)
    for x in np.linspace(p.w * 0.1, p.w * 0.9, int(p.rng.integers(2, 4))):
        pw = 90 * p.u
        p.paste(wall_texture(p.rng, int(pw), int(horizon - deck_y), "concrete", _jitter((0.58, 0.57, 0.55), p.rng, 0.05), p.u * 2), [[x, deck_y + deck_h], [x + pw, deck_y + deck_h], [x + pw, horizon + 5 * p.u], [x, horizon + 5 * p.u]])
    # barriers, bollards, cones, a fence
    by = horizon + (p.h - horizon) * p.rng.uniform(0.3, 0.6)
    bh = 90 * p.u
    stripes = np.zeros((int(bh), p.w, 3), np.float32)
    stripes[:] = (0.95, 0.95, 0.95)
    period = int(80 * p.u) + 2
    for x in range(-int(bh), p.w, period):
        cv2.fillPoly(stripes, [np.array([[x, 0], [x + period // 2, 0], [x + period // 2 + int(bh), int(bh)], [x + int(bh), int(bh)]], np.int32)], (0.85, 0.1, 0.08), cv2.LINE_AA)
    p.paste(stripes, [[p.w * 0.1, by - bh], [p.w * 0.7, by - bh], [p.w * 0.7, by], [p.w * 0.1, by]])
    for x in np.linspace(p.w * 0.05, p.w * 0.95, int(p.rng.integers(4, 9))):
        cy = by + 60 * p.u
        cv2.rectangle(p.img, (int(x - 10 * p.u), int(cy - 110 * p.u)), (int(x + 10 * p.u), int(cy)), (0.25, 0.25, 0.27), -1)
        cv2.rectangle(p.img, (int(x - 10 * p.u), int(cy - 95 * p.u)), (int(x + 10 * p.u), int(cy - 80 * p.u)), (0.9, 0.9, 0.85), -1)
    if p.rng.random() < 0.6:  # chain-link fence across the lower frame
        fence = np.zeros((p.h, p.w), np.uint8)
        step = max(6, int(28 * p.u))
        top = int(p.h * 0.55)
        for x in range(-p.h, p.w + p.h, step):
            cv2.line(fence, (x, top), (x + (p.h - top), p.h), 255, max(1, int(1.5 * p.u)), cv2.LINE_AA)
            cv2.line(fence, (x, top), (x - (p.h - top), p.h), 255, max(1, int(1.5 * p.u)), cv2.LINE_AA)
        m = (fence / 255.0).astype(np.float32)[..., None] * 0.8
        p.img = p.img * (1 - m) + m * np.float32(0.55)


def _scene_others(p: Painter) -> None:
    choice = p.rng.integers(3)
    if choice == 0:  # vegetation close by, a wall behind
        p.img[:] = wall_texture(p.rng, p.w, p.h, "brick", _jitter((0.55, 0.32, 0.24), p.rng, 0.1), p.u * 2.5)
        for _ in range(int(p.rng.integers(3, 8))):
            _tree(p, p.rng.uniform(0, p.w), p.h * p.rng.uniform(0.9, 1.2), p.h * p.rng.uniform(0.5, 1.0))
    elif choice == 1:  # parked cars in front of facades
        _scene_facade(p)
        y = p.h * p.rng.uniform(0.85, 0.98)
        x = -p.rng.uniform(0, 0.2) * p.w
        while x < p.w:
            length = p.w * p.rng.uniform(0.3, 0.45)
            _car(p, x, y, length)
            x += length * p.rng.uniform(1.05, 1.3)
    else:  # a wooden kiosk with signs in a plaza
        _scene_open(p)
        kx, kw = p.rng.uniform(0.1, 0.5) * p.w, p.w * 0.4
        ky, kh = p.h * 0.35, p.h * 0.55
        p.paste(wall_texture(p.rng, int(kw), int(kh), "wood", _jitter((0.55, 0.38, 0.22), p.rng, 0.1), p.u * 2), [[kx, ky], [kx + kw, ky], [kx + kw, ky + kh], [kx, ky + kh]])
        cv2.rectangle(p.img, (int(kx), int(ky)), (int(kx + kw), int(ky + kh * 0.18)), (0.9, 0.9, 0.85), -1)
        text_block(p.img, str(p.rng.choice(["TICKETS", "INFO", "MARKET", "CAFE"])), (kx, ky, kx + kw, ky + kh * 0.18), p.rng, light_on_dark=False)


_PAINTERS = {
    "building facades & structures": _scene_facade,
    "streets & traffic": _scene_street,
    "public & open spaces": _scene_open,
    "functional components of building": _scene_components,
    "industrial & commercial facilities": _scene_industrial,
    "signs & markers": _scene_signs,
    "infrastructure & obstacles": _scene_infrastructure,
    "others": _scene_others,
}


def _photograph(p: Painter) -> np.ndarray:
    """Daylight over the painted scene: uneven light, lens vignetting, sensor-scale grain, a touch of sharpening."""
    light = cv2.resize(p.rng.random((3, 4), dtype=np.float32), (p.w, p.h), interpolation=cv2.INTER_CUBIC)
    img = p.img * (0.85 + 0.25 * np.clip(light, 0, 1))[..., None]
    yy, xx = np.ogrid[-1 : 1 : complex(p.h), -1 : 1 : complex(p.w)]
    img *= (1 - 0.18 * (xx * xx + yy * yy).astype(np.float32))[..., None]
    img *= (1 + 0.05 * fractal_noise(p.rng, p.w, p.h, 3.0, 2))[..., None]
    soft = cv2.GaussianBlur(img, (0, 0), 0.7)
    img = cv2.addWeighted(img, 1.5, soft, -0.5, 0)  # in-camera sharpening
    return np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)


def render_scene(category: str, width: int, height: int, seed: int) -> np.ndarray:
    """A photo-like RGB uint8 scene of one of the paper's eight categories, the same for the same seed."""
    if category not in _PAINTERS:
        raise ValueError(f"unknown scene category {category!r}; expected one of {', '.join(CATEGORIES)}")
    if width < 16 or height < 16:
        raise ValueError(f"scene size {width}x{height} is too small (at least 16x16)")
    rng = np.random.default_rng(np.random.SeedSequence([seed, CATEGORIES.index(category)]))
    p = Painter(rng, width, height)
    _PAINTERS[category](p)
    return _photograph(p)


def load_background(path: Path | str, width: int, height: int) -> np.ndarray:
    """A user's photograph as a background: centre-cropped to the aspect ratio, resized, RGB uint8."""
    path = Path(path)
    try:
        image = to_uint8(decode(path.read_bytes(), str(path), order="rgb"))
    except (OSError, RdrfError) as exc:
        raise RdrfError(f"background {path} could not be read as an image (expected a JPEG, PNG or TIFF photograph)") from exc
    h, w = image.shape[:2]
    target = width / height
    if w / h > target:
        cw = int(round(h * target))
        image = image[:, (w - cw) // 2 : (w - cw) // 2 + cw]
    else:
        ch = int(round(w / target))
        image = image[(h - ch) // 2 : (h - ch) // 2 + ch]
    interp = cv2.INTER_AREA if image.shape[1] > width else cv2.INTER_CUBIC
    return np.ascontiguousarray(cv2.resize(image, (width, height), interpolation=interp))
