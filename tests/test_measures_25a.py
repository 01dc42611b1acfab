"""Issue 25 (part a): predictivity variants, the k-NN family, Procrustes forms, CKA and RSA options.

Every new measure is checked against an independent reference: scikit-learn's estimators and
cross_val_predict, sklearn's NearestNeighbors, scipy's orthogonal_procrustes and sqrtm,
rsatoolbox 0.3.2, or the paper's formula written out densely here; plus declared invariances.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import rsatoolbox as rt
import scipy.linalg
import scipy.stats
from scipy.spatial.distance import cdist, pdist, squareform
from sklearn.cross_decomposition import PLSRegression
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.metrics import r2_score
from sklearn.metrics.pairwise import laplacian_kernel, rbf_kernel
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.neighbors import NearestNeighbors

import repalign
from repalign.geometry import rsa

NEW = ["linear_predictivity", "lstsq_predictivity", "pls_predictivity", "jaccard_knn", "rank_similarity",
       "second_order_cosine", "cknna", "nbs", "procrustes_sq_euclidean", "procrustes_normalized",
       "aligned_cosine", "rsa_distance"]


def pair(seed=0, n=60, p=6, q=5, noise=0.5):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) + 0.5
    Y = X @ rng.standard_normal((p, q)) + noise * rng.standard_normal((n, q))
    return X, Y


def scaled(X):
    """Centred and scaled to mean unit variance, as the predictivity measures prepare a system."""
    Xc = X - X.mean(axis=0)
    return Xc * np.sqrt(Xc.size / np.sum(Xc**2))


# ----------------------------------------------------------------------------- predictivity
FOLDS = KFold(5, shuffle=True, random_state=0)


def test_lstsq_r2_equals_sklearn_cross_validated_linear_regression():
    X, Y = pair(1)
    ref = r2_score(Y, cross_val_predict(LinearRegression(), X, Y, cv=FOLDS), multioutput="variance_weighted")
    assert repalign.compare(X, Y, "lstsq_predictivity") == pytest.approx(ref, abs=1e-10)
    pearson = np.mean([scipy.stats.pearsonr(Y[:, u], cross_val_predict(LinearRegression(), X, Y, cv=FOLDS)[:, u])[0]
                       for u in range(Y.shape[1])])
    assert repalign.compare(X, Y, "lstsq_predictivity", score="pearson") == pytest.approx(pearson, abs=1e-10)


def test_ridge_pearson_equals_sklearn_and_reverse_direction():
    X, Y = pair(2, q=3)
    pred = cross_val_predict(Ridge(alpha=3.0), scaled(X), Y, cv=FOLDS)
    ref = np.mean([scipy.stats.pearsonr(Y[:, u], pred[:, u])[0] for u in range(3)])
    assert repalign.compare(X, Y, "linear_predictivity", alpha=3.0) == pytest.approx(ref, abs=1e-10)
    fwd = repalign.compare(Y, X, "linear_predictivity")
    assert repalign.compare(X, Y, "linear_predictivity", direction="reverse") == pytest.approx(fwd, abs=1e-12)
    assert repalign.get_measure("linear_predictivity").info().symmetric is False


def test_pls_equals_sklearn_pls_regression():
    X, Y = pair(3, p=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # sklearn's power iteration at its default tol=1e-6 moves R^2 by ~1e-5; converged, it agrees
        pred = cross_val_predict(PLSRegression(n_components=3, scale=False, tol=1e-15, max_iter=10000), X, Y, cv=FOLDS)
    ref = r2_score(Y, pred, multioutput="variance_weighted")
    got = repalign.compare(X, Y, "pls_predictivity", n_components=3, score="r2")
    assert got == pytest.approx(ref, abs=1e-7)
    # the component count is capped by the fold: 25 components on 8 features is PLS on all 8 = least squares
    full = repalign.get_measure("pls_predictivity", score="r2")
    det = full.compare_detailed(full.prepare(X), full.prepare(Y))
    assert set(det.extras["components"]) == {8}
    assert det.score == pytest.approx(repalign.compare(X, Y, "lstsq_predictivity"), abs=1e-6)


def test_predictivity_chance_and_ceiling():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((80, 4))
    unrelated = rng.standard_normal((80, 3))
    for name in ("linear_predictivity", "lstsq_predictivity", "pls_predictivity"):
        assert repalign.compare(X, 2.0 * X @ rng.standard_normal((4, 3)) - 1.0, name) > 0.999
        assert repalign.compare(X, unrelated, name, score="pearson") < 0.3


@pytest.mark.parametrize("name", ["linear_predictivity", "lstsq_predictivity", "pls_predictivity"])
def test_predictivity_invariances_and_seeds(name):
    X, Y = pair(5, n=40)
    rng = np.random.default_rng(5)
    for score in ("pearson", "r2"):
        m = repalign.get_measure(name, score=score, n_components=3) if name == "pls_predictivity" else \
            repalign.get_measure(name, score=score)
        base = repalign.compare(X, Y, m)
        tol = 1e-9
        kinds = set(m.info().invariances) | ({"orthogonal"} if score == "r2" else set())
        for pos in (0, 1):
            for kind in kinds:
                pair_ = [X, Y]
                pair_[pos] = _transform(kind, pair_[pos], rng)
                assert repalign.compare(*pair_, m) == pytest.approx(base, abs=tol), (score, kind, pos)
    assert repalign.compare(X, Y, name, seed=3) == repalign.compare(X, Y, name, seed=3)
    assert repalign.compare(X, Y, name, seed=3) != repalign.compare(X, Y, name, seed=4)
    with pytest.raises(ValueError, match="direction must be one of"):
        repalign.get_measure(name, direction="backward")
    with pytest.raises(ValueError, match="score must be one of"):
        repalign.get_measure(name, score="spearman")


# ----------------------------------------------------------------------------- k-NN family
def brute_knn(X, k):
    """k nearest other rows by cosine, from a full stable sort (ties to the lower index)."""
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    S = U @ U.T
    np.fill_diagonal(S, -np.inf)
    return np.argsort(-S, axis=1, kind="stable")[:, :k], S


def test_neighbours_agree_with_sklearn_and_jaccard_with_sets():
    X, Y = pair(6, n=50)
    k = 6
    sk = [NearestNeighbors(n_neighbors=k + 1, metric="cosine").fit(Z).kneighbors(Z)[1][:, 1:] for Z in (X, Y)]
    jac = np.mean([len(set(a) & set(b)) / len(set(a) | set(b)) for a, b in zip(*sk)])
    assert repalign.compare(X, Y, "jaccard_knn", k=k) == pytest.approx(jac, abs=1e-12)
    mk = repalign.compare(X, Y, "mutual_knn", k=k)
    assert 0 < jac <= mk < 1  # |A & B| / |A | B| <= |A & B| / k


def test_rank_similarity_and_second_order_cosine_brute_force():
    X, Y = pair(7, n=40)
    k = 5
    (nx, Sx), (ny, Sy) = brute_knn(X, k), brute_knn(Y, k)
    rank, second = [], []
    for i in range(X.shape[0]):
        shared = set(nx[i]) & set(ny[i])
        total = sum(2.0 / ((1 + abs(ra - rb)) * (ra + rb))
                    for j in shared for ra, rb in [(list(nx[i]).index(j) + 1, list(ny[i]).index(j) + 1)])
        rank.append(total / sum(1.0 / t for t in range(1, len(shared) + 1)) if shared else 0.0)
        union = sorted(set(nx[i]) | set(ny[i]))
        a, b = Sx[i, union], Sy[i, union]
        second.append(a @ b / np.sqrt(a @ a * (b @ b)))
    assert repalign.compare(X, Y, "rank_similarity", k=k) == pytest.approx(np.mean(rank), abs=1e-12)
    assert repalign.compare(X, Y, "second_order_cosine", k=k) == pytest.approx(np.mean(second), abs=1e-12)


def dense_cknna(X, Y, k):
    """Huh et al.'s formula with dense masked kernels and Song et al.'s unbiased HSIC."""
    (nx, _), (ny, _) = brute_knn(X, k), brute_knn(Y, k)
    n = X.shape[0]
    U, V = (Z / np.linalg.norm(Z, axis=1, keepdims=True) for Z in (X, Y))
    K, L = U @ U.T, V @ V.T
    Mx, My = np.zeros((n, n)), np.zeros((n, n))
    np.put_along_axis(Mx, nx, 1.0, axis=1)
    np.put_along_axis(My, ny, 1.0, axis=1)

    def hsic(A, B):
        A, B = A.copy(), B.copy()
        np.fill_diagonal(A, 0)
        np.fill_diagonal(B, 0)
        one = np.ones(n)
        return (np.trace(A @ B) + one @ A @ one * (one @ B @ one) / ((n - 1) * (n - 2))
                - 2.0 * one @ A @ B @ one / (n - 2)) / (n * (n - 3))

    M = Mx * My
    return hsic(M * K, M * L) / np.sqrt(hsic(Mx * K, Mx * K) * hsic(My * L, My * L))


def test_cknna_equals_the_dense_formula_and_is_asymmetric():
    X, Y = pair(8, n=45)
    for k in (3, 10):
        assert repalign.compare(X, Y, "cknna", k=k) == pytest.approx(dense_cknna(X, Y, k), abs=1e-10)
        assert repalign.compare(Y, X, "cknna", k=k) == pytest.approx(dense_cknna(Y, X, k), abs=1e-10)
    assert repalign.compare(X, Y, "cknna") != pytest.approx(repalign.compare(Y, X, "cknna"), abs=1e-6)
    assert repalign.compare(X, X, "cknna") == pytest.approx(1.0, abs=1e-12)
    assert repalign.get_measure("cknna").info().symmetric is False


# ----------------------------------------------------------------------------- Procrustes family
def padded(A, B):
    w = max(A.shape[1], B.shape[1])
    return (np.pad(Z - Z.mean(axis=0), ((0, 0), (0, w - Z.shape[1]))) for Z in (A, B))


def test_procrustes_forms_against_scipy_and_each_other():
    X, Y = pair(9, p=6, q=4)
    Xc, Yc = padded(X, Y)
    Q, _ = scipy.linalg.orthogonal_procrustes(Yc, Xc)  # argmin ||Yc Q - Xc||
    sq = np.sum((Xc - Yc @ Q) ** 2)
    angle = repalign.compare(X, Y, "procrustes")
    nbs = repalign.compare(X, Y, "nbs")
    assert nbs == pytest.approx(np.cos(angle), abs=1e-12)
    assert repalign.compare(X, Y, "procrustes_sq_euclidean") == pytest.approx(sq, rel=1e-10)
    assert repalign.compare(X, Y, "procrustes_sq_euclidean") == pytest.approx(
        repalign.compare(X, Y, "procrustes_euclidean") ** 2, rel=1e-12)
    Xn, Yn = Xc / np.linalg.norm(Xc), Yc / np.linalg.norm(Yc)
    Qn, _ = scipy.linalg.orthogonal_procrustes(Yn, Xn)
    norm_d = repalign.compare(X, Y, "procrustes_normalized")
    assert norm_d == pytest.approx(np.linalg.norm(Xn - Yn @ Qn), abs=1e-10)
    assert norm_d == pytest.approx(np.sqrt(2 - 2 * nbs), abs=1e-10)
    assert norm_d == pytest.approx(2 * np.sin(angle / 2), abs=1e-12)
    # NBS is the Bures fidelity of the centred Gram matrices (Tang et al. 2020)
    K, L = Xc @ Xc.T, Yc @ Yc.T
    Ks = np.real(scipy.linalg.sqrtm(K))
    fid = np.trace(np.real(scipy.linalg.sqrtm(Ks @ L @ Ks))) / np.sqrt(np.trace(K) * np.trace(L))
    assert nbs == pytest.approx(fid, abs=1e-6)  # sqrtm of singular matrices: ~1e-7


def test_aligned_cosine_against_scipy_alignment():
    X, Y = pair(10, p=5, q=4)
    Xp = X
    Yp = np.pad(Y, ((0, 0), (0, 1)))  # ReSi's adjust_dimensionality: zero-pad the narrower system
    Q, _ = scipy.linalg.orthogonal_procrustes(Xp, Yp)  # argmin ||X Q - Y||
    A = Xp @ Q
    ref = np.mean(np.sum(A * Yp, axis=1) / (np.linalg.norm(A, axis=1) * np.linalg.norm(Yp, axis=1)))
    got = repalign.compare(X, Y, "aligned_cosine")
    assert got == pytest.approx(ref, abs=1e-12)
    assert repalign.compare(Y, X, "aligned_cosine") == pytest.approx(got, abs=1e-12)
    R = np.linalg.qr(np.random.default_rng(0).normal(size=(5, 5)))[0]
    assert repalign.compare(X, 3 * X @ R, "aligned_cosine") == pytest.approx(1.0, abs=1e-12)
    assert repalign.compare(X, X + 2.0, "aligned_cosine") < 1 - 1e-3  # not translation invariant
    bad = X.copy()
    bad[3] = 0.0
    with pytest.raises(ValueError, match=r"Y has a zero sample \(row 3\)"):
        repalign.compare(X, bad, "aligned_cosine")


# ----------------------------------------------------------------------------- CKA options
def biased_cka(K, L):
    n = K.shape[0]
    H = np.eye(n) - 1.0 / n
    Kc, Lc = H @ K @ H, H @ L @ H
    return np.sum(Kc * Lc) / np.sqrt(np.sum(Kc * Kc) * np.sum(Lc * Lc))


def lange_cka(K, L):
    n = K.shape[0]
    H = np.eye(n) - 1.0 / n
    Kc, Lc = H @ K @ H, H @ L @ H
    np.fill_diagonal(Kc, 0)
    np.fill_diagonal(Lc, 0)
    return np.sum(Kc * Lc) / np.sqrt(np.sum(Kc * Kc) * np.sum(Lc * Lc))


def test_laplace_kernel_and_lange_estimator_dense_references():
    X, Y = pair(11, n=30)
    dx, dy = cdist(X, X), cdist(Y, Y)
    sx, sy = (0.5 * np.sqrt(np.median(d**2)) for d in (dx, dy))
    K, L = np.exp(-dx / sx), np.exp(-dy / sy)
    assert repalign.compare(X, Y, "cka", kernel="laplace") == pytest.approx(biased_cka(K, L), abs=1e-12)
    assert repalign.compare(X, Y, "cka", kernel="laplace", debiased="lange") == pytest.approx(lange_cka(K, L), abs=1e-12)
    assert repalign.compare(X, Y, "cka", debiased="lange") == pytest.approx(lange_cka(X @ X.T, Y @ Y.T), abs=1e-12)
    # repsim's AngularCKA.unb: the angle of Lange's estimator (a metric: an angle between vectors)
    assert repalign.compare(X, Y, "cka_angular", debiased="lange") == pytest.approx(
        np.arccos(lange_cka(X @ X.T, Y @ Y.T)), abs=1e-12)
    with pytest.raises(ValueError, match="debiased must be one of False, 'lange'"):
        repalign.get_measure("cka_angular", debiased=True)
    trio = [X, Y, X**2 + Y[:, :1]]
    D = repalign.pairwise(trio, "cka_angular", debiased="lange")
    for i, j, k in [(0, 1, 2), (1, 2, 0), (2, 0, 1)]:
        assert D[i, k] <= D[i, j] + D[j, k] + 1e-12
    # in one dimension the L2 norm is sklearn's L1 laplacian kernel
    x, y = X[:, :1], Y[:, :1]
    ref = biased_cka(laplacian_kernel(x, gamma=1 / 0.7), laplacian_kernel(y, gamma=1 / 0.7))
    assert repalign.compare(x, y, "cka", kernel="laplace", sigma=0.7) == pytest.approx(ref, abs=1e-12)
    for deb in (False, True, "lange"):
        M = repalign.pairwise([X, Y, X**2], "cka", kernel="laplace", debiased=deb)
        loop = [[repalign.compare(a, b, "cka", kernel="laplace", debiased=deb) for b in (X, Y, X**2)]
                for a in (X, Y, X**2)]
        np.testing.assert_allclose(M, loop, atol=1e-12)


def test_lange_estimator_removes_part_of_the_small_sample_bias():
    rng = np.random.default_rng(12)
    X, Y = rng.standard_normal((20, 300)), rng.standard_normal((20, 300))  # independent, p >> n
    biased = repalign.compare(X, Y, "cka")
    lange = repalign.compare(X, Y, "cka", debiased="lange")
    song = repalign.compare(X, Y, "cka", debiased=True)
    # Lange's estimator removes about half of the bias here (0.94 -> 0.48); Song's all of it
    assert biased > 0.8 and abs(song) < 0.1 and 0.2 < lange < 0.6 * biased
    assert -1 <= lange <= 1
    with pytest.raises(ValueError, match="debiased must be one of False, True, 'lange'"):
        repalign.get_measure("cka", debiased="song")
    with pytest.raises(ValueError, match="kernel must be one of"):
        repalign.get_measure("cka", kernel="cosine")


# ----------------------------------------------------------------------------- RSA options
def rt_rdms(vectors):
    return rt.rdm.RDMs(np.atleast_2d(vectors))


@pytest.mark.parametrize("method", ["sqeuclidean", "correlation", "euclidean"])
def test_bures_comparators_equal_rsatoolbox(method):
    rng = np.random.default_rng(13)
    Xs = [rng.standard_normal((9, 6)) for _ in range(3)]
    V = [rsa.rdm(X, method) for X in Xs]
    for a in V:
        for b in V:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sim = rt.rdm.compare(rt_rdms(a), rt_rdms(b), method="bures")[0, 0]
                sq = rt.rdm.compare(rt_rdms(a), rt_rdms(b), method="bures_metric")[0, 0]
            # rsatoolbox takes square roots of G's (numerically) zero eigenvalues: ~1e-8 noise
            assert rsa.compare_rdms(a, b, "bures") == pytest.approx(sim, abs=1e-7)
            assert rsa.compare_rdms(a, b, "bures_metric") == pytest.approx(sq, abs=1e-8 * (1 + a.sum() + b.sum()))
    m = repalign.get_measure("rsa", rdm=method, compare="bures")
    np.testing.assert_allclose(repalign.pairwise(Xs, m), [[repalign.compare(a, b, m) for b in Xs] for a in Xs],
                               atol=1e-12)


def test_poisson_and_gaussian_rdms():
    rng = np.random.default_rng(14)
    counts = rng.poisson(3.0, size=(8, 12)).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = rt.rdm.calc_rdm(rt.data.Dataset(counts), method="poisson").get_vectors()[0]
    np.testing.assert_allclose(rsa.rdm(counts, "poisson", per_channel=True), ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(rsa.rdm(counts, "poisson"), 12 * ref, rtol=1e-12)
    X = rng.standard_normal((10, 4))
    s2 = np.median(pdist(X, "sqeuclidean"))
    ref_g = squareform(1.0 - rbf_kernel(X, gamma=1.0 / (2 * s2)), checks=False)
    np.testing.assert_allclose(rsa.rdm(X, "gaussian"), ref_g, atol=1e-14)
    np.testing.assert_allclose(rsa.rdm(X, "gaussian", sigma=2.0),
                               squareform(1 - rbf_kernel(X, gamma=1 / 8.0), checks=False), atol=1e-14)
    assert repalign.compare(X, 3 * X @ np.linalg.qr(rng.normal(size=(4, 4)))[0] + 1, "rsa",
                            rdm="gaussian", compare="pearson") == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ValueError, match="Y: X must be nonnegative|Y must be nonnegative|nonnegative"):
        repalign.compare(counts, -counts, "rsa", rdm="poisson")
    with pytest.raises(ValueError, match="sigma"):
        rsa.rdm(X, "euclidean", sigma=1.0)


def test_euclidean_comparator_and_rsa_distance():
    X, Y = pair(15, n=12)
    a, b = pdist(X, "correlation"), pdist(Y, "correlation")
    assert rsa.compare_rdms(a, b, "euclidean") == pytest.approx(np.linalg.norm(a - b), abs=1e-12)
    assert repalign.compare(X, Y, "rsa_distance") == pytest.approx(np.linalg.norm(a - b), abs=1e-12)
    assert repalign.compare(X, X, "rsa_distance") == 0.0
    sq = repalign.compare(X, Y, "rsa_distance", compare="bures_metric")
    assert sq == pytest.approx(rsa.compare_rdms(a, b, "bures_metric"), abs=1e-12)
    with pytest.raises(ValueError, match="compare must be one of"):
        repalign.get_measure("rsa_distance", compare="spearman")
    with pytest.raises(ValueError, match="compare must be one of"):
        repalign.get_measure("rsa", compare="euclidean")


# ----------------------------------------------------------------------------- all new measures
def _transform(kind, Z, rng):
    d = Z.shape[1]
    return {
        "orthogonal": lambda: Z @ np.linalg.qr(rng.standard_normal((d, d)))[0],
        "isotropic_scaling": lambda: 0.37 * Z,
        "permutation": lambda: Z[:, rng.permutation(d)],
        "translation": lambda: Z + 3.0 * rng.standard_normal(d),
    }[kind]()


@pytest.mark.parametrize("name", NEW)
def test_declared_invariances_hold_on_both_systems(name):
    X, Y = pair(16, n=40)
    rng = np.random.default_rng(16)
    m = repalign.get_measure(name)
    base = repalign.compare(X, Y, m)
    tol = 1e-9 * max(1.0, abs(base))
    for pos in (0, 1):
        for kind in set(m.info().invariances) - {"monotonic"}:
            pair_ = [X, Y]
            pair_[pos] = _transform(kind, pair_[pos], rng)
            assert repalign.compare(*pair_, m) == pytest.approx(base, abs=tol), (kind, pos)


@pytest.mark.parametrize("name", ["jaccard_knn", "nbs", "procrustes_normalized", "cka", "rsa_distance"])
def test_new_measures_calibrate_and_run_in_the_engine(name, tmp_path):
    X, Y = pair(17, n=30)
    params = {"kernel": "laplace", "debiased": "lange"} if name == "cka" else {}
    res = repalign.calibrate(X, Y, name, null="permutation", n=30, seed=0, **params)
    again = repalign.calibrate(X, Y, name, null="permutation", n=30, seed=0, **params)
    assert res.p_value == again.p_value and 0 < res.p_value <= 1
    assert res.p_value < 0.1  # Y is a noisy linear map of X: far from the permutation null


def test_new_measures_in_the_engine_and_the_report_card(tmp_path):
    from repalign.bench import run_case
    from repalign.engine import load, sweep

    rng = np.random.default_rng(18)
    base = rng.standard_normal((30, 4))
    S = {f"s{i}": base @ rng.standard_normal((4, 5)) + 0.3 * rng.standard_normal((30, 5)) for i in range(3)}
    names = ["jaccard_knn", "cknna", "nbs", "lstsq_predictivity", {"name": "rsa", "params": {"compare": "bures"}}]
    summary = sweep(S, names, tmp_path / "r.db", backend="serial", progress=False)
    assert summary.failed == 0
    res = load(tmp_path / "r.db")
    for name in ("jaccard_knn", "cknna", "nbs", "lstsq_predictivity"):
        M = res.matrix(name).to_numpy()
        ref = repalign.pairwise(list(S.values()), name)
        off = ~np.eye(3, dtype=bool)
        np.testing.assert_allclose(M[off], ref[off], rtol=1e-12)
    for name in ("nbs", "procrustes_normalized"):
        r = run_case("deformation", name, quick=True, seed=0)
        assert r.passed in (True, False) and np.isfinite(r.score)


def test_permuted_states_equal_re_prepared_systems():
    """The permutation null's shortcut (permuting a prepared state) for the new state types."""
    rng = np.random.default_rng(19)
    X, Y, rows = rng.standard_normal((11, 4)), rng.standard_normal((11, 6)), rng.permutation(11)
    cases = [("nbs", {}), ("procrustes_normalized", {}), ("aligned_cosine", {}),
             ("cka", {"kernel": "laplace"}), ("cka", {"debiased": "lange"}), ("cka", {"kernel": "rbf", "debiased": "lange"}),
             ("rsa", {"compare": "bures"}), ("rsa_distance", {}), ("rsa_distance", {"compare": "bures_metric"})]
    for name, params in cases:
        m = repalign.get_measure(name, **params)
        px, py = m.prepare(X), m.prepare(Y)
        permuted = repalign.Prepared(m._permute_state(py.state, rows), py.n_samples, py.n_features, py.measure_key)
        assert m.compare(px, permuted) == pytest.approx(m.compare(px, m.prepare(Y[rows])), abs=1e-12), (name, params)
