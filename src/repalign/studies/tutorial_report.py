"""Writing study ``tutorial``: study_tutorial.json, study_tutorial.md and the figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .._serialize import write_json
from ..report.figstyle import save_figure

__all__ = ["save", "markdown", "findings"]

PAIR_NAMES = {"C-O": "Circle-Oval", "C-W": "Circle-Walk", "O-W": "Oval-Walk"}


def _f(v: Any, nd: int = 4) -> str:
    return "-" if v is None else f"{v:.{nd}f}"


def findings(res: dict) -> list[str]:
    """One sentence per finding, from the numbers."""
    out = []
    dyn = res.get("dynamics")
    if dyn:
        cl = dyn["closest"]
        cal, geo = dyn["calibration"]["margins"]["closest"], dyn["calibration"]["margins"]["O-W minus C-O"]
        best = cl["best_rank_margin"]
        b = cal[f"dsa rank {best}"]
        out.append(f"DSA at the tutorial's settings (n_delays 20, delay_interval 10) separates Circle-Oval best at rank "
                   f"{best}: Circle-Oval is the closest pair in {cl['by_rank'][best]['share_closest']:.0%} of seeds, "
                   f"margin min(C-W, O-W) - C-O {_f(b['mean'])} [{_f(b['ci_low'])}, {_f(b['ci_high'])}] rad "
                   f"({b['verdict']}).")
        full = cal.get("dsa rank full")
        if full:
            out.append(f"At full rank (the tutorial's call) the margin is {_f(full['mean'])} [{_f(full['ci_low'])}, "
                       f"{_f(full['ci_high'])}] ({full['verdict']}; closest in "
                       f"{cl['by_rank']['full']['share_closest']:.0%} of seeds).")
        one = cal["dsa n_delays 1"]
        out.append(f"With n_delays 1 (the tutorial's first call) the margin is {_f(one['mean'])} [{_f(one['ci_low'])}, "
                   f"{_f(one['ci_high'])}] ({one['verdict']}).")
        for m in ("bures_spectral", "procrustes"):
            g = geo[m]
            out.append(f"{m}: O-W minus C-O {_f(g['mean'])} [{_f(g['ci_low'])}, {_f(g['ci_high'])}] ({g['verdict']}).")
        pr = dyn["printed"]
        rep_full = pr["repalign_seed0"].get("full")
        if rep_full:
            dm = pr["dsa_metric_seed0"].get("full", {}).get("matrix")
            out.append(f"The tutorial printed Circle-Oval 0.0013 at n_delays 20 / interval 10; at full rank repalign gives "
                       f"{_f(rep_full[0][1])}" + (f" and dsa-metric {_f(dm[0][1])}" if dm else "") +
                       (f", while rank 2 gives {_f(pr['repalign_seed0']['2'][0][1])}" if "2" in pr["repalign_seed0"] else "") + ".")
    paths = res.get("paths")
    if paths:
        fg = paths["fgsm"]
        c = fg["calibration"]
        out.append(f"FGSM at eps {res['config']['attack_epsilon']}: accuracy " + ", ".join(
            f"{k} {v:.3f}" for k, v in fg["at_attack"].items()) + f"; adversarial - standard {_f(c['observed'], 3)} "
            f"[{_f(c['ci_low'], 3)}, {_f(c['ci_high'], 3)}]: {c['verdict']}.")
        p = paths["paths"]["euclidean"]
        out.append("Path lengths (sum of arccos-cosine steps, euclidean RDMs): " + ", ".join(
            f"{k} {v:.3f}" for k, v in p["length"].items()) + "; last layer to labels: " + ", ".join(
            f"{k} {v[-1]:.3f}" for k, v in p["to_labels"].items()) + " rad.")
        sh = paths["attack_shift"]
        out.append("Under FGSM the last layer's RDM moves " + ", ".join(
            f"{k} {list(v.values())[-1]:.3f} rad" for k, v in sh.items()) + " from its clean RDM.")
        rd = paths["recurrent_dsa"]
        out.append(f"DSA between the recurrent model's step dynamics on clean and FGSM images: {_f(rd['observed'])} vs "
                   f"split-half null {_f(rd['null_mean'])} (p = {rd['p']:.3f}): {rd['verdict']}.")
    return out


def markdown(res: dict) -> str:
    lines = ["# Study tutorial: the DSA tutorial (seed 003)", ""]
    lines += ["## Findings", ""] + [f"* {s}" for s in findings(res)] + [""]
    dyn = res.get("dynamics")
    if dyn:
        lines += ["## Circle / Oval / Walk: DSA against rank (mean over seeds, rad)", "",
                  "| rank | C-O | C-W | O-W | C-O closest (share of seeds) |", "| --- | --- | --- | --- | --- |"]
        for lab in dyn["ranks"]:
            c = dyn["curve"][lab]
            lines.append(f"| {lab} | {_f(np.mean(c['C-O']))} | {_f(np.mean(c['C-W']))} | {_f(np.mean(c['O-W']))} | "
                         f"{dyn['closest']['by_rank'][lab]['share_closest']:.2f} |")
        lines += ["", "## Calibration over noise seeds (95% percentile bootstrap of the mean margin)", "",
                  "| measure | margin | mean | 95% CI | verdict |", "| --- | --- | --- | --- | --- |"]
        for stat, rows in dyn["calibration"]["margins"].items():
            for k, row in rows.items():
                lines.append(f"| {k} | {stat} | {_f(row['mean'])} | [{_f(row['ci_low'])}, {_f(row['ci_high'])}] | "
                             f"{row['verdict']} |")
        pr = dyn["printed"]
        lines += ["", "## What the tutorial printed vs what repalign and dsa-metric compute (seed 0)", "",
                  "| setting | pair | tutorial | repalign | dsa-metric |", "| --- | --- | --- | --- | --- |"]
        dm = pr["dsa_metric_seed0"] if isinstance(pr["dsa_metric_seed0"], dict) else {}
        tut = pr["tutorial"]["matrix_n_delays_20_interval_10"]
        dm1 = dm.get("n_delays_1", {}).get("matrix")
        lines.append(f"| n_delays 1 | C-O | {tut and pr['tutorial']['oval_circle_n_delays_1']} | "
                     f"{_f(pr['repalign_seed0_n_delays_1_C-O'])} | {_f(dm1[0][1]) if dm1 else '-'} |")
        for lab, mat in pr["repalign_seed0"].items():
            their = dm.get(lab, {}).get("matrix")
            for p, (i, j) in {"C-O": (0, 1), "C-W": (0, 2), "O-W": (1, 2)}.items():
                t = _f(tut[i][j]) if lab == "full" else "-"
                lines.append(f"| 20 / 10, rank {lab} | {p} | {t} | {_f(mat[i][j])} | {_f(their[i][j]) if their else '-'} |")
        lines += ["", "The tutorial's rank is not stated (its class defaults to full rank); its noise had no seed, "
                  "so one realisation was printed.", ""]
        lines += ["## Held-out forecast error (relative, %d steps) over n_delays x rank" % res["config"]["forecast_horizon"], ""]
        for name, g in dyn["forecast"].items():
            lines.append(f"* {name}: best n_delays {g['best']['n_delays']}, rank {g['best']['rank'] or 'full'} "
                         f"(error {_f(g['best']['error'], 3)}); grid rows n_delays {g['n_delays']}, columns ranks "
                         f"{['full' if r is None else r for r in g['ranks']]}: "
                         + "; ".join(", ".join(_f(v, 3) for v in row) for row in g["error"]))
        lines.append("")
    paths = res.get("paths")
    if paths:
        lines += ["## Networks on sklearn digits (MNIST cannot be downloaded here)", "",
                  "| network | parameters | test accuracy | " + " | ".join(f"FGSM {e}" for e in paths["fgsm"]["epsilons"]) + " |",
                  "| --- | --- | --- | " + " | ".join("---" for _ in paths["fgsm"]["epsilons"]) + " |"]
        for k, t in paths["training"].items():
            acc = paths["fgsm"]["accuracy"][k]
            lines.append(f"| {k} | {t['parameters']} | {t['test_accuracy']:.3f} | " + " | ".join(f"{a:.3f}" for a in acc) + " |")
        cmp_ = paths["comparators"]
        lines += ["", f"RDM comparators on {cmp_['pair']}: repalign {cmp_['repalign']}; rsatoolbox {cmp_.get('rsatoolbox')} "
                  f"(max |difference| {cmp_.get('max_abs_difference')}).", "",
                  "Distance of each layer to the labels' RDM (euclidean RDMs, arccos of cosine, rad):", ""]
        for k, v in paths["paths"]["euclidean"]["to_labels"].items():
            lines.append(f"* {k}: " + ", ".join(f"{x:.3f}" for x in v))
        lines += ["", "Clean-to-FGSM distance per layer (rad):", ""]
        for k, v in paths["attack_shift"].items():
            lines.append(f"* {k}: " + ", ".join(f"{layer} {x:.3f}" for layer, x in v.items()))
        lines.append("")
    lines.append(f"Total {res['seconds']:.0f} s.")
    return "\n".join(lines) + "\n"


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_sensitivity(res: dict, path: Path) -> Path:
    plt = _plt()
    dyn = res["dynamics"]
    labs = dyn["ranks"]
    x = np.arange(len(labs))
    fig, ax = plt.subplots(figsize=(4.6, 3.2))
    for p, name in PAIR_NAMES.items():
        vals = np.array([dyn["curve"][lab][p] for lab in labs])
        ax.errorbar(x, vals.mean(1), yerr=vals.std(1), marker="o", ms=3, capsize=2, label=name)
    ax.set_xticks(x, labs)
    ax.set_xlabel("DMD rank (n_delays 20, delay_interval 10)")
    ax.set_ylabel("DSA distance (rad)")
    ax.set_title("DSA sensitivity to rank (mean +- sd over seeds)")
    ax.legend()
    save_figure(fig, path)
    plt.close(fig)
    return path


def plot_paths(paths: dict, path: Path, title: str) -> Path:
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.4), gridspec_kw={"wspace": 0.55})
    D = np.asarray(paths["distance"])
    im = axes[0].imshow(D, cmap="viridis_r")
    axes[0].set_xticks(range(len(paths["names"])), paths["names"], rotation=85, fontsize=5)
    axes[0].set_yticks(range(len(paths["names"])), paths["names"], fontsize=5)
    axes[0].set_xlabel("RDM")
    axes[0].set_ylabel("RDM")
    axes[0].set_title("arccos(cosine) between layer RDMs")
    fig.colorbar(im, ax=axes[0], fraction=0.046, label="rad")
    C = np.asarray(paths["coords"])
    for model, idx in paths["paths"].items():
        axes[1].plot(C[idx, 0], C[idx, 1], marker=".", label=model)
    axes[1].plot(C[0, 0], C[0, 1], "ks", label="input")
    if paths["to_labels"] is not None:
        axes[1].plot(C[-1, 0], C[-1, 1], "m*", ms=12, label="labels")
    axes[1].set_xlabel("MDS dim 1")
    axes[1].set_ylabel("MDS dim 2")
    axes[1].set_title(title)
    axes[1].set_aspect("equal", "datalim")
    axes[1].legend(fontsize=6)
    save_figure(fig, path)
    plt.close(fig)
    return path


def plot_fgsm(res: dict, path: Path) -> Path:
    plt = _plt()
    fg = res["paths"]["fgsm"]
    fig, ax = plt.subplots(figsize=(4.2, 3.0))
    for k, acc in fg["accuracy"].items():
        ax.plot(fg["epsilons"], acc, marker="o", ms=3, label=k)
    ax.set_xlabel("FGSM epsilon (pixels in [0, 1])")
    ax.set_ylabel("test accuracy")
    ax.set_title("Accuracy under FGSM (white-box)")
    ax.legend()
    save_figure(fig, path)
    plt.close(fig)
    return path


def save(res: dict, out: str | Path, figures: bool = True) -> dict[str, Path]:
    """Write study_tutorial.json, study_tutorial.md and (``figures``) the PNGs into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    res = {**res, "findings": findings(res)}
    paths = {"json": out / "study_tutorial.json", "md": out / "study_tutorial.md"}
    write_json(paths["json"], res, indent=1)
    paths["md"].write_text(markdown(res))
    if figures:
        if "dynamics" in res:
            paths["sensitivity"] = plot_sensitivity(res, out / "tutorial_sensitivity.png")
        if "paths" in res:
            paths["fgsm"] = plot_fgsm(res, out / "tutorial_fgsm.png")
            paths["paths"] = plot_paths(res["paths"]["paths"]["euclidean"], out / "tutorial_paths.png",
                                        "Representational paths (euclidean RDMs)")
            paths["attack_paths"] = plot_paths(res["paths"]["attack_paths"], out / "tutorial_attack_paths.png",
                                               "Paths on clean and FGSM images")
    return paths
