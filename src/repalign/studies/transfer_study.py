"""``repalign study transfer``: the seed's multi-plastic transfer-geometry study (issue 19).

Networks (multi-plastic "mpn" by default, or leaky RNNs / GRUs) are pretrained on two rule
sets (fdgo + delaygo, fdanti + delaygo) until the criterion, then learn delayanti through a
new rule column only, re-drawn Kaiming-uniform (a = sqrt 5) at the start of stage 2 as the
seed's expand-and-freeze does. Several seeds per rule set train in parallel (local processes
or Dask) and resume from their checkpoints. Per network (:func:`analyse_network`):

* ``variance_spectrum`` — full-spectrum cross/self curves of hidden states, pooled and
  direction-matched (8 bins), areas and fractions at several K;
* ``modulation_raw`` / ``modulation_weighted`` — the same on M and on W * M (mpn only);
* ``mean_modulation`` — per-direction cos and Frobenius distance of the mean M (mpn only);
* ``geometry`` — principal angles (up to 20), participation ratios, random-basis nulls (the
  existing per-epoch analysis of :mod:`.transfer_run`); ``rule`` — rule-vector geometry;
* ``backbone_probe`` — ``fresh_columns`` (the seed's probe) and ``norm_matched`` (repalign's);
* ``curves`` — learning curves of both stages; a sanity figure of the final network.

:mod:`.transfer_report` aggregates, calibrates and writes ``transfer.json``/``transfer.md``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .._validation import check_choice, check_scalar
from ..tasks import generate as generate_trials
from .transfer_analysis import direction_bins, epoch_states, rule_geometry
from .transfer_figures import sanity_figure
from .transfer_probe import fresh_column_probe
from .transfer_report import summarise, write_outputs
from .transfer_run import EPOCHS, _epoch_analysis, _plain, _probe, _slug, pretrain_and_transfer, test_batches
from .transfer_spectrum import direction_matched_spectrum, mean_modulation, variance_spectrum

__all__ = ["PRESETS", "study_params", "run_study", "analyse_network", "network_job"]

RULESETS = {"fdgo+delaygo": ["fdgo", "delaygo"], "fdanti+delaygo": ["fdanti", "delaygo"]}
NEW_TASK = "delayanti"
BACKENDS = ("processes", "dask")
_COMMON = dict(layout="compact", dt=40.0, l2_weight=1e-4, rule_init="kaiming", stop_accuracy=0.95, n_bins=8,
               ks=[1, 2, 5, 10, 20, 50, 100, 300], max_mod_components=1000, probe_fresh=10, new_task=NEW_TASK)
PRESETS: dict[str, dict[str, Any]] = {
    # minutes on 2 cores; tests use smaller overrides of it
    "quick": dict(_COMMON, model="mpn", hidden=32, batch_size=32, steps1=200, steps2=100, seeds=2, lr1=3e-3,
                  lr2=0.05, n_angles=10, null_draws=200, probe_draws=20, n_checkpoints=4, save_every=50),
    # the seed's setting: dmpn, N = 300, L2 1e-4, batch 128, stage 1 to criterion, several seeds
    "paper": dict(_COMMON, model="mpn", hidden=300, batch_size=128, steps1=20000, steps2=2000, seeds=5, lr1=1e-3,
                  lr2=0.01, n_angles=20, null_draws=1000, probe_draws=100, n_checkpoints=10, save_every=250),
}
ANALYSIS_KEYS = ("hidden", "n_bins", "ks", "max_mod_components", "probe_fresh", "n_angles", "null_draws",
                 "probe_draws", "l2_weight")


def study_params(preset: str = "quick", **overrides: Any) -> dict:
    """The parameters of ``preset`` (see :data:`PRESETS`) with ``overrides`` (None values ignored)."""
    check_choice(preset, "preset", sorted(PRESETS))
    p = dict(PRESETS[preset], preset=preset)
    unknown = sorted(set(overrides) - set(p) - {"rulesets"})
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown}; valid: {sorted(p)}")
    p.update({k: v for k, v in overrides.items() if v is not None})
    p.setdefault("rulesets", dict(RULESETS))
    check_choice(p["model"], "model", ("mpn", "leaky_rnn", "gru"))
    check_scalar(p["seeds"], "seeds (networks per rule set)", int, min_val=1)
    return p


# ----------------------------------------------------------------------------- per network
def _epoch_samples(rec, batch, epoch: str, n_bins: int) -> dict:
    states, trials = epoch_states(rec.hidden, batch, epoch, return_trials=True)
    out = {"hidden": states, "bins": direction_bins(batch.stim_dirs[trials, 0], n_bins)}
    if rec.M is not None:
        out["M"] = epoch_states(rec.M, batch, epoch)  # (samples, n_hidden * n_x)
    return out


def _spectra(pre: dict, new: dict, p: Mapping[str, Any], cap: int | None, which: str, W: np.ndarray | None) -> dict:
    X, Y = pre[which], new[which]
    if W is not None:
        X, Y = X * W.ravel(), Y * W.ravel()
    kw = dict(max_components=cap, ks=p["ks"], seed=0)
    pooled = variance_spectrum(X, Y, **kw)
    dm = direction_matched_spectrum(X, Y, pre["bins"], new["bins"], **kw)
    return _plain({**pooled, "direction_matched": dm})


def analyse_network(net, tasks: Sequence[str], lay: Mapping[str, Any], p: Mapping[str, Any], seed: int) -> dict:
    """Every analysis of issue 19 on one trained network (see the module docstring); JSON-ready."""
    from ..train import record

    new_task = p["new_task"]
    batches = test_batches(list(tasks) + [new_task], lay)
    W = net.w.detach().double().numpy() if getattr(net, "model_type", "") == "mpn" else None
    out: dict[str, Any] = {"variance_spectrum": {}, "geometry": {}}
    if W is not None:
        out.update(modulation_raw={}, modulation_weighted={}, mean_modulation={})
    new_rec = record(net, batches[new_task])
    for label, (epoch, which) in EPOCHS.items():
        pre_task = tasks[which]
        pre_rec = record(net, batches[pre_task])
        out["geometry"][label] = _epoch_analysis(pre_rec, batches[pre_task], new_rec, batches[new_task], epoch,
                                                 pre_task, min(p["n_angles"], new_rec.hidden.shape[-1] - 1),
                                                 p["null_draws"], seed)
        pre = _epoch_samples(pre_rec, batches[pre_task], epoch, p["n_bins"])
        new = _epoch_samples(new_rec, batches[new_task], epoch, p["n_bins"])
        del pre_rec
        out["variance_spectrum"][label] = _spectra(pre, new, p, None, "hidden", None)
        if W is not None:
            cap = p["max_mod_components"]
            out["modulation_raw"][label] = _spectra(pre, new, p, cap, "M", None)
            out["modulation_weighted"][label] = _spectra(pre, new, p, cap, "M", W)
            shape = (-1,) + W.shape
            out["mean_modulation"][label] = mean_modulation(pre["M"].reshape(shape), new["M"].reshape(shape),
                                                            pre["bins"], new["bins"])
    n_rules = lay["rule_slots"]
    rule_start = batches[new_task].rule_start
    w_in = net.input_weight().detach().double().numpy()
    out["rule"] = _plain(rule_geometry(w_in[:, rule_start:rule_start + n_rules], list(range(n_rules - 1)),
                                         n_rules - 1))
    column = rule_start + n_rules - 1
    probe_batch = generate_trials(new_task, 128, seed=np.random.default_rng([seed, 7]), layout=lay["layout"],
                                    rule_slots=lay["rule_slots"], rule_index=lay["rule_index"], **lay["task_kwargs"])
    out["backbone_probe"] = {
        "fresh_columns": fresh_column_probe(net, probe_batch, column, n_fresh=p["probe_fresh"], seed=seed,
                                            l2_weight=p["l2_weight"]),
        "norm_matched": _probe(net, new_task, lay, column, p["probe_draws"], seed),
    }
    return out


def _history(result) -> list[dict]:
    return [{"step": h["step"], "loss": h["loss"], "accuracy": dict(h["accuracy"])} for h in result.history]


def network_job(job: Mapping[str, Any]) -> dict:
    """Train (or resume / load) one rule set x seed network and analyse it (cached in its folder).

    ``job``: ``ruleset``, ``tasks``, ``seed``, ``dir``, ``params``, ``fig_dir``. Runs in a worker
    process (top-level, picklable); torch uses one thread.
    """
    import torch

    torch.set_num_threads(1)
    p, seed, tasks = job["params"], int(job["seed"]), list(job["tasks"])
    net_dir = Path(job["dir"])
    t0, c0 = time.perf_counter(), time.process_time()
    counters: dict[str, int] = {}
    r1, r2, lay = pretrain_and_transfer(
        tasks, p["new_task"], seed, net_dir, model=p["model"], hidden=p["hidden"], steps1=p["steps1"],
        steps2=p["steps2"], batch_size=p["batch_size"], n_checkpoints=p["n_checkpoints"], layout=p["layout"],
        dt=p["dt"], lr1=p["lr1"], lr2=p["lr2"], counters=counters, l2_weight=p["l2_weight"],
        rule_init=p["rule_init"], save_every=p["save_every"], stop_accuracy=p["stop_accuracy"])
    train_s = time.perf_counter() - t0
    r2.model.cpu()  # trained on CUDA when present; the analysis runs on CPU (numpy)
    key = json.loads(json.dumps({"analysis": {k: p[k] for k in ANALYSIS_KEYS}, "tasks": tasks, "seed": seed,
                                 "stage2_step": r2.steps_done}))
    cache = net_dir / "study_analysis.json"
    res, reused = None, False
    if cache.exists():
        try:
            stored = json.loads(cache.read_text())
            if stored.get("key") == key:
                res, reused = stored["result"], True
        except ValueError:
            pass
    if res is None:
        res = analyse_network(r2.model, tasks, lay, p, seed)
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(json.dumps({"key": key, "result": res}))
        tmp.replace(cache)
        res = json.loads(cache.read_text())["result"]  # what a resumed run reads back
    fig = Path(job["fig_dir"]) / f"sanity_{_slug(job['ruleset'])}_seed{seed}.png"
    if not fig.exists():
        sanity_figure(r2.model, list(tasks) + [p["new_task"]], lay, fig, seed=seed)
    res.update(ruleset=job["ruleset"], tasks=tasks, seed=seed, dir=str(net_dir),
               accuracy={"stage1": r1.final_accuracy(), "stage2": r2.final_accuracy()},
               steps={"stage1": r1.steps_done, "stage2": r2.steps_done},
               stage1_reached_criterion=bool(r1.stopped_early),
               curves={"stage1": _history(r1), "stage2": _history(r2)},
               counters={**counters, "analysis_reused": int(reused)},
               seconds={"train": train_s, "total": time.perf_counter() - t0, "cpu": time.process_time() - c0},
               sanity_figure=str(fig))
    return res


# ----------------------------------------------------------------------------- runner
def _jobs(p: dict, out_dir: Path) -> list[dict]:
    return [{"ruleset": rs, "tasks": list(tasks), "seed": s, "dir": str(out_dir / _slug(rs) / f"seed{s}"),
             "params": p, "fig_dir": str(out_dir / "figures")}
            for rs, tasks in p["rulesets"].items() for s in range(int(p["seeds"]))]


def _map(jobs: list[dict], backend: str, workers: int, scheduler: str | None, progress: Callable | None):
    """Results of :func:`network_job` over ``jobs``, in the order of ``jobs``."""
    results: dict[int, dict] = {}

    def done(i: int, r: dict) -> None:
        results[i] = r
        if progress is not None:
            progress(f"[{len(results)}/{len(jobs)}] {r['ruleset']} seed {r['seed']}: stage-1 steps "
                     f"{r['steps']['stage1']}, new-task accuracy {r['accuracy']['stage2']} "
                     f"({r['seconds']['total']:.0f} s)")

    if backend == "dask":
        from ..engine.sweep import _dask_client

        client = _dask_client(scheduler)
        futures = {client.submit(network_job, j, pure=False): i for i, j in enumerate(jobs)}
        from distributed import as_completed

        for fut in as_completed(futures):
            done(futures[fut], fut.result())
    elif workers <= 1 or len(jobs) == 1:
        for i, j in enumerate(jobs):
            done(i, network_job(j))
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as ex:
            futures = {ex.submit(network_job, j): i for i, j in enumerate(jobs)}
            for fut in as_completed(futures):
                done(futures[fut], fut.result())
    return [results[i] for i in range(len(jobs))]


def run_study(out_dir: str | Path, preset: str = "quick", *, backend: str = "processes", workers: int = 2,
              scheduler: str | None = None, progress: Callable[[str], None] | None = None,
              **overrides: Any) -> dict:
    """Train, analyse, aggregate and calibrate; write ``transfer.json``, ``transfer.md`` and figures.

    Parameters
    ----------
    out_dir : path
        Networks under ``out_dir/<ruleset>/seed<k>/stage{1,2}`` (checkpoints: a rerun resumes),
        figures under ``out_dir/figures``.
    preset : ``"quick"`` or ``"paper"`` (:data:`PRESETS`).
    backend : ``"processes"`` (``workers`` local processes) or ``"dask"`` (``scheduler`` address).
    progress : callable(str), optional
        Called after each network.
    **overrides : any key of the preset (``model``, ``hidden``, ``seeds``, ``steps1``, ...).

    Returns
    -------
    dict: the content of ``transfer.json``.
    """
    check_choice(backend, "backend", BACKENDS)
    check_scalar(workers, "workers", int, min_val=1)
    t0 = time.perf_counter()
    p = study_params(preset, **overrides)
    out_dir = Path(out_dir)
    (out_dir / "figures").mkdir(parents=True, exist_ok=True)
    networks = _map(_jobs(p, out_dir), backend, int(workers), scheduler, progress)
    result = summarise(p, networks, out_dir)
    result["seconds"] = time.perf_counter() - t0
    result["run"] = {"backend": backend, "workers": int(workers)}
    write_outputs(result, out_dir)
    return result
