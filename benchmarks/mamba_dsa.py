"""What DSA costs on Mamba SSM states (d_inner x d_state = 512 for d_model 16), and how much the
PCA reduction and the DMD rank move the scores.

Models: ``--models`` Mamba networks (d_model 16, 1 block, d_state 16, expand 2, d_conv 4; seeds
0, 1, ...; every other one trained for ``--train-steps`` steps on ``anti_pdm_delay`` so that the
pairs span small and large distances). States: layer 0's SSM state (512 units) on the same
``--trials`` test trials of ``anti_pdm_delay`` (test timing, dt 20 ms), in the stimulus window
(``--window`` steps). DSA: n_delays 33, delay_interval 6 (the study's), DMD rank r, group O.

Timed separately, per model or per pair (single thread; CPU time of the process, which a shared
machine does not inflate the way it inflates wall time):

* ``record``: step-by-step rollout of the whole trial (repalign.train.record);
* ``pca``: the uncentred PCA to k components (repalign.studies.mamba.reduce_states);
* ``dmd``: delay embedding + SVD + regression (the DSA ``prepare`` step) on the raw or reduced states;
* ``procrustes``: the vector-field Procrustes search between two rank-r operators (DSA ``compare``).

Sensitivity: every (k, r) setting's DSA matrix over the models against the reference setting
(no PCA, same r): max |difference| and Spearman correlation of the pair scores.

    python benchmarks/mamba_dsa.py                   # 4 models, 200 trials, k in {none, 128, 64, 32}, r in {20, 50}
    python benchmarks/mamba_dsa.py --models 2 --train-steps 0 --pcs none,64,32,16 --ranks 50   # docs/mamba.md
    python benchmarks/mamba_dsa.py --quick           # 3 models, 60 trials: a smoke run
    python benchmarks/mamba_dsa.py --json out.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import time

import numpy as np
import torch
from scipy.stats import spearmanr

from repalign.dynamics.dmd import DMD
from repalign.dynamics.vector_fields import vector_field_distance
from repalign.models import build_model
from repalign.studies.mamba import reduce_states
from repalign.train import record

N_DELAYS, DELAY_INTERVAL = 33, 6


def _inputs(n_trials: int, seed: int):
    """Test trials of anti_pdm_delay and the stimulus window (start, end) of each."""
    from repalign.tasks import generate

    batch = generate("anti_pdm_delay", n_trials, seed=seed, mode="test")
    return batch, batch.epochs["stimulus"]


def _train(model, steps: int, seed: int) -> None:
    from repalign.train import TrainConfig, train

    cfg = TrainConfig(tasks=["anti_pdm_delay"], steps=steps, batch_size=32, lr=0.01, loss="ce", seed=seed,
                      eval_every=max(steps, 1), eval_batch=32, checkpoints=[0, steps])
    train(model, cfg)


def _timed(fn, *args, **kw):
    """(result, CPU seconds of this process): on a shared machine wall time measures the neighbours."""
    t = time.process_time()
    out = fn(*args, **kw)
    return out, time.process_time() - t


def run(n_models: int, n_trials: int, window: int | None, pcs: list, ranks: list[int], train_steps: int) -> dict:
    torch.set_num_threads(1)
    batch, (start, end) = _inputs(n_trials, seed=1234)
    s0 = int(np.asarray(start).ravel()[0])
    e0 = int(np.asarray(end).ravel()[0]) if window is None else s0 + window
    out: dict = {"n_models": n_models, "n_trials": n_trials, "window": e0 - s0, "n_delays": N_DELAYS,
                 "delay_interval": DELAY_INTERVAL, "times": {}, "explained": {}, "sensitivity": {}}
    states = []
    for i in range(n_models):
        m = build_model({"type": "mamba", "n_input": batch.inputs.shape[-1], "n_output": 3, "d_model": 16,
                         "n_layers": 1, "d_state": 16, "expand": 2, "d_conv": 4, "seed": i})
        if i % 2 == 1 and train_steps > 0:
            _train(m, train_steps, seed=i)
        rec, t = _timed(record, m, batch)
        out["times"].setdefault("record_s", []).append(t)
        states.append(rec.hidden[:, s0:e0])
    out["units"] = int(states[0].shape[-1])
    ops: dict = {}
    for k, r in itertools.product(pcs, ranks):
        key = f"k={k if k else 'none'},r={r}"
        A = []
        for X in states:
            (Z, expl), t_pca = _timed(reduce_states, X, k)
            dmd, t_dmd = _timed(DMD(n_delays=N_DELAYS, delay_interval=DELAY_INTERVAL, rank=r).fit, Z)
            A.append(dmd.A_v)
            out["times"].setdefault(f"pca_s[{key}]", []).append(t_pca)
            out["times"].setdefault(f"dmd_s[{key}]", []).append(t_dmd)
            out["explained"].setdefault(str(k), []).append(expl)
        D = np.zeros((n_models, n_models))
        for a, b in itertools.combinations(range(n_models), 2):
            res, t = _timed(vector_field_distance, A[a], A[b], group="O", n_restarts=4, seed=0)
            D[a, b] = D[b, a] = res.score
            out["times"].setdefault(f"procrustes_s[{key}]", []).append(t)
        ops[key] = D
        print(f"{key}: dmd {np.median(out['times'][f'dmd_s[{key}]']):.2f} s/model, procrustes "
              f"{np.median(out['times'][f'procrustes_s[{key}]']):.2f} s/pair", flush=True)
    iu = np.triu_indices(n_models, 1)
    for k, r in itertools.product(pcs, ranks):
        key, ref = f"k={k if k else 'none'},r={r}", f"k=none,r={r}"
        d, d0 = ops[key][iu], ops[ref][iu]
        rho = float(spearmanr(d, d0).statistic) if len(d) > 2 else float("nan")
        out["sensitivity"][key] = {"scores": d.tolist(), "max_abs_diff_vs_no_pca": float(np.abs(d - d0).max()),
                                   "spearman_vs_no_pca": rho}
    out["median_times"] = {k: float(np.median(v)) for k, v in out["times"].items()}
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", type=int, default=4)
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--window", type=int, default=None, help="stimulus-window steps (default: the whole window)")
    ap.add_argument("--pcs", default="none,128,64,32", help="PCA sizes, 'none' = no reduction")
    ap.add_argument("--ranks", default="20,50")
    ap.add_argument("--train-steps", type=int, default=150)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    pcs = [None if p == "none" else int(p) for p in a.pcs.split(",")]
    ranks = [int(r) for r in a.ranks.split(",")]
    if a.quick:
        a.models, a.trials, a.train_steps = 3, 60, 20
    res = run(a.models, a.trials, a.window, pcs, ranks, a.train_steps)
    print(json.dumps({"median_times": res["median_times"], "sensitivity": {
        k: {kk: vv for kk, vv in v.items() if kk != "scores"} for k, v in res["sensitivity"].items()},
        "explained": {k: float(np.mean(v)) for k, v in res["explained"].items()}}, indent=1))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(res, fh, indent=1)


if __name__ == "__main__":
    main()
