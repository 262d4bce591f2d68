"""Pictures for the QA report, as pure numpy/OpenCV functions (RGB uint8 in, RGB uint8 out).

`contact_sheet` follows the paper's Fig. 3: the scene's ground truth in the middle, framed in red, its
degraded shots arranged in a ring around it, each tagged with its shot number and pair status.
`difference_overlay` is what a curator needs to judge a rejected pair: the absolute difference
between GT and aligned degraded image (misalignment shows up as double edges everywhere, raindrops
only inside the mask), the raindrop mask outlined on top and the invalid warp border greyed.
"""

from __future__ import annotations

from typing import Optional, Sequence

import cv2
import numpy as np

RED = (220, 30, 30)
STATUS_COLORS = {
    "ok": (46, 160, 67),
    "rejected": (230, 140, 20),
    "failed": (160, 30, 60),
    "pending": (120, 120, 120),
}
BACKGROUND = (32, 34, 38)


def fit_into(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """Letterbox `img` into width x height (aspect kept, dark background)."""
    h, w = img.shape[:2]
    scale = min(width / w, height / h)
    nw, nh = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
    small = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    canvas = np.full((height, width, 3), BACKGROUND, np.uint8)
    y0, x0 = (height - nh) // 2, (width - nw) // 2
    canvas[y0 : y0 + nh, x0 : x0 + nw] = small
    return canvas


def _label(img: np.ndarray, text: str, color: tuple[int, int, int]) -> None:
    """A coloured tag in the bottom-left corner."""
    scale = min(0.9, max(0.35, img.shape[1] / 420))
    thick = max(1, int(round(scale * 1.5)))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    pad = max(3, int(4 * scale))
    y1 = img.shape[0] - pad
    cv2.rectangle(img, (pad, y1 - th - base - 2 * pad), (pad + tw + 2 * pad, y1), color, -1)
    cv2.putText(img, text, (2 * pad, y1 - base - pad + 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick, cv2.LINE_AA)


def ring_size(n: int, max_ring: int = 7) -> int:
    """Smallest odd grid side k whose border ring (4(k-1) cells) holds n shots; at most max_ring."""
    k = 3
    while 4 * (k - 1) < n and k < max_ring:
        k += 2
    return k


def ring_cells(k: int) -> list[tuple[int, int]]:
    """Border cells of a k x k grid, those beside the middle of each side first (left, right, top,
    bottom), corners last, so a few shots sit next to the GT and empty rows can be dropped."""
    m = (k - 1) / 2
    cells = [(r, c) for r in range(k) for c in range(k) if r in (0, k - 1) or c in (0, k - 1)]

    def priority(cell: tuple[int, int]) -> tuple[float, int]:
        r, c = cell
        if r in (0, k - 1) and c in (0, k - 1):
            return (m + 1, r * k + c)
        side = 0 if c == 0 else 1 if c == k - 1 else 2 if r == 0 else 3
        return (abs(r - m) if side < 2 else abs(c - m), side)

    return sorted(cells, key=priority)


def contact_sheet(
    gt: np.ndarray,
    shots: Sequence[tuple[np.ndarray, str, str]],
    cell_width: int = 240,
    gap: int = 6,
) -> np.ndarray:
    """GT framed in red in the middle; degraded shots (image, label, status) in a ring around it.

    Cells take the GT's aspect ratio. More shots than the largest ring holds are summarised in the
    last cell ("+N more").
    """
    h, w = gt.shape[:2]
    cell_height = max(1, int(round(cell_width * h / w)))
    k = ring_size(len(shots))
    cells = ring_cells(k)
    shown = list(shots)
    overflow = 0
    if len(shown) > len(cells):
        overflow = len(shown) - (len(cells) - 1)
        shown = shown[: len(cells) - 1]
    side_w = k * cell_width + (k + 1) * gap
    side_h = k * cell_height + (k + 1) * gap
    sheet = np.full((side_h, side_w, 3), 255, np.uint8)

    def origin(r: int, c: int) -> tuple[int, int]:
        return gap + r * (cell_height + gap), gap + c * (cell_width + gap)

    used = cells[: len(shown) + (1 if overflow else 0)]
    rows = sorted({r for r, _ in used} | set(range(1, k - 1)))
    cols = sorted({c for _, c in used} | set(range(1, k - 1)))
    for (img, label, status), (r, c) in zip(shown, cells):
        tile = fit_into(img, cell_width, cell_height)
        _label(tile, label, STATUS_COLORS.get(status, STATUS_COLORS["pending"]))
        y, x = origin(r, c)
        sheet[y : y + cell_height, x : x + cell_width] = tile
    if overflow:
        y, x = origin(*cells[len(shown)])
        tile = np.full((cell_height, cell_width, 3), BACKGROUND, np.uint8)
        cv2.putText(tile, f"+{overflow} more", (cell_width // 6, cell_height // 2), cv2.FONT_HERSHEY_SIMPLEX,
                    cell_width / 200, (255, 255, 255), 2, cv2.LINE_AA)
        sheet[y : y + cell_height, x : x + cell_width] = tile
    # GT spans the inner (k-2) x (k-2) block.
    y0, x0 = origin(1, 1)
    y1, x1 = origin(k - 1, k - 1)
    y1, x1 = y1 - gap, x1 - gap
    border = max(3, cell_width // 40)
    sheet[y0 - gap // 2 : y1 + gap // 2, x0 - gap // 2 : x1 + gap // 2] = RED
    inner = cv2.resize(gt, (x1 - x0 - 2 * border, y1 - y0 - 2 * border), interpolation=cv2.INTER_AREA)
    _label(inner, "GT", RED)
    sheet[y0 + border : y1 - border, x0 + border : x1 - border] = inner
    # Rows and columns no shot uses (few shots) are cut away; each kept cell brings its leading gap.
    ys = [np.arange(origin(r, 0)[0] - gap, origin(r, 0)[0] + cell_height) for r in rows]
    xs = [np.arange(origin(0, c)[1] - gap, origin(0, c)[1] + cell_width) for c in cols]
    keep_y = np.concatenate(ys + [np.arange(side_h - gap, side_h)])
    keep_x = np.concatenate(xs + [np.arange(side_w - gap, side_w)])
    return np.ascontiguousarray(sheet[keep_y][:, keep_x])


def frame_strip(
    gt: Optional[np.ndarray],
    shots: Sequence[tuple[np.ndarray, str, str]],
    per_row: int = 8,
    cell_width: int = 160,
    gap: int = 6,
) -> np.ndarray:
    """Shots in capture order, `per_row` to a row, for scenes whose shots are a sequence rather
    than a ring around one GT: a video scene's frames (its GT, framed in red, first) or a wild scene's
    shots (no GT at all, so no GT cell)."""
    tiles: list[tuple[np.ndarray, str, tuple[int, int, int]]] = []
    if gt is not None:
        tiles.append((gt, "GT", RED))
    tiles += [(img, label, STATUS_COLORS.get(status, STATUS_COLORS["pending"])) for img, label, status in shots]
    if not tiles:
        raise ValueError("a frame strip needs at least one image")
    ref = tiles[0][0]
    cell_height = max(1, int(round(cell_width * ref.shape[0] / ref.shape[1])))
    cols = min(per_row, len(tiles))
    rows = -(-len(tiles) // cols)
    sheet = np.full((rows * (cell_height + gap) + gap, cols * (cell_width + gap) + gap, 3), 255, np.uint8)
    for i, (img, label, color) in enumerate(tiles):
        tile = fit_into(img, cell_width, cell_height)
        _label(tile, label, color)
        y, x = gap + (i // cols) * (cell_height + gap), gap + (i % cols) * (cell_width + gap)
        if color == RED:
            sheet[y - gap // 2 : y + cell_height + gap // 2, x - gap // 2 : x + cell_width + gap // 2] = RED
        sheet[y : y + cell_height, x : x + cell_width] = tile
    return sheet


def difference_overlay(
    gt: np.ndarray,
    aligned: np.ndarray,
    mask: Optional[np.ndarray] = None,
    valid: Optional[np.ndarray] = None,
    gain: float = 4.0,
) -> np.ndarray:
    """|GT - aligned| (mean over channels, amplified, inferno colours) with the mask outlined in cyan
    and pixels outside the valid warp area greyed out. Inputs share one size."""
    diff = np.abs(gt.astype(np.int16) - aligned.astype(np.int16)).mean(axis=2)
    diff = np.clip(diff * gain, 0, 255).astype(np.uint8)
    heat = cv2.cvtColor(cv2.applyColorMap(diff, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)
    if valid is not None:
        heat[valid == 0] = (90, 90, 90)
    if mask is not None:
        contours, _ = cv2.findContours((mask > 0).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(heat, contours, -1, (0, 230, 255), max(1, gt.shape[1] // 400), cv2.LINE_AA)
    return heat


def side_by_side(panels: Sequence[tuple[np.ndarray, str]], panel_width: int = 300, gap: int = 6) -> np.ndarray:
    """Panels of one height in a row, each captioned in its corner."""
    h, w = panels[0][0].shape[:2]
    ph = max(1, int(round(panel_width * h / w)))
    row = np.full((ph + 2 * gap, len(panels) * (panel_width + gap) + gap, 3), 255, np.uint8)
    for i, (img, caption) in enumerate(panels):
        tile = fit_into(img, panel_width, ph)
        _label(tile, caption, (40, 40, 40))
        x = gap + i * (panel_width + gap)
        row[gap : gap + ph, x : x + panel_width] = tile
    return row
