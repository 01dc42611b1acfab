"""Markdown section and figure for the Mamba run of the compositional study (:mod:`.mamba`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .compositional_setup import PAPER_GROUPS


def _f(v, nd: int = 3) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f"{v:.{nd}f}"


def _p(v) -> str:
    return "n/a" if v is None or not np.isfinite(v) else (f"{v:.2g}" if v < 0.001 else f"{v:.3f}")


def _sep_cell(s: dict | None) -> str:
    if s is None:
        return "n/a (too few models)"
    verdict = "separated" if s["separated"] else "not separated"
    return (f"{_f(s['diff'])} [{_f(s['ci'][0])}, {_f(s['ci'][1])}], p = {_p(s['p'])}, g = {_f(s['hedges_g'], 2)}, "
            f"n = {s['n_ref']} vs {s['n_other']}: {verdict}")


def mamba_markdown(result: dict) -> str:
    """The "Mamba" section appended to compositional.md."""
    mb = result["mamba"]
    lines = ["", "## Mamba: does a measure separate pretrained from untrained models?", "",
             "The paper reads its Mamba figures as DSA *not* separating pretrained from untrained models "
             "(untrained 0.462 vs pretrained 0.385-0.466), unlike RNNs (0.607 vs 0.27-0.37). Tested here: "
             "mean dissimilarity to master of `untrained` minus that of every pretrained group pooled "
             "(full, unfrozen and the five partial), 95% stratified bootstrap interval, two-sided label "
             "permutation p, Hedges' g. Positive = untrained further from master.", "",
             "| measure | Mamba (this run) |" + (" RNN (compared run) | RNN - Mamba [95% CI] |" if "rnn_vs_mamba" in mb else ""),
             "|---|---|" + ("---|---|" if "rnn_vs_mamba" in mb else "")]
    for m, s in mb["separation"].items():
        row = f"| {m} | {_sep_cell(s)} |"
        if "rnn_vs_mamba" in mb and m in mb["rnn_vs_mamba"]:
            c = mb["rnn_vs_mamba"][m]
            d = c["rnn_minus_mamba"]
            dd = "n/a" if d is None else f"{_f(d['diff'])} [{_f(d['ci'][0])}, {_f(d['ci'][1])}]"
            row += f" {_sep_cell(c['rnn'])} | {dd} |"
        lines.append(row)
    if "rnn_run" in mb:
        rr = mb["rnn_run"]
        lines += ["", f"### RNN ({rr['model']}, preset {rr['preset']}, `{rr['dir']}`) vs Mamba, side by side", "",
                  "Mean dissimilarity to master; the paper's values in the last two columns.", "",
                  "| measure | group | RNN | Mamba | paper RNN | paper Mamba |", "|---|---|---|---|---|---|"]
        for m in result["dissimilarity"]:
            if m not in rr["dissimilarity"]:
                continue
            for g in PAPER_GROUPS:
                lines.append(f"| {m} | {g} | {_f(rr['dissimilarity'][m][g]['mean'])} | "
                             f"{_f(result['dissimilarity'][m][g]['mean'])} | "
                             f"{result['paper_table_rnn'].get(m, {}).get(g, '')} | {result['paper_table'].get(m, {}).get(g, '')} |")
    sens = mb.get("dsa_sensitivity")
    if sens:
        k, r = sens["study_setting"]
        lines += ["", "### DSA on the SSM state: cost and sensitivity to the reduction", "",
                  f"The study's setting: states reduced to k = {k} uncentred principal components, DMD rank {r}. "
                  "Every setting below recomputes every model's DMD (time: all fits) and every distance to "
                  "master (time: all Procrustes searches); `k=all` is no reduction.", "",
                  "| setting | state kept | DMD s (fits) | Procrustes s (pairs) | untrained - pretrained [95% CI] | "
                  "Spearman vs study | max abs diff |", "|---|---|---|---|---|---|---|"]
        for name, v in sens["settings"].items():
            s = v["separation"]
            sep = "n/a" if s is None else f"{_f(s['diff'])} [{_f(s['ci'][0])}, {_f(s['ci'][1])}]"
            lines.append(f"| {name} | {_f(v['explained'], 6)} | {_f(v['dmd_s'], 1)} ({v['n_fits']}) | "
                         f"{_f(v['procrustes_s'], 1)} ({v['n_pairs']}) | {sep} | {_f(v['spearman_vs_study'])} | "
                         f"{_f(v['max_abs_diff_vs_study'], 4)} |")
    lines.append("")
    return "\n".join(lines)


def mamba_figure(result: dict, out: Path) -> Path:
    """compositional_mamba.png: untrained-minus-pretrained separation per measure with 95% CIs
    (Mamba, and the compared RNN run when there is one)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mb = result["mamba"]
    measures = list(mb["separation"])
    series = [("Mamba", {m: mb["separation"][m] for m in measures})]
    if "rnn_vs_mamba" in mb:
        series.insert(0, ("RNN", {m: (mb["rnn_vs_mamba"].get(m) or {}).get("rnn") for m in measures}))
    fig, ax = plt.subplots(figsize=(1.8 + 1.4 * len(measures), 3.2))
    width = 0.8 / len(series)
    for i, (label, seps) in enumerate(series):
        x = np.arange(len(measures)) + (i - (len(series) - 1) / 2) * width
        d = [seps[m]["diff"] if seps[m] else np.nan for m in measures]
        lo = [seps[m]["diff"] - seps[m]["ci"][0] if seps[m] else 0 for m in measures]
        hi = [seps[m]["ci"][1] - seps[m]["diff"] if seps[m] else 0 for m in measures]
        ax.bar(x, d, width, yerr=[lo, hi], capsize=3, label=label)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(np.arange(len(measures)), measures)
    ax.set_ylabel("untrained - pretrained\n(dissimilarity to master)")
    ax.legend(frameon=False)
    fig.tight_layout()
    path = Path(out) / "compositional_mamba.png"
    from ..report.figstyle import save_figure

    save_figure(fig, path, dpi=110, tight=False)  # PNG, plus SVG/PDF under paper_style
    plt.close(fig)
    return path
