"""Issue 25a's measures: cost of pairwise matrices, agreement with peer packages, CKA estimator bias.

    python benchmarks/measures_25a.py            # 12 systems of 500 x 50 (the docs' numbers)
    python benchmarks/measures_25a.py --quick    # 6 systems of 200 x 20

Prints three tables:

1. seconds for ``repalign.pairwise`` over N systems and for the per-pair loop of
   ``repalign.compare`` (each pair prepared again), with their largest difference;
2. the largest difference from an independent implementation (scikit-learn, scipy,
   rsatoolbox 0.3.2) on one pair;
3. the small-sample bias of linear CKA's three estimators on independent systems.
"""

from __future__ import annotations

import argparse
import itertools
import time
import warnings

import numpy as np

import repalign

MEASURES = [
    ("jaccard_knn", {}), ("rank_similarity", {}), ("second_order_cosine", {}), ("cknna", {}),
    ("nbs", {}), ("procrustes_sq_euclidean", {}), ("procrustes_normalized", {}), ("aligned_cosine", {}),
    ("cka", {"kernel": "laplace"}), ("cka", {"debiased": "lange"}),
    ("rsa", {"compare": "bures"}), ("rsa", {"rdm": "gaussian", "compare": "pearson"}),
    ("rsa_distance", {}), ("rsa_distance", {"compare": "bures_metric"}),
    ("linear_predictivity", {}), ("lstsq_predictivity", {}), ("pls_predictivity", {}),
]


def systems(n_sys: int, n: int, p: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n, 8))
    return [latent @ rng.standard_normal((8, p)) + 0.5 * rng.standard_normal((n, p)) for _ in range(n_sys)]


def timing_table(S: list[np.ndarray], loop_pairs: int) -> None:
    print(f"\n1. pairwise over {len(S)} systems of {S[0].shape[0]} x {S[0].shape[1]}\n")
    print("| measure | params | pairwise s | per-pair loop s (scaled) | loop / pairwise | max abs diff |")
    print("|---|---|---:|---:|---:|---:|")
    pairs = list(itertools.product(range(len(S)), repeat=2))[:loop_pairs]
    for name, params in MEASURES:
        repalign.compare(S[0][:40, :5], S[1][:40, :5], name, **params)  # imports and first-call costs
        t0 = time.perf_counter()
        M = repalign.pairwise(S, name, **params)
        t_pair = time.perf_counter() - t0
        t0 = time.perf_counter()
        loop = [repalign.compare(S[i], S[j], name, **params) for i, j in pairs]
        t_loop = (time.perf_counter() - t0) * len(S) ** 2 / len(pairs)
        diff = max(abs(M[i, j] - v) for (i, j), v in zip(pairs, loop))
        print(f"| {name} | {params or ''} | {t_pair:.2f} | {t_loop:.2f} | {t_loop / t_pair:.1f} | {diff:.1e} |")


def reference_table(X: np.ndarray, Y: np.ndarray) -> None:
    import rsatoolbox as rt
    import scipy.linalg
    from sklearn.cross_decomposition import PLSRegression
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import r2_score
    from sklearn.model_selection import KFold, cross_val_predict
    from sklearn.neighbors import NearestNeighbors

    from repalign.geometry import rsa

    print(f"\n2. agreement with independent implementations on one pair ({X.shape[0]} x {X.shape[1]})\n")
    print("| repalign | reference | abs difference |")
    print("|---|---|---:|")
    folds = KFold(5, shuffle=True, random_state=0)
    ref = r2_score(Y, cross_val_predict(LinearRegression(), X, Y, cv=folds), multioutput="variance_weighted")
    print(f"| lstsq_predictivity | sklearn LinearRegression + cross_val_predict | "
          f"{abs(repalign.compare(X, Y, 'lstsq_predictivity') - ref):.1e} |")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for tol in (1e-6, 1e-15):
            pls = PLSRegression(n_components=5, scale=False, tol=tol, max_iter=10000)
            ref = r2_score(Y, cross_val_predict(pls, X, Y, cv=folds), multioutput="variance_weighted")
            got = repalign.compare(X, Y, "pls_predictivity", n_components=5, score="r2")
            print(f"| pls_predictivity (5 components) | sklearn PLSRegression tol={tol:g} | {abs(got - ref):.1e} |")
    nn = [NearestNeighbors(n_neighbors=11, metric="cosine").fit(Z).kneighbors(Z)[1][:, 1:] for Z in (X, Y)]
    jac = np.mean([len(set(a) & set(b)) / len(set(a) | set(b)) for a, b in zip(*nn)])
    print(f"| jaccard_knn (k = 10) | sklearn NearestNeighbors + sets | {abs(repalign.compare(X, Y, 'jaccard_knn') - jac):.1e} |")
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    Q, _ = scipy.linalg.orthogonal_procrustes(Yc, Xc)
    sq = np.sum((Xc - Yc @ Q) ** 2)
    print(f"| procrustes_sq_euclidean (relative) | scipy orthogonal_procrustes | "
          f"{abs(repalign.compare(X, Y, 'procrustes_sq_euclidean') / sq - 1):.1e} |")
    a, b = rsa.rdm(X, "sqeuclidean"), rsa.rdm(Y, "sqeuclidean")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ra, rb = rt.rdm.RDMs(a[None]), rt.rdm.RDMs(b[None])
        for method in ("bures", "bures_metric"):
            ref = rt.rdm.compare(ra, rb, method=method)[0, 0]
            print(f"| compare_rdms {method} (relative) | rsatoolbox 0.3.2 | "
                  f"{abs(rsa.compare_rdms(a, b, method) / ref - 1):.1e} |")
        counts = np.abs(np.round(X * 3))
        ref = rt.rdm.calc_rdm(rt.data.Dataset(counts), method="poisson").get_vectors()[0]
    print(f"| rdm poisson, per_channel | rsatoolbox 0.3.2 calc_rdm | "
          f"{np.max(np.abs(rsa.rdm(counts, 'poisson', per_channel=True) - ref)):.1e} |")


def bias_table(reps: int) -> None:
    print(f"\n3. linear CKA between independent Gaussian systems (mean of {reps} draws; truth 0)\n")
    print("| n | p | biased (Gretton) | debiased='lange' | debiased=True (Song) |")
    print("|---:|---:|---:|---:|---:|")
    for n, p in [(20, 300), (50, 300), (100, 1000), (200, 100), (30, 10)]:
        rng = np.random.default_rng(0)
        vals = []
        for _ in range(reps):
            X, Y = rng.standard_normal((n, p)), rng.standard_normal((n, p))
            vals.append([repalign.compare(X, Y, "cka", debiased=d) for d in (False, "lange", True)])
        m = np.mean(vals, axis=0)
        print(f"| {n} | {p} | {m[0]:.3f} | {m[1]:.3f} | {m[2]:.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    n_sys, n, p, loop_pairs, reps = (6, 200, 20, 36, 3) if args.quick else (12, 500, 50, 30, 10)
    S = systems(n_sys, n, p)
    timing_table(S, loop_pairs)
    reference_table(S[0][:300], S[1][:300])
    bias_table(reps)


if __name__ == "__main__":
    main()
