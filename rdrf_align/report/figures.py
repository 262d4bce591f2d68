"""Charts for the QA report (matplotlib's object API: no pyplot global state, safe in threads)."""

from __future__ import annotations

import io
from typing import Optional, Sequence

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from schemas.records import CATEGORIES
from schemas import vocabulary

STATUS_COLORS = {"ok": "#2e9e43", "rejected": "#e68c14", "failed": "#a01e3c", "pending": "#888888"}
SPLIT_COLORS = {"train": "#3b6fb6", "test": "#d9822b", "unassigned": "#bbbbbb"}


def to_png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    return buf.getvalue()


def category_chart(counts: dict[Optional[str], dict[str, int]]) -> bytes:
    """Scenes per category as a donut (the paper's Fig. 10) and as train/test bars.

    `counts[category][split]` with split in train/test/unassigned; the eight paper categories are
    always listed (an empty one is a gap a curator should see), others after them."""
    cats = list(CATEGORIES) + sorted((c for c in counts if c not in CATEGORIES and c is not None)) + ([None] if None in counts else [])
    names = ["(no category)" if c is None else c for c in cats]
    totals = np.array([sum(counts.get(c, {}).values()) for c in cats])
    fig = Figure(figsize=(11, 4.2))
    ax_pie, ax_bar = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.35]})
    cmap = matplotlib.colormaps["tab10"]
    # tab10 without its blue and orange, which mean train and test on this page
    order = (2, 4, 5, 6, 8, 9, 3, 7)
    colors = [cmap(order[i % len(order)]) for i in range(len(cats))]
    nonzero = totals > 0
    if nonzero.any():
        wedges, _texts, autotexts = ax_pie.pie(
            totals[nonzero], colors=[c for c, nz in zip(colors, nonzero) if nz], startangle=90, counterclock=False,
            wedgeprops={"width": 0.42, "edgecolor": "white"}, autopct=lambda p: f"{p:.0f}%" if p >= 4 else "", pctdistance=0.79,
        )
        for t in autotexts:
            t.set_color("white")
            t.set_fontsize(8)
    ax_pie.text(0, 0, f"{int(totals.sum())}\nscenes", ha="center", va="center", fontsize=12, weight="bold")
    ax_pie.set_title("Scenes per category")
    ax_pie.set_aspect("equal")

    y = np.arange(len(cats))[::-1]
    left = np.zeros(len(cats))
    for split in (*vocabulary.values(vocabulary.Split), "unassigned"):
        vals = np.array([counts.get(c, {}).get(split, 0) for c in cats])
        if split == "unassigned" and not vals.any():
            continue
        ax_bar.barh(y, vals, left=left, color=SPLIT_COLORS[split], label=split, height=0.7)
        for yi, v, lft in zip(y, vals, left):
            if v:
                ax_bar.text(lft + v / 2, yi, str(v), ha="center", va="center", fontsize=8, color="white")
        left += vals
    ax_bar.set_yticks(y, [f"{n} ({t})" for n, t in zip(names, totals)], fontsize=8.5)
    ax_bar.tick_params(axis="y", pad=16, length=0)
    ax_bar.set_xlabel("scenes")
    ax_bar.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_bar.set_title("Train / test scenes per category")
    ax_bar.legend(loc="lower right", fontsize=8, frameon=False)
    ax_bar.spines[["top", "right"]].set_visible(False)
    # colour keys for the donut next to the bar labels
    for yi, color in zip(y, colors):
        ax_bar.plot([-0.025], [yi], marker="s", markersize=8, color=color, transform=ax_bar.get_yaxis_transform(), clip_on=False)
    fig.tight_layout()
    return to_png(fig)


def histograms(panels: Sequence[tuple[str, str, list[tuple[float, str]]]]) -> bytes:
    """One histogram per (title, x label, [(value, status)]), bars stacked by pair status."""
    fig = Figure(figsize=(11, 3.4))
    axes = fig.subplots(1, len(panels))
    for ax, (title, xlabel, values) in zip(np.atleast_1d(axes), panels):
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.spines[["top", "right"]].set_visible(False)
        vals = [(v, s) for v, s in values if v is not None and np.isfinite(v)]
        if not vals:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="#888")
            continue
        arr = np.array([v for v, _ in vals], float)
        lo, hi = float(arr.min()), float(arr.max())
        bins = np.linspace(lo, hi if hi > lo else lo + 1, 26)
        statuses = [s for s in STATUS_COLORS if any(st == s for _, st in vals)]
        data = [[v for v, st in vals if st == s] for s in statuses]
        ax.hist(data, bins=bins, stacked=True, color=[STATUS_COLORS[s] for s in statuses],
                label=[f"{s} ({len(d)})" for s, d in zip(statuses, data)])
        ax.set_ylabel("pairs")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return to_png(fig)
