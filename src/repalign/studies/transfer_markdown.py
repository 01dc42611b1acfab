"""``transfer.md`` of ``repalign study transfer``: the findings in words, tables and figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from .transfer_run import EPOCHS

__all__ = ["markdown"]

SEED_NOTE = (
    "The seed (`000_fd4ed0e45fedfc9c`, `pretraining_analysis.py`) is analysis code: it defines the "
    "analyses and their setting (dmpn, N = 300, L2 1e-4, batch 128, rule sets fdgo+delaygo and "
    "fdanti+delaygo, new task delayanti) but prints no numbers, so the seed's column below gives its "
    "setting or its reading, not values to match.")


def _f(v: Any, nd: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def _ms(entry: Mapping[str, Any] | None, nd: int = 3) -> str:
    if not isinstance(entry, Mapping):
        return "–"
    m, s = entry.get("mean"), entry.get("sem")
    return _f(m, nd) if s is None or s != s else f"{_f(m, nd)} ± {_f(s, nd)}"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_f(c) if not isinstance(c, str) else c for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _setting(p: Mapping[str, Any], result: Mapping[str, Any]) -> str:
    paper = {"model": "dmpn", "hidden": 300, "l2_weight": 1e-4, "batch_size": 128, "rule_init": "kaiming (a = sqrt 5)",
             "stop_accuracy": "to criterion", "seeds": "several per rule set"}
    rows = [[k, str(p.get(k)), str(paper.get(k, "–"))] for k in
            ("preset", "model", "hidden", "batch_size", "l2_weight", "rule_init", "stop_accuracy", "steps1", "steps2",
             "seeds", "lr1", "lr2", "n_bins", "n_angles", "null_draws", "probe_fresh", "probe_draws")]
    return _table(["parameter", "this run", "seed"], rows)


def _networks(result: Mapping[str, Any]) -> str:
    rows = []
    for n in result["networks"]:
        rows.append([n["ruleset"], n["seed"], n["steps"]["stage1"], "yes" if n["stage1_reached_criterion"] else "no",
                     ", ".join(f"{k} {v:.2f}" for k, v in n["accuracy"]["stage1"].items()), n["steps"]["stage2"],
                     ", ".join(f"{v:.2f}" for v in n["accuracy"]["stage2"].values())])
    return _table(["rule set", "seed", "stage-1 updates", "criterion reached", "stage-1 accuracy",
                   "stage-2 updates", "new-task accuracy"], rows)


def _spectra(agg: Mapping[str, Any]) -> str:
    rows = []
    for rs, a in agg.items():
        for key in ("variance_spectrum", "modulation_raw", "modulation_weighted"):
            for lab in EPOCHS:
                if key not in a:
                    continue
                at, dm = a[key][lab]["at_k"], a[key][lab]["direction_matched"]["at_k"]
                for k in ("1", "5", "10", "20", "50"):
                    if k in at:
                        rows.append([rs, key, lab, k, _ms(at[k]["fraction"]), _ms(at[k]["self"]),
                                     _ms(at[k]["area_ratio"]), _ms(dm[k]["fraction"])])
    return _table(["rule set", "states", "epoch", "k", "cross fraction", "self fraction", "area ratio (1..k)",
                   "dir.-matched cross"], rows)


def _findings(result: Mapping[str, Any]) -> str:
    rows = [[f["claim"], _f(f["estimate"]), "–" if f["interval"] is None else
             f"[{_f(f['interval'][0])}, {_f(f['interval'][1])}]", str(f["n"]), f.get("networks_p_below_alpha", "–"),
             f"**{f['verdict']}**"] for f in result["findings"]]
    return _table(["comparison", "estimate", "95% bootstrap interval over seeds", "seeds", "networks p ≤ 0.05",
                   "verdict"], rows)


def _other(agg: Mapping[str, Any]) -> str:
    rows = []
    for rs, a in agg.items():
        for lab in EPOCHS:
            g = a["geometry"][lab]
            mm = a.get("mean_modulation", {}).get(lab, {})
            rows.append([rs, lab, _ms(g["pr_pre"], 2), _ms(g["pr_new"], 2), _ms(g["pr_new_in_pre"], 2),
                         _ms({"mean": g["angles"]["mean"][0], "sem": g["angles"]["sem"][0]}, 3),
                         _ms(mm.get("cos")), _ms(mm.get("frobenius"))])
    return _table(["rule set", "epoch", "PR pre", "PR new", "PR new in pre basis", "smallest angle (rad)",
                   "cos(M_A θ, M_B θ)", "‖M_A θ − M_B θ‖"], rows)


def _probe(agg: Mapping[str, Any]) -> str:
    rows = []
    for rs, a in agg.items():
        b = a["backbone_probe"]
        fresh = b["fresh_columns"]
        rows.append([rs, _ms(fresh["stage2_start_loss"], 4), _ms(fresh["stage2_start_loss_out"], 4),
                     _ms(fresh["stage2_start_accuracy"]), _ms(b["trained_column"]["loss_out"], 4),
                     _ms(b["trained_column"]["accuracy"]), _ms(b["norm_matched"]["null_mean"]),
                     _ms(a["rule"]["span_fraction"]), _ms({"mean": a["rule"]["cos_new_pre"]["mean"][0],
                                                           "sem": a["rule"]["cos_new_pre"]["sem"][0]})])
    return _table(["rule set", "fresh: full loss", "fresh: output loss", "fresh: accuracy", "trained: output loss",
                   "trained: accuracy", "norm-matched null accuracy", "rule span fraction", "cos(new, pre 1)"], rows)


def _few_seeds(result: Mapping[str, Any]) -> str:
    n = int(result["params"]["seeds"])
    if n >= 5:
        return ""
    return (f" With {n} seed(s) per rule set the bootstrap interval spans little more than the seeds' own values, "
            "so *survives* here means every seed points the same way; it is not a test at level 0.05.")


def markdown(result: Mapping[str, Any]) -> str:
    p, agg = result["params"], result["aggregate"]
    surv = [f for f in result["findings"] if f["verdict"] == "survives"]
    fail = [f for f in result["findings"] if f["verdict"] == "does not survive"]
    parts = [
        "# Transfer geometry of multi-plastic networks (`repalign study transfer`)", "",
        f"Preset `{p['preset']}`, model `{p['model']}`, {p['seeds']} seeds per rule set; wall time "
        f"{result.get('seconds', float('nan')):.0f} s ({result.get('run', {}).get('backend', '?')}, "
        f"{result.get('run', {}).get('workers', '?')} workers). {SEED_NOTE}", "",
        "## Setting", "", _setting(p, result), "",
        "## Networks", "", _networks(result), "",
        "## Which findings survive calibration", "",
        f"{len(surv)} of {len(result['findings'])} comparisons survive (the 95% bootstrap interval over seeds "
        f"excludes 0 in the claimed direction); {len(fail)} do not. Per-network p-values come from repalign's "
        "random-basis nulls (uniform: random k-dim subspaces; covariance: random high-variance subspaces of the "
        "same network) and the backbone probes." + _few_seeds(result), "", _findings(result), "",
        "The fresh-column probe (the seed's) asks how far the frozen backbone is from solving the new task at the "
        "start of stage 2, with a fresh Kaiming rule column; the norm-matched probe (repalign's) asks whether the "
        "learned column's direction matters, against random columns of the same norm.", "",
        "## Variance spectra at several cuts (mean ± s.e.m. over seeds)", "",
        "Seed's reading: the new task's variance lies in the pretraining PCs when the cross curve approaches the "
        "self curve.", "", _spectra(agg), "",
        "## Dimensionality, angles, mean modulation", "", _other(agg), "",
        "## Backbone probes and rule vectors", "", _probe(agg), "",
        "## Figures", "",
    ]
    parts += [f"- {k}: `{Path(v).name}`" for k, v in result["figures"].items()]
    return "\n".join(parts) + "\n"
