"""Vector-field Procrustes on many random pairs: repalign's loss against cached dsa-metric runs.

benchmarks/dsa.py times both packages side by side on a few pairs; this script checks the loss on
more pairs without paying dsa-metric's seconds per pair on every run. The pairs are those of
benchmarks/dsa.py (A, B independent standard Gaussian, seeded by n); dsa-metric
(``SimilarityTransformDist(iters=1500, lr=5e-3, score_method="angular")``, torch seed = pair index,
one torch thread) runs once per pair and its loss is kept in ``--cache`` (JSON).

Two reports:

* ``--restarts R ...``: ``vector_field_distance(A, B, seed=s, n_restarts=R)`` on every pair, for
  s = 0 .. ``--seeds`` - 1: time, mean loss difference to dsa-metric, runs worse by more than 1e-4,
  converged results.
* ``--effort E ...``: the same report for ``effort=E`` ("fast", "default", "thorough") at the default
  ``n_restarts``.
* ``--amortised G``: the pairs in groups of G; each group's 2G operators (the A and B of its pairs)
  scored all against all by the amortised search (``dsa_from_operators``, one call per group and
  seed), and each pair's (A, B) score checked against dsa-metric as above (time: per pair of the
  whole group).
* ``--starts-study K ...``: the structured starts plus 64 Haar starts (seed 0), every one descended
  to gradient 1e-6 by the batched L-BFGS; the best loss among the structured starts and the first
  K - 3 random ones, against dsa-metric (how many starts a "never worse" search needs).

    python benchmarks/dsa_validate.py --sizes 20 50 100 --pairs 30 30 10
    python benchmarks/dsa_validate.py --sizes 50 --pairs 30 --restarts 4 12 20
    python benchmarks/dsa_validate.py --sizes 20 --pairs 30 --restarts 4 8 12 --seeds 5
    python benchmarks/dsa_validate.py --sizes 20 50 --pairs 30 30 --restarts --starts-study 4 8 16 35
    python benchmarks/dsa_validate.py --sizes 20 50 --pairs 30 30 --restarts --effort fast default thorough --seeds 2
    python benchmarks/dsa_validate.py --sizes 20 50 --pairs 30 30 --restarts --amortised 5 --seeds 2
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from dsa import _dsa_metric, _loss, _pairs  # benchmarks/dsa.py: the same pairs and dsa-metric call
from repalign.dynamics import vector_fields as vf


def dsa_metric_losses(n: int, k: int, cache: Path) -> np.ndarray:
    """dsa-metric's loss on the first k pairs of size n, computed once and cached."""
    import torch

    data = json.loads(cache.read_text()) if cache.exists() else {}
    have = data.get(str(n), [])
    if len(have) < k:
        torch.set_num_threads(1)
        for i, (A, B) in enumerate(_pairs(n, k, False, seed=1000 * n)):
            if i < len(have):
                continue
            theta, seconds = _dsa_metric(A, B, 1500, seed=i)
            have.append(float(_loss(theta)))
            print(f"  dsa-metric n={n} pair {i}: loss {have[-1]:.5f} in {seconds:.1f} s", flush=True)
            data[str(n)] = have
            cache.write_text(json.dumps(data))
    return np.array(have[:k])


def restarts_report(n: int, k: int, ref: np.ndarray, restarts: list, seeds: int) -> None:
    """Each pair searched once per seed 0..seeds-1: counts are over k * seeds runs. ``restarts``
    holds n_restarts values (ints) or effort levels (strings)."""
    pairs = list(_pairs(n, k, False, seed=1000 * n))
    runs = k * seeds
    for r in restarts:
        kw = {"effort": r} if isinstance(r, str) else {"n_restarts": r}
        diffs, times, converged = [], [], 0
        for seed in range(seeds):
            for (A, B), dsa_loss in zip(pairs, ref):
                t0 = time.perf_counter()
                res = vf.vector_field_distance(A, B, seed=seed, **kw)
                times.append(time.perf_counter() - t0)
                diffs.append(res.loss - dsa_loss)
                converged += res.converged
        d = np.array(diffs)
        print(f"| {n} | {k} x {seeds} | {r} | {np.mean(times):.3f} | {d.mean():+.4f} | {(d > 1e-4).sum()}/{runs} "
              f"({d.max():+.4f}) | {converged}/{runs} |", flush=True)


def amortised_report(n: int, k: int, ref: np.ndarray, group: int, seeds: int, effort: str) -> None:
    """The pairs in groups of ``group``; each group's operators all against all, amortised."""
    from repalign.dynamics.dsa import dsa_from_operators

    pairs = list(_pairs(n, k, False, seed=1000 * n))
    diffs, seconds, n_scored = [], 0.0, 0
    for seed in range(seeds):
        for g in range(0, k, group):
            ops = [A for A, _ in pairs[g:g + group]] + [B for _, B in pairs[g:g + group]]
            m = len(ops) // 2
            t0 = time.perf_counter()
            D = dsa_from_operators(ops, seed=seed, effort=effort)
            seconds += time.perf_counter() - t0
            n_scored += len(ops) * (len(ops) - 1) // 2
            diffs += [_loss(D[i, m + i]) - ref[g + i] for i in range(m)]
    d = np.array(diffs)
    runs = len(d)
    print(f"| {n} | {k} x {seeds} | amortised ({effort}), groups of {group} pairs | {seconds / n_scored:.3f} | "
          f"{d.mean():+.4f} | {(d > 1e-4).sum()}/{runs} ({d.max():+.4f}) | - |", flush=True)


def starts_study(n: int, k: int, ref: np.ndarray, counts: list[int]) -> None:
    best = {c: [] for c in counts}
    for A, B in _pairs(n, k, False, seed=1000 * n):
        Ah, Bh = vf._prepare_pair(A, B)
        rng = np.random.default_rng(0)
        starts = vf._spectral_candidates(Ah, Bh)
        starts += [vf._haar(n, rng, 1 if j % 2 == 0 else -1) for j in range(64)]
        with threadpool_limits(limits=1, user_api="blas"):
            _, f, _, _ = vf._lbfgs(Ah, Bh, np.stack(starts), 1e-6, 3000)
        for c in counts:
            best[c].append(f[:c].min())
    for c in counts:
        d = np.array(best[c]) - ref
        print(f"| {n} | {c} | {d.mean():+.4f} | {(d > 1e-4).sum()}/{k} ({d.max():+.4f}) |", flush=True)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[20, 50, 100])
    p.add_argument("--pairs", type=int, nargs="+", default=[30, 30, 10], help="pairs per size")
    p.add_argument("--restarts", type=int, nargs="*", default=[4], help="n_restarts values to run")
    p.add_argument("--effort", nargs="*", default=[], choices=("fast", "default", "thorough"),
                   help="effort levels to run (the --restarts report)")
    p.add_argument("--amortised", type=int, default=0, metavar="G", help="amortised report, groups of G pairs")
    p.add_argument("--seeds", type=int, default=1, help="search seeds per pair in --restarts (0, 1, ...)")
    p.add_argument("--starts-study", type=int, nargs="*", default=[], help="numbers of starts to compare")
    p.add_argument("--cache", type=Path, default=Path("benchmarks/dsa_metric_cache.json"))
    args = p.parse_args(argv)
    if len(args.pairs) != len(args.sizes):
        p.error("give one --pairs value per size")
    if args.seeds < 1:
        p.error("--seeds must be at least 1")
    refs = {n: dsa_metric_losses(n, k, args.cache) for n, k in zip(args.sizes, args.pairs)}
    if args.restarts or args.effort or args.amortised:
        print("\n| n | pairs x seeds | n_restarts | repalign s/pair | loss diff mean | worse by > 1e-4 (max) | converged |")
        print("|---|---|---|---|---|---|---|")
        for n, k in zip(args.sizes, args.pairs):
            restarts_report(n, k, refs[n], list(args.restarts) + list(args.effort), args.seeds)
            if args.amortised:
                for e in args.effort or ["default"]:
                    amortised_report(n, k, refs[n], args.amortised, args.seeds, e)
    if args.starts_study:
        print("\n| n | starts | loss diff mean | worse by > 1e-4 (max) |")
        print("|---|---|---|---|")
        for n, k in zip(args.sizes, args.pairs):
            starts_study(n, k, refs[n], args.starts_study)


if __name__ == "__main__":
    main()
