"""``repalign demo``: every part of repalign on small, real problems, in one report.

Stages (a tqdm bar runs over them):

1. **report card** — the measures on test cases with known answers (:mod:`repalign.bench`);
2. **transfer** — small RNNs pretrained on two tasks, then taught a new task through its rule
   input only; does the new task run inside the pretrained activity subspace?
   (:mod:`repalign.studies.transfer_run`);
3. **learning** — DSA, Procrustes and CKA between networks with different training histories
   (from scratch, frozen backbone, fine-tuned) at matched fractions of training
   (:mod:`repalign.studies.learning`, through the :mod:`repalign.engine` store);
4. **feedback alignment** — calibrated alignment of DFA feedback with true gradients
   (:mod:`repalign.studies.feedback_alignment`);
5. **report** — ``report.html`` (self-contained: figures embedded, tables, parameters,
   versions) and ``report.json`` (every number).

Everything is kept under the output folder, so a second run reuses it: trained checkpoints
are loaded instead of retrained, per-network analyses and stage results are read back when
their parameters match, and the engine store skips stored pairs. The JSON's ``run`` block
records what was computed and what was reused, with timings.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = ["run_demo", "demo_params", "STAGES"]

STAGES = ("report card", "transfer", "learning", "feedback alignment", "compositional", "report")


def demo_params(quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Every parameter of the demo (``quick``: the reduced demo of the tests)."""
    from .studies.transfer_run import DEFAULT_RULESETS, default_params

    seeds = [seed] if quick else [seed, seed + 1]
    return {
        "seed": seed,
        "quick": quick,
        "report_card": {"measures": ["procrustes", "cka"] if quick else ["dsa", "procrustes", "cka", "rsa"],
                        "cases": ["circle_oval_walk", "fixed_point_topology"] if quick else None,
                        "quick": True, "seed": seed},
        "transfer": {"rulesets": dict(DEFAULT_RULESETS), "new_task": "delayanti", "seeds": seeds,
                     "model": "leaky_rnn", "layout": "compact", "dt": 40.0, "quick": quick,
                     **default_params(quick)},
        "learning": {"ruleset": "anti+dlygo", "measures": ["dsa", "procrustes", "cka"],
                     "grid": [0.0, 0.5, 1.0] if quick else [0.0, 0.25, 0.5, 0.75, 1.0], "pca": None},
        "compositional": {"seeds": [seed] if quick else [seed, seed + 1, seed + 2],
                          "measures": ["cka", "procrustes"] if quick else ["dsa", "cka", "procrustes"],
                          "grid": [0.0, 1.0], "n_checkpoints": 2, "n_perm": 200, "n_boot": 200,
                          "paper_pipeline": not quick},
        "feedback_alignment": ({"epochs": 2, "null_draws": 20, "width": 64, "n_blocks": 2, "seed": seed} if quick
                               else {"epochs": 10, "null_draws": 200, "width": 128, "n_blocks": 3, "seed": seed}),
    }


# ----------------------------------------------------------------------------- cached stages
def _cached_json(path: Path, key: Any, compute: Callable[[], dict]) -> tuple[dict, bool]:
    """``compute()``'s result, or the one stored at ``path`` under the same ``key``."""
    key = json.loads(json.dumps(key))
    if path.exists():
        try:
            stored = json.loads(path.read_text())
            if stored.get("key") == key:
                return stored["result"], True
        except ValueError:
            pass
    result = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"key": key, "result": result}, default=_default))
    tmp.replace(path)
    return json.loads(path.read_text())["result"], False


def _default(o: Any) -> Any:
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _report_card(p: dict, out: Path) -> tuple[dict, bool]:
    from .bench import run_report_card

    def compute() -> dict:
        card = run_report_card(p["measures"], p["cases"], quick=p["quick"], seed=p["seed"])
        card.write(out / "report_card", figures=False)
        return {"table": card.table(), "card": card.to_dict()}

    return _cached_json(out / "report_card" / "stage.json", p, compute)


def _feedback(p: dict, out: Path) -> tuple[dict, bool]:
    from .studies import feedback_alignment as FA

    def compute() -> dict:
        res = FA.run_study(FA.Config(**p))
        FA.save(res, out / "feedback_alignment")
        return res

    res, reused = _cached_json(out / "feedback_alignment" / "stage.json", p, compute)
    fig = out / "feedback_alignment" / "feedback_alignment.png"
    if not fig.exists():
        FA.plot(res, fig)
    return res, reused


# ----------------------------------------------------------------------------- runner
def run_demo(out: str | Path = "repalign-demo", *, quick: bool = False, seed: int = 0,
             progress: bool = True) -> dict:
    """Run every stage into ``out`` and write ``out/report.html`` and ``out/report.json``.

    Prints the report's path. Returns the ``run`` summary: per stage its seconds (wall and
    CPU) and whether its results were reused, the networks trained / loaded, the engine pairs
    computed / cached, and the report's path. ``progress``: the tqdm bar over stages.
    """
    from tqdm.auto import tqdm

    from .studies.feedback_alignment import limited_threads

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    params = demo_params(quick, seed)
    t_wall, t_cpu = time.perf_counter(), time.process_time()
    stages: dict[str, dict] = {}
    results: dict[str, Any] = {}
    bar = tqdm(STAGES, desc="repalign demo", unit="stage", disable=not progress)
    with limited_threads(1):
        for stage in bar:
            bar.set_postfix_str(stage)
            w, c = time.perf_counter(), time.process_time()
            info = _run_stage(stage, params, out, results)
            stages[stage] = {"seconds": time.perf_counter() - w, "cpu_seconds": time.process_time() - c, **info}
    run = {"stages": stages, "seconds": time.perf_counter() - t_wall, "cpu_seconds": time.process_time() - t_cpu,
           "report": str(out / "report.html")}
    history = _append_history(out / "run_history.json", run)
    _write_report(params, results, run, history, out)
    print(f"report: {out / 'report.html'}  ({run['seconds']:.1f} s wall, {run['cpu_seconds']:.1f} s CPU)", flush=True)
    return run


def _append_history(path: Path, run: dict) -> list[dict]:
    """Every run's timings in this folder, oldest first (the first run is the one that computed)."""
    history = []
    if path.exists():
        try:
            history = json.loads(path.read_text())
        except ValueError:
            history = []
    entry = {"finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "seconds": run["seconds"],
             "cpu_seconds": run["cpu_seconds"],
             "stages": {k: {"seconds": v["seconds"], "reused": v["reused"]} for k, v in run["stages"].items()}}
    history.append(entry)
    path.write_text(json.dumps(history, indent=1))
    return history


def _run_stage(stage: str, params: dict, out: Path, results: dict) -> dict:
    if stage == "report card":
        results["report_card"], reused = _report_card(params["report_card"], out)
        return {"reused": reused}
    if stage == "transfer":
        from .studies.transfer_run import run_transfer

        p = dict(params["transfer"])
        results["transfer"] = run_transfer(out_dir=out / "transfer", **p)
        c = results["transfer"]["counters"]
        return {"reused": c["trained"] == 0 and c["analysed"] == 0, **c}
    if stage == "learning":
        from .studies.learning import learning_dissimilarity, train_learning_groups

        p = params["learning"]
        counters = {"trained": 0, "loaded": 0}
        series = train_learning_groups(results["transfer"], out / "learning", p["ruleset"], counters)
        res = learning_dissimilarity(series, out / "learning" / "store.db", measures=p["measures"], grid=p["grid"],
                                     pca=p["pca"], out_dir=out / "learning" / "figures", seed=params["seed"])
        res["accuracy"] = {net: {"group": s.group, "fractions": list(map(float, s.fractions)),
                                 "accuracy": list(map(float, s.accuracy))} for net, s in series.items()}
        results["learning"] = res
        return {"reused": counters["trained"] == 0 and res["computed"] == 0, **counters,
                "pairs_computed": res["computed"], "pairs_cached": res["cached"]}
    if stage == "feedback alignment":
        results["feedback_alignment"], reused = _feedback(params["feedback_alignment"], out)
        return {"reused": reused}
    if stage == "compositional":
        results["compositional"], reused = _compositional(params["compositional"], out)
        return {"reused": reused}
    return {"reused": False}


def _compositional(p: dict, out: Path) -> tuple[dict, bool]:
    """The compositional study at its tiny preset (seconds; ``repalign study compositional --quick``
    and ``docs/compositional.md`` hold the real runs)."""
    from .studies import compositional as C

    def compute() -> dict:
        params = {**C.default_params("tiny"), **p}
        res = C.run_study(params, out / "compositional", backend="serial", progress=False, log=lambda s: None)
        return {k: res[k] for k in ("model", "preset", "dissimilarity", "tests", "expected_ordering", "figures")}

    return _cached_json(out / "compositional" / "stage.json", p, compute)  # the report is always rewritten


# ----------------------------------------------------------------------------- report
def _write_report(params: dict, results: dict, run: dict, history: list[dict], out: Path) -> None:
    from .report import Report

    rep = Report("repalign demo")
    rep.params({"seed": params["seed"], "quick": params["quick"], **{k: v for k, v in params.items()
                                                                      if k not in ("seed", "quick")}})
    rep.section("Overview")
    rep.text(_overview(params, run))
    rep.table([{"stage": s, "wall s": round(v["seconds"], 2), "CPU s": round(v["cpu_seconds"], 2),
                "reused": v["reused"]} for s, v in run["stages"].items() if s != "report"],
              caption="Stages of this run (a second run reuses stored results)")
    if len(history) > 1:
        rep.table([{"run": i + 1, "finished (UTC)": h["finished"], "wall s": round(h["seconds"], 2),
                    "CPU s": round(h["cpu_seconds"], 2),
                    "stages reused": sum(v["reused"] for k, v in h["stages"].items() if k != "report")}
                   for i, h in enumerate(history)], caption="Every run in this folder")
    _section_report_card(rep, results["report_card"])
    _section_transfer(rep, results["transfer"])
    _section_learning(rep, results["learning"])
    _section_feedback(rep, results["feedback_alignment"], out)
    _section_compositional(rep, results["compositional"])
    rep.json("run", run)
    rep.json("run_history", history)
    rep.save(out)


def _overview(params: dict, run: dict) -> str:
    t = params["transfer"]
    return (f"Small leaky RNNs ({t['hidden']} units, {t['layout']} inputs, dt = {t['dt']:g} ms) pretrained on two "
            f"tasks per rule set ({', '.join(f'{k}: {v[0]} + {v[1]}' for k, v in t['rulesets'].items())}), seeds "
            f"{t['seeds']}, then taught `{t['new_task']}` through its rule column only. "
            f"Total {run['seconds']:.1f} s wall, {run['cpu_seconds']:.1f} s CPU (this process); "
            f"{sum(v['reused'] for k, v in run['stages'].items() if k != 'report')} of {len(STAGES) - 1} stages "
            "reused results stored in the output folder by an earlier run.")


def _section_report_card(rep, rc: dict) -> None:
    rep.section("Report card")
    rep.text("Each measure on test cases with a known answer (quick card; PASS/FAIL per criterion, "
             "see `docs/report_card.md`).")
    table = rc["table"]
    rep.table(table[1:], header=table[0], caption="score and verdict per measure and case")
    rep.json("report_card", rc["card"])


def _section_transfer(rep, tr: dict) -> None:
    from .studies.transfer_run import EPOCHS

    rep.section("Transfer: does the new task reuse the pretrained subspace?")
    rep.text(tr["basis_statement"]["text"])
    rep.table(tr["basis_statement"]["rows"], caption="Random-basis nulls per rule set and epoch "
              "(counts of networks with p <= 0.05; uniform: random k-dim subspaces; covariance: random "
              "high-variance subspaces of the same network)")
    rows = []
    for n in tr["networks"]:
        for lab in EPOCHS:
            e = n["epochs"][lab]
            rows.append({"ruleset": n["ruleset"], "seed": n["seed"], "epoch": lab,
                         "stage-1 acc": _acc(n["accuracy"]["stage1"]), "new-task acc": _acc(n["accuracy"]["stage2"]),
                         "fraction": e["fraction"], "area ratio": e["area_ratio"],
                         "dir.-matched fraction": e["direction_matched"]["fraction"],
                         "p uniform": e["null"]["uniform"]["p_value"],
                         "p covariance": e["null"]["covariance"]["p_value"],
                         "min angle (deg)": float(np.degrees(e["angles"][0])),
                         "PR new in pre": e["pr_new_in_pre"]})
    rep.table(rows, caption="Per network: cross-task variance explained at K components, principal angle, "
                            "participation ratio")
    for key, path in tr["figures"].items():
        rep.figure(path, caption=key)
    rep.table([{"ruleset": n["ruleset"], "seed": n["seed"], "cos(new, pre)": n["rule"]["cos_new_pre"],
                "span fraction": n["rule"]["span_fraction"], "probe acc": n["probe"]["observed"],
                "probe null mean": n["probe"]["null_mean"], "probe p": n["probe"]["p_value"],
                "probe verdict": n["probe"]["verdict"]} for n in tr["networks"]],
              caption="Rule-vector geometry and backbone probe (trained rule column vs random columns of "
                      "the same norm)")
    rep.json("transfer", {k: tr[k] for k in ("params", "networks", "aggregate", "basis_statement", "counters",
                                             "seconds")})


def _acc(d: dict) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in d.items())


def _section_learning(rep, lr: dict) -> None:
    rep.section("Dissimilarity over learning")
    rep.text("Networks that learn the new task from scratch, through the rule column of a frozen pretrained "
             "network, or by fine-tuning all its weights; checkpoints matched by fraction of training and "
             "compared on the same test trials (DSA on the trials; Procrustes and CKA on the states). "
             f"Engine store: {lr['computed']} pairs computed, {lr['cached']} reused.")
    rows = [{"measure": m, **{k: r[k] for k in ("stage", "group_a", "group_b", "mean", "sem", "n_pairs")}}
            for m, b in lr["measures"].items() for r in b["between"]]
    rep.table(rows, caption="Mean dissimilarity between networks of two groups at each stage "
                            "(CKA as 1 - CKA)")
    for key, path in lr.get("figures", {}).items():
        rep.figure(path, caption=key)
    rep.json("learning", {k: v for k, v in lr.items() if k != "figures"})


def _section_feedback(rep, fa: dict, out: Path) -> None:
    rep.section("Feedback alignment")
    rep.text("Direct feedback alignment vs backprop on the digits data: per layer, the mean cosine between "
             "the DFA update direction and the true gradient, against a null of random feedback matrices.")
    rows = [{"network": m, "layer": r["layer"], "cosine": r["observed"], "null mean": r["null_mean"],
             "p": r["p_value"], "verdict": r["verdict"]} for m, net in fa["networks"].items() for r in net["layers"]]
    rep.table(rows, caption="held-out accuracy: " + ", ".join(
        f"{m} {net['test_accuracy']:.3f}" for m, net in fa["networks"].items()))
    rep.figure(out / "feedback_alignment" / "feedback_alignment.png", caption="observed cosine vs null")
    rep.json("feedback_alignment", fa)


def _section_compositional(rep, co: dict) -> None:
    rep.section("Compositional learning: which measure separates pretraining groups?")
    rep.text(f"{co['model']} networks at the study's {co['preset']} preset (a few units, a few updates: a smoke run; "
             "see docs/compositional.md for the quick and larger runs): dissimilarity of each group to master on "
             "the same seeded anti_pdm_delay test trials, stimulus window (CKA as 1 - CKA).")
    groups = ("untrained", "master_frozen", "pretrain_partial", "pretrain_frozen", "pretrain_unfrozen")
    rep.table([{"measure": m, **{g: d[g]["mean"] for g in groups}} for m, d in co["dissimilarity"].items()],
              caption="mean dissimilarity to master per group")
    rep.table([{"measure": m, "a": r["a"], "b": r["b"], "t": r["t"], "p_adj (BH)": r["p_adj"],
                "p_perm_adj": r["p_perm_adj"]} for m, rows in co["tests"].items() for r in rows],
              caption="t-tests between groups, Benjamini-Hochberg corrected; permutation test over labels")
    for key in ("heatmaps", "over_learning"):
        if key in co.get("figures", {}):
            rep.figure(co["figures"][key], caption=key)
    rep.json("compositional", co)
