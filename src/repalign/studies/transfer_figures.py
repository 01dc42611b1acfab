"""Figures of ``repalign study transfer`` (matplotlib object interface; PNG files, and SVG/PDF
beside them under :func:`repalign.report.figstyle.paper_style`).

* :func:`sanity_figure` — the final network's outputs over the targets, and the inputs, for a
  few test trials of every task (the seed's ``finalnet_on_stage{1,2}`` check).
* :func:`learning_curves_figure` — accuracy against update, stage 1 then stage 2, one line per
  seed and task, with the switch marked.
* :func:`cross_ruleset_figure` — the new task's stage-2 accuracy, mean +/- s.e.m. over seeds,
  one line per pretraining rule set (the seed's cross-rule-set learning-curve figure).
* :func:`spectrum_figure` — cross / self curves (pooled and direction-matched) on a log k axis.

And the figures of the analysis results (:mod:`repalign.studies.transfer` re-exports them; numpy
only): :func:`plot_variance_curves`, :func:`plot_angle_spectrum`, :func:`plot_seed_scatter`.
torch is imported only by :func:`sanity_figure`, which runs a network: torch is an optional
dependency and the analysis figures must work without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from .._validation import check_finite, to_numpy
from ..report.figstyle import save_figure
from ..tasks import generate as generate_trials

__all__ = ["sanity_figure", "learning_curves_figure", "cross_ruleset_figure", "spectrum_figure",
           "plot_variance_curves", "plot_angle_spectrum", "plot_seed_scatter"]


def _fig(rows: int, cols: int, size: tuple[float, float]):
    fig = Figure(figsize=size)
    return fig, fig.subplots(rows, cols, squeeze=False)


def _figure(ax: Any, size: tuple[float, float]):
    """``ax``'s figure and ``ax``, or a new one-panel figure."""
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=size)
    return fig, fig.add_subplot(1, 1, 1)


def _save(fig, path: str | Path, *, dpi: int = 100, tight: bool = True) -> str:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if tight:
        fig.tight_layout()
    save_figure(fig, path, dpi=dpi)  # PNG, plus SVG/PDF under paper_style("png,svg,pdf")
    return str(path)


def sanity_figure(net, tasks: Sequence[str], lay: Mapping[str, Any], path: str | Path, *, trials: int = 2,
                  seed: int = 0) -> str:
    """Outputs (solid) over targets (thick, faded) and inputs, ``trials`` test trials per task."""
    import torch

    rows = []
    for t in tasks:
        b = generate_trials(t, trials, seed=np.random.default_rng([seed, 5]), layout=lay["layout"],
                              rule_slots=lay["rule_slots"], rule_index=lay["rule_index"], **lay["task_kwargs"])
        with torch.no_grad():
            y = net.eval()(torch.as_tensor(b.inputs, dtype=torch.float32), noise=False).outputs.numpy()
        rows += [(t, b.inputs[i], b.targets[i], y[i]) for i in range(trials)]
    fig, axs = _fig(len(rows), 2, (8, 1.6 * len(rows)))
    for r, (t, x, target, y) in enumerate(rows):
        for j in range(y.shape[-1]):
            axs[r, 0].plot(y[:, j], color=f"C{j}", lw=1)
            axs[r, 0].plot(target[:, j], color=f"C{j}", lw=4, alpha=0.25)
        for j in range(x.shape[-1]):
            axs[r, 1].plot(x[:, j], color=f"C{j % 10}", lw=1)
        axs[r, 0].set_title(f"{t}: output vs target", fontsize=8)
        axs[r, 1].set_title(f"{t}: inputs", fontsize=8)
        for ax in axs[r]:
            ax.set_ylim(-1.6, 1.6)
            ax.tick_params(labelsize=7)
    axs[-1, 0].set_xlabel("time step")
    axs[-1, 1].set_xlabel("time step")
    return _save(fig, path)


def learning_curves_figure(networks: Sequence[Mapping[str, Any]], ruleset: str, path: str | Path) -> str:
    """Accuracy against update for every seed of ``ruleset``; stage 2 starts at the dashed line."""
    fig, axs = _fig(1, 1, (6, 3.2))
    ax = axs[0, 0]
    for n in networks:
        if n["ruleset"] != ruleset:
            continue
        s1, s2 = n["curves"]["stage1"], n["curves"]["stage2"]
        off = s1[-1]["step"] if s1 else 0
        for i, task in enumerate(s1[0]["accuracy"] if s1 else []):
            ax.plot([h["step"] for h in s1], [h["accuracy"][task] for h in s1], color=f"C{i}", lw=0.8,
                    label=task if n["seed"] == 0 else None)
        ax.plot([off + h["step"] for h in s2], [list(h["accuracy"].values())[0] for h in s2], color="C3", lw=1.2,
                label="new task" if n["seed"] == 0 else None)
        ax.axvline(off, color="0.6", ls="--", lw=0.6)
    ax.set(xlabel="update (stage 1, then stage 2)", ylabel="accuracy", ylim=(-0.02, 1.02),
           title=f"{ruleset}: learning curves (dashed: switch to stage 2)")
    ax.legend(fontsize=7)
    return _save(fig, path)


def cross_ruleset_figure(networks: Sequence[Mapping[str, Any]], path: str | Path) -> str:
    """Stage-2 accuracy of the new task, mean +/- s.e.m. over seeds, per rule set."""
    fig, axs = _fig(1, 1, (5, 3.2))
    ax = axs[0, 0]
    rulesets = list(dict.fromkeys(n["ruleset"] for n in networks))
    for i, rs in enumerate(rulesets):
        curves = [n["curves"]["stage2"] for n in networks if n["ruleset"] == rs]
        steps = sorted({h["step"] for c in curves for h in c})
        acc = np.full((len(curves), len(steps)), np.nan)
        for r, c in enumerate(curves):
            for h in c:
                acc[r, steps.index(h["step"])] = list(h["accuracy"].values())[0]
        mean = np.nanmean(acc, axis=0)
        cnt = np.sum(np.isfinite(acc), axis=0)
        sem = np.where(cnt > 1, np.nanstd(acc, axis=0, ddof=min(1, len(curves) - 1)) / np.sqrt(cnt), 0.0)
        ax.plot(steps, mean, color=f"C{i}", marker="o", ms=3, label=f"pretrained on {rs} (n={len(curves)})")
        ax.fill_between(steps, mean - sem, mean + sem, color=f"C{i}", alpha=0.2, lw=0)
    ax.set(xlabel="stage-2 update", ylabel="new-task accuracy", ylim=(-0.02, 1.02),
           title="Learning the new task through its rule column")
    ax.legend(fontsize=7)
    return _save(fig, path)


def spectrum_figure(agg: Mapping[str, Any], path: str | Path, title: str) -> str:
    """Cross (solid) and self (dashed) curves, pooled and direction-matched, mean +/- s.e.m."""
    fig, axs = _fig(1, 1, (5, 3.4))
    ax = axs[0, 0]
    series = [("pooled", agg, "C0")]
    if isinstance(agg.get("direction_matched"), Mapping):
        series.append(("direction-matched", agg["direction_matched"], "C1"))
    for label, a, color in series:
        for key, style in (("cross", "-"), ("self", "--")):
            mean, sem = np.asarray(a[key]["mean"], float), np.asarray(a[key]["sem"], float)
            k = np.arange(1, mean.size + 1)
            ax.plot(k, mean, style, color=color, lw=1.2, label=f"{label} {key}")
            if np.any(np.isfinite(sem)):
                ax.fill_between(k, mean - sem, mean + sem, color=color, alpha=0.2, lw=0)
    ax.set_xscale("log")
    ax.set(xlabel="components k", ylabel="fraction of new-task variance", ylim=(0, 1.02), title=title)
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, path)


def _mean_band(entry: Any) -> tuple[np.ndarray, np.ndarray | None]:
    if isinstance(entry, Mapping):
        return np.asarray(entry["mean"], dtype=float), np.asarray(entry["sem"], dtype=float)
    return np.asarray(entry, dtype=float), None


def plot_variance_curves(result: Mapping[str, Any], *, ax: Any = None, path: str | Path | None = None,
                         title: str | None = None):
    """Cumulative new-task variance in the pretraining PCs (``cross``) and in its own
    (``self``, dashed), against the number of components k.

    Parameters
    ----------
    result : dict
        A :func:`cross_task_variance` output or its :func:`aggregate` (then the mean is
        drawn with a +/- s.e.m. band). The direction-matched curves are added when present.
    ax : matplotlib Axes, optional
    path : str or Path, optional
        Save the figure there as PNG.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not isinstance(result, Mapping) or "cross" not in result or "self" not in result:
        raise ValueError("result must be a cross_task_variance dict (or its aggregate) with 'cross' and 'self'")
    fig, ax = _figure(ax, (4.8, 3.6))
    series = [("cross (pretraining PCs)", result["cross"], "C0", "-"), ("self (own PCs)", result["self"], "C0", "--")]
    dm = result.get("direction_matched")
    if isinstance(dm, Mapping):
        series += [("direction-matched cross", dm["cross"], "C1", "-"),
                   ("direction-matched self", dm["self"], "C1", "--")]
    for label, entry, color, style in series:
        mean, sem = _mean_band(entry)
        k = np.arange(1, mean.size + 1)
        ax.plot(k, mean, style, color=color, marker="o", ms=3, label=label)
        if sem is not None and np.any(np.isfinite(sem)):
            ax.fill_between(k, mean - sem, mean + sem, color=color, alpha=0.2, linewidth=0)
    ax.set(xlabel="number of components k", ylabel="fraction of new-task variance", ylim=(0, 1.02),
           title=title or "Cross-task variance explained")
    ax.legend(fontsize=7, loc="lower right")
    if path is not None:
        _save(fig, path, dpi=120, tight=False)
    return fig


def plot_angle_spectrum(angles: Any, *, labels: Sequence[str] | None = None, ax: Any = None,
                        path: str | Path | None = None, title: str | None = None):
    """Principal angles (degrees) against their index, one line per seed or condition.

    Parameters
    ----------
    angles : array (k,), a list of such arrays, or an aggregate ``{"mean", "sem"}`` dict
        Angles in radians.
    labels : sequence of str, optional
        One per line.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if isinstance(angles, Mapping):
        lines = [_mean_band(angles)]
    elif isinstance(angles, np.ndarray) and angles.ndim == 1:
        lines = [(angles, None)]
    elif isinstance(angles, (list, tuple)) and angles and np.ndim(angles[0]) == 1:
        lines = [(np.asarray(a, float), None) for a in angles]
    else:
        raise ValueError("angles must be a 1-D array, a list of 1-D arrays or an aggregate dict")
    if labels is not None and len(labels) != len(lines):
        raise ValueError(f"labels must have one entry per line ({len(lines)}); got {len(labels)}")
    fig, ax = _figure(ax, (4.8, 3.6))
    for i, (a, sem) in enumerate(lines):
        deg = np.degrees(a)
        k = np.arange(1, deg.size + 1)
        ax.plot(k, deg, marker="o", ms=3, label=None if labels is None else labels[i])
        if sem is not None:
            ax.fill_between(k, deg - np.degrees(sem), deg + np.degrees(sem), alpha=0.2, linewidth=0)
    ax.set(xlabel="index", ylabel="principal angle (degrees)", ylim=(0, 91), title=title or "Principal angles")
    if labels is not None:
        ax.legend(fontsize=7)
    if path is not None:
        _save(fig, path, dpi=120, tight=False)
    return fig


def plot_seed_scatter(x: Any, y: Any, *, labels: Sequence[str] | None = None, xlabel: str = "x",
                      ylabel: str = "y", identity: bool = True, ax: Any = None,
                      path: str | Path | None = None, title: str | None = None):
    """One point per seed (e.g. observed fraction vs null mean, or vs new-task accuracy).

    Parameters
    ----------
    x, y : array-like, (seeds,)
    labels : sequence of str, optional
        Annotates each point.
    identity : bool
        Draw the line y = x.

    Returns
    -------
    matplotlib.figure.Figure
    """
    xa, ya = to_numpy(x, "x").ravel(), to_numpy(y, "y").ravel()
    if xa.size != ya.size or xa.size == 0:
        raise ValueError(f"x and y must be non-empty with one value per seed each; got {xa.size} and {ya.size}")
    check_finite(xa, "x")
    check_finite(ya, "y")
    if labels is not None and len(labels) != xa.size:
        raise ValueError(f"labels must have one entry per seed ({xa.size}); got {len(labels)}")
    fig, ax = _figure(ax, (4.0, 4.0))
    ax.scatter(xa, ya, s=20)
    if labels is not None:
        for xi, yi, lab in zip(xa, ya, labels):
            ax.annotate(str(lab), (xi, yi), fontsize=7, xytext=(3, 3), textcoords="offset points")
    if identity:
        lo, hi = min(xa.min(), ya.min()), max(xa.max(), ya.max())
        ax.plot([lo, hi], [lo, hi], color="0.5", lw=0.8, ls=":")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title or "")
    if path is not None:
        _save(fig, path, dpi=120, tight=False)
    return fig
