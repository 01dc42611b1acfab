"""Sensitivity heatmaps of the multi-seed report card: pass rate over each parameter grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_sensitivity(card, case: str, path: str | Path) -> Path | None:
    """One figure for ``case``: per tuned measure, the pass rate over its 2-D grid on the tuning
    seeds and on the sensitivity seeds (cells annotated k/n; the chosen point boxed; grey: the
    measure rejects the point).  None if no measure has a grid on this case."""
    panels = []
    for m in card.measures:
        for label, rec in (("tuning", card.tuning.get(m, {}).get(case)),
                           ("sensitivity", card.sensitivity.get(m, {}).get(case))):
            if rec is not None and len(rec["grid"]) == 2:
                panels.append((m, label, rec))
    if not panels:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.3), squeeze=False)
    for ax, (m, label, rec) in zip(axes[0], panels):
        _heatmap(ax, rec)
        seeds = rec["seeds"]
        ax.set_title(f"{m}, {label} seeds {seeds[0]}-{seeds[-1]} (n={len(seeds)})", fontsize=8)
    fig.suptitle(f"{case.replace('_', ' ')}: pass rate over the parameter grid", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return Path(path)


def _heatmap(ax, rec: dict) -> None:
    (ya, yv), (xa, xv) = rec["grid"].items()
    k, n = np.asarray(rec["k"], dtype=float), np.asarray(rec["n"], dtype=float)
    rate = np.where(n > 0, k / np.maximum(n, 1), np.nan)
    cmap = matplotlib_cmap()
    im = ax.imshow(rate, vmin=0, vmax=1, cmap=cmap, origin="lower")
    for i in range(rate.shape[0]):
        for j in range(rate.shape[1]):
            txt = f"{int(k[i, j])}/{int(n[i, j])}" if n[i, j] > 0 else "-"
            ax.text(j, i, txt, ha="center", va="center", fontsize=7,
                    color="white" if np.isfinite(rate[i, j]) and rate[i, j] < 0.5 else "black")
    chosen = rec.get("chosen") or {}
    if chosen.get(ya) in yv and chosen.get(xa) in xv:
        i, j = yv.index(chosen[ya]), xv.index(chosen[xa])
        ax.add_patch(_box(j, i))
    ax.set_xticks(range(len(xv)), [str(v) for v in xv])
    ax.set_yticks(range(len(yv)), [str(v) for v in yv])
    ax.set_xlabel(xa)
    ax.set_ylabel(ya)
    ax.figure.colorbar(im, ax=ax, fraction=0.046, label="pass rate")


def matplotlib_cmap():
    import matplotlib

    return matplotlib.colormaps["RdYlGn"].with_extremes(bad="lightgrey")


def _box(j: int, i: int):
    from matplotlib.patches import Rectangle

    return Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=2.0)
