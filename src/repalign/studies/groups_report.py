"""Markdown tables and figures for :mod:`repalign.studies.groups_seeds` (numbers beside the paper's)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

# The paper's printed values (seed 001 notebook, its "mainline-S5" network).
PAPER_VALUES: dict[str, Any] = {
    "key_irreps": ["sign", "standard"],
    "seed_logit_similarity": {"sign": 0.509, "standard": 0.767, "standard_sign": -1.1e-9},
    "percent_logits_explained": 0.848,
    "x_embed_fractions": {"sign": 0.0695, "standard": 0.9305, "residual": 0.0},
    "y_embed_fractions": {"sign": 0.0695, "standard": 0.9305, "residual": 0.0},
    "unembed_fractions": {"sign": 0.0958, "standard": 0.8446, "residual": 0.0595},
    "neuron_counts": {"off": 2, "sign": 7, "standard": 119, "standard_sign": 0},
    "cluster_variance": {"sign": {"x": 0.3333, "y": 0.3333, "xy": 0.3333, "trivial": 2.0e-15},
                         "standard": {"x": 0.3959, "y": 0.3708, "xy": 0.1131, "trivial": 2.7e-15}},
    "baseline_loss": 2.38e-6,
    "excluded": {"sign": {"xy": 9.10e-4, "x": 2.37e-6, "y": 2.37e-6, "trivial": 2.42e-6},
                 "standard": {"xy": 7.55, "x": 2.21e-6, "y": 2.21e-6, "trivial": 2.42e-6}},
    "unembed_fraction_explained": {"sign": 0.9994, "standard": 0.9341},
    "reconstruction_loss": 7.0e-7,
    "unembed_restricted_loss": 2.08e-6,
    "unembed_excluded_loss": 4.80,
}


def _no_paper() -> dict:
    """PAPER_VALUES's keys with nothing in them (a group other than the paper's S5)."""
    return {k: ({} if isinstance(v, dict) else ([] if isinstance(v, list) else None)) for k, v in PAPER_VALUES.items()}


def _f(v, spec: str = ".3g") -> str:
    if v is None:
        return "—"
    if isinstance(v, float) and not np.isfinite(v):
        return "nan"
    return format(v, spec)


def _med(values) -> float:
    vals = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.median(vals)) if vals else float("nan")


def markdown(res: dict) -> str:
    """Tables: per seed, and the median across seeds beside the paper's printed value."""
    per = res["per_seed"]
    seeds = [r["seed"] for r in per]
    # the paper's column only for S5, the group its numbers are about
    paper = PAPER_VALUES if res["group"]["name"] == "S5" else _no_paper()
    irreps = [r["name"] for r in res["irreps"] if r["name"] != "trivial"]
    head = "| | " + " | ".join(f"seed {s}" for s in seeds) + " | median | paper |"
    rule = "|---" * (len(seeds) + 3) + "|"
    out = [f"# {res['group']['name']}: {len(seeds)} seeds", "",
           f"config: `{ {k: v for k, v in res['config'].items() if k != 'seed'} }`", ""]

    def row(label, vals, paper=None, spec=".3g"):
        return f"| {label} | " + " | ".join(_f(v, spec) for v in vals) + f" | {_f(_med(vals), spec)} | {_f(paper, spec) if paper is not None else ''} |"

    out += ["## Training", "", head, rule]
    for k in ("train_loss", "test_loss", "train_accuracy", "test_accuracy", "weight_norm_sq"):
        out.append(row(k, [r[k] for r in per]))
    out.append(row("generalisation step", [float(r["generalisation_step"]) if r["generalisation_step"] is not None else None for r in per], spec=".0f"))
    out.append("| key irreps (double-centred similarity >= threshold) | " + " | ".join(", ".join(r["key_irreps"]) for r in per)
               + f" | | {', '.join(paper['key_irreps'])} |")
    out.append("| key irreps by the paper's rule (seed formula > 0.005) | " + " | ".join(", ".join(r["paper_key_rule"]) for r in per) + " | | |")

    out += ["", "## Logit similarity with tr rho(a b c^-1)", "",
            "`seed formula`: logits less each pair's mean, against the raw character tensor (the paper's). "
            "`double-centred`: repalign's, also removing each output's mean over pairs.", "", head, rule]
    for name in irreps:
        out.append(row(f"{name}: seed formula", [r["seed_logit_similarity"][name] for r in per],
                       paper["seed_logit_similarity"].get(name)))
        out.append(row(f"{name}: double-centred", [r["logit_similarity"][name] for r in per]))
    out.append(row("fraction of logits explained, seed formula, all irreps (paper's)", [r["key_logit_fraction"]["seed_formula_all"] for r in per], paper["percent_logits_explained"]))
    out.append(row("same, key irreps only", [r["key_logit_fraction"]["seed_formula_key"] for r in per]))
    out.append(row("double-centred, key irreps", [r["key_logit_fraction"]["double_centred"] for r in per]))

    out += ["", "## Fractions of variance (uncentred, as the paper) per key irrep", "", head, rule]
    for kind in ("x_embed", "y_embed", "unembed"):
        pv = paper[f"{kind}_fractions"]
        for name in irreps + ["residual"]:
            vals = [r[f"{kind}_fractions"][name] if (name == "residual" or name in r["key_irreps"]) else None for r in per]
            if any(v is not None for v in vals):
                out.append(row(f"{kind}: {name}", vals, pv.get(name)))
    out.append(row("hidden: total explained by key irreps (x + y + xy)", [r["hidden_fractions"]["total_hidden_explained"] for r in per]))
    for name in irreps:
        for d in ("x", "y", "xy"):
            vals = [r["hidden_fractions"]["per_irrep"][name][d] if name in r["key_irreps"] else None for r in per]
            if any(v is not None for v in vals):
                out.append(row(f"hidden rho({ {'x': 'a', 'y': 'b', 'xy': 'ab'}[d] }): {name}", vals))

    out += ["", "## Neuron clusters", "", head, rule]
    for name in ["off"] + irreps + ["unaccounted"]:
        vals = [float(r["neuron_clusters"]["counts"].get(name, 0)) for r in per]
        out.append(row(f"neurons: {name}", vals, paper["neuron_counts"].get(name), spec=".0f"))
    for name in irreps:
        for d in ("x", "y", "xy", "trivial"):
            vals = [r["neuron_clusters"]["variance_fractions"].get(name, {}).get(d) for r in per]
            if any(v is not None for v in vals):
                out.append(row(f"{name} cluster, post-ReLU variance on {d}", vals, paper["cluster_variance"].get(name, {}).get(d)))

    out += ["", "## Ablations (cross-entropy, nats, all pairs unless said)", "", head, rule]
    ab = [r["irrep_ablations"] for r in per]
    out.append(row("baseline", [a["baseline_loss"] for a in ab], paper["baseline_loss"]))
    for name in irreps:
        for d in ("xy", "x", "y", "trivial"):
            vals = [a["per_irrep"][name][d]["excluded"] for a in ab]
            out.append(row(f"excluded {name} {d}", vals, paper["excluded"].get(name, {}).get(d)))
        out.append(row(f"restricted {name} xy", [a["per_irrep"][name]["xy"]["restricted"] for a in ab]))
    out.append(row("total restricted (key rho(ab), all pairs)", [a["seed_restricted_loss"] for a in ab]))
    out.append(row("total excluded (key rho(ab), training pairs)", [a["seed_excluded_loss"] for a in ab]))
    out.append(row("W_U restricted to key output spans", [a["unembed_restricted_loss"] for a in ab], paper["unembed_restricted_loss"]))
    out.append(row("W_U with key output spans removed", [a["unembed_excluded_loss"] for a in ab], paper["unembed_excluded_loss"]))
    out.append(row("reconstruction from key rho(ab) (idealised)", [a["reconstruction_loss"] for a in ab], paper["reconstruction_loss"]))
    for name in irreps:
        vals = [a["unembed_in_irrep_basis"][name]["fraction_explained"] if name in a["unembed_in_irrep_basis"] else None for a in ab]
        if any(v is not None for v in vals):
            out.append(row(f"W_U on {name} neurons: fraction in its output span", vals, paper["unembed_fraction_explained"].get(name)))
            vals = [a["unembed_in_irrep_basis"][name]["identity_cosine"] if name in a["unembed_in_irrep_basis"] else None for a in ab]
            out.append(row(f"W_U in {name} basis: cosine with identity", vals))

    out += ["", "## Wall time (s)", "", head, rule,
            row("train + analysis", [r["seconds"]["total"] for r in per], spec=".0f"),
            row("train (0 if reused from checkpoints)", [0.0 if r["seconds"]["reused_checkpoints"] else r["seconds"]["train"] for r in per], spec=".0f")]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------- figures
def plot_all(res: dict, out_dir: Path) -> dict[str, Path]:
    """Grokking (losses, accuracies), logit-cube slice, weight norm, test / restricted loss ratio."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..report.figstyle import OKABE_ITO

    name = res["group"]["name"]
    med = res["median"]
    steps = np.maximum(np.array(med["step"]), 1)
    paths = {}
    for kind, log_y in (("loss", True), ("accuracy", False)):
        fig, ax = plt.subplots(figsize=(6, 4))
        for split, color in (("train", OKABE_ITO[0]), ("test", OKABE_ITO[1])):  # colour-blind safe
            for r in res["per_seed"]:
                ax.plot(steps, [h[f"{split}_{kind}"] for h in r["history"]], color=color, alpha=0.25, lw=1)
            ax.plot(steps, med[f"{split}_{kind}"], color=color, lw=2, label=f"median {split} {kind}")
        ax.set(xscale="log", yscale="log" if log_y else "linear", xlabel="step", ylabel=kind,
               title=f"{name}: {len(res['seeds'])} seeds (faint) and median")
        ax.legend(fontsize=8)
        paths[f"grokking_{kind}"] = _save(fig, out_dir / f"groups_{name}_grokking_{kind}.png")

    cube = res["per_seed"][0]["_cube"]
    fig, axes = plt.subplots(1, len(cube), figsize=(3.2 * len(cube), 3.2), squeeze=False)
    for ax, (label, arr) in zip(axes[0], cube.items()):
        ax.imshow(np.asarray(arr), cmap="RdBu", vmin=-1, vmax=1)
        ax.set(title="observed logit" if label == "observed" else label, xlabel="b", ylabel="a", xticks=[], yticks=[])
    fig.suptitle(f"{name}, seed {res['per_seed'][0]['seed']}: logits at c = identity vs tr rho(a b c^-1)")
    paths["logit_cubes"] = _save(fig, out_dir / f"groups_{name}_logit_cubes.png")

    for key, ylabel, fname in (("weight_norm_sq", "sum of squared weights", "weight_norm"),
                               ("test_restricted_loss_ratio", "test loss / restricted loss", "loss_ratio")):
        fig, ax = plt.subplots(figsize=(6, 4))
        for r in res["per_seed"]:
            ax.plot(steps, [h[key] for h in r["history"]], label=f"seed {r['seed']}")
        ax.set(xscale="log", yscale="log", xlabel="step", ylabel=ylabel, title=f"{name}: {ylabel}")
        ax.legend(fontsize=8)
        paths[fname] = _save(fig, out_dir / f"groups_{name}_{fname}.png")
    return paths


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    from ..report.figstyle import save_figure

    fig.tight_layout()
    save_figure(fig, path, dpi=80, tight=False)  # PNG, plus SVG/PDF under paper_style
    plt.close(fig)
    return path
