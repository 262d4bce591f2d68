"""The random augmentations of a training pair and the centre crop of a validation pair: pure
functions, arrays in, arrays out.

Every random transform (resize, rotation, crop, flips, 90-degree turns) is drawn once per sample and
applied to GT, LQ and mask alike (masks with nearest-neighbour interpolation), so the pair stays
aligned.
"""

from __future__ import annotations

import math
from typing import Optional

import cv2
import numpy as np

from rdrf_train.config import DataSection
from rdrf_train.export_reader import Pair


def _pad_to(img: np.ndarray, side: int) -> np.ndarray:
    h, w = img.shape[:2]
    if h >= side and w >= side:
        return img
    ph, pw = max(0, side - h), max(0, side - w)
    return cv2.copyMakeBorder(img, ph // 2, ph - ph // 2, pw // 2, pw - pw // 2, cv2.BORDER_REFLECT_101)


def random_transform(pair: Pair, spec: DataSection, rng: np.random.Generator) -> Pair:
    """Random scale, rotation, crop of `spec.crop`, flips and 90-degree turns, the same for all three.

    The window needed to cover the rotated and rescaled crop is cut first so large images are never
    warped whole."""
    crop = spec.crop
    s = float(rng.uniform(*spec.scale)) if spec.scale[0] != spec.scale[1] else spec.scale[0]
    angle = float(rng.uniform(-spec.rotate, spec.rotate)) if spec.rotate > 0 else 0.0
    rad = math.radians(angle)
    need = int(math.ceil(crop / s * (abs(math.cos(rad)) + abs(math.sin(rad))))) + (2 if angle or s != 1 else 0)
    imgs = [_pad_to(a, need) for a in (pair.gt, pair.lq, pair.mask)]
    h, w = imgs[0].shape[:2]
    y = int(rng.integers(0, h - need + 1))
    x = int(rng.integers(0, w - need + 1))
    imgs = [a[y : y + need, x : x + need] for a in imgs]
    if angle or s != 1:
        c = (need - 1) / 2.0
        m = cv2.getRotationMatrix2D((c, c), angle, s)
        # move the centre of the window to the centre of the crop
        m[:, 2] += (crop - 1) / 2.0 - c
        out = []
        for i, a in enumerate(imgs):
            interp = cv2.INTER_NEAREST if i == 2 else (cv2.INTER_AREA if s < 1 and not angle else cv2.INTER_LINEAR)
            out.append(cv2.warpAffine(a, m, (crop, crop), flags=interp, borderMode=cv2.BORDER_REFLECT_101))
        imgs = out
    if spec.hflip and rng.random() < 0.5:
        imgs = [a[:, ::-1] for a in imgs]
    if spec.vflip and rng.random() < 0.5:
        imgs = [a[::-1] for a in imgs]
    if spec.rot90:
        k = int(rng.integers(0, 4))
        imgs = [np.rot90(a, k) for a in imgs]
    gt, lq, mask = (np.ascontiguousarray(a) for a in imgs)
    return Pair(gt, lq, mask)


def centre_crop(pair: Pair, side: Optional[int]) -> Pair:
    if side is None:
        return pair
    arrays = [_pad_to(a, side) for a in (pair.gt, pair.lq, pair.mask)]
    h, w = arrays[0].shape[:2]
    y, x = (h - side) // 2, (w - side) // 2
    gt, lq, mask = (np.ascontiguousarray(a[y : y + side, x : x + side]) for a in arrays)
    return Pair(gt, lq, mask)
