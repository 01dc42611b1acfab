"""DSA on the Lorenz test sets of Guilhot et al.: repalign vs dsa-metric 2.0.2, time per pair and self-distance.

Data: the study's patterns (:func:`repalign.systems.paper_lorenz`: forward Euler, 200 steps,
``--trials`` trajectories from shared initial points uniform in [0, 1)^3, each min-max scaled),
made noisy as in the noise test, ``x' = sqrt(1 - s^2) x + s N(0, 1)`` with s = 0.004.

Pairs scored by each package (one process, single-threaded BLAS and torch):

* *self*: a noisy system against the same array (exactly the same data): the true distance is 0;
  the paper's code reported 0.06-0.11 for a run compared with itself;
* *noise*: two independent noisy copies of one pattern (the noise test, epoch 1);
* *different*: noisy copies of two different patterns.

Configurations:

* dsa-metric ``defaults``: ``DSA(X, Y)`` with nothing set (n_delays 1, rank = all, score
  "wasserstein" -- a distance between DMD spectra, not the angular Procrustes score), 1500 Adam steps;
* dsa-metric ``paper``: ``DSA(X, Y, n_delays=33, delay_interval=6, rank=50, score_method="angular",
  iters=1000, lr=1e-2)`` (the paper's call);
* repalign ``paper``: ``DMD(n_delays=33, delay_interval=6, rank=50)`` per system, then
  ``dsa_from_operators`` (group O, angular, n_restarts 4).

Time per pair includes both DMD fits. Scores are angles in radians (except "wasserstein").

    python benchmarks/lorenz_dsa_metric.py                 # 200 trajectories, 2 pairs of each kind
    python benchmarks/lorenz_dsa_metric.py --trials 50 --pairs 1
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from repalign.dynamics.dmd import DMD
from repalign.dynamics.dsa import dsa_from_operators
from repalign.systems.lorenz import paper_lorenz, perturb

PAPER = {"n_delays": 33, "delay_interval": 6, "rank": 50}


def _systems(trials: int, pairs: int, seed: int) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    rng = np.random.default_rng(seed)
    x0 = rng.random((trials, 3))
    rhos = (5.0, 15.0, 30.0, 40.0, 50.0)
    pats = {r: paper_lorenz(r, trials, 200, 0.01, x0=x0).data for r in rhos}
    s = 0.004
    out: dict[str, list] = {"self": [], "noise": [], "different": []}
    for k in range(pairs):
        a, b = rhos[k % len(rhos)], rhos[(k + 2) % len(rhos)]
        X = perturb(pats[a], s, seed=1000 + k)
        out["self"].append((X, X.copy()))
        out["noise"].append((X, perturb(pats[a], s, seed=2000 + k)))
        out["different"].append((X, perturb(pats[b], s, seed=3000 + k)))
    return out


def _repalign(X: np.ndarray, Y: np.ndarray, seed: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    A, B = (DMD(**PAPER).fit(list(Z)).A_v for Z in (X, Y))
    d = float(dsa_from_operators([A], [B], seed=seed)[0, 0])
    return d, time.perf_counter() - t0


def _dsa_metric(X: np.ndarray, Y: np.ndarray, config: str, seed: int) -> tuple[float, float]:
    import torch
    from DSA import DSA

    torch.manual_seed(seed)
    kw = {} if config == "defaults" else dict(PAPER, score_method="angular", iters=1000, lr=1e-2)
    t0 = time.perf_counter()
    d = float(np.asarray(DSA(X.copy(), Y.copy(), **kw).fit_score()).ravel()[0])
    return d, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--pairs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="also write the rows to this file")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    data = _systems(args.trials, args.pairs, args.seed)
    rows = []
    for kind, pairs in data.items():
        for k, (X, Y) in enumerate(pairs):
            for pkg, fn in (("repalign paper", lambda: _repalign(X, Y, args.seed)),
                            ("dsa-metric paper", lambda: _dsa_metric(X, Y, "paper", args.seed)),
                            ("dsa-metric defaults", lambda: _dsa_metric(X, Y, "defaults", args.seed))):
                d, t = fn()
                rows.append({"kind": kind, "pair": k, "package": pkg, "distance": d, "seconds": t})
                print(f"{kind:>9} {k} {pkg:<20} d = {d:.4f}   {t:7.2f} s", flush=True)
    print("\nmean over pairs:")
    for kind in data:
        for pkg in ("repalign paper", "dsa-metric paper", "dsa-metric defaults"):
            sel = [r for r in rows if r["kind"] == kind and r["package"] == pkg]
            print(f"{kind:>9} {pkg:<20} d = {np.mean([r['distance'] for r in sel]):.4f}   "
                  f"{np.mean([r['seconds'] for r in sel]):7.2f} s/pair")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
