"""Figures and the markdown report of the compositional study (:mod:`.compositional`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .compositional_setup import PAPER_GROUPS, SHARE

SHORT = {"untrained": "untrained", "master": "master", "master_frozen": "master_frozen",
         "pretrain_frozen": "pre_frozen", "pretrain_unfrozen": "pre_unfrozen",
         "pretrain_basic_frozen": "basic", "pretrain_anti_frozen": "anti", "pretrain_delay_frozen": "delay",
         "pretrain_basic_anti_frozen": "basic+anti", "pretrain_basic_delay_frozen": "basic+delay",
         "pretrain_partial": "partial (pooled)"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _num(v):
    return v if isinstance(v, (int, float)) and np.isfinite(v) else np.nan


def figures(result: dict, out: Path) -> dict:
    """Group heatmaps per measure, over-learning curves, regression plots, accuracy; paths."""
    plt = _plt()
    out = Path(out)
    paths = {}
    measures = list(result["dissimilarity"])
    fig, axes = plt.subplots(1, len(measures), figsize=(5.2 * len(measures), 4.6))
    for ax, m in zip(np.atleast_1d(axes), measures):
        gm = result["group_matrix"][m]
        M = np.array([[_num(v) for v in row] for row in gm["matrix"]])
        im = ax.imshow(M, cmap="viridis")
        labels = [SHORT[g] for g in gm["groups"]]
        ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
        ax.set_title(f"{m}: mean dissimilarity between groups")
        fig.colorbar(im, ax=ax, shrink=0.7)
    paths["heatmaps"] = _save(fig, out / "compositional_heatmaps.png")

    ol = result["over_learning"]
    fig, axes = plt.subplots(1, len(measures) + 1, figsize=(4.4 * (len(measures) + 1), 3.6))
    for ax, m in zip(axes, measures + ["accuracy"]):
        for k, (g, d) in enumerate(ol["binned"][m].items()):
            y = np.array([_num(v) if v is not None else np.nan for v in d["mean"]])
            ax.plot(ol["grid"], y, "-o", ms=3, color=f"C{k % 10}", label=SHORT[g])
        ax.set(xlabel="fraction of training", title=f"{m} to master over learning" if m != "accuracy" else "accuracy")
    axes[-1].legend(fontsize=6)
    paths["over_learning"] = _save(fig, out / "compositional_over_learning.png")

    rows = ol["rows"]
    last = max(ol["grid"])
    fig, axes = plt.subplots(2, len(measures), figsize=(4.4 * len(measures), 7), squeeze=False)
    for j, m in enumerate(measures):
        sel = [r for r in rows if r["group"] in SHARE and r["bin"] == last]
        x, y = np.array([SHARE[r["group"]] for r in sel]), np.array([_num(r[m]) for r in sel])
        _scatter_fit(axes[0, j], x, y, result["over_learning"]["regressions"][m]["share"].get(f"{last:.2f}", {}))
        axes[0, j].set(xlabel="share of the final task's precursors pretrained", ylabel=f"{m} to master",
                       title=f"{m} at the end of training")
        xa = np.array([abs(r["accuracy"] - r["accuracy_master"]) for r in rows])
        ya = np.array([_num(r[m]) for r in rows])
        _scatter_fit(axes[1, j], xa, ya, result["over_learning"]["regressions"][m]["accuracy_difference"])
        axes[1, j].set(xlabel="|accuracy - master's accuracy|", ylabel=f"{m} to master")
    paths["regressions"] = _save(fig, out / "compositional_regressions.png")

    fig, ax = plt.subplots(figsize=(7, 3.4))
    accs = result["final_accuracy"]
    names = [g for g in accs if g != "untrained"]
    vals = [[a for a in accs[g] if a is not None] for g in names]
    ax.boxplot(vals, tick_labels=[SHORT[g] for g in names])
    ax.tick_params(axis="x", rotation=60, labelsize=7)
    ax.set(ylabel="final accuracy (decision period)", title="final-task accuracy per group")
    paths["accuracy"] = _save(fig, out / "compositional_accuracy.png")

    if "paper_pipeline" in result:
        fig, axes = plt.subplots(1, len(measures), figsize=(4.6 * len(measures), 3.4))
        for ax, m in zip(np.atleast_1d(axes), measures):
            c = [result["dissimilarity"][m][g]["mean"] for g in PAPER_GROUPS]
            p = [result["paper_pipeline"][m]["dissimilarity"][g]["mean"] for g in PAPER_GROUPS]
            xs = np.arange(len(PAPER_GROUPS))
            ax.bar(xs - 0.2, c, 0.4, label="corrected")
            ax.bar(xs + 0.2, p, 0.4, label="paper's pipeline")
            ax.set_xticks(xs, [SHORT[g] for g in PAPER_GROUPS], rotation=45, fontsize=7)
            ax.set_title(f"{m} to master")
        np.atleast_1d(axes)[0].legend(fontsize=7)
        paths["pipeline"] = _save(fig, out / "compositional_pipeline.png")
    return {k: str(v) for k, v in paths.items()}


def _scatter_fit(ax, x, y, reg: dict) -> None:
    ax.plot(x, y, "o", ms=3, alpha=0.6)
    if reg.get("slope") is not None and np.isfinite(x).any():
        xs = np.linspace(np.nanmin(x), np.nanmax(x), 10)
        ax.plot(xs, reg["intercept"] + reg["slope"] * xs, "k-")
        ax.text(0.02, 0.95, f"slope {reg['slope']:.3g}, p={reg['p']:.2g}, R2={reg['r2']:.2f}",
                transform=ax.transAxes, fontsize=7, va="top")


def _save(fig, path: Path) -> Path:
    from ..report.figstyle import save_figure

    fig.tight_layout()
    save_figure(fig, path, dpi=100, tight=False)  # PNG, plus SVG/PDF under paper_style
    _plt().close(fig)
    return path


def _f(v, nd: int = 3) -> str:
    return f"{v:.{nd}f}" if isinstance(v, (int, float)) and np.isfinite(v) else "n/a"


def _p(v) -> str:
    return f"{v:.2g}" if isinstance(v, (int, float)) and np.isfinite(v) else "n/a"


def markdown(result: dict) -> str:
    """compositional.md: tables beside the paper's, tests, over-learning regressions, verdicts."""
    p = result["params"]
    lines = [f"# Compositional learning: {result['model']}, preset {result['preset']}", "",
             f"{len(result['configurations'])} configurations (activations {p['activations']}, hidden {p['hidden']}, "
             f"lr {p['lrs']}, batch {p['batch_sizes']}, seeds {p['seeds']}), one network per group each; "
             f"{p['epochs']} epochs of {p['trials_per_epoch']} trials; {p['n_test']} seeded test trials of "
             f"{p['final_task']}, stimulus window. DSA {p['dsa']}.", "",
             "## Dissimilarity to master (mean ± sem [95% bootstrap CI], n configurations) beside the paper", ""]
    measures = list(result["dissimilarity"])
    lines.append("| group | " + " | ".join(f"{m} | paper {m}" for m in measures) + " |")
    lines.append("|---" * (1 + 2 * len(measures)) + "|")
    for g in list(PAPER_GROUPS) + ["pretrain_basic_frozen", "pretrain_anti_frozen", "pretrain_delay_frozen",
                                   "pretrain_basic_anti_frozen", "pretrain_basic_delay_frozen"]:
        cells = []
        for m in measures:
            s = result["dissimilarity"][m][g]
            ci = f" [{_f(s['ci_low'])}, {_f(s['ci_high'])}]" if s["ci_low"] is not None else ""
            cells.append(f"{_f(s['mean'])} ± {_f(s['sem'])}{ci} (n={s['n']})")
            cells.append(str(result["paper_table"].get(m, {}).get(g, "")))
        lines.append(f"| {g} | " + " | ".join(cells) + " |")
    fails = {m: len(v) for m, v in result.get("failures", {}).items() if v}
    if fails:
        first = next(v[0] for v in result["failures"].values() if v)
        lines += ["", f"Failed pairs (left out of the statistics): {fails}; e.g. {first['a']} vs {first['b']}: "
                  f"{first['error']}"]
    lines += ["", "Scales differ from the paper's (repalign's DSA and Procrustes are angular distances; "
              "CKA dissimilarity is 1 - linear CKA); compare orderings and tests, not raw values.", "",
              "## Which group differences each measure detects", "",
              "Student t-tests between the paper's five groups, Benjamini-Hochberg over the 10 pairs "
              "(p_adj), and a permutation test over group labels (p_perm_adj, BH).", ""]
    for m in measures:
        lines += [f"### {m}", "", "| a | b | mean a - b | t | p | p_adj | p_perm_adj |", "|---|---|---|---|---|---|---|"]
        for r in result["tests"][m]:
            lines.append(f"| {r['a']} | {r['b']} | {_f(r['diff'])} | {_f(r['t'], 2)} | {_p(r['p'])} | "
                         f"{_p(r['p_adj'])} | {_p(r['p_perm_adj'])} |")
        om = result["omnibus"][m]
        ex = result["expected_ordering"][m]
        lines += ["", f"Omnibus permutation ANOVA: F = {_f(om['F'], 2)}, p = {_p(om['p_perm'])}. "
                  f"Expected orderings (untrained > master_frozen > partial > full pretraining) detected at "
                  f"p_adj < 0.05: {ex['n_detected']} of {len(ex['pairs'])}.", ""]
    if "paper_pipeline" in result:
        lines += ["## What the corrections change", "",
                  "The same networks analysed with the paper's pipeline (fresh unseeded-like test trials per "
                  "model, window shifted by the fixation steps, DSA on (time, trials, units)):", "",
                  "| measure | group | corrected | paper's pipeline |", "|---|---|---|---|"]
        for m in measures:
            for g in PAPER_GROUPS:
                lines.append(f"| {m} | {g} | {_f(result['dissimilarity'][m][g]['mean'])} | "
                             f"{_f(result['paper_pipeline'][m]['dissimilarity'][g]['mean'])} |")
        lines.append("")
        for m in measures:
            lines.append(f"- {m}: expected orderings detected {result['expected_ordering'][m]['n_detected']}/6 "
                         f"corrected vs {result['paper_pipeline'][m]['n_detected']}/6 with the paper's pipeline.")
        lines.append("")
    ol = result["over_learning"]
    lines += ["## Dissimilarity over learning", "",
              f"Checkpoints matched to master's by fraction of training, shared z-scored PCA to {ol['pca']} "
              "components per pair. Regression of dissimilarity on the pretrained share (frozen groups; "
              "0, 1/3, 2/3, 1) per bin, and on |accuracy difference| (all rows):", "",
              "| measure | predictor | bin | slope | t | p | R^2 | n |", "|---|---|---|---|---|---|---|---|"]
    for m, reg in ol["regressions"].items():
        for b, r in reg["share"].items():
            lines.append(f"| {m} | share | {b} | {_f(r['slope'])} | {_f(r['t'], 2)} | {_p(r['p'])} | "
                         f"{_f(r['r2'], 2)} | {r['n']} |")
        r = reg["accuracy_difference"]
        lines.append(f"| {m} | abs acc diff | all | {_f(r['slope'])} | {_f(r['t'], 2)} | {_p(r['p'])} | "
                     f"{_f(r['r2'], 2)} | {r['n']} |")
    acc = result["final_accuracy"]
    lines += ["", "## Final accuracy (decision period; coherence-0 trials cap it near 0.9)", "",
              "| group | mean | min | max |", "|---|---|---|---|"]
    for g, v in acc.items():
        v = [a for a in v if a is not None]
        if v:
            lines.append(f"| {g} | {_f(np.mean(v))} | {_f(min(v))} | {_f(max(v))} |")
    sec = result.get("seconds", {})
    lines += ["", f"Wall time: training {_f(sec.get('training', float('nan')), 0)} s, total "
              f"{_f(sec.get('total', float('nan')), 0)} s. Figures: " + ", ".join(
                  Path(v).name for v in result.get("figures", {}).values()), ""]
    return "\n".join(lines)
