"""The default raindrop mask's last step: a small convolutional network that reads the physical cue
maps of `masks` and says, pixel by pixel, whether water is on the glass there.

Why a learned step. The cues (masks.residual_map, masks.scene_match) follow the image formation; a
hand-set rule on top of them (thresholds, hysteresis, closing) reached a mean IoU of 0.67-0.71 at
720x480 and 0.69-0.73 at 960x640 on the renderer's pairs, though more than 90% of the true mask
changes the image by 3 levels or more. What it missed were drops of a few pixels: their residual
(5-20 levels) lies inside the GT's local range, where JPEG's loss of the scene's fine texture leaves
residuals of the same size, so no per-pixel threshold separates them - but their *shape* does (a
compact, smooth, often dark-rimmed blob, against the texture-shaped residual of JPEG). A network with
a receptive field of 31 pixels sees that shape; 8 inputs, four 3x3 layers of 16 channels (dilations
1, 2, 4, 8), one 1x1 output, 8,145 weights, are enough (docs/NOTES.md, "Stop 24").

What it sees (`FEATURES`): only the cue maps - the signed residual after photometry and the smooth
reflection layer, the distance outside the GT's local range (linear-light model where a reflection
was found), the local correlation and attenuation of the scene's fine detail, where that detail is
strong enough to judge, and the valid area. Never the scene's colours: a model that could look at
the scene could learn the renderer's scenes instead of water. The residuals are in full-scale units,
so an 8-bit and a 16-bit pair look alike.

Where it runs: on the working grid reduced by NET_REDUCTION (its long side is 720-800 px for any
frame of 720 px or more: masks.work_size), where a drop of the smallest size the renderer sprays is
2-3 px across, as in AGAN's 720x480 frames. The output is a probability map (8-bit) that the caller
brings to full size and cuts (masks.MaskParams.water_probability, 0.6).

How it was made: `python -m rdrf_train.mask_net` (rdrf_train/mask_net.py) renders pairs with the
virtual rig (hardware.sim) at 720x480 to 4752x3168, with and without reflections, aligns them with
this package's own code and fits the network to the renderer's true masks; `drop_net.json` beside
the weights records the configuration, the seeds and sizes it was fitted on, and the held-out
figures. Inference is OpenCV's dnn module on the ONNX file: no torch in the core install, the same
output whatever the thread count (tests/test_drop_net.py), one network per thread (an OpenCV Net
must not run two forwards at once).
"""

from __future__ import annotations

import json
import threading
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from schemas.errors import RdrfError

NET_FILE = Path(__file__).with_name("drop_net.onnx")
NET_CARD = NET_FILE.with_suffix(".json")
NET_REDUCTION = 2  # the network's grid is the working grid (masks.work_size) reduced by this
FEATURES = (
    "residual_b",  # signed residual after photometry and the smooth layer, x RESIDUAL_SCALE
    "residual_g",
    "residual_r",
    "outside_range",  # masks.residual_map, x OUTSIDE_SCALE
    "detail_ncc",  # masks.SceneMatch.ncc, clipped to [-1, 1]
    "detail_attenuation",  # masks.SceneMatch.attenuation, clipped to [-2, 2]
    "textured",  # 1 where the GT's fine detail is strong enough for the two above
    "valid",  # 1 inside the area the degraded shot covers
)
RESIDUAL_SCALE = 10.0  # full-scale units -> about unit spread for the network
OUTSIDE_SCALE = 20.0


class DropNetMissing(RdrfError):
    """The network file is absent, unreadable or fitted on other features: the install is incomplete."""


def net_size(work: tuple[int, int]) -> tuple[int, int]:
    """The network's grid for a working grid of `work` (width, height)."""
    return max(1, work[0] // NET_REDUCTION), max(1, work[1] // NET_REDUCTION)


def _reduce(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return x if (x.shape[1], x.shape[0]) == size else cv2.resize(x, size, interpolation=cv2.INTER_AREA)


def features(signed: np.ndarray, outside: np.ndarray, ncc: np.ndarray, attenuation: np.ndarray,
             textured: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """The network's input (1 x len(FEATURES) x h x w, float32) from the cue maps on the working grid:
    `signed` (HxWx3, full-scale units), `outside` (HxW), the scene-match maps, `textured` (bool) and
    `valid` (0/255). Each map is area-reduced to the network's grid (`net_size`)."""
    h, w = outside.shape[:2]
    size = net_size((w, h))
    planes = list(cv2.split(_reduce(signed, size) * np.float32(RESIDUAL_SCALE)))
    planes.append(_reduce(outside, size) * np.float32(OUTSIDE_SCALE))
    planes.append(_reduce(np.clip(ncc, -1.0, 1.0).astype(np.float32, copy=False), size))
    planes.append(_reduce(np.clip(attenuation, -2.0, 2.0).astype(np.float32, copy=False), size))
    planes.append(_reduce(textured.astype(np.float32), size))
    planes.append(_reduce((valid > 0).astype(np.float32), size))
    return np.stack(planes)[None]


def _unreadable(why: object) -> DropNetMissing:
    return DropNetMissing(f"{NET_FILE}: the default mask's network could not be read ({why}); "
                          "reinstall rdrf, or align with --mask agan")


@lru_cache(maxsize=1)
def _model_bytes() -> bytes:
    try:
        data = NET_FILE.read_bytes()
        card = json.loads(NET_CARD.read_text())
    except (OSError, ValueError) as exc:
        raise _unreadable(exc) from None
    if tuple(card.get("features", ())) != FEATURES:
        raise DropNetMissing(f"{NET_CARD}: the network was fitted on features {card.get('features')}, "
                             f"this code computes {list(FEATURES)}; retrain it (python -m rdrf_train.mask_net)")
    return data


_local = threading.local()


def _net() -> cv2.dnn.Net:
    net = getattr(_local, "net", None)
    if net is None:
        try:
            net = cv2.dnn.readNetFromONNX(np.frombuffer(_model_bytes(), np.uint8))
        except cv2.error as exc:  # a truncated or foreign file
            raise _unreadable((getattr(exc, "err", "") or str(exc)).strip()) from None
        _local.net = net
    return net


def probability(x: np.ndarray) -> np.ndarray:
    """The network's probability of water (uint8, 255 = certain) on its grid, for `features` x."""
    net = _net()
    net.setInput(np.ascontiguousarray(x, np.float32))
    logit = net.forward()[0, 0]
    p = cv2.exp(cv2.multiply(logit, -1.0))  # sigmoid: 1 / (1 + e^-x)
    return np.round(255.0 / (1.0 + p)).astype(np.uint8)
