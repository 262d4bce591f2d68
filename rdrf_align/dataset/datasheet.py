"""The export's README.md: what is in it, where it came from, how to load it.

Counts are computed from the records being exported, so they cannot disagree with the manifest. The
page holds no date or machine name: the same catalogue and parameters give the same bytes (the
Export row in the catalogue has the time).
"""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Callable, Optional

from rdrf_align.dataset.plan import ExportPlan
from schemas.views import scene_order
from schemas.records import ExportRecord


def _table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _by(records: list[ExportRecord], key: Callable[[ExportRecord], object], splits: tuple[str, ...], sort_key=None) -> str:
    """Scenes and pairs per value of `key`, per split."""
    values = sorted({key(r) for r in records}, key=sort_key or (lambda v: (v is None, str(v))))
    rows = []
    for v in values:
        row: list[object] = ["(unknown)" if v is None else v]
        for s in splits:
            sel = [r for r in records if r.split == s and key(r) == v]
            row += [len({r.scene for r in sel}), len(sel)]
        rows.append(row)
    header = ["value"] + [f"{s} {what}" for s in splits for what in ("scenes", "pairs")]
    return _table(header, rows)


def _stats(values: list[Optional[float]], fmt: str) -> str:
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return "n/a"
    p95 = vals[min(len(vals) - 1, int(round(0.95 * (len(vals) - 1))))]
    return f"median {format(statistics.median(vals), fmt)}, 95th percentile {format(p95, fmt)}, max {format(vals[-1], fmt)}"


def _rigs(plan: ExportPlan) -> str:
    """The libgphoto2 versions, bodies, firmware and focus modes the exported degraded shots were taken with."""
    rows = [
        ["no rig record (imported)", "-", "-", "-", n] if key is None else [*(v or "(not reported)" for v in key), n]
        for key, n in sorted(plan.rigs.items(), key=lambda kv: (kv[0] is None, [str(v) for v in kv[0] or ()]))
    ]
    return _table(["libgphoto2", "body", "firmware", "focus mode", "pairs"], rows)


def _brackets(plan: ExportPlan) -> str:
    """The GT bracket of the exported scenes: how many have one, and the drift between their GTs."""
    scenes = sorted(plan.brackets, key=scene_order)
    measured = [d for label in scenes for d in plan.brackets[label] if d.get("registered")]
    with_bracket = [label for label in scenes if plan.brackets[label]]
    drifted = [label for label in with_bracket if any(d.get("flags") or not d.get("registered") for d in plan.brackets[label])]
    if not with_bracket:
        return f"No exported scene has a GT bracket ({len(scenes)} scene(s): no bracket - imported, or captured with --no-gt-bracket)."
    return (
        f"{len(with_bracket)} of {len(scenes)} exported scene(s) end their series with a closing GT (the others: no bracket); "
        f"{len(drifted)} drifted beyond the limits when measured{' (' + ', '.join(drifted) + ')' if drifted else ''}. "
        "Between the opening and the closing GT (the scene's noise floor):\n\n"
        f"- camera motion (px, full resolution): {_stats([d.get('motion_px') for d in measured], '.2f')}\n"
        f"- exposure change (stops): {_stats([abs(d['exposure_ev']) if d.get('exposure_ev') is not None else None for d in measured], '.3f')}\n"
        f"- colour change (largest of R/G, B/G): {_stats([max(abs(v) for v in d['colour_shift']) if d.get('colour_shift') else None for d in measured], '.3f')}\n"
        f"- mean |difference| after registration (8-bit levels): {_stats([d.get('mean_abs_diff') for d in measured], '.2f')}\n"
        f"- 99th percentile |difference| (8-bit levels): {_stats([d.get('p99_abs_diff') for d in measured], '.1f')}"
    )


def _loading(fmt: str, splits: tuple[str, ...]) -> str:
    s = splits[0]
    if fmt == "folder":
        return (
            "BasicSR `PairedImageDataset` (names match across folders; pairing never depends on sort order):\n\n"
            "```yaml\n"
            f"dataroot_gt: {s}/gt\n"
            f"dataroot_lq: {s}/lq\n"
            f"meta_info_file: {s}/meta_info.txt\n"
            "io_backend: {type: disk}\n"
            "```\n\n"
            f"`{s}/mask/NAME.png` is the raindrop mask of the pair `NAME` (255 = water on the glass); "
            f"`{s}/reflection/NAME.png` its estimated reflection layer (the light the glass adds, 255 = full scale)."
        )
    if fmt == "imagefolder":
        return (
            "Hugging Face `datasets` (the `*_file_name` columns of each split's `metadata.jsonl` load as images):\n\n"
            "```python\n"
            "from datasets import load_dataset\n"
            "ds = load_dataset(\"imagefolder\", data_dir=\"path/to/this/folder\")\n"
            f"sample = ds[\"{s}\"][0]  # sample[\"gt\"], [\"lq\"], [\"mask\"], [\"reflection\"] are PIL images\n"
            "```"
        )
    return (
        "WebDataset (one sample per pair: `NAME.gt.png`, `NAME.lq.png`, `NAME.mask.png`, `NAME.reflection.png`, `NAME.json`):\n\n"
        "```python\n"
        "import glob, webdataset as wds\n"
        f"ds = wds.WebDataset(sorted(glob.glob(\"{s}-*.tar\")), shardshuffle=False).decode(\"rgb\")\n"
        "sample = next(iter(ds))  # sample[\"gt.png\"], [\"lq.png\"], [\"mask.png\"], [\"reflection.png\"], [\"json\"]\n"
        "```\n\n"
        "In the manifest a member is written `SHARD.tar/MEMBER`."
    )


def _dual_pixel(records: list[ExportRecord], splits: tuple[str, ...]) -> str:
    """The dual-pixel pairs (DPRRN-style: left/right half-aperture views and a mask per view) per split."""
    dual = [r for r in records if r.lq_left]
    if not dual:
        return "Dual-pixel pairs: none (no degraded shot carries left/right views)."
    counts = ", ".join(f"{sum(r.split == s for r in dual)} {s}" for s in splits)
    return (
        f"Dual-pixel pairs: {len(dual)} of {len(records)} ({counts}). Each also has its left and right "
        "half-aperture views (`lq_left`, `lq_right`), warped by the pair's homography (registered on the "
        "combined image `lq`), and a raindrop mask per view (`mask_left`, `mask_right`): out-of-focus drops sit "
        "in different places in the two views, the focused scene does not."
    )


def _card_header(fmt: str, split: str, n: int) -> str:
    """YAML front matter the Hugging Face Hub reads as the dataset card (imagefolder exports only)."""
    if fmt != "imagefolder":
        return ""
    bins = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"))
    size = next((label for limit, label in bins if n < limit), "n>1M")
    return (
        "---\n"
        f"pretty_name: Wet-glass paired images ({split})\n"
        "task_categories:\n- image-to-image\n"
        "tags:\n- raindrop-removal\n- reflection-removal\n- paired\n"
        f"size_categories:\n- {size}\n"
        "---\n\n"
    )


def render_datasheet(plan: ExportPlan, manifest_sha256: str) -> str:
    p = plan.params
    records = plan.records
    splits = p.splits
    size = "the captured size (no resizing)" if p.size == "original" else p.size
    per_split = _table(
        ["split", "scenes", "pairs"],
        [[s, len({r.scene for r in records if r.split == s}), sum(r.split == s for r in records)] for s in splits]
        + [["total", len({r.scene for r in records}), len(records)]],
    )
    scene_lists = "\n".join(
        f"- {s} scenes: " + ", ".join(sorted({r.scene for r in records if r.split == s}, key=scene_order)) for s in splits
    )
    excluded = ", ".join(f"{n} {status}" for status, n in sorted(plan.excluded.items())) or "none"
    statuses = Counter(r.status for r in records)
    status_line = ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
    fit = (
        "frames whose aspect ratio differs from the target by more than 1% are centre-cropped to it "
        "before resizing (stretching would distort raindrops, padding would add fake content)"
        if p.fit == "crop" else "frames whose aspect ratio differs from the target were refused"
    )
    return _card_header(p.format, p.split, len(records)) + f"""# RDRF-style paired dataset export: {p.split}

Real paired images of scenes seen through wet glass: for each pair, the clean ground truth (`gt`,
captured with the light-blocking box, no water), a degraded shot through the wet glass (`lq`, raindrops
and/or reflections) warped onto the ground truth with a homography (SIFT + RANSAC), and a binary
raindrop mask (`mask`, 255 = raindrop) in the same pixel frame. Made by rdrf.

Train and test are split **by scene**: no scene, and no image file, is in both (checked when this
export was made, against the catalogue and against earlier exports still on disk).

## Contents

{per_split}

{scene_lists}

Pairs by status: {status_line}. Pairs of these scenes left out: {excluded}. For comparison, the
RDRF paper's dataset has 216 training scenes (9003 pairs) and 36 test scenes (83 pairs).

### Scenes and pairs per category

{_by(records, lambda r: r.category, splits)}

### Per glass thickness (mm)

{_by(records, lambda r: r.glass_mm, splits, sort_key=lambda v: (v is None, v or 0.0))}

### Per camera

{_by(records, lambda r: r.camera, splits)}

### How the degraded shots were taken (rig record)

{_rigs(plan)}

### GT bracket: drift between the opening and the closing GT

{_brackets(plan)}

### Per degradation and scene kind

{_by(records, lambda r: r.degradation, splits)}

{_by(records, lambda r: r.kind, splits)}

{_dual_pixel(records, splits)}

### Alignment quality of the exported pairs

- RANSAC inliers: {_stats([r.n_inliers for r in records], '.0f')}
- reprojection error (px, full resolution): {_stats([r.reproj_error for r in records], '.2f')}
- valid-area fraction: {_stats([r.valid_fraction for r in records], '.3f')}
- raindrop mask coverage: {_stats([r.mask_coverage for r in records], '.3f')}

## Files

- Layout: `{p.format}`. {_loading(p.format, splits)}
- `manifest.jsonl`: one `ExportRecord` (schemas/records.py in rdrf) per pair, sorted by split, scene
  and shot. `homography` maps degraded pixels to GT pixels at the original full resolution;
  `gt`/`lq`/`mask` are paths relative to this folder.
- Images: 8-bit RGB PNG ({size}); 16-bit sources are rounded to 8 bits after resizing. Masks: 8-bit
  single-channel PNG, resized with nearest neighbour. GT, degraded image and mask of a pair share one
  crop and one resize, so they stay aligned. Resizing: area averaging when shrinking; {fit}
  ({plan.cropped} pair(s) cropped).
  {"Warp borders: each scene's frame is shrunk about its centre, keeping the aspect ratio, to the area that every ok degraded shot of the scene covers once warped (from the homographies), so no exported image has black borders." if p.borders == "crop" else "Warp borders kept: degraded images may have black borders where the shot did not cover the GT frame (see valid_fraction)."}

## Provenance

| | |
|---|---|
| tool | rdrf {plan.version} |
| parameters | split={p.split}, format={p.format}, size={p.size}, fit={p.fit}, borders={p.borders}, include_rejected={str(p.include_rejected).lower()}{f", shard_size={p.shard_size}" if p.format == "webdataset" else ""} |
| split rule | stratified by category, test fraction {plan.test_fraction:.4f} for newly assigned scenes; a scene's split never moves once set |
| catalogue digest (sha256) | `{plan.digest}` |
| manifest.jsonl sha256 | `{manifest_sha256}` |

The degraded/ground-truth capture protocol and the 216/36 scene split follow the RDRF paper
(seeds/000 in the rdrf repository, sec. 3.2; images resized to 1080x720 for training, A.2).
"""
