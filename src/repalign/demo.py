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
5. **lorenz** — DSA, CKA and Procrustes on the attractor test cases of Guilhot et al. in a tiny
   setting (:mod:`repalign.studies.lorenz`);
6. **report** — ``report.html`` (self-contained: figures embedded, tables, parameters,
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

__all__ = ["run_demo", "demo_params", "STAGES", "build_report", "RESULTS_FILE"]

RESULTS_FILE = "demo_results.json"  # everything the report is built from (``repalign report DIR`` reads it)

STAGES = ("report card", "transfer", "learning", "feedback alignment", "lorenz", "compositional", "report")


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
        "lorenz": {"trials": 20, "patterns": [0.5, 40.0], "n_restarts": 0, "tests": ["noise", "ratio"]} if quick
        else {"trials": 30, "tests": ["regimes", "noise", "ratio"]},
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
    from .report.figstyle import current_formats

    if not all(fig.with_suffix(f".{f}").exists() for f in current_formats()):
        FA.plot(res, fig)
    return res, reused


# ----------------------------------------------------------------------------- runner
def run_demo(out: str | Path = "repalign-demo", *, quick: bool = False, seed: int = 0,
             progress: bool = True, figure_formats: str | tuple = ("png",)) -> dict:
    """Run every stage into ``out`` and write ``out/report.html`` and ``out/report.json``.

    Prints the report's path. Returns the ``run`` summary: per stage its seconds (wall and
    CPU) and whether its results were reused, the networks trained / loaded, the engine pairs
    computed / cached, and the report's path. ``progress``: the tqdm bar over stages.
    ``figure_formats``: e.g. ``"png,svg,pdf"``: every figure is also written as SVG/PDF
    (see :mod:`repalign.report.figstyle`).
    """
    from tqdm.auto import tqdm

    from .report.figstyle import paper_style, parse_formats
    from .report.html import software_versions
    from ._runtime import limited_threads

    formats = parse_formats(figure_formats)

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    params = demo_params(quick, seed)
    t_wall, t_cpu = time.perf_counter(), time.process_time()
    stages: dict[str, dict] = {}
    results: dict[str, Any] = {}
    bar = tqdm(STAGES, desc="repalign demo", unit="stage", disable=not progress)
    with limited_threads(1), paper_style(formats):
        for stage in bar:
            bar.set_postfix_str(stage)
            w, c = time.perf_counter(), time.process_time()
            info = _run_stage(stage, params, out, results)
            stages[stage] = {"seconds": time.perf_counter() - w, "cpu_seconds": time.process_time() - c, **info}
    run = {"stages": stages, "seconds": time.perf_counter() - t_wall, "cpu_seconds": time.process_time() - t_cpu,
           "report": str(out / "report.html"), "figure_formats": list(formats), "versions": software_versions()}
    history = _append_history(out / "run_history.json", run)
    _write_results(params, results, run, history, out)
    build_report(out).save(out)
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
    if stage == "lorenz":
        results["lorenz"], reused = _lorenz(params["lorenz"], params["seed"], out)
        return {"reused": reused}
    if stage == "compositional":
        results["compositional"], reused = _compositional(params["compositional"], out)
        return {"reused": reused}
    return {"reused": False}  # the report is always rewritten


def _compositional(p: dict, out: Path) -> tuple[dict, bool]:
    """The compositional study at its tiny preset (seconds; ``repalign study compositional --quick``
    and ``docs/compositional.md`` hold the real runs)."""
    from .studies import compositional as C

    def compute() -> dict:
        params = {**C.default_params("tiny"), **p}
        res = C.run_study(params, out / "compositional", backend="serial", progress=False, log=lambda s: None)
        kept = {k: res[k] for k in ("model", "preset", "dissimilarity", "tests", "expected_ordering", "figures",
                                    "group_matrix")}
        return {**kept, "over_learning": {k: res["over_learning"].get(k) for k in ("grid", "binned")}}

    return _cached_json(out / "compositional" / "stage.json", p, compute)  # the report is always rewritten


# ----------------------------------------------------------------------------- report
def _write_results(params: dict, results: dict, run: dict, history: list[dict], out: Path) -> Path:
    """Store what the report is built from in ``out/demo_results.json`` (strict JSON)."""
    from .report import to_jsonable

    doc = to_jsonable({"params": params, "results": results, "run": run, "history": history}, "demo results")
    path = out / RESULTS_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, allow_nan=False))
    tmp.replace(path)
    return path


def build_report(out: str | Path, rep=None):
    """The demo's :class:`~repalign.report.Report` from ``out/demo_results.json`` (nothing is
    recomputed; figures are read from ``out``). Sections are added to ``rep`` when given."""
    from .report import Report

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
        _section_compositional(rep, results["compositional"])
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
    rows = rc["card"]["results"]
    status = [r.get("status", "n.a.") for r in rows]
    applicable = [r for r, s in zip(rows, status) if s in ("PASS", "FAIL", "ERROR")]
    if applicable:
        failed = [f"{r['measure']} on {r['case']} ({r['status']})" for r in applicable if r["status"] != "PASS"]
        finding = (f"{len(applicable) - len(failed)} of {len(applicable)} applicable measure-case criteria pass"
                   + (f"; fails: {', '.join(failed)}" if failed else "") + f" ({len(rows) - len(applicable)} "
                   "not applicable).")
    else:
        finding = (f"None of the {len(rows)} measure-case pairs of this card applies (e.g. "
                   f"{rows[0]['measure']}: {rows[0]['detail'].get('reason', 'n.a.')}), so it gives no verdict; "
                   "the full demo runs DSA and RSA on all six cases.") if rows else "The card is empty."
    rep.section("Report card", finding=finding, params=p)
    rep.text("Each measure on test cases with a known answer (quick card; PASS/FAIL per criterion, "
             "see `docs/report_card.md`).")
    table = rc["table"]
    rep.table(table[1:], header=table[0], caption="score and verdict per measure and case")
    rep.json("report_card", rc["card"])


def _section_transfer(rep, tr: dict) -> None:
    from .studies.transfer_run import EPOCHS

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
    from .report.tables import span

    return span(values, ".2f", "-")


def _transfer_figure_data(tr: dict, key: str) -> Any:
    from .studies.transfer_run import EPOCHS

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
    from .report import Interval, pivot

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
    from .report.studies import feedback_alignment_section

    feedback_alignment_section(rep, fa, out / "feedback_alignment" / "feedback_alignment.png")


def _lorenz(p: dict, seed: int, out: Path) -> tuple[dict, bool]:
    from .studies import lorenz as lz
    from .studies.lorenz_report import save

    def compute() -> dict:
        cfg = lz.tiny_config(seed=seed, **{k: tuple(v) if isinstance(v, list) else v for k, v in p.items()})
        res = lz.run_study(cfg)
        save(res, out / "lorenz")
        return res

    return _cached_json(out / "lorenz" / "stage.json", {"seed": seed, **p}, compute)


def _section_lorenz(rep, res: dict, out: Path) -> None:
    from .report.readers_lorenz import lorenz_finding
    from .studies.lorenz_report import effect_rows, head_to_head

    rep.section("Lorenz attractor test cases (Guilhot et al. 2024), tiny setting",
                finding=(f"{lorenz_finding(res)} Tiny setting (few trajectories, small DSA rank): compare shapes, "
                         "not values; the paper's setting is in docs/lorenz.md."))
    rep.text("DSA, CKA and Procrustes (all in radians) on the paper's Lorenz regime, noise and ratio tests, in a "
             "seconds-scale setting (few trajectories, small DSA rank; see `docs/lorenz.md` for the paper's "
             "setting).")
    rep.table(head_to_head(res), caption="repalign beside the paper's numbers (different setting: compare shapes)")
    if "noise_effects" in res:
        rep.table(effect_rows(res["noise_effects"]), caption="scale-free effect sizes, bootstrap over pattern pairs")
    fig = out / "lorenz" / "lorenz_noise_ratio.png"
    if fig.exists():
        rep.figure(fig, caption="noise and ratio tests, mean +- s.e.m. over pattern pairs",
                   data={k: res[k] for k in ("noise", "ratio") if k in res})
    rep.json("lorenz", res)


def _section_compositional(rep, co: dict) -> None:
    rep.section("Compositional learning: which measure separates pretraining groups?",
                finding=_compositional_finding(co))
    rep.text(f"{co['model']} networks at the study's {co['preset']} preset (a few units, a few updates: a smoke run; "
             "see docs/compositional.md for the quick and larger runs): dissimilarity of each group to master on "
             "the same seeded anti_pdm_delay test trials, stimulus window (CKA as 1 - CKA).")
    groups = ("untrained", "master_frozen", "pretrain_partial", "pretrain_frozen", "pretrain_unfrozen")
    rep.table([{"measure": m, **{g: d[g]["mean"] for g in groups if g in d}} for m, d in co["dissimilarity"].items()],
              caption="mean dissimilarity to master per group")
    rep.table([{"measure": m, "a": r["a"], "b": r["b"], "t": r["t"], "p_adj (BH)": r["p_adj"],
                "p_perm_adj": r["p_perm_adj"]} for m, rows in co["tests"].items() for r in rows],
              caption="t-tests between groups, Benjamini-Hochberg corrected; permutation test over labels")
    from .report.readers_compositional import CAPTIONS, _figure_data

    for key in ("heatmaps", "over_learning"):
        if key in co.get("figures", {}):
            data = _figure_data(co, key) or co["dissimilarity"]  # stages cached before group_matrix was kept
            rep.figure(co["figures"][key], caption=CAPTIONS[key], data=data)
    rep.json("compositional", co)


def _compositional_finding(co: dict) -> str:
    """Per measure: the group farthest from and closest to master, and how many group differences
    survive Benjamini-Hochberg (none can be tested with one network per group)."""
    parts = []
    for m, groups in co["dissimilarity"].items():
        means = {g: d["mean"] for g, d in groups.items() if d.get("mean") is not None}
        if not means:
            continue
        far, near = max(means, key=means.get), min(means, key=means.get)
        text = f"{m}: {far} farthest from master ({means[far]:.2f}), {near} closest ({means[near]:.2f})"
        ps = [r["p_adj"] for r in co["tests"].get(m, []) if r.get("p_adj") is not None]
        text += (f", {sum(p < 0.05 for p in ps)} of {len(ps)} group differences at p_adj < 0.05" if ps
                 else ", untested (one network per group)")
        parts.append(text)
    return ("; ".join(parts) + f". {co['model']} at the {co['preset']} preset: a smoke run of the pipeline, "
            "not a test of the paper's claim (docs/compositional.md).") if parts else \
        "No dissimilarity to master was computed in this run (see docs/compositional.md for the study)."
