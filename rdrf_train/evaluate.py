"""`rdrf eval`: the paper's Table 2 full-reference columns on an export's test split.

Rows: the identity baseline (the degraded image itself, as the reference every method must beat)
and the run's model. PSNR and SSIM follow `rdrf_train.metrics` (RGB, data range 1, the output
rounded to 8 bits as saved). LPIPS needs its AlexNet backbone and linear layers as local files
(`--lpips-weights DIR`, see `rdrf_train.lpips`): without them the column is skipped with a notice. The no-reference columns
(MUSIQ, CLIP-IQA(+), HyperIQA) likewise need weights no reachable registry ships and are not computed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import numpy as np
from pydantic import BaseModel

from rdrf_train import metrics
from rdrf_train.export_reader import ExportReader, load_pair, read_manifest
from rdrf_train.lpips import lpips_distance
from rdrf_train.stages import load_restorer
from schemas.errors import RdrfError

COLOUR_CONVENTION = "RGB, [0,1] data range, output clipped and rounded to 8 bits; SSIM: 11x11 Gaussian (sigma 1.5), channel mean"


class ImageScore(BaseModel):
    name: str
    pair_id: int
    psnr: float
    ssim: float
    psnr_identity: float
    ssim_identity: float
    lpips: Optional[float] = None
    lpips_identity: Optional[float] = None


class MethodRow(BaseModel):
    method: str
    psnr: float
    ssim: float
    lpips: Optional[float] = None


class EvalReport(BaseModel):
    export: str
    checkpoint: str
    stage: str
    step: int
    images: int
    colour: str = COLOUR_CONVENTION
    rows: list[MethodRow]
    per_image: list[ImageScore]
    notices: list[str] = []


def evaluate(
    export_dir: Path,
    checkpoint: Path,
    device: Optional[str] = None,
    max_images: Optional[int] = None,
    lpips_weights: Optional[Path] = None,
    on_image: Callable[[str], None] = lambda name: None,
    steps: Optional[int] = None,
) -> EvalReport:
    records = read_manifest(Path(export_dir), "test")
    if not records:
        raise RdrfError(f"export {export_dir} has no test pairs to evaluate on")
    if max_images is not None:
        records = records[:max_images]
    run, ckpt, restorer = load_restorer(Path(checkpoint), device, steps)
    stage_name = run.stage_name()
    notices = []
    lpips_model = None
    if lpips_weights is None:
        notices.append("LPIPS skipped: it needs AlexNet and LPIPS weights as local files (--lpips-weights DIR); none given")
    else:
        from rdrf_train.lpips import load_lpips

        lpips_model = load_lpips(lpips_weights, device or "cpu")
    reader = ExportReader(Path(export_dir))
    scores = []
    for record in records:
        pair = load_pair(reader, record)
        out = metrics.quantize(restorer(pair.lq))
        if out.shape != pair.gt.shape:
            raise RdrfError(f"restorer returned {out.shape} for {record.name} of {pair.gt.shape}")
        scores.append(
            ImageScore(
                name=record.name,
                pair_id=record.pair_id,
                psnr=metrics.psnr(pair.gt, out),
                ssim=metrics.ssim(pair.gt, out),
                psnr_identity=metrics.psnr(pair.gt, pair.lq),
                ssim_identity=metrics.ssim(pair.gt, pair.lq),
                lpips=lpips_distance(lpips_model, pair.gt, out) if lpips_model else None,
                lpips_identity=lpips_distance(lpips_model, pair.gt, pair.lq) if lpips_model else None,
            )
        )
        on_image(record.name)
    mean = lambda key: float(np.mean([getattr(s, key) for s in scores]))  # noqa: E731
    lp = (lambda key: mean(key)) if lpips_model else (lambda key: None)  # noqa: E731
    step = int(ckpt.name.split("-")[-1])
    return EvalReport(
        export=str(export_dir),
        checkpoint=str(ckpt),
        stage=stage_name,
        step=step,
        images=len(scores),
        rows=[
            MethodRow(method="identity (degraded input)", psnr=mean("psnr_identity"), ssim=mean("ssim_identity"), lpips=lp("lpips_identity")),
            MethodRow(method=f"{run.path.name} ({stage_name}, step {step})", psnr=mean("psnr"), ssim=mean("ssim"), lpips=lp("lpips")),
        ],
        per_image=scores,
        notices=notices,
    )


def markdown_table(report: EvalReport) -> str:
    lines = ["| Method | PSNR ↑ | SSIM ↑ | LPIPS ↓ |", "| --- | ---: | ---: | ---: |"]
    for row in report.rows:
        lp = f"{row.lpips:.4f}" if row.lpips is not None else "-"
        lines.append(f"| {row.method} | {row.psnr:.2f} | {row.ssim:.4f} | {lp} |")
    lines.append("")
    lines.append(f"{report.images} test images of {report.export}; {report.colour}.")
    return "\n".join(lines)
