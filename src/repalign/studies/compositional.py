"""Compositional learning in RNNs (seed 002, part 2): perceptual-decision tasks, pretraining
groups, and which measure (DSA, CKA, Procrustes) separates them.

Every network learns the final task ``anti_pdm_delay``; the ten groups differ in history:

* ``untrained`` (the initial weights), ``master`` (from scratch, all weights),
  ``master_frozen`` (from scratch, input weights only);
* ``pretrain_frozen`` / ``pretrain_unfrozen``: pretrained on ``pdm``, ``anti_pdm``,
  ``pdm_delay``, then the final task with input weights only / all weights;
* five partial pretrainings, all frozen: ``pretrain_basic_frozen`` (``pdm``),
  ``pretrain_anti_frozen`` (``anti_pdm``), ``pretrain_delay_frozen`` (``pdm_delay``),
  ``pretrain_basic_anti_frozen``, ``pretrain_basic_delay_frozen`` (pooled as ``pretrain_partial``).

A *configuration* (activation x hidden x lr x batch x seed) gives one network per group, all
from the same initial weights; the groups are compared through each network's dissimilarity to
the master of its configuration.

Model-agnostic: the network comes from :func:`model_spec` -> :func:`repalign.models.build_model`
(``--model leaky_rnn | gru`` or any registered type, e.g. ``mamba``); "frozen" trains only the
input parameters (``model.input_parameters()`` or ``[model.input_weight()]``); hidden states
come from :func:`repalign.train.record`.

Public functions (stable names): :func:`default_params`, :func:`configurations`,
:func:`model_spec`, :func:`training_jobs`, :func:`train_all`, :func:`run_study` (in
:mod:`.compositional_analysis`: :func:`~.compositional_analysis.test_batch`,
:func:`~.compositional_analysis.states`, :func:`~.compositional_analysis.dissimilarity_to_master`,
:func:`~.compositional_analysis.over_learning`, :func:`~.compositional_analysis.write_outputs`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

from . import compositional_analysis
from .compositional_setup import (
    FINAL_TASK,
    GROUPS,
    MODEL_ALIASES,
    PAPER_TABLE,
    PARTIAL,
    PLAN,
    PRETRAIN_SETS,
    SHARE,
    configurations,
    default_params,
    model_spec,
)
from .mamba import finish_mamba_study

__all__ = ["FINAL_TASK", "PRETRAIN_SETS", "PARTIAL", "GROUPS", "PLAN", "SHARE", "PAPER_TABLE", "MODEL_ALIASES",
           "default_params", "configurations", "model_spec", "training_jobs", "run_training_job", "train_all",
           "run_study"]

def _train_config(params: dict, cfg: dict, tasks: list[str], trainable: str, seed: int) -> dict:
    from ..train import TrainConfig

    steps = max(1, int(round(params["epochs"] * params["trials_per_epoch"] / cfg["batch_size"])))
    n = max(2, int(params["n_checkpoints"]))
    ckpts = sorted({int(round(steps * k / (n - 1))) for k in range(n)})
    task_kwargs = {"dt": params["dt"]}
    if params.get("timing"):
        task_kwargs["timing"] = params["timing"]
    return TrainConfig(tasks=list(tasks), steps=steps, batch_size=cfg["batch_size"], lr=cfg["lr"], loss="ce",
                       l2_weight=params["l2_weight"], grad_clip=None, seed=seed, task_kwargs=task_kwargs,
                       checkpoints=ckpts, eval_every=max(1, steps // (n - 1)), eval_batch=params["eval_batch"],
                       stop_accuracy=params["stop_accuracy"], trainable=trainable).to_dict()


def training_jobs(params: dict, runs_dir: str | Path) -> tuple[list[dict], list[dict]]:
    """Two waves of training jobs: wave 1 (pretrainings, ``master``, ``master_frozen``) and wave 2
    (final-task training of the pretrained groups, starting from a wave-1 run's last checkpoint).
    Each job: ``name``, ``dir``, ``spec`` (initial model) or ``init_from`` (a run dir), ``config``."""
    runs_dir = Path(runs_dir)
    wave1, wave2 = [], []
    for k, cfg in enumerate(configurations(params)):
        spec = model_spec(params["model"], cfg["hidden"], cfg["activation"], cfg["seed"], dt=params["dt"],
                          **params.get("model_kwargs", {}), **cfg.get("model_kwargs", {}))
        base = runs_dir / cfg["id"]
        data_seed = 1000 * cfg["seed"] + 17 * k
        needed = {PLAN[g][0] for g in GROUPS if PLAN[g][0] is not None}
        for i, key in enumerate(sorted(needed)):
            wave1.append({"name": f"{cfg['id']}/pretrain_{key}", "dir": str(base / f"pretrain_{key}"), "spec": spec,
                          "device": params.get("device", "cpu"),
                          "config": _train_config(params, cfg, PRETRAIN_SETS[key], "all", data_seed + 100 + i)})
        for j, group in enumerate(GROUPS):
            pre, trainable = PLAN[group]
            if trainable is None:
                continue
            job = {"name": f"{cfg['id']}/{group}", "dir": str(base / group), "group": group, "config_id": cfg["id"],
                   "device": params.get("device", "cpu"),
                   "config": _train_config(params, cfg, [params["final_task"]], trainable, data_seed + j)}
            if pre is None:
                wave1.append({**job, "spec": spec})
            else:
                wave2.append({**job, "init_from": str(base / f"pretrain_{pre}")})
    return wave1, wave2


def run_training_job(job: dict) -> dict:
    """Train one job (resuming from its checkpoints); returns a summary. Top-level: picklable."""
    import torch

    from ..models import build_model
    from ..train import TrainConfig, list_checkpoints, load_model, train

    torch.set_num_threads(1)
    if "init_from" in job:
        found = list_checkpoints(job["init_from"])
        if not found:
            raise ValueError(f"init_from {job['init_from']} holds no checkpoint; train wave 1 first")
        model = load_model(found[-1]).train()
    else:
        model = build_model(dict(job["spec"]))
    t0 = time.perf_counter()
    res = train(model, TrainConfig.from_dict(dict(job["config"])), job["dir"], resume=True,
                device=job.get("device", "cpu"))
    return {"name": job["name"], "steps_done": res.steps_done, "stopped_early": res.stopped_early,
            "final_accuracy": res.final_accuracy(), "elapsed_s": res.elapsed_s,
            "wall_s": time.perf_counter() - t0, "trials_per_s": res.trials_per_s}


def _executor(backend: str, n_jobs: int | None, scheduler: str | None):
    """repalign.engine's executor; ``dask`` without a scheduler starts a local cluster."""
    from ..engine.sweep import _Executor

    if backend != "dask" or scheduler is not None:
        return _Executor(backend, n_jobs, scheduler, None), None
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=n_jobs or 2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster)
    return _Executor("dask", n_jobs, None, client), (client, cluster)


def train_all(params: dict, runs_dir: str | Path, *, backend: str = "processes", n_jobs: int | None = None,
              scheduler: str | None = None, progress: bool = True,
              log: Callable[[str], None] = print) -> list[dict]:
    """Train every network of the study (two waves), in parallel on local processes
    (``backend="processes"``), a Dask cluster (``"dask"``; ``scheduler`` address or a local
    cluster) or in this process (``"serial"``). Finished runs are skipped and interrupted ones
    resume from their last checkpoint. Returns one summary per job."""
    if backend not in ("serial", "processes", "dask"):
        raise ValueError(f"backend must be 'serial', 'processes' or 'dask'; got {backend!r}")
    wave1, wave2 = training_jobs(params, runs_dir)
    summaries = []
    ex, owned = _executor(backend, n_jobs, scheduler)
    try:
        with ex:
            for w, jobs in enumerate((wave1, wave2), start=1):
                bar = _bar(len(jobs), f"train wave {w}", progress)
                for s in ex.map(run_training_job, jobs):
                    summaries.append(s)
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix_str(f"{s['name']} acc={_fmt(s['final_accuracy'])}")
                if bar is not None:
                    bar.close()
                log(f"wave {w}: {len(jobs)} runs done")
    finally:
        if owned is not None:
            owned[0].close()
            owned[1].close()
    return summaries


def _fmt(acc: dict) -> str:
    return ",".join(f"{v:.2f}" for v in acc.values())


def _bar(total: int, desc: str, show: bool):
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="run")


def run_study(params: dict, out_dir: str | Path, *, backend: str = "processes", n_jobs: int | None = None,
              scheduler: str | None = None, progress: bool = True, log: Callable[[str], None] = print) -> dict:
    """Train (or resume) every network, analyse, and write ``compositional.json``,
    ``compositional.md`` and figures to ``out_dir``. Returns the result dict."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    (out / "params.json").write_text(json.dumps(params, indent=2))
    summaries = train_all(params, out / "runs", backend=backend, n_jobs=n_jobs, scheduler=scheduler,
                          progress=progress, log=log)
    t_train = time.perf_counter() - t0
    result = compositional_analysis.analyse(params, out, backend="serial" if backend == "serial" else "processes", n_jobs=n_jobs,
                        log=log)
    result["training"] = {"runs": sorted(summaries, key=lambda s: s["name"]), "wall_s": t_train}
    result["seconds"] = {"training": t_train, "total": time.perf_counter() - t0}
    compositional_analysis.write_outputs(result, out)
    if params["model"] == "mamba":  # the paper's Mamba table, untrained-vs-pretrained separation, DSA cost
        finish_mamba_study(result, params, out, log=log)
    return result
