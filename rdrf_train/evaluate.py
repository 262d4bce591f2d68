"""`rdrf eval`: the paper's Table 2 full-reference columns on an export's test split.

Rows: the identity baseline (the degraded image itself, as the reference every method must beat)
and the run's model. PSNR and SSIM are reported in each convention of `rdrf_train.metrics`
(RGB; BT.601 Y as DRSformer/AGAN; pyiqa's SSIM), each named in the table and in the JSON's
`conventions`; the output is rounded to 8 bits as saved. LPIPS needs its AlexNet backbone and linear layers as local files
(`--lpips-weights DIR`, see `rdrf_train.lpips`): without them the column is skipped with a notice. The no-reference columns
(MUSIQ, CLIP-IQA(+), HyperIQA) likewise need weights no reachable registry ships and are not computed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import numpy as np
from pydantic import BaseModel

from rdrf_train import metrics
from rdrf_train.export_reader import ExportReader, load_pair, read_manifest, require_paired, scored_area
from rdrf_train.lpips import lpips_distance
from rdrf_train.stages import load_restorer
from schemas.errors import RdrfError

COLOUR_CONVENTION = "output clipped and rounded to 8 bits; psnr/ssim on RGB, *_y on BT.601 Y, ssim_pyiqa as pyiqa (see conventions)"
METRICS = tuple(metrics.CONVENTIONS)  # psnr, ssim, psnr_y, ssim_y, ssim_pyiqa


class Scores(BaseModel):
    """One figure per convention of `rdrf_train.metrics.CONVENTIONS`."""

    psnr: float
    ssim: float
    psnr_y: float
    ssim_y: float
    ssim_pyiqa: float


class ImageScore(Scores):
    name: str
    pair_id: int
    identity: Scores  # the degraded input against the GT
    lpips: Optional[float] = None
    lpips_identity: Optional[float] = None


class MethodRow(Scores):
    method: str
    lpips: Optional[float] = None


class EvalReport(BaseModel):
    export: str
    checkpoint: str
    stage: str
    step: int
    images: int
    colour: str = COLOUR_CONVENTION
    conventions: dict[str, str] = metrics.CONVENTIONS
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
    valid_only: bool = False,
) -> EvalReport:
    require_paired(Path(export_dir), "rdrf eval")
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
        valid = scored_area(record, Path(export_dir)) if valid_only else None
        if out.shape != pair.gt.shape:
            raise RdrfError(f"restorer returned {out.shape} for {record.name} of {pair.gt.shape}")
        scores.append(
            ImageScore(
                name=record.name,
                pair_id=record.pair_id,
                **metrics.full_reference(pair.gt, out, valid),
                identity=Scores(**metrics.full_reference(pair.gt, pair.lq, valid)),
                lpips=lpips_distance(lpips_model, pair.gt, out) if lpips_model else None,
                lpips_identity=lpips_distance(lpips_model, pair.gt, pair.lq) if lpips_model else None,
            )
        )
        on_image(record.name)
    mean = lambda key: float(np.mean([getattr(s, key) for s in scores]))  # noqa: E731
    lp = (lambda key: mean(key)) if lpips_model else (lambda key: None)  # noqa: E731
    model_means = {key: mean(key) for key in METRICS}
    identity_means = {key: float(np.mean([getattr(s.identity, key) for s in scores])) for key in METRICS}
    step = int(ckpt.name.split("-")[-1])
    return EvalReport(
        export=str(export_dir),
        checkpoint=str(ckpt),
        stage=stage_name,
        step=step,
        images=len(scores),
        rows=[
            MethodRow(method="identity (degraded input)", **identity_means, lpips=lp("lpips_identity")),
            MethodRow(method=f"{run.path.name} ({stage_name}, step {step})", **model_means, lpips=lp("lpips")),
        ],
        per_image=scores,
        notices=notices + (["PSNR and SSIM over the area the warped degraded shot covers (--valid-only)"] if valid_only else []),
    )


def markdown_table(report: EvalReport) -> str:
    lines = [
        "| Method | PSNR RGB ↑ | SSIM RGB ↑ | PSNR Y ↑ | SSIM Y ↑ | SSIM pyiqa ↑ | LPIPS ↓ |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in report.rows:
        lp = f"{row.lpips:.4f}" if row.lpips is not None else "-"
        lines.append(
            f"| {row.method} | {row.psnr:.2f} | {row.ssim:.4f} | {row.psnr_y:.2f} | {row.ssim_y:.4f} | {row.ssim_pyiqa:.4f} | {lp} |"
        )
    lines.append("")
    lines.append(f"{report.images} test images of {report.export}; output clipped and rounded to 8 bits.")
    names = {"psnr": "PSNR RGB", "ssim": "SSIM RGB", "psnr_y": "PSNR Y", "ssim_y": "SSIM Y", "ssim_pyiqa": "SSIM pyiqa"}
    lines += [f"- {names[key]}: {text}" for key, text in report.conventions.items()]
    return "\n".join(lines)
