"""Vector-field Procrustes: repalign vs dsa-metric 2.0.2, side by side in one process.

For each size n, ``--pairs`` random non-conjugate pairs (A, B independent standard Gaussian) and
``--pairs`` exactly conjugate pairs (B = Q A Q^T, Q Haar orthogonal, true distance 0) are scored by

* dsa-metric: ``SimilarityTransformDist(iters=1500, lr=5e-3, score_method="angular").fit_score(A, B)``
  (the optimiser settings of DSA's pipeline; 2 x 1500 Adam steps per pair), torch threads as found;
* repalign: ``vector_field_distance(A, B)`` with its defaults.

Both losses are ``||A_hat - C B_hat C^T||_F^2 = 2 - 2 cos(theta)`` on unit-norm operators, computed
here in float64 from each package's angular score.  Per-pair wall time excludes a warm-up call.

    python benchmarks/dsa.py                 # n in {10, 50, 100}, 2 pairs of each kind
    python benchmarks/dsa.py --pairs 1
    python benchmarks/dsa.py --quick         # n in {10, 20}, 1 pair, dsa-metric at 300 iterations
    python benchmarks/dsa.py --torch-threads 1   # dsa-metric single-threaded (repalign always is, n <= 256)

Sweep mode (``--sweep K``): K related operators (Q_k (A0 + eps ||A0|| E_k / ||E_k||) Q_k^T with Q_k
Haar orthogonal, A0 and E_k standard Gaussian, eps = ``--perturbation``) and K unrelated ones
(standard Gaussian), each set's K(K-1)/2 pairs scored at once by ``dsa_from_operators`` (the
amortised search, ``--effort``), and on ``--sample`` of those pairs dsa-metric and repalign's
one-pair search (``vector_field_distance``), in one process:

    OMP_NUM_THREADS=1 python benchmarks/dsa.py --sweep 16 --sizes 50 --sample 6 --torch-threads 1
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.stats import ortho_group

from repalign.dynamics.dsa import dsa_from_operators
from repalign.dynamics.examples import related_operators
from repalign.dynamics.vector_fields import vector_field_distance


def _pairs(n: int, k: int, conjugate: bool, seed: int):
    rng = np.random.default_rng(seed)
    for i in range(k):
        A = rng.standard_normal((n, n))
        if conjugate:
            Q = ortho_group.rvs(n, random_state=seed + i)
            yield A, Q @ A @ Q.T
        else:
            yield A, rng.standard_normal((n, n))


def _dsa_metric(A, B, iters: int, seed: int) -> tuple[float, float]:
    import torch
    from DSA.simdist import SimilarityTransformDist

    torch.manual_seed(seed)
    sim = SimilarityTransformDist(iters=iters, lr=5e-3, score_method="angular")
    t0 = time.perf_counter()
    theta = float(sim.fit_score(A.copy(), B.copy()))
    return theta, time.perf_counter() - t0


def _repalign(A, B, seed: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    theta = vector_field_distance(A, B, seed=seed).score
    return theta, time.perf_counter() - t0


def _loss(theta: float) -> float:
    return 2.0 - 2.0 * np.cos(theta)


def run(sizes, n_pairs: int, dsa_iters: int) -> list[dict]:
    import torch

    print(f"dsa-metric: SimilarityTransformDist(iters={dsa_iters}, lr=5e-3, angular), torch threads "
          f"{torch.get_num_threads()}; repalign: vector_field_distance defaults\n")
    warm = np.random.default_rng(0).standard_normal((2, 4, 4))
    _dsa_metric(warm[0], warm[1], 5, 0)
    _repalign(warm[0], warm[1], 0)
    rows = []
    for n in sizes:
        for conjugate in (False, True):
            rec = []
            for i, (A, B) in enumerate(_pairs(n, n_pairs, conjugate, seed=1000 * n + 7 * conjugate)):
                th_d, t_d = _dsa_metric(A, B, dsa_iters, seed=i)
                th_r, t_r = _repalign(A, B, seed=i)
                rec.append((th_d, t_d, th_r, t_r))
                print(f"  n={n:3d} {'conjugate' if conjugate else 'random   '} pair {i}: dsa-metric "
                      f"{th_d:.4f} rad in {t_d:6.2f} s | repalign {th_r:.2e} rad in {t_r:6.3f} s", flush=True)
            r = np.array(rec)
            diff = _loss(r[:, 2]) - _loss(r[:, 0])
            rows.append(dict(
                n=n, kind="conjugate" if conjugate else "random", pairs=len(r),
                t_dsa=r[:, 1].mean(), t_ours=r[:, 3].mean(), speedup=r[:, 1].sum() / r[:, 3].sum(),
                loss_dsa=_loss(r[:, 0]).mean(), loss_ours=_loss(r[:, 2]).mean(),
                diff_mean=diff.mean(), diff_max=diff.max(), worse=int(np.sum(diff > 1e-4)),
                theta_dsa_max=r[:, 0].max(), theta_ours_max=r[:, 2].max(),
            ))
    return rows


def conjugacy_sweep(sizes, n_seeds: int) -> None:
    """repalign alone on ``n_seeds`` exactly conjugate pairs per size (det Q = +1 / -1 alternating)."""
    print(f"\nrepalign on exactly conjugate pairs, {n_seeds} seeds per n (B = Q A Q^T, det Q alternating):")
    print("| n | seeds | max angle (rad) | certified | mean s/pair |")
    print("|---|---|---|---|---|")
    for n in sizes:
        worst, certified, total = 0.0, 0, 0.0
        for seed in range(n_seeds):
            rng = np.random.default_rng(seed)
            A = rng.standard_normal((n, n))
            Q = ortho_group.rvs(n, random_state=seed)
            if np.sign(np.linalg.det(Q)) != (1 if seed % 2 == 0 else -1):
                Q[:, 0] = -Q[:, 0]
            t0 = time.perf_counter()
            res = vector_field_distance(A, Q @ A @ Q.T, seed=seed)
            total += time.perf_counter() - t0
            worst = max(worst, res.score)
            certified += "certified" in res.method
        print(f"| {n} | {n_seeds} | {worst:.1e} | {certified}/{n_seeds} | {total / n_seeds:.3f} |")


def print_table(rows: list[dict]) -> None:
    head = ("| n | pairs | kind | dsa-metric s/pair | repalign s/pair | speed-up | dsa-metric loss | "
            "repalign loss | loss diff mean (max) | worse by > 1e-4 | max angle dsa / repalign (rad) |")
    print("\n" + head)
    print("|---" * (head.count("|") - 1) + "|")
    for r in rows:
        print(f"| {r['n']} | {r['pairs']} | {r['kind']} | {r['t_dsa']:.2f} | {r['t_ours']:.3f} | "
              f"{r['speedup']:.0f}x | {r['loss_dsa']:.4f} | {r['loss_ours']:.4f} | "
              f"{r['diff_mean']:+.4f} ({r['diff_max']:+.4f}) | {r['worse']}/{r['pairs']} | {r['theta_dsa_max']:.3f} / {r['theta_ours_max']:.1e} |")


def sweep_operators(n: int, k: int, related: bool, eps: float, seed: int = 0) -> list[np.ndarray]:
    """K related operators (orthogonal conjugations of one operator plus perturbations of relative
    Frobenius size eps) or K unrelated ones (independent standard Gaussian)."""
    if not related:
        rng = np.random.default_rng(seed)
        return [rng.standard_normal((n, n)) for _ in range(k)]
    return related_operators(n, k, eps, seed)


def sweep(n: int, k: int, eps: float, n_sample: int, dsa_iters: int, effort: str, k_unrelated: int) -> list[dict]:
    """All pairs of K related and of ``k_unrelated`` unrelated operators by the amortised search,
    against dsa-metric and the one-pair search on a sample of the pairs."""
    rows = []
    for related in (True, False):
        k = k if related else k_unrelated
        ops = sweep_operators(n, k, related, eps, seed=100 + n)
        t0 = time.perf_counter()
        D = dsa_from_operators(ops, effort=effort)
        t_all = (time.perf_counter() - t0) / (k * (k - 1) // 2)
        print(f"  n={n} {k} {'related' if related else 'unrelated'} operators: {k * (k - 1) // 2} pairs, "
              f"amortised {t_all:.3f} s per pair", flush=True)
        pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
        sample = pairs[:: max(1, len(pairs) // n_sample)][:n_sample]
        rec = []
        for s, (i, j) in enumerate(sample):
            th_d, t_d = _dsa_metric(ops[i], ops[j], dsa_iters, seed=s)
            th_r, t_r = _repalign(ops[i], ops[j], seed=0)
            rec.append((th_d, t_d, th_r, t_r, D[i, j]))
            print(f"  n={n} {'related' if related else 'unrelated'} pair {(i, j)}: dsa-metric {th_d:.4f} rad "
                  f"in {t_d:.2f} s | one-pair {th_r:.4f} rad in {t_r:.3f} s | amortised {D[i, j]:.4f} rad", flush=True)
        r = np.array(rec)
        rows.append(dict(
            n=n, kind=f"related (eps {eps:g})" if related else "unrelated", k=k, pairs=len(pairs), sample=len(r),
            t_all=t_all, t_dsa=r[:, 1].mean(), t_one=r[:, 3].mean(),
            vs_dsa=r[:, 1].mean() / t_all, vs_one=r[:, 3].mean() / t_all,
            dth_dsa_max=(r[:, 4] - r[:, 0]).max(), dloss_dsa=(_loss(r[:, 4]) - _loss(r[:, 0])).mean(),
            dth_one_max=(r[:, 4] - r[:, 2]).max(), dth_one_min=(r[:, 4] - r[:, 2]).min(),
            theta=r[:, 4].mean(),
        ))
    return rows


def print_sweep(rows: list[dict]) -> None:
    head = ("| n | operators | pairs | sampled | amortised s/pair | dsa-metric s/pair | one-pair s/pair | "
            "vs dsa-metric | vs one-pair | mean angle (rad) | angle - dsa-metric, max (rad) | loss - dsa-metric, mean | "
            "angle - one-pair, min / max (rad) |")
    print("\n" + head)
    print("|---" * (head.count("|") - 1) + "|")
    for r in rows:
        print(f"| {r['n']} | {r['k']} {r['kind']} | {r['pairs']} | {r['sample']} | {r['t_all']:.3f} | {r['t_dsa']:.2f} | "
              f"{r['t_one']:.3f} | {r['vs_dsa']:.0f}x | {r['vs_one']:.1f}x | {r['theta']:.4f} | {r['dth_dsa_max']:+.4f} | "
              f"{r['dloss_dsa']:+.4f} | {r['dth_one_min']:+.4f} / {r['dth_one_max']:+.4f} |")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=2, help="pairs of each kind per size compared with "
                   "dsa-metric (default 2; 0: only the repalign conjugacy sweep)")
    p.add_argument("--conj-seeds", type=int, default=20, help="seeds per size of the repalign-only "
                   "exact-conjugacy sweep (default 20)")
    p.add_argument("--sizes", type=int, nargs="+", default=None, help="operator sizes (default 10 50 100)")
    p.add_argument("--quick", action="store_true", help="n in {10, 20}, 1 pair, dsa-metric at 300 iterations")
    p.add_argument("--torch-threads", type=int, default=None, help="torch.set_num_threads for dsa-metric")
    p.add_argument("--sweep", type=int, default=0, metavar="K", help="sweep mode: K related and K unrelated "
                   "operators per size, all pairs (amortised) against dsa-metric on --sample pairs")
    p.add_argument("--sweep-unrelated", type=int, default=None, metavar="K",
                   help="number of unrelated operators in --sweep mode (default: as --sweep)")
    p.add_argument("--sample", type=int, default=6, help="pairs per set timed with dsa-metric in --sweep mode")
    p.add_argument("--perturbation", type=float, default=0.1, help="relative size eps of the perturbations of "
                   "the related operators in --sweep mode (default 0.1)")
    p.add_argument("--effort", default="default", choices=("fast", "default", "thorough"))
    args = p.parse_args(argv)
    if args.torch_threads is not None:
        import torch

        torch.set_num_threads(args.torch_threads)
    if args.pairs < 0 or args.conj_seeds < 0:
        p.error("--pairs and --conj-seeds must be >= 0")
    sizes = args.sizes or ([10, 20] if args.quick else [10, 50, 100])
    if args.sweep:
        if args.sweep < 3 or args.sample < 1:
            p.error("--sweep needs K >= 3 and --sample >= 1")
        for n in sizes:
            print_sweep(sweep(n, args.sweep, args.perturbation, args.sample, 300 if args.quick else 1500, args.effort,
                              args.sweep_unrelated or args.sweep))
        return
    if args.conj_seeds:
        conjugacy_sweep(sizes, 5 if args.quick else args.conj_seeds)
    if args.pairs:
        rows = run(sizes, 1 if args.quick else args.pairs, 300 if args.quick else 1500)
        print_table(rows)


if __name__ == "__main__":
    main()
