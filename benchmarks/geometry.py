"""Pairwise matrices over many systems: repalign vs naive per-pair loops vs rsatoolbox.

    python benchmarks/geometry.py            # 50 systems of 2000 x 100 (the README numbers)
    python benchmarks/geometry.py --quick    # 12 systems of 500 x 50

Every contender runs in this one process on the same data; the script prints seconds and the
ratio of each contender's time to repalign's pairwise path, and checks that they agree.

Contenders
* linear CKA
  - repalign.pairwise(systems, "cka"): each system centred once, all pairs from stacked products.
  - per-pair loop of repalign.compare: centring and self-similarities recomputed for every pair.
  - naive loop: the textbook Gram-matrix formula (Kornblith et al. 2019), n x n Grams per pair.
* Procrustes (angular shape metric, alpha = 1)
  - repalign.pairwise(systems, "procrustes") vs a naive loop (centre, normalise, nuclear norm of X^T Y).
* RSA (correlation-distance RDM, Spearman comparator)
  - repalign.pairwise(systems, "rsa") vs rsatoolbox 0.3.2 (calc_rdm + compare(method="spearman"))
    and vs a naive loop (pdist + scipy.stats.spearmanr per pair).
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
from scipy.spatial.distance import pdist
from scipy.stats import spearmanr

import repalign


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _center_gram(K):
    means = K.mean(axis=0)
    return K - means[None, :] - means[:, None] + means.mean()


def naive_gram_cka(X, Y):
    """Kornblith et al.'s reference formula: centred n x n Gram matrices, computed per pair."""
    K, L = _center_gram(X @ X.T), _center_gram(Y @ Y.T)
    return np.sum(K * L) / np.sqrt(np.sum(K * K) * np.sum(L * L))


def naive_procrustes(X, Y):
    X = X - X.mean(0)
    Y = Y - Y.mean(0)
    X, Y = X / np.linalg.norm(X), Y / np.linalg.norm(Y)
    return np.arccos(np.clip(np.linalg.svd(X.T @ Y, compute_uv=False).sum(), -1, 1))


def naive_rsa(X, Y):
    return spearmanr(pdist(X, "correlation"), pdist(Y, "correlation"))[0]


def loop(systems, fn, max_pairs=None):
    """Per-pair loop over the first ``max_pairs`` pairs (all by default); NaN elsewhere."""
    n = len(systems)
    M = np.full((n, n), np.nan)
    for k, (i, j) in enumerate(itertools.combinations(range(n), 2)):
        if max_pairs is not None and k >= max_pairs:
            break
        M[i, j] = M[j, i] = fn(systems[i], systems[j])
    return M


def timed_loop(systems, fn, max_pairs):
    """Time a naive loop on at most ``max_pairs`` pairs and scale the time to all pairs."""
    n_pairs = len(systems) * (len(systems) - 1) // 2
    done = min(n_pairs, max_pairs) if max_pairs else n_pairs
    M, t = _timed(lambda: loop(systems, fn, done))
    return M, t * n_pairs / done, done


def rsatoolbox_rsa(systems):
    import rsatoolbox

    data = [rsatoolbox.data.Dataset(X) for X in systems]
    rdms = rsatoolbox.rdm.calc_rdm(data, method="correlation")
    return rsatoolbox.rdm.compare(rdms, rdms, method="spearman")


def make_systems(n_systems, n, p, seed=0):
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n, 10))
    return [latent @ rng.standard_normal((10, p)) + rng.standard_normal((n, p)) for _ in range(n_systems)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--systems", type=int, default=50)
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--features", type=int, default=100)
    ap.add_argument("--quick", action="store_true", help="12 systems of 500 x 50")
    ap.add_argument("--naive-pairs", type=int, default=150,
                    help="time the slow naive loops on this many pairs and scale to all pairs (0: all)")
    args = ap.parse_args(argv)
    if args.quick:
        args.systems, args.samples, args.features = 12, 500, 50
    systems = make_systems(args.systems, args.samples, args.features)
    n_pairs = args.systems * (args.systems - 1) // 2
    print(f"{args.systems} systems of {args.samples} x {args.features}: {n_pairs} pairs\n")
    rows = []

    off = ~np.eye(args.systems, dtype=bool)  # compare pairs only

    def report(measure, contender, seconds, base, agree, done=None):
        if done is not None and done < n_pairs:
            contender = f"{contender} [timed on {done} pairs, scaled]"
        rows.append((measure, contender, seconds, seconds / base, agree))
        print(f"  {measure:<11} {contender:<60} {seconds:9.2f} s   x{seconds / base:7.1f}   max |diff| {agree:.1e}",
              flush=True)

    # linear CKA
    ref, t_ref = _timed(lambda: repalign.pairwise(systems, "cka"))
    report("linear CKA", "repalign.pairwise", t_ref, t_ref, 0.0)
    M, t = _timed(lambda: loop(systems, lambda a, b: repalign.compare(a, b, "cka")))
    report("linear CKA", "per-pair loop of repalign.compare", t, t_ref, np.abs(M - ref)[off].max())
    M, t, done = timed_loop(systems, naive_gram_cka, args.naive_pairs)
    report("linear CKA", "naive loop (textbook Gram-matrix CKA)", t, t_ref, np.nanmax(np.abs(M - ref)[off]), done)

    # Procrustes
    ref, t_ref = _timed(lambda: repalign.pairwise(systems, "procrustes"))
    report("Procrustes", "repalign.pairwise", t_ref, t_ref, 0.0)
    M, t = _timed(lambda: loop(systems, naive_procrustes))
    report("Procrustes", "naive loop (centre, normalise, SVD per pair)", t, t_ref, np.abs(M - ref)[off].max())

    # RSA
    ref, t_ref = _timed(lambda: repalign.pairwise(systems, "rsa", rdm="correlation", compare="spearman"))
    report("RSA", "repalign.pairwise", t_ref, t_ref, 0.0)
    M, t = _timed(lambda: rsatoolbox_rsa(systems))
    report("RSA", "rsatoolbox 0.3.2 calc_rdm + compare", t, t_ref, np.abs(M - ref)[off].max())
    M, t, done = timed_loop(systems, naive_rsa, args.naive_pairs)
    report("RSA", "naive loop (pdist + spearmanr per pair)", t, t_ref, np.nanmax(np.abs(M - ref)[off]), done)

    print("\n| measure | contender | seconds | time / repalign.pairwise |")
    print("|---|---|---:|---:|")
    for measure, contender, seconds, ratio, _ in rows:
        print(f"| {measure} | {contender} | {seconds:.2f} | {ratio:.1f} |")


if __name__ == "__main__":
    main()
