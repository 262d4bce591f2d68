"""LPIPS (Zhang et al., 2018; v0.1, AlexNet variant), the paper's Table 2 perceptual column, from
local weight files only: nothing is downloaded.

`--lpips-weights DIR` must hold
- `alexnet.pth` (or torchvision's `alexnet-owt-7be5be79.pth`): torchvision's ImageNet AlexNet state
  dict (`features.0.weight`, ...; the classifier is ignored);
- `alex.pth`: the LPIPS v0.1 linear layers as the `lpips` package ships them (`lin0.model.1.weight`
  ... `lin4.model.1.weight`).

The network is the same computation as the `lpips` package's `LPIPS(net="alex", version="0.1")`:
inputs in [-1, 1] through its scaling layer, the five ReLU outputs of AlexNet's features,
unit-normalised over channels, squared differences weighted by the linear layers, averaged over
space and summed over layers. Lower is better.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from schemas.errors import RdrfError

BACKBONE_NAMES = ("alexnet.pth", "alexnet-owt-7be5be79.pth")
LINEAR_NAME = "alex.pth"
CHANNELS = (64, 192, 384, 256, 256)


def alexnet_features() -> nn.Sequential:
    """torchvision's `alexnet().features` layer for layer, so its state dict keys load unchanged."""
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(inplace=False), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(inplace=False), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(inplace=False),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=False),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=False),
        nn.MaxPool2d(3, 2),
    )


class LPIPS(nn.Module):
    TAPS = (1, 4, 7, 9, 11)  # indices of the ReLUs whose outputs are compared

    def __init__(self):
        super().__init__()
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188])[None, :, None, None])
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450])[None, :, None, None])
        self.features = alexnet_features()
        self.lins = nn.ModuleList([nn.Conv2d(c, 1, 1, bias=False) for c in CHANNELS])

    def _taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.TAPS:
                out.append(x)
            if i == self.TAPS[-1]:
                break
        return out

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """a, b: (B, 3, H, W) RGB in [0, 1] -> (B,) distances."""
        fa = self._taps(((a * 2 - 1) - self.shift) / self.scale)
        fb = self._taps(((b * 2 - 1) - self.shift) / self.scale)
        total = 0
        for lin, x, y in zip(self.lins, fa, fb):
            x = x / (x.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)
            y = y / (y.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)
            total = total + lin((x - y) ** 2).mean(dim=(2, 3))
        return total[:, 0]


def load_lpips(folder: Path, device: str | torch.device = "cpu") -> LPIPS:
    folder = Path(folder)
    if not folder.is_dir():
        raise RdrfError(f"LPIPS weights folder {folder} does not exist")
    backbone = next((folder / n for n in BACKBONE_NAMES if (folder / n).is_file()), None)
    if backbone is None:
        raise RdrfError(f"LPIPS weights folder {folder} has no AlexNet weights ({' or '.join(BACKBONE_NAMES)})")
    linear = folder / LINEAR_NAME
    if not linear.is_file():
        raise RdrfError(f"LPIPS weights folder {folder} has no {LINEAR_NAME} (the LPIPS v0.1 linear layers)")
    model = LPIPS()
    try:
        state = torch.load(backbone, map_location="cpu", weights_only=True)
        model.features.load_state_dict({k[len("features."):]: v for k, v in state.items() if k.startswith("features.")})
        lin = torch.load(linear, map_location="cpu", weights_only=True)
        for i, conv in enumerate(model.lins):
            conv.weight.data.copy_(lin[f"lin{i}.model.1.weight"])
    except (RuntimeError, KeyError, OSError) as exc:
        raise RdrfError(f"LPIPS weights in {folder} do not fit the AlexNet LPIPS model: {exc}") from None
    return model.to(device).eval().requires_grad_(False)


@torch.no_grad()
def lpips_distance(model: LPIPS, gt: np.ndarray, out: np.ndarray) -> float:
    device = model.shift.device
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).permute(2, 0, 1)[None].to(device)  # noqa: E731
    return float(model(t(gt), t(out))[0])
