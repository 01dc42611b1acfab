"""The report of ``repalign demo``, built from ``demo_results.json`` alone (nothing is recomputed):
the run's summary and one section per stage. The Lorenz, compositional and feedback-alignment
sections are the study readers of :mod:`repalign.report` (one home per section), told that the
demo ran them in a reduced setting.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .html import Report
from .tables import Interval, pivot
from .readers_compositional import compositional_section
from .readers_lorenz import lorenz_section
from .readers_feedback import feedback_alignment_section
from .tables import span

__all__ = ["build_report", "RESULTS_FILE"]

RESULTS_FILE = "demo_results.json"  # everything the report is built from (``repalign report DIR`` reads it)


def build_report(out: str | Path, rep=None):
    """The demo's :class:`~repalign.report.Report` from ``out/demo_results.json`` (nothing is
    recomputed; figures are read from ``out``). Sections are added to ``rep`` when given."""
    out = Path(out)
    path = out / RESULTS_FILE
    if not path.is_file():
        raise ValueError(f"out: no {RESULTS_FILE} in {str(out)!r}; run `repalign demo --out {out}` first")
    doc = json.loads(path.read_text())
    params, results, run, history = doc["params"], doc["results"], doc["run"], doc["history"]
    rep = Report("repalign demo") if rep is None else rep
    rep.params({"seed": params["seed"], "quick": params["quick"], **{k: v for k, v in params.items()
                                                                      if k not in ("seed", "quick")}})
    rep.summary(_summary(params, run, rep.versions))
    rep.text(_overview(params, run))
    rep.table([{"stage": s, "wall s": round(v["seconds"], 2), "CPU s": round(v["cpu_seconds"], 2),
                "reused": v["reused"]} for s, v in run["stages"].items() if s != "report"],
              caption="Stages of this run (a second run reuses stored results)")
    if len(history) > 1:
        rep.table([{"run": i + 1, "finished (UTC)": h["finished"], "wall s": round(h["seconds"], 2),
                    "CPU s": round(h["cpu_seconds"], 2),
                    "stages reused": sum(v["reused"] for k, v in h["stages"].items() if k != "report")}
                   for i, h in enumerate(history)], caption="Every run in this folder")
    rep.json("run", run)
    rep.json("run_history", history)
    _section_report_card(rep, results["report_card"], params["report_card"])
    _section_transfer(rep, results["transfer"])
    _section_learning(rep, results["learning"], params["learning"])
    _section_feedback(rep, results["feedback_alignment"], out)
    if "lorenz" in results:
        _section_lorenz(rep, results["lorenz"], out)
    if "compositional" in results:
        _section_compositional(rep, results["compositional"], out)
    return rep


def _summary(params: dict, run: dict, versions: dict) -> dict:
    versions = run.get("versions", versions)  # the computing run's, not the rebuilding process's
    st = run["stages"]
    reused = [k for k, v in st.items() if k != "report" and v["reused"]]
    tr, lr = st.get("transfer", {}), st.get("learning", {})
    return {
        "versions": ", ".join(f"{k} {versions[k]}" for k in ("repalign", "python", "numpy", "torch")
                              if k in versions),
        "seeds": f"base seed {params['seed']}; networks {params['transfer']['seeds']}",
        "setting": "quick (the tests' reduced demo)" if params["quick"] else "full demo",
        "wall time": f"{run['seconds']:.1f} s wall, {run['cpu_seconds']:.1f} s CPU (this process)",
        "reused": (f"{len(reused)} of {len(st) - 1} stages ({', '.join(reused) or 'none'}); networks "
                   f"trained {tr.get('trained', 0) + lr.get('trained', 0)}, loaded "
                   f"{tr.get('loaded', 0) + lr.get('loaded', 0)}; engine pairs computed "
                   f"{lr.get('pairs_computed', 0)}, cached {lr.get('pairs_cached', 0)}"),
        "figure formats": ", ".join(run.get("figure_formats", ["png"])),
    }


def _overview(params: dict, run: dict) -> str:
    t = params["transfer"]
    return (f"Small leaky RNNs ({t['hidden']} units, {t['layout']} inputs, dt = {t['dt']:g} ms) pretrained on two "
            f"tasks per rule set ({', '.join(f'{k}: {v[0]} + {v[1]}' for k, v in t['rulesets'].items())}), seeds "
            f"{t['seeds']}, then taught `{t['new_task']}` through its rule column only. Each section below "
            "starts with its finding; parameters and raw JSON are folded at its end.")


def _section_report_card(rep, rc: dict, p: dict) -> None:
    from ..report_card.rates import format_rate

    card = rc["card"]
    cells = card["cells"]
    applicable = [c for c in cells if c["n_seeds"] > 0 or c["n_error"]]
    if applicable:
        weak = [f"{c['measure']} on {c['case']} ({format_rate(c)})" for c in applicable if c["verdict"] != "PASS"]
        finding = (f"Over seeds {', '.join(map(str, card['evaluation_seeds']))}: {len(applicable) - len(weak)} of "
                   f"{len(applicable)} applicable measure-case cells PASS (the {card['interval']['confidence']:.0%} "
                   f"{card['interval']['method']} interval of the pass rate lies above 0.5)"
                   + (f"; not PASS: {', '.join(weak)}" if weak else "")
                   + f" ({len(cells) - len(applicable)} not applicable).")
    else:
        finding = f"None of the {len(cells)} measure-case cells of this card applies." if cells else "The card is empty."
    rep.section("Report card", finding=finding, params=p)
    rep.text("Each measure on test cases with a known answer, as passes over seeds with a binomial interval "
             "(quick cases, DEFAULT_PARAMS; `repalign bench --seeds 0-19` adds held-out tuning and sensitivity "
             "heatmaps, see `docs/report_card.md`).")
    table = rc["table"]
    rep.table(table[1:], header=table[0], caption="passes / seeds, verdict and 95% interval per measure and case")
    rep.json("report_card", rc["card"])


def _section_transfer(rep, tr: dict) -> None:
    from ..studies.transfer_run import EPOCHS  # pulls the task and training modules: only when a demo is read

    rows = tr["basis_statement"]["rows"]
    n = sum(r["networks"] for r in rows)
    fr = [r["fraction_mean"] for r in rows]
    probes = [x["probe"] for x in tr["networks"]]
    finding = (f"The new task's states lie more inside the pretraining basis than in uniformly random bases in "
               f"{sum(r['n_above_uniform'] for r in rows)} of {n} network-epochs (mean fractions "
               f"{min(fr):.2f}-{max(fr):.2f}, null means {_span(r['uniform_null_mean'] for r in rows)}; p <= "
               f"{tr['basis_statement']['alpha']}), but in {sum(r['n_above_covariance'] for r in rows)} of {n} "
               f"against the covariance-matched null (null means {_span(r['covariance_null_mean'] for r in rows)}). "
               f"{_transfer_verdict(rows)} Backbone probe: the trained rule column beats random columns of the "
               f"same norm (verdict signal) in {sum(p['verdict'] == 'signal' for p in probes)} of {len(probes)} "
               "networks.")
    rep.section("Transfer: does the new task reuse the pretrained subspace?", finding=finding, params=tr["params"])
    rep.text(tr["basis_statement"]["text"])
    names = {"ruleset": "rule set", "fraction_mean": "fraction (mean)", "uniform_null_mean": "uniform null mean",
             "n_above_uniform": "above uniform", "covariance_null_mean": "covariance null mean",
             "n_above_covariance": "above covariance", "max_p_uniform": "max p uniform",
             "max_p_covariance": "max p covariance"}
    rep.table([{names.get(k, k): v for k, v in r.items()} for r in rows], caption="Random-basis nulls per rule set and epoch "
              "(counts of networks with p <= 0.05; uniform: random k-dim subspaces; covariance: random "
              "high-variance subspaces of the same network)")
    rows = []
    for nw in tr["networks"]:
        for lab in EPOCHS:
            e = nw["epochs"][lab]
            rows.append({"ruleset": nw["ruleset"], "seed": nw["seed"], "epoch": lab,
                         "stage-1 acc": _acc(nw["accuracy"]["stage1"]), "new-task acc": _acc(nw["accuracy"]["stage2"]),
                         "fraction": e["fraction"], "area ratio": e["area_ratio"],
                         "dir.-matched fraction": e["direction_matched"]["fraction"],
                         "p uniform": e["null"]["uniform"]["p_value"],
                         "p covariance": e["null"]["covariance"]["p_value"],
                         "min angle (deg)": float(np.degrees(e["angles"][0])),
                         "PR new in pre": e["pr_new_in_pre"]})
    rep.table(rows, caption="Per network: cross-task variance explained at K components, principal angle, "
                            "participation ratio")
    for key, path in tr["figures"].items():
        rep.figure(path, caption=_transfer_caption(key), data=_transfer_figure_data(tr, key))
    rep.table([{"ruleset": x["ruleset"], "seed": x["seed"], "cos(new, pre)": x["rule"]["cos_new_pre"],
                "span fraction": x["rule"]["span_fraction"], "probe acc": x["probe"]["observed"],
                "probe null mean": x["probe"]["null_mean"], "probe p": x["probe"]["p_value"],
                "probe verdict": x["probe"]["verdict"]} for x in tr["networks"]],
              caption="Rule-vector geometry and backbone probe (trained rule column vs random columns of "
                      "the same norm)")
    rep.json("transfer", {k: tr[k] for k in ("params", "networks", "aggregate", "basis_statement", "counters",
                                             "seconds")})


def _transfer_verdict(rows: list[dict]) -> str:
    n = sum(r["networks"] for r in rows)
    u, c = (sum(r[k] for r in rows) for k in ("n_above_uniform", "n_above_covariance"))
    if 2 * c > n:
        return "Verdict: reuse of the pretrained subspace, beyond both nulls in most network-epochs."
    if 2 * u > n:
        return ("Verdict: more than random subspaces hold, but no evidence of reuse beyond the network's own "
                "high-variance directions.")
    return "Verdict: no evidence that the new task reuses the pretrained subspace."


def _transfer_caption(key: str) -> str:
    kind, *rest = key.split("/")
    if kind == "variance":
        return (f"{rest[0]}, {rest[1]} epoch: fraction of the new task's variance in the top k pretraining PCs "
                "(cross) and in its own top k PCs (self), mean ± s.e.m. over seeds")
    if kind == "angles":
        return f"{rest[0]}: principal angles (degrees) between the pretraining and new-task subspaces"
    return ("Observed fraction of new-task variance in the pretraining basis against the covariance-null mean, "
            "one point per network and epoch (dotted: equality)")


def _span(values) -> str:
    return span(values, ".2f", "-")


def _transfer_figure_data(tr: dict, key: str) -> Any:
    from ..studies.transfer_run import EPOCHS  # pulls the task and training modules: only when a demo is read

    kind, *rest = key.split("/")
    if kind == "variance":
        agg = tr["aggregate"][rest[0]][rest[1]]
        return {"k": list(range(1, len(agg["cross"]["mean"]) + 1)), "cross": agg["cross"], "self": agg["self"]}
    if kind == "angles":
        return {lab: tr["aggregate"][rest[0]][lab]["angles"] for lab in EPOCHS}
    return [{"network": f"{x['ruleset']} s{x['seed']} {lab}",
             "covariance_null_mean": x["epochs"][lab]["null"]["covariance"]["null_mean"],
             "observed_fraction": x["epochs"][lab]["null"]["uniform"]["observed"]}
            for x in tr["networks"] for lab in EPOCHS]


def _acc(d: dict) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in d.items())


def _section_learning(rep, lr: dict, p: dict) -> None:
    rep.section("Dissimilarity over learning", finding=_learning_finding(lr), params=p)
    rep.text("Networks that learn the new task from scratch, through the rule column of a frozen pretrained "
             "network, or by fine-tuning all its weights; checkpoints matched by fraction of training and "
             "compared on the same test trials (DSA on the trials; Procrustes and CKA on the states). "
             f"Engine store: {lr['computed']} pairs computed, {lr['cached']} reused.")
    for m, b in lr["measures"].items():
        rows = [{**r, "pair": f"{r['group_a']} vs {r['group_b']}"} for r in b["between"]]
        table = pivot(rows, "pair", "stage", lambda r: Interval.from_sem(r["mean"], r["sem"], decimals=3),
                      column_label=lambda s: f"stage {s:g}")
        kind = "1 - similarity" if b["kind"] == "similarity" else "distance"
        rep.table(table, caption=f"{m} ({kind}) between groups, by fraction of training: mean over network "
                                 "pairs [mean - s.e.m., mean + s.e.m.] (pairs share networks: a spread, not a "
                                 "confidence interval; one pair: no interval)")
    captions = {"dissimilarity": "Dissimilarity between groups against fraction of training (mean ± s.e.m. over "
                                 "network pairs), one panel per measure",
                "accuracy": "New-task accuracy against fraction of training, one line per network"}
    for key, path in lr.get("figures", {}).items():
        caption = captions.get(key) or (f"MDS map of every checkpoint under {key.split('/', 1)[-1]}; each "
                                        "network's path from its first checkpoint (open square) to its last")
        rep.figure(path, caption=caption, data=_learning_figure_data(lr, key))
    rep.json("learning", {k: v for k, v in lr.items() if k != "figures"})


def _learning_finding(lr: dict) -> str:
    measures = list(lr["measures"])
    last = max(r["stage"] for r in lr["measures"][measures[0]]["between"])
    final = {m: {(r["group_a"], r["group_b"]): r["mean"] for r in b["between"] if r["stage"] == last}
             for m, b in lr["measures"].items()}
    first = final[measures[0]]
    between = [k for k in first if k[0] != k[1]] or list(first)  # distinct groups (within-group pairs aside)
    ranked = sorted(between, key=lambda k: first[k])

    def describe(pair):
        return f"{pair[0]} vs {pair[1]} (" + ", ".join(f"{m} {final[m].get(pair, float('nan')):.2f}"
                                                       for m in measures) + ")"

    return (f"At the end of training the closest pair of groups is {describe(ranked[0])} and the farthest "
            f"{describe(ranked[-1])}; CKA as 1 - CKA, means over network pairs. Descriptive: no null is "
            "computed for these distances.")


def _learning_figure_data(lr: dict, key: str) -> Any:
    if key == "dissimilarity":
        return {m: b["between"] for m, b in lr["measures"].items()}
    if key == "accuracy":
        return lr["accuracy"]
    m = key.split("/", 1)[1]
    return {"systems": [s["system"] for s in lr["systems"]], "mds": lr["measures"][m].get("mds")}


def _section_feedback(rep, fa: dict, out: Path) -> None:
    feedback_alignment_section(rep, fa, out / "feedback_alignment" / "feedback_alignment.png")



def _section_lorenz(rep, res: dict, out: Path) -> None:
    lorenz_section(rep, res, out / "lorenz" / "lorenz.json", setting="tiny setting")


def _section_compositional(rep, co: dict, out: Path) -> None:
    compositional_section(rep, co, out / "compositional" / "compositional.json", setting=f"{co['preset']} preset")
