"""`rdrf benchmark`: the paper's Table 2 (and, with `--ablations`, Table 1) on an export's split.

Each method is a training run (restored here, any stage `rdrf restore` takes) or a folder of images a
method outside rdrf restored (`NAME.png` per pair, e.g. a published reflection-removal model), so
every row of Table 2 can be produced on one's own data. Restoration is the slow part: its results are
cached per run and checkpoint as 8-bit PNGs, as `rdrf restore` writes them (a cache entry names the
checkpoint and the export's manifest it came from), so an interrupted benchmark resumes where it
stopped and a second table with another convention restores nothing.

Columns are the paper's: PSNR, SSIM, LPIPS and the no-reference MUSIQ, CLIPQA, CLIPQA+, HyperIQA
(pyiqa, an optional extra: skipped with the reason where it cannot run). PSNR and SSIM follow one
named convention (`CONVENTIONS`; the default is pyiqa's, the library whose metric names the paper's
table uses): the table says which. The identity row (the degraded input itself) is the floor every
method must beat; it is not ranked. Best is bold, second underlined, as in the paper. A split with
no GT (an unpaired, wild export) gets the no-reference columns only.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Callable, Literal, Optional

import numpy as np
from pydantic import BaseModel

from rdrf_train import metrics
from rdrf_train.export_reader import ExportReader, load_pair, read_manifest, scored_area
from rdrf_train.iqa import PAPER_NR, load_nr_metrics
from rdrf_train.lpips import lpips_distance
from schemas import imageio
from schemas.errors import RdrfError
from schemas.records import ExportRecord
from schemas.storage import durable_write, sha256_bytes

# PSNR / SSIM conventions a table can be made in: (psnr key, ssim key) of `rdrf_train.metrics`.
CONVENTIONS: dict[str, tuple[str, str]] = {
    "pyiqa": ("psnr", "ssim_pyiqa"),  # pyiqa 'psnr' (RGB) and 'ssim' (Y of YIQ, rounded)
    "y": ("psnr_y", "ssim_y"),  # BT.601 Y, as DRSformer and AGAN report
    "rgb": ("psnr", "ssim"),
}
Convention = Literal["pyiqa", "y", "rgb"]
TableFormat = Literal["md", "csv", "json", "latex"]
IDENTITY = "Degraded input"

# Table 1 of seeds/000: the ablation rows, how `--run KEY=RUN` names them, and what the run must be.
ABLATIONS: dict[str, tuple[str, str, str]] = {
    # key: (row label, stage, model.condition of the control run)
    "baseline1": ("Baseline 1 (I_lq as condition)", "control", "lq"),
    "baseline2": ("Baseline 2 (I_s as condition)", "control", "s"),
    "no-modulate-gate": ("w/o Modulate&Gate Module", "fidelity", "concat"),
    "no-fidelity": ("w/o Fidelity Encoder", "control", "modulate_gate"),
    "full": ("DiffUR3", "fidelity", "modulate_gate"),
}


class Column(BaseModel):
    key: str  # psnr, ssim, lpips, or a pyiqa metric name
    label: str
    higher_better: bool
    convention: str = ""


class Row(BaseModel):
    method: str
    source: str  # the run / checkpoint, or the images folder
    kind: Literal["identity", "run", "images"]
    scores: dict[str, Optional[float]]  # column key -> mean over the images (None: not computed)


class BenchmarkReport(BaseModel):
    export: str
    split: str
    images: int
    convention: str
    conventions: dict[str, str]
    columns: list[Column]
    rows: list[Row]
    notices: list[str] = []
    ablations: bool = False


class Method(BaseModel):
    name: str
    path: Path
    kind: Literal["run", "images"] = "run"
    checkpoint: Optional[Path] = None  # the checkpoint folder a run is restored with
    label: Optional[str] = None  # the row's name in the table (the ablation row's, or `name`)


def parse_method(text: str) -> tuple[str, Path]:
    """`NAME=PATH` as `--run` takes it."""
    name, sep, path = text.partition("=")
    if not sep or not name.strip() or not path.strip():
        raise RdrfError(f"--run {text!r}: expected NAME=PATH (a training run, a checkpoint or a folder of restored images)", exit_code=2)
    return name.strip(), Path(path.strip())


def resolve_method(name: str, path: Path) -> Method:
    """A run folder / checkpoint folder, or a folder of restored PNGs (no config.toml)."""
    from rdrf_train.runs import resolve_checkpoint

    if not path.exists():
        raise RdrfError(f"--run {name}={path}: {path} does not exist", exit_code=2)
    if path.is_dir() and not (path / "config.toml").exists() and path.parent.name != "checkpoints":
        return Method(name=name, path=path, kind="images")
    run, ckpt = resolve_checkpoint(path)
    return Method(name=name, path=run.path, checkpoint=ckpt)


def _read_toml(path: Path) -> dict:
    import tomllib

    with open(path, "rb") as f:
        return tomllib.load(f)


def ablation_identity(method: Method) -> tuple[str, str]:
    """(stage, condition) of a run for Table 1: a fidelity run inherits its control run's condition."""
    cfg = _read_toml(method.path / "config.toml")
    stage = cfg.get("stage", "")
    model = cfg.get("model", {})
    if stage == "fidelity":
        control = model.get("control", "")
        if not control or not (Path(control) / "config.toml").exists():
            raise RdrfError(f"run {method.path}: its model.control ({control or 'unset'}) is not a control run; Table 1 needs it")
        model = _read_toml(Path(control) / "config.toml").get("model", {})
    return stage, model.get("condition", "modulate_gate")


def check_ablations(methods: list[Method]) -> tuple[list[Method], list[str]]:
    """Table 1's rows in the paper's order, each run checked to be the variant its key names; a
    notice per missing row with the command that trains it (configs shipped in rdrf_train/configs/)."""
    by_key = {m.name: m for m in methods}
    unknown = sorted(set(by_key) - set(ABLATIONS))
    if unknown:
        raise RdrfError(f"--ablations: unknown row(s) {', '.join(unknown)}; name runs {', '.join(ABLATIONS)} (e.g. --run baseline1=runs/b1)", exit_code=2)
    rows, notices = [], []
    for key, (label, stage, condition) in ABLATIONS.items():
        m = by_key.get(key)
        if m is None:
            notices.append(f"{label}: no run given (--run {key}=RUN); rdrf_train/configs/ablations/{key}.toml "
                           "is its configuration, with the commands that train it")
            continue
        if m.kind != "run":
            raise RdrfError(f"--run {key}={m.path}: Table 1 rows must be training runs, not image folders", exit_code=2)
        got = ablation_identity(m)
        if got != (stage, condition):
            raise RdrfError(
                f"--run {key}={m.path} is a {got[0]} run with condition {got[1]!r}; {label} is a {stage} run with "
                f"condition {condition!r} (rdrf_train/configs/ablations/{key}.toml)", exit_code=2)
        rows.append(m.model_copy(update={"label": label}))
    return rows, notices


# --- restoring, cached ----------------------------------------------------------------------------
def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "method"


def cache_folder(cache: Path, method: Method, manifest_sha: str) -> Path:
    key = sha256_bytes(json.dumps([str(method.checkpoint.resolve()), manifest_sha]).encode())[:12]
    return cache / f"{_slug(method.name)}-{key}"


def restore_cached(method: Method, records: list[ExportRecord], reader: ExportReader, folder: Path, device: Optional[str],
                   steps: Optional[int], on_image: Callable[[], None]) -> None:
    """Restore every record's degraded image with the run into `folder` (NAME.png, 8-bit), skipping
    those already there and intact (each file's SHA-256 is kept in `index.json`, written after each)."""
    from rdrf_train.stages import load_restorer

    index_path = folder / "index.json"
    try:
        index = json.loads(index_path.read_text()) if index_path.exists() else {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        index = {}  # a damaged index vouches for nothing: every image is restored again
    if not isinstance(index, dict):
        index = {}
    todo = []
    for r in records:
        f = folder / f"{r.name}.png"
        if index.get(r.name) and f.is_file() and sha256_bytes(f.read_bytes()) == index[r.name]:
            on_image()
        else:
            todo.append(r)
    if not todo:
        return
    _, _, restorer = load_restorer(method.checkpoint, device, steps)
    for r in todo:
        lq = reader.read_image(r.lq)
        out = imageio.from_float(np.clip(restorer(lq), 0.0, 1.0), 8)
        if out.shape != lq.shape:
            raise RdrfError(f"{method.name}: the restorer returned {out.shape[:2]} for {r.name} of {lq.shape[:2]}")
        st = durable_write(imageio.encode_png(out, order="rgb"), folder / f"{r.name}.png")
        index[r.name] = st.sha256
        durable_write(json.dumps(index, indent=0, sort_keys=True).encode(), index_path)
        on_image()


def _image_of(folder: Path, name: str, what: str) -> Path:
    hits = sorted(p for p in folder.glob(f"{name}.*") if p.suffix.lower() in imageio.READABLE_IMAGE_EXTS)
    if not hits:
        raise RdrfError(f"{what}: {folder} has no image for pair {name} (expected {name}.png)")
    return hits[0]


# --- scoring --------------------------------------------------------------------------------------
def benchmark(
    export_dir: Path,
    methods: list[Method],
    *,
    split: str = "test",
    convention: Convention = "pyiqa",
    cache: Optional[Path] = None,
    device: Optional[str] = None,
    steps: Optional[int] = None,
    lpips_weights: Optional[Path] = None,
    nr: Optional[list[str]] = None,
    iqa_weights: Optional[Path] = None,
    max_images: Optional[int] = None,
    ablations: bool = False,
    valid_only: bool = False,
    on_image: Callable[[], None] = lambda: None,
) -> BenchmarkReport:
    export_dir = Path(export_dir)
    records = read_manifest(export_dir, split)
    if not records:
        held = sorted({r.split for r in read_manifest(export_dir)})
        raise RdrfError(f"export {export_dir} has no {split} records to benchmark on (it holds: {', '.join(held) or 'nothing'}); "
                        f"choose one with --split")
    if max_images is not None:
        records = records[:max_images]
    if not methods:
        raise RdrfError("no method to benchmark: give at least one --run NAME=RUN", exit_code=2)
    notices: list[str] = []
    if ablations:
        methods, missing = check_ablations(methods)
        notices += missing
    names = [m.name for m in methods]
    if len(set(names)) != len(names):
        raise RdrfError(f"two --run options share a name ({', '.join(sorted({n for n in names if names.count(n) > 1}))})", exit_code=2)
    # Paired (GT for every record) or unpaired (wild: GT for none); a mix would silently drop images
    # from the full-reference columns, so it is refused.
    with_gt = sum(r.gt is not None for r in records)
    if 0 < with_gt < len(records):
        raise RdrfError(f"split {split} of {export_dir} mixes {with_gt} paired and {len(records) - with_gt} unpaired records; "
                        "score paired and wild exports separately")
    paired = with_gt == len(records)
    reader = ExportReader(export_dir)
    manifest_sha = sha256_bytes((export_dir / "manifest.jsonl").read_bytes())
    cache = Path(cache) if cache is not None else export_dir.parent / f"{export_dir.name}-benchmark"
    outputs: dict[str, Path] = {}
    for m in methods:
        if m.kind == "images":
            for r in records:
                _image_of(m.path, r.name, f"--run {m.name}")
            outputs[m.name] = m.path
            for _ in records:
                on_image()
        else:
            outputs[m.name] = cache_folder(cache, m, manifest_sha)
            restore_cached(m, records, reader, outputs[m.name], device, steps, on_image)

    psnr_key, ssim_key = CONVENTIONS[convention]
    if valid_only and paired:
        notices.append("PSNR and SSIM over the area each warped degraded shot covers (--valid-only); LPIPS and the "
                       "no-reference metrics over the whole image")
    columns: list[Column] = []
    lpips_model = None
    if paired:
        columns += [Column(key="psnr", label="PSNR", higher_better=True, convention=metrics.CONVENTIONS[psnr_key]),
                    Column(key="ssim", label="SSIM", higher_better=True, convention=metrics.CONVENTIONS[ssim_key])]
        if lpips_weights is None:
            notices.append("LPIPS skipped: it needs AlexNet and LPIPS weights as local files (--lpips-weights DIR); none given")
        else:
            from rdrf_train.lpips import load_lpips

            lpips_model = load_lpips(lpips_weights, device or "cpu")
            columns.append(Column(key="lpips", label="LPIPS", higher_better=False, convention="LPIPS (AlexNet), inputs in [-1, 1]"))
    else:
        kinds = ", ".join(sorted({r.kind for r in records}))
        notices.append(f"split {split} has no ground truth ({kinds} images, unpaired): no-reference metrics only; "
                       "PSNR, SSIM and LPIPS need pairs")
    nr_names = list(PAPER_NR) if nr is None else nr
    nrm = load_nr_metrics(nr_names, iqa_weights, device or "cpu") if not ablations else None
    if nrm is not None:
        notices += nrm.notices
        columns += [Column(key=n, label=PAPER_NR.get(n, n), higher_better=nrm.higher_better[n], convention=f"pyiqa '{n}'")
                    for n in nrm.metrics]

    if not columns:
        raise RdrfError(f"nothing to score on split {split} of {export_dir}: " + "; ".join(notices))
    sums: dict[str, dict[str, list[float]]] = {name: {c.key: [] for c in columns} for name in [IDENTITY, *names]}
    for r in records:
        valid = None
        if paired:
            pair = load_pair(reader, r)
            gt, lq = pair.gt, pair.lq
            if valid_only:
                valid = scored_area(r, export_dir)
        else:
            gt, lq = None, reader.read_image(r.lq)
        images = {IDENTITY: lq}
        for m in methods:
            path = _image_of(outputs[m.name], r.name, f"--run {m.name}") if m.kind == "images" else outputs[m.name] / f"{r.name}.png"
            out = imageio.to_float(imageio.read(path, order="rgb"))
            if out.shape != lq.shape:
                raise RdrfError(f"{path} is {out.shape[1]}x{out.shape[0]} but pair {r.name} is {lq.shape[1]}x{lq.shape[0]}")
            images[m.name] = metrics.quantize(out)
        for name, img in images.items():
            s = sums[name]
            if gt is not None:
                fr = metrics.full_reference(gt, img, valid)
                s["psnr"].append(fr[psnr_key])
                s["ssim"].append(fr[ssim_key])
                if lpips_model is not None:
                    s["lpips"].append(lpips_distance(lpips_model, gt, img))
            if nrm is not None:
                for n, fn in nrm.metrics.items():
                    s[n].append(fn(img))

    def mean(values: list[float]) -> Optional[float]:
        return float(np.mean(values)) if values else None

    rows = [Row(method=IDENTITY, source=str(export_dir), kind="identity", scores={k: mean(v) for k, v in sums[IDENTITY].items()})]
    for m in methods:
        source = str(m.checkpoint) if m.checkpoint is not None else str(m.path)
        rows.append(Row(method=m.label or m.name, source=source, kind=m.kind, scores={k: mean(v) for k, v in sums[m.name].items()}))
    return BenchmarkReport(
        export=str(export_dir), split=split, images=len(records), convention=convention,
        conventions={c.label: c.convention for c in columns}, columns=columns, rows=rows, notices=notices, ablations=ablations,
    )


# --- tables ---------------------------------------------------------------------------------------
def ranks(report: BenchmarkReport) -> dict[tuple[int, str], int]:
    """(row index, column key) -> 1 for the best, 2 for the second best value among the methods
    (the identity row is not ranked; ties share the rank)."""
    out: dict[tuple[int, str], int] = {}
    for c in report.columns:
        vals = sorted({round(r.scores[c.key], 4) for r in report.rows[1:] if r.scores.get(c.key) is not None}, reverse=c.higher_better)
        for i, r in enumerate(report.rows):
            v = r.scores.get(c.key)
            if i == 0 or v is None:
                continue
            v = round(v, 4)
            if vals and v == vals[0]:
                out[(i, c.key)] = 1
            elif len(vals) > 1 and v == vals[1]:
                out[(i, c.key)] = 2
    return out


def _fmt(key: str, v: Optional[float]) -> str:
    if v is None:
        return "-"
    return f"{v:.2f}" if key in ("psnr", "musiq") else f"{v:.4f}"


def _cells(report: BenchmarkReport, rk: dict[tuple[int, str], int], i: int,
           best: Callable[[str], str], second: Callable[[str], str]) -> list[str]:
    """Row `i`'s formatted values, the best marked with `best` and the second with `second`."""
    marks = {1: best, 2: second}
    out = []
    for c in report.columns:
        t = _fmt(c.key, report.rows[i].scores.get(c.key))
        out.append(marks[rk[(i, c.key)]](t) if (i, c.key) in rk else t)
    return out


def render(report: BenchmarkReport, fmt: TableFormat) -> str:
    if fmt == "json":
        return report.model_dump_json(indent=2)
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["method", "kind", "source", *(c.key for c in report.columns)])
        for r in report.rows:
            w.writerow([r.method, r.kind, r.source, *("" if r.scores.get(c.key) is None else f"{r.scores[c.key]:.6f}" for c in report.columns)])
        return buf.getvalue().rstrip("\n")
    rk = ranks(report)
    arrow = lambda c: "↑" if c.higher_better else "↓"  # noqa: E731
    title = "Table 1: ablation study" if report.ablations else "Table 2: benchmark"
    caption = (f"{title} on {report.images} {report.split} images of {report.export}; PSNR/SSIM in the "
               f"'{report.convention}' convention; best in bold, second underlined; the degraded input is not ranked.")
    if fmt == "latex":
        arrow_tex = lambda c: r"$\uparrow$" if c.higher_better else r"$\downarrow$"  # noqa: E731
        esc = lambda t: re.sub(r"([&%$#_{}])", r"\\\1", t)  # noqa: E731
        lines = [r"\begin{table}[t]", r"\centering", rf"\caption{{{esc(caption)}}}",
                 r"\begin{tabular}{l" + "c" * len(report.columns) + "}", r"\toprule",
                 "Method & " + " & ".join(f"{esc(c.label)}{arrow_tex(c)}" for c in report.columns) + r" \\", r"\midrule"]
        for i, r in enumerate(report.rows):
            cells = _cells(report, rk, i, lambda t: rf"\textbf{{{t}}}", lambda t: rf"\underline{{{t}}}")
            lines.append(f"{esc(r.method)} & " + " & ".join(cells) + r" \\")
            if i == 0:
                lines.append(r"\midrule")
        lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
        return "\n".join(lines)
    lines = ["| Method | " + " | ".join(f"{c.label} {arrow(c)}" for c in report.columns) + " |",
             "| --- |" + " ---: |" * len(report.columns)]
    for i, r in enumerate(report.rows):
        cells = _cells(report, rk, i, lambda t: f"**{t}**", lambda t: f"<u>{t}</u>")
        lines.append(f"| {r.method} | " + " | ".join(cells) + " |")
    lines += ["", caption]
    lines += [f"- {label}: {text}" for label, text in report.conventions.items()]
    return "\n".join(lines)

