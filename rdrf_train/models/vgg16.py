"""VGG16 feature extractor for perceptual losses (AGAN's L_P, seeds/004 eq. 6), from a local file.

torchvision is not installable beside the CPU torch used here, so the network is written out:
`features` is torchvision's `vgg16().features` layer for layer (13 3x3 convolutions, ReLUs, max
pools), truncated after the deepest layer a loss reads, so a torchvision ImageNet state dict
(`features.N.weight` / `features.N.bias`, e.g. `vgg16-397923af.pth`) loads unchanged; its
`classifier.*` keys and the deeper convolutions are ignored. Nothing is downloaded.

Inputs are RGB in [0, 1], normalised with the ImageNet mean and std torchvision's weights were
trained with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from schemas.errors import RdrfError

# torchvision's vgg16 "D" configuration: conv widths, "M" = 2x2 max pool
_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


def _layer_names() -> dict[str, int]:
    """'relu1_1' -> index in `features` (1), ..., 'pool5' -> 30."""
    names, block, conv, index = {}, 1, 1, 0
    for item in _LAYOUT:
        if item == "M":
            names[f"pool{block}"] = index
            block, conv, index = block + 1, 1, index + 1
        else:
            names[f"conv{block}_{conv}"] = index
            names[f"relu{block}_{conv}"] = index + 1
            conv, index = conv + 1, index + 2
    return names


LAYERS = _layer_names()
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def vgg16_features(depth: int = 31) -> nn.Sequential:
    """torchvision's `vgg16().features[:depth]`, same indices (so the same state-dict keys)."""
    layers: list[nn.Module] = []
    channels = 3
    for item in _LAYOUT:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(channels, int(item), 3, padding=1), nn.ReLU(inplace=False)]
            channels = int(item)
    return nn.Sequential(*layers[:depth])


class VGG16Features(nn.Module):
    """The outputs of the named layers (`LAYERS` keys, e.g. relu2_2) for an RGB [0, 1] batch.

    Args:
        layers: the layers whose outputs `forward` returns, in network order.
    """

    def __init__(self, layers: Sequence[str] = ("relu1_1", "relu1_2", "relu2_1", "relu2_2")):
        super().__init__()
        unknown = [name for name in layers if name not in LAYERS]
        if unknown or not layers:
            raise ValueError(f"unknown VGG16 layers {unknown or list(layers)}; expected names from {', '.join(LAYERS)}")
        self.taps = sorted(LAYERS[name] for name in layers)
        self.features = vgg16_features(self.taps[-1] + 1)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN)[None, :, None, None], persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD)[None, :, None, None], persistent=False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x - self.mean) / self.std
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.taps:
                out.append(x)
        return out


def load_vgg16(path: Path, layers: Sequence[str], device: str | torch.device = "cpu") -> VGG16Features:
    """A frozen `VGG16Features` with the weights of a torchvision-layout file (.pth or .safetensors)."""
    path = Path(path)
    if not path.is_file():
        raise RdrfError(f"VGG16 weights file {path} does not exist (expected torchvision's vgg16 state dict, e.g. vgg16-397923af.pth)")
    model = VGG16Features(layers)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a torn or foreign file: one message naming it
        raise RdrfError(f"VGG16 weights file {path} could not be read as a state dict: {exc}") from None
    if not isinstance(state, dict):
        raise RdrfError(f"VGG16 weights file {path} holds a {type(state).__name__}, not a state dict")
    wanted = model.features.state_dict()
    missing = [f"features.{k}" for k in wanted if f"features.{k}" not in state]
    if missing:
        raise RdrfError(f"VGG16 weights file {path} lacks {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}; "
                        f"expected torchvision's vgg16 key layout (features.N.weight/bias)")
    for key, tensor in wanted.items():
        got = state[f"features.{key}"]
        if tuple(got.shape) != tuple(tensor.shape):
            raise RdrfError(f"VGG16 weights file {path}: features.{key} has shape {tuple(got.shape)}, expected {tuple(tensor.shape)} (is it VGG16?)")
    model.features.load_state_dict({k: state[f"features.{k}"].float() for k in wanted})
    return model.to(device).eval().requires_grad_(False)
