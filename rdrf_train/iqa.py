"""No-reference image quality metrics through pyiqa, the library the field (and the paper's Table 2:
MUSIQ, CLIPIQA, CLIPIQA+, HyperIQA) uses. An optional extra (`pip install 'rdrf[iqa]'`).

pyiqa needs torchvision, and torchvision's compiled ops do not load with the CPU-only torch wheel
the default install uses, so on such a machine every metric here is skipped with that reason. pyiqa
downloads its weights on first use; rdrf never does: the user gives a local folder holding the files
pyiqa would fetch (its cache layout, `<torch hub dir>/pyiqa`: e.g. `musiq_koniq_ckpt-e95806b9.pth`;
CLIP backbones for CLIPIQA(+) in its `clip/` subfolder, e.g. `clip/RN50.pt`), and a missing one is one clear error naming the file and where pyiqa would have fetched it from.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from schemas.errors import RdrfError

# The paper's no-reference columns (pyiqa metric name -> column label), in its order.
PAPER_NR = {"musiq": "MUSIQ", "clipiqa": "CLIPQA", "clipiqa+": "CLIPQA+", "hyperiqa": "HyperIQA"}

NRMetric = Callable[[np.ndarray], float]  # RGB float [0, 1] (H, W, 3) -> score


class NRMetrics:
    """The no-reference metrics that could be loaded, whether each is higher-is-better, and why
    the others were skipped."""

    def __init__(self) -> None:
        self.metrics: dict[str, NRMetric] = {}
        self.higher_better: dict[str, bool] = {}
        self.notices: list[str] = []


def _refuse_download(weights: Path):
    def refuse(url: str, dst: str, *args, **kwargs) -> None:
        name = os.path.basename(dst)
        raise RdrfError(
            f"pyiqa needs {name} in {weights} (it would download it from {url}); rdrf never downloads weights: "
            f"fetch it on a machine with network access and copy it there"
        )

    return refuse


def load_nr_metrics(names: list[str], weights: Optional[Path], device: str = "cpu") -> NRMetrics:
    """pyiqa metrics by name with weights from `weights` (pyiqa's cache layout), or a notice each
    saying why they are skipped (pyiqa or torchvision missing, no weights folder)."""
    out = NRMetrics()
    if not names:
        return out
    listed = ", ".join(names)
    if weights is None:
        out.notices.append(f"no-reference metrics ({listed}) skipped: they need pyiqa's weight files in a local folder (--iqa-weights DIR)")
        return out
    weights = Path(weights)
    if not weights.is_dir():
        raise RdrfError(f"--iqa-weights {weights}: no such folder (expected pyiqa's weight files, e.g. musiq_koniq_ckpt-e95806b9.pth)")
    try:
        import torch

        # pyiqa reads `torch.hub.get_dir()/pyiqa` when it is imported: a scratch hub whose pyiqa/ and
        # clip/ are the user's folders (nothing is written next to them)
        hub = Path(tempfile.mkdtemp(prefix="rdrf-iqa-hub-"))
        for name, target in (("pyiqa", weights), ("clip", weights / "clip")):
            link = hub / name
            if not link.exists() and target.is_dir():
                link.symlink_to(target.resolve(), target_is_directory=True)
        torch.hub.set_dir(str(hub))
        import pyiqa
        from pyiqa.utils import download_util
    except Exception as exc:  # ImportError, or torchvision's "operator torchvision::nms does not exist"
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        out.notices.append(
            f"no-reference metrics ({listed}) skipped: pyiqa cannot be imported here ({reason}); it needs "
            "`pip install 'rdrf[iqa]'` and a torch build whose torchvision loads (e.g. a CUDA build)"
        )
        return out
    download_util.download_url_to_file = _refuse_download(weights)
    try:  # CLIP backbones (CLIPIQA, CLIPIQA+) come through pyiqa's copy of OpenAI's loader, into <hub>/clip
        from pyiqa.archs import clip_model

        fetch = clip_model._download

        def local_clip(url: str, root: str, fetch=fetch) -> str:
            target = Path(root) / os.path.basename(url)
            if not target.is_file():
                raise RdrfError(f"pyiqa needs the CLIP weights {target.name} in {weights / 'clip'} (it would download them from {url}); "
                                "rdrf never downloads weights")
            return fetch(url, root)  # checks the file's SHA-256 against the URL's

        clip_model._download = local_clip
    except ImportError:
        pass
    known = set(pyiqa.list_models(metric_mode="NR"))
    for name in names:
        if name not in known:
            raise RdrfError(f"{name!r} is not a pyiqa no-reference metric; pyiqa {pyiqa.__version__} has: {', '.join(sorted(known))}", exit_code=2)
        metric = pyiqa.create_metric(name, device=device, as_loss=False)
        out.higher_better[name] = not bool(metric.lower_better)

        def score(img: np.ndarray, metric=metric) -> float:
            x = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None].float().to(device)
            with torch.no_grad():
                return float(metric(x).mean().item())

        out.metrics[name] = score
    return out
