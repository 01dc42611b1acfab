"""Writing the Lorenz study: lorenz.json (every number), lorenz.md (tables beside the paper's
numbers) and figures (PNG)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .._serialize import to_jsonable
from ..report.figstyle import save_figure


def cache_in(folder: str | Path, key: Callable[[str], dict]) -> Callable[[str, Callable[[], dict]], dict]:
    """A ``cache(name, compute)`` for :func:`repalign.studies.lorenz.run_study` storing each part
    as ``folder/<name>.json`` with ``key(name)`` (what the part depends on, e.g.
    ``lambda part: cache_key(cfg, part)``); a stored part with the same key is reused."""
    folder = Path(folder)

    def cache(name: str, compute: Callable[[], dict]) -> dict:
        want = json.loads(json.dumps(to_jsonable(key(name), lenient=True)))
        path = folder / f"{name}.json"
        if path.exists():
            try:
                stored = json.loads(path.read_text())
                if stored.get("key") == want:
                    return stored["result"]
            except ValueError:
                pass
        result = json.loads(json.dumps(to_jsonable(compute(), lenient=True)))
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"key": want, "result": result}))
        tmp.replace(path)
        return result

    return cache


def _f(v: Any, nd: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and not np.isfinite(v):
        return "inf" if v > 0 else "nan"
    return f"{v:.{nd}f}"


def _ci(e: dict) -> str:
    return f"{_f(e['value'])} [{_f(e['ci'][0])}, {_f(e['ci'][1])}]"


def _paper(vals, m: str, scale: dict) -> str:
    """The paper's values as printed, and in radians where its unit differs."""
    if not vals:
        return "-", "-"
    f = scale.get(m, 1.0)
    return " / ".join(map(str, vals)), " / ".join(f"{v * f:.3f}" for v in vals)


def head_to_head(res: dict) -> list[dict]:
    """Rows: measure, test, repalign's numbers (radians), the paper's as printed and in radians."""
    paper, scale = res["paper"], res.get("paper_to_radians", {})
    rows = []
    for m in res["config"]["measures"]:
        if "regimes" in res:
            r = res["regimes"][m]
            p, prad = _paper(paper["regimes"].get(m), m, scale)
            rows.append({"measure": m, "test": f"regimes ({r['ic']} ic) within / across",
                         "repalign": f"{_f(r['within_mean'])} / {_f(r['across_mean'])}",
                         "paper": p, "paper (rad)": prad})
            if "matched" in r:
                rows.append({"measure": m, "test": "regimes (matched ic) within / across",
                             "repalign": f"{_f(r['matched']['within_mean'])} / {_f(r['matched']['across_mean'])}",
                             "paper": "-", "paper (rad)": "-"})
        for t in ("noise", "ratio"):
            if t in res:
                c = res[t][m]
                p, prad = _paper(paper[t].get(m), m, scale)
                rows.append({"measure": m, "test": f"{t}: epoch 1 / 3 (R^2, gap)",
                             "repalign": f"{_f(c['epochs'][0])} / {_f(c['epochs'][-1])} "
                                         f"(R^2 {_f(c['r2'], 2)}, gap {_f(c['gap'])})",
                             "paper": p, "paper (rad)": prad})
        if "motifs" in res:
            mo = res["motifs"][m]
            p, prad = _paper(paper["motifs"].get(m), m, scale)
            rows.append({"measure": m, "test": "motifs: 1 / 2 / 3 shared",
                         "repalign": " / ".join(_f(v) for v in mo["mean"]) + f" (Spearman {_f(mo['spearman'], 2)})",
                         "paper": p, "paper (rad)": prad})
    return rows


def effect_rows(table: dict) -> list[dict]:
    rows = []
    for e, row in table.items():
        for m, v in row["measures"].items():
            d = row["vs_dsa"].get(m)
            rows.append({"effect": f"{e} ({row['better']} is better)", "measure": m, "value [95% CI]": _ci(v),
                         "dsa - measure [95% CI]": _ci(d) if d else "-", "winner": d["winner"] if d else "-"})
    return rows


def _md_table(rows: list[dict]) -> str:
    if not rows:
        return "(none)\n"
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def compute_seconds(res: dict) -> float:
    """Seconds the measures took, summed over tests, measures and regime variants."""
    total = 0.0
    for t in ("regimes", "noise", "ratio", "motifs"):
        for m, v in res.get(t, {}).items():
            if isinstance(v, dict) and "seconds" in v:
                total += v["seconds"] + (v["matched"]["seconds"] if "matched" in v else 0.0)
    return total


def markdown(res: dict) -> str:
    cfg = res["config"]
    out = ["# Lorenz attractor test cases: DSA, CKA and Procrustes head to head\n",
           f"Setting: {cfg['trials']} trajectories x {cfg['T']} steps, DSA n_delays = {cfg['n_delays']}, "
           f"delay_interval = {cfg['delay_interval']}, rank {cfg['rank_regimes']} (regimes) / {cfg['rank']} (rest), "
           f"patterns rho = {list(cfg['patterns'])}, motif pairs = {cfg['motif_pairs'] or 'all'}, seed {cfg['seed']}. "
           f"All distances in radians (DSA angular score, arccos of CKA, angular Procrustes). "
           f"Compute time of the measures {compute_seconds(res):.0f} s (wall, summed over the parts as they ran; "
           f"this invocation {res['seconds']:.0f} s, reusing stored parts).\n"]
    if "verdict" in res:
        out.append(f"**Finding.** {res['verdict']['headline']}.\n")
        for e, v in res["verdict"].items():
            if e != "headline":
                out.append(f"- {e}: claim {v['claim']} (winners vs DSA: {v['winners']})")
        out.append("")
    out += ["## Head to head (paper's numbers from its saved outputs)\n",
            "repalign in radians. The paper's DSA values are radians; its CKA and Procrustes values are "
            "arccos / (pi/2) (they match ours after x pi/2), shown converted in 'paper (rad)'.\n",
            _md_table(head_to_head(res))]
    if "noise_effects" in res:
        out += ["## Noise robustness: scale-free effect sizes (bootstrap over pattern pairs)\n",
                _md_table(effect_rows(res["noise_effects"]))]
    for ic, table in res.get("regime_effects", {}).items():
        out += [f"## Regime separation ({ic} initial points; bootstrap over systems)\n", _md_table(effect_rows(table))]
    if "motifs" in res:
        rows = [{"measure": m, **{f"{k} shared": f"{_f(mu)} +- {_f(se)} (n={n})" for k, mu, se, n in
                                  zip(v["shared"], v["mean"], v["sem"], v["n"])}, "Spearman": _f(v["spearman"], 2)}
                for m, v in res["motifs"].items() if m != "pairs"]
        out += ["## Motif composition\n", _md_table(rows)]
        if "motif_effects" in res:
            out += ["Spearman(shared motifs, distance), bootstrap over motif pairs:\n",
                    _md_table(effect_rows(res["motif_effects"]))]
    return "\n".join(out)


# ---------------------------------------------------------------------------- figures
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_regimes(res: dict, path: Path) -> Path:
    plt = _plt()
    ms = res["config"]["measures"]
    variants = [("paper" if res["regimes"][ms[0]]["ic"] == "paper" else "matched", None)]
    if "matched" in res["regimes"][ms[0]]:
        variants.append(("matched", "matched"))
    fig, axes = plt.subplots(len(variants), len(ms), figsize=(3.4 * len(ms), 3.2 * len(variants)), squeeze=False)
    for row, (ic, sub) in enumerate(variants):
        for col, m in enumerate(ms):
            r = res["regimes"][m] if sub is None else res["regimes"][m][sub]
            ax = axes[row, col]
            im = ax.imshow(np.asarray(r["matrix"]), cmap="viridis")
            ticks = [f"{rho:g}" for rho in r["rho"]]
            ax.set_xticks(range(len(ticks)), ticks, fontsize=6, rotation=90)
            ax.set_yticks(range(len(ticks)), ticks, fontsize=6)
            ax.set_title(f"{m} ({ic} ic)", fontsize=9)
            fig.colorbar(im, ax=ax, fraction=0.046, label="rad")
    fig.tight_layout()
    save_figure(fig, path, dpi=90, tight=False)  # PNG, plus SVG/PDF under paper_style
    plt.close(fig)
    return path


def plot_within_across(res: dict, path: Path) -> Path:
    plt = _plt()
    ms = res["config"]["measures"]
    fig, axes = plt.subplots(1, len(ms), figsize=(2.8 * len(ms), 3.0), squeeze=False)
    for ax, m in zip(axes[0], ms):
        r = res["regimes"][m]
        groups = [r["within"], r["across"]]
        names = [f"within\n({r['ic']})", f"across\n({r['ic']})"]
        if "matched" in r:
            groups += [r["matched"]["within"], r["matched"]["across"]]
            names += ["within\n(matched)", "across\n(matched)"]
        ax.boxplot(groups)
        ax.set_xticks(range(1, len(names) + 1), names, fontsize=6)
        ax.set_title(m, fontsize=9)
        ax.set_ylabel("distance (rad)")
    fig.tight_layout()
    save_figure(fig, path, dpi=90, tight=False)  # PNG, plus SVG/PDF under paper_style
    plt.close(fig)
    return path


def plot_curves(res: dict, path: Path) -> Path:
    plt = _plt()
    ms = res["config"]["measures"]
    fig, axes = plt.subplots(1, len(ms), figsize=(3.2 * len(ms), 3.0), squeeze=False)
    for ax, m in zip(axes[0], ms):
        for t, mk in (("noise", "o-"), ("ratio", "s--")):
            if t in res:
                c = res[t][m]
                x = np.arange(1, len(c["epochs"]) + 1)
                ax.errorbar(x, c["epochs"], yerr=c["sem"], fmt=mk, capsize=3, label=f"{t} (R^2 {c['r2']:.2f})")
        ax.set_xticks([1, 2, 3])
        ax.set_xlabel("epoch (s = .004/.002/.001, m = 1/.5/.25)", fontsize=7)
        ax.set_ylabel("distance (rad), mean +- s.e.m.")
        ax.set_title(m, fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, dpi=90, tight=False)  # PNG, plus SVG/PDF under paper_style
    plt.close(fig)
    return path


def plot_motifs(res: dict, path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.2, 3.2))
    for m, v in res["motifs"].items():
        if m != "pairs":
            ax.errorbar(v["shared"], v["mean"], yerr=v["sem"], fmt="o-", capsize=3, label=m)
    p = res["paper"]["motifs"]["dsa"]
    ax.plot([1, 2, 3], p, "k:", marker="x", label="dsa (paper)")
    ax.set_xlabel("shared motifs")
    ax.set_ylabel("distance (rad), mean +- s.e.m.")
    ax.set_xticks([1, 2, 3])
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, dpi=90, tight=False)  # PNG, plus SVG/PDF under paper_style
    plt.close(fig)
    return path


def save(res: dict, out: str | Path, figures: bool = True) -> dict[str, Path]:
    """Write ``lorenz.json``, ``lorenz.md`` and (``figures``) the PNGs into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "lorenz.json", "md": out / "lorenz.md"}
    paths["json"].write_text(json.dumps(to_jsonable(res, lenient=True), indent=1, allow_nan=False))
    paths["md"].write_text(markdown(res))
    if figures:
        if "regimes" in res:
            paths["regimes"] = plot_regimes(res, out / "lorenz_regimes.png")
            paths["within_across"] = plot_within_across(res, out / "lorenz_within_across.png")
        if "noise" in res or "ratio" in res:
            paths["curves"] = plot_curves(res, out / "lorenz_noise_ratio.png")
        if "motifs" in res:
            paths["motifs"] = plot_motifs(res, out / "lorenz_motifs.png")
    return paths
