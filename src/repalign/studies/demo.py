"""``repalign demo``: every part of repalign on small, real problems, in one report.

Stages (a tqdm bar runs over them):

1. **report card** — the measures on test cases with known answers (:mod:`repalign.report_card`);
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

from .._serialize import atomic_write, to_jsonable, versions, write_json
from ..report.demo import RESULTS_FILE, build_report

__all__ = ["run_demo", "demo_params", "STAGES", "build_report", "RESULTS_FILE"]

STAGES = ("report card", "transfer", "learning", "feedback alignment", "lorenz", "compositional", "report")


def demo_params(quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Every parameter of the demo (``quick``: the reduced demo of the tests)."""
    from .transfer_run import DEFAULT_RULESETS, default_params

    seeds = [seed] if quick else [seed, seed + 1]
    return {
        "seed": seed,
        "quick": quick,
        "report_card": {"measures": ["procrustes", "cka"] if quick else ["dsa", "procrustes", "cka", "rsa"],
                        "cases": ["deformation", "motifs"] if quick else None,
                        "quick": True, "seeds": [seed + i for i in range(4)], "jobs": 1 if quick else 2},
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
    """``compute()``'s result, or the one stored at ``path`` under the same ``key`` (NaN stays a
    float: the stage file is read back only here)."""
    key = to_jsonable(key, "key")
    if path.exists():
        try:
            stored = json.loads(path.read_text())
            if stored.get("key") == key:
                return stored["result"], True
        except ValueError:
            pass
    doc = {"key": key, "result": to_jsonable(compute(), path.name, keep_nonfinite=True)}
    atomic_write(path, json.dumps(doc).encode())
    return json.loads(path.read_text())["result"], False


def _report_card(p: dict, out: Path) -> tuple[dict, bool]:
    from ..report_card import run_multiseed_card

    def compute() -> dict:  # pass rates over a few seeds; DEFAULT_PARAMS, no tuning or sensitivity panel here
        card = run_multiseed_card(p["measures"], p["cases"], seeds=p["seeds"], quick=p["quick"], tuning_seeds=None,
                                  sensitivity_seeds=(), out=out / "report_card", jobs=p["jobs"])
        card.write(out / "report_card", figures=False)
        return {"table": card.table(), "card": card.to_dict()}

    return _cached_json(out / "report_card" / "stage.json", p, compute)


def _feedback(p: dict, out: Path) -> tuple[dict, bool]:
    from . import feedback_alignment

    def compute() -> dict:
        res = feedback_alignment.run_study(feedback_alignment.Config(**p))
        feedback_alignment.save(res, out / "feedback_alignment")
        return res

    res, reused = _cached_json(out / "feedback_alignment" / "stage.json", p, compute)
    fig = out / "feedback_alignment" / "feedback_alignment.png"
    from ..report.figstyle import current_formats

    if not all(fig.with_suffix(f".{f}").exists() for f in current_formats()):
        feedback_alignment.plot(res, fig)
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

    from ..report.figstyle import paper_style, parse_formats
    from .._runtime import limited_threads

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
           "report": str(out / "report.html"), "figure_formats": list(formats), "versions": versions()}
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
    write_json(path, history, indent=1)
    return history


def _run_stage(stage: str, params: dict, out: Path, results: dict) -> dict:
    if stage == "report card":
        results["report_card"], reused = _report_card(params["report_card"], out)
        return {"reused": reused}
    if stage == "transfer":
        from .transfer_run import run_transfer

        p = dict(params["transfer"])
        results["transfer"] = run_transfer(out_dir=out / "transfer", **p)
        c = results["transfer"]["counters"]
        return {"reused": c["trained"] == 0 and c["analysed"] == 0, **c}
    if stage == "learning":
        from .learning import learning_dissimilarity, train_learning_groups

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
    from . import compositional

    def compute() -> dict:
        params = {**compositional.default_params("tiny"), **p}
        res = compositional.run_study(params, out / "compositional", backend="serial", progress=False, log=lambda s: None)
        kept = {k: res[k] for k in ("model", "preset", "params", "configurations", "dissimilarity", "tests", "omnibus",
                                    "expected_ordering", "figures", "group_matrix", "failures", "paper_table",
                                    "final_accuracy") if k in res}  # what the compositional reader shows
        return {**kept, "over_learning": {k: res["over_learning"].get(k) for k in ("grid", "binned")}}

    return _cached_json(out / "compositional" / "stage.json", p, compute)  # the report is always rewritten


# ----------------------------------------------------------------------------- report
def _lorenz(p: dict, seed: int, out: Path) -> tuple[dict, bool]:
    from . import lorenz
    from .lorenz_report import save

    def compute() -> dict:
        cfg = lorenz.tiny_config(seed=seed, **{k: tuple(v) if isinstance(v, list) else v for k, v in p.items()})
        res = lorenz.run_study(cfg)
        save(res, out / "lorenz")
        return res

    return _cached_json(out / "lorenz" / "stage.json", {"seed": seed, **p}, compute)



def _write_results(params: dict, results: dict, run: dict, history: list[dict], out: Path) -> Path:
    """Store what the report is built from in ``out/demo_results.json`` (strict JSON)."""
    return write_json(out / RESULTS_FILE, {"params": params, "results": results, "run": run, "history": history},
                      indent=None)
