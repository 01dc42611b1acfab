"""RSA: RDMs and comparators, checked against rsatoolbox 0.3.2, scipy and closed forms."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import pdist
from scipy.spatial.distance import squareform as sp_squareform

import rsatoolbox as rt
from rsatoolbox.data.noise import cov_from_unbalanced, prec_from_unbalanced
from rsatoolbox.rdm import compare as rt_compare

import repalign
from repalign.geometry import rsa
from repalign.registry import get_measure

# repalign comparator name -> rsatoolbox name
RT_COMPARATORS = {
    "cosine": "cosine",
    "pearson": "corr",
    "spearman": "spearman",
    "kendall_tau_b": "kendall",
    "tau_a": "tau-a",
    "rho_a": "rho-a",
    "corr_cov": "corr_cov",
    "cosine_cov": "cosine_cov",
}
NOISES = [None, "diag", "full", "shrinkage_eye", "shrinkage_diag"]
SEEDS = settings(max_examples=20, deadline=None)


def close(actual, desired, tol=1e-10):
    """Agreement to ``tol`` relative to the reference's scale."""
    desired = np.asarray(desired, dtype=float)
    scale = max(float(np.abs(desired).max()), 1e-300)
    np.testing.assert_allclose(actual, desired, rtol=tol, atol=tol * scale)


def rt_dataset(X, conds=None, runs=None):
    desc = {}
    if conds is not None:
        desc["conds"] = np.asarray(conds)
    if runs is not None:
        desc["runs"] = np.asarray(runs)
    return rt.data.Dataset(np.array(X), obs_descriptors=desc or None)


def rt_rdm(ds, method, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # rsatoolbox's descriptor casting
        return rt.rdm.calc_rdm(ds, method=method, **kw).get_vectors()[0]


def repeated(seed, n_part=4, n_cond=6, p=5):
    """(partitions, conditions, channels) data: condition patterns + noise per partition."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=(n_cond, p))
    mixing = np.eye(p) + 0.4 * rng.normal(size=(p, p))  # correlated channel noise
    return signal + 0.7 * rng.normal(size=(n_part, n_cond, p)) @ mixing


def long_form(X3):
    n_part, n_cond, p = X3.shape
    return X3.reshape(-1, p), np.tile(np.arange(n_cond), n_part), np.repeat(np.arange(n_part), n_cond)


# ----------------------------------------------------------------------------- RDMs vs rsatoolbox
def test_euclidean_convention_vs_rsatoolbox():
    X = np.random.default_rng(0).normal(size=(8, 6))
    ref = rt_rdm(rt_dataset(X), "euclidean")
    close(rsa.rdm(X, "sqeuclidean", per_channel=True), ref)
    # documented relation: rsatoolbox 'euclidean' = plain euclidean squared / channels
    close(rsa.rdm(X, "euclidean") ** 2 / X.shape[1], ref)
    close(rsa.rdm(X, "sqeuclidean"), X.shape[1] * ref)
    close(rsa.rdm(X, "euclidean"), pdist(X))
    assert not np.allclose(rsa.rdm(X, "euclidean"), ref)


def test_correlation_and_cosine_rdm():
    X = np.random.default_rng(1).normal(size=(7, 9))
    close(rsa.rdm(X, "correlation"), rt_rdm(rt_dataset(X), "correlation"))
    close(rsa.rdm(X, "correlation"), 1 - np.corrcoef(X)[np.triu_indices(7, 1)])
    close(rsa.rdm(X, "cosine"), pdist(X, "cosine"))


def test_condition_averaging_vs_rsatoolbox():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(15, 4))
    conds = rng.permutation(np.repeat(np.array(["c", "a", "d", "b", "e"]), 3))
    for method, mine in [("euclidean", "sqeuclidean"), ("correlation", "correlation")]:
        ref = rt_rdm(rt_dataset(X, conds), method, descriptor="conds")
        kw = {"per_channel": True} if mine == "sqeuclidean" else {}
        close(rsa.rdm(X, mine, conditions=conds, **kw), ref)


@pytest.mark.parametrize("noise", NOISES)
def test_mahalanobis_vs_rsatoolbox(noise):
    flat, conds, runs = long_form(repeated(3))
    ds = rt_dataset(flat, conds, runs)
    prec = None if noise is None else prec_from_unbalanced(ds, "conds", method=noise)
    ref = rt_rdm(ds, "mahalanobis", descriptor="conds", noise=prec)
    close(rsa.rdm(flat, "mahalanobis", conditions=conds, noise=noise, per_channel=True), ref)
    if prec is not None:  # the same with the precision matrix passed explicitly
        close(rsa.rdm(flat, "mahalanobis", conditions=conds, noise=prec, per_channel=True), ref)


@pytest.mark.parametrize("noise", NOISES)
def test_crossnobis_vs_rsatoolbox(noise):
    X3 = repeated(4)
    flat, conds, runs = long_form(X3)
    ds = rt_dataset(flat, conds, runs)
    prec = None if noise is None else prec_from_unbalanced(ds, "conds", method=noise)
    ref = rt_rdm(ds, "crossnobis", descriptor="conds", cv_descriptor="runs", noise=prec)
    close(rsa.rdm(X3, "crossnobis", noise=noise, per_channel=True), ref)
    close(rsa.rdm(X3, "crossnobis", noise=noise), X3.shape[2] * ref)
    # long form with rows shuffled gives the same RDM
    order = np.random.default_rng(0).permutation(flat.shape[0])
    shuffled = rsa.rdm(flat[order], "crossnobis", conditions=conds[order], partitions=runs[order], noise=noise)
    close(shuffled, X3.shape[2] * ref)
    if prec is not None:
        close(rsa.rdm(X3, "crossnobis", noise=prec, per_channel=True), ref)


def test_crossnobis_closed_form_two_partitions():
    X3 = repeated(5, n_part=2)
    a, b = X3
    pairs = list(itertools.combinations(range(X3.shape[1]), 2))
    expected = [(a[i] - a[j]) @ (b[i] - b[j]) for i, j in pairs]
    close(rsa.rdm(X3, "crossnobis"), expected)


def test_crossnobis_is_unbiased_where_euclidean_is_not():
    # identical conditions, pure noise: crossnobis averages to ~0, the squared distance does not
    rng = np.random.default_rng(6)
    X3 = rng.normal(size=(8, 10, 40))
    assert abs(rsa.rdm(X3, "crossnobis").mean()) < 0.1 * rsa.rdm(X3.mean(0), "sqeuclidean").mean()


def test_noise_covariance_vs_rsatoolbox():
    flat, conds, runs = long_form(repeated(7, p=6))
    ds = rt_dataset(flat, conds, runs)
    for method in ["diag", "full", "shrinkage_eye", "shrinkage_diag"]:
        close(rsa.noise_covariance(flat, conds, method), cov_from_unbalanced(ds, "conds", method=method))
    close(rsa.noise_covariance(flat, conds, "shrinkage"), rsa.noise_covariance(flat, conds, "shrinkage_diag"))


# ----------------------------------------------------------------------------- comparators vs rsatoolbox
def random_rdms(seed, n_cond=7, k=4, ties=False):
    rng = np.random.default_rng(seed)
    V = rng.random((k, n_cond * (n_cond - 1) // 2))
    return np.round(V * 4) if ties else V


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("method", list(RT_COMPARATORS))
def test_comparators_vs_rsatoolbox(method, ties):
    V = random_rdms(8, ties=ties)
    ref = rt_compare(V, V[::-1], method=RT_COMPARATORS[method])
    mine = [[rsa.compare_rdms(a, b, method) for b in V[::-1]] for a in V]
    close(mine, ref)


@pytest.mark.parametrize("rdm_method", ["euclidean", "correlation"])
@pytest.mark.parametrize("method", list(RT_COMPARATORS))
def test_pairwise_pipeline_vs_rsatoolbox(rdm_method, method):
    rng = np.random.default_rng(9)
    systems = [rng.normal(size=(6, 5 + i)) for i in range(4)]
    rdms = rt.rdm.concat([rt.rdm.calc_rdm(rt_dataset(X), method=rdm_method) for X in systems])
    ref = rt_compare(rdms, rdms, method=RT_COMPARATORS[method])
    mine = repalign.pairwise(systems, "rsa", rdm="sqeuclidean" if rdm_method == "euclidean" else rdm_method,
                             compare=method)
    close(mine, ref)


def test_crossnobis_measure_matches_functions():
    systems = [repeated(s, n_part=3, n_cond=5, p=4 + s) for s in range(3)]
    mine = repalign.pairwise(systems, "rsa", rdm="crossnobis", n_partitions=3, noise="shrinkage_diag",
                             compare="corr_cov")
    D = [rsa.rdm(X, "crossnobis", noise="shrinkage_diag") for X in systems]
    for i, j in itertools.product(range(3), repeat=2):
        assert mine[i, j] == pytest.approx(rsa.compare_rdms(D[i], D[j], "corr_cov"), abs=1e-12)


# ----------------------------------------------------------------------------- closed forms
def brute_kendall(x, y):
    """(tau_a, tau_b) by counting all pairs."""
    i, j = np.triu_indices(x.size, 1)
    sx, sy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
    s = np.sum(sx * sy)
    n0 = i.size
    return s / n0, s / np.sqrt(np.count_nonzero(sx) * np.count_nonzero(sy))


@SEEDS
@given(seed=st.integers(0, 2**32 - 1), ties=st.booleans())
def test_rank_comparators_closed_forms(seed, ties):
    a, b = random_rdms(seed, n_cond=6, k=2, ties=ties)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return
    ra, rb = scipy.stats.rankdata(a), scipy.stats.rankdata(b)
    sp = rsa.compare_rdms(a, b, "spearman")
    assert sp == pytest.approx(scipy.stats.pearsonr(ra, rb).statistic, abs=1e-12)
    assert sp == pytest.approx(scipy.stats.spearmanr(a, b).statistic, abs=1e-12)
    tau_a, tau_b = brute_kendall(a, b)
    assert rsa.compare_rdms(a, b, "kendall_tau_b") == pytest.approx(tau_b, abs=1e-12)
    assert rsa.compare_rdms(a, b, "kendall_tau_b") == pytest.approx(scipy.stats.kendalltau(a, b).statistic, abs=1e-12)
    assert rsa.compare_rdms(a, b, "tau_a") == pytest.approx(tau_a, abs=1e-12)
    m = a.size
    rho_a = 12 * np.sum((ra - ra.mean()) * (rb - rb.mean())) / (m**3 - m)
    assert rsa.compare_rdms(a, b, "rho_a") == pytest.approx(rho_a, abs=1e-12)
    if not ties:  # without ties the tie corrections vanish
        assert rsa.compare_rdms(a, b, "rho_a") == pytest.approx(sp, abs=1e-12)
        assert rsa.compare_rdms(a, b, "tau_a") == pytest.approx(tau_b, abs=1e-12)


def test_cosine_and_pearson_closed_forms():
    a, b = random_rdms(10, k=2)
    assert rsa.compare_rdms(a, b, "cosine") == pytest.approx(a @ b / np.linalg.norm(a) / np.linalg.norm(b), abs=1e-14)
    assert rsa.compare_rdms(a, b, "pearson") == pytest.approx(np.corrcoef(a, b)[0, 1], abs=1e-14)


def rdm_entry_covariance(n):
    """V = (C C^T)^2 elementwise, C the pairwise-contrast matrix (built here independently)."""
    pairs = list(itertools.combinations(range(n), 2))
    C = np.zeros((len(pairs), n))
    for k, (i, j) in enumerate(pairs):
        C[k, i], C[k, j] = 1.0, -1.0
    Xi = C @ C.T
    return Xi * Xi


@pytest.mark.parametrize("n", [3, 5, 8])
def test_whitened_comparators_equal_dense_inverse(n):
    a, b = random_rdms(11 + n, n_cond=n, k=2)
    V = rdm_entry_covariance(n)

    def wcos(x, y):
        return x @ np.linalg.solve(V, y) / np.sqrt(x @ np.linalg.solve(V, x) * (y @ np.linalg.solve(V, y)))

    assert rsa.compare_rdms(a, b, "cosine_cov") == pytest.approx(wcos(a, b), abs=1e-10)
    assert rsa.compare_rdms(a, b, "corr_cov") == pytest.approx(wcos(a - a.mean(), b - b.mean()), abs=1e-10)


@pytest.mark.parametrize("method", rsa.COMPARATORS)
def test_identity_is_one(method):
    a = random_rdms(12, k=1)[0]
    assert rsa.compare_rdms(a, a, method) == pytest.approx(1.0, abs=1e-12)
    assert rsa.compare_rdms(a, sp_squareform(a), method) == pytest.approx(1.0, abs=1e-12)


def test_squareform_round_trip():
    a = random_rdms(13, k=1)[0]
    S = rsa.squareform(a)
    np.testing.assert_array_equal(S, sp_squareform(a))
    np.testing.assert_array_equal(rsa.squareform(S), a)


# ----------------------------------------------------------------------------- measure properties
def data(seed, n=7, p=5):
    return np.random.default_rng(seed).normal(size=(n, p))


@SEEDS
@given(seed=st.integers(0, 2**32 - 1), method=st.sampled_from(rsa.COMPARATORS))
def test_identity_and_symmetry(seed, method):
    X, Y = data(seed), data(seed + 1)
    assert repalign.compare(X, X, "rsa", compare=method) == pytest.approx(1.0, abs=1e-12)
    assert repalign.compare(X, Y, "rsa", compare=method) == pytest.approx(
        repalign.compare(Y, X, "rsa", compare=method), abs=1e-12
    )


@SEEDS
@given(seed=st.integers(0, 2**32 - 1), scale=st.floats(0.01, 100.0))
def test_declared_invariances_hold(seed, scale):
    rng = np.random.default_rng(seed)
    X, Y = data(seed), data(seed + 1)
    base = repalign.compare(X, Y, "rsa")
    info = get_measure("rsa").info()
    assert set(info.invariances) == {"permutation", "isotropic_scaling", "monotonic"}
    assert repalign.compare(X, Y[:, rng.permutation(Y.shape[1])], "rsa") == pytest.approx(base, abs=1e-12)
    assert repalign.compare(X, scale * Y, "rsa") == pytest.approx(base, abs=1e-12)
    # monotonic maps of the dissimilarities: rank comparators are unchanged
    a, b = rsa.rdm(X, "correlation"), rsa.rdm(Y, "correlation")
    for method in ("spearman", "kendall_tau_b", "tau_a", "rho_a"):
        assert rsa.compare_rdms(a, np.exp(3 * b) + b**3, method) == pytest.approx(
            rsa.compare_rdms(a, b, method), abs=1e-12
        )


@SEEDS
@given(seed=st.integers(0, 2**32 - 1))
def test_euclidean_rdm_orthogonal_translation_invariance(seed):
    rng = np.random.default_rng(seed)
    X, Y = data(seed), data(seed + 1)
    Q = np.linalg.qr(rng.normal(size=(5, 5)))[0]
    shift = rng.normal(size=5) * 10
    for method in ("pearson", "cosine_cov"):
        base = repalign.compare(X, Y, "rsa", rdm="euclidean", compare=method)
        moved = repalign.compare(X, Y @ Q + shift, "rsa", rdm="euclidean", compare=method)
        assert moved == pytest.approx(base, abs=1e-10)


@SEEDS
@given(seed=st.integers(0, 2**32 - 1))
def test_non_invariances_fail(seed):
    rng = np.random.default_rng(seed)
    X = data(seed)
    # a non-orthogonal linear map changes the euclidean RDM and so the score (< 1 against X)
    M = np.diag([1.0, 1.0, 1.0, 1.0, 8.0]) + 0.3 * rng.normal(size=(5, 5))
    assert repalign.compare(X, X @ M, "rsa", rdm="euclidean", compare="pearson") < 1 - 1e-6
    # a correlation RDM is not translation-invariant (why 'translation' is not declared)
    assert repalign.compare(X, X + 5 * rng.normal(size=5), "rsa", compare="pearson") < 1 - 1e-6


def test_pairwise_equals_loop():
    systems = [data(s) for s in range(5)]
    others = [data(s) for s in range(10, 13)]
    for method in ("pearson", "spearman", "tau_a"):
        m = get_measure("rsa", compare=method)
        P = repalign.pairwise(systems, m)
        loop = [[repalign.compare(a, b, m) for b in systems] for a in systems]
        np.testing.assert_allclose(P, loop, rtol=0, atol=1e-12)
        Q = repalign.pairwise(systems, m, others=others)
        loop = [[repalign.compare(a, b, m) for b in others] for a in systems]
        np.testing.assert_allclose(Q, loop, rtol=0, atol=1e-12)


def test_compare_param_does_not_shadow_method():
    m = get_measure("rsa", compare="pearson")
    assert callable(m.compare) and m.params["compare"] == "pearson"
    X, Y = data(0), data(1)
    assert m.compare(m.prepare(X), m.prepare(Y)) == pytest.approx(np.corrcoef(rsa.rdm(X, "correlation"),
                                                                              rsa.rdm(Y, "correlation"))[0, 1])
    m2 = get_measure(m, compare="cosine")
    assert m2.params["compare"] == "cosine" and m.params["compare"] == "pearson"


def test_torch_input():
    import torch

    X, Y = data(0), data(1)
    assert repalign.compare(torch.tensor(X), torch.tensor(Y), "rsa") == pytest.approx(repalign.compare(X, Y, "rsa"))


def test_inputs_not_mutated():
    X3 = repeated(14)
    flat, conds, runs = long_form(X3)
    copies = [a.copy() for a in (X3, flat, conds, runs)]
    rsa.rdm(X3, "crossnobis", noise="shrinkage_diag")
    rsa.rdm(flat, "crossnobis", conditions=conds, partitions=runs, noise="full", per_channel=True)
    rsa.rdm(flat, "mahalanobis", conditions=conds, noise="diag")
    rsa.rdm(flat, "correlation", conditions=conds)
    for a, c in zip((X3, flat, conds, runs), copies):
        np.testing.assert_array_equal(a, c)
    a, b = random_rdms(15, k=2)
    ac, bc = a.copy(), b.copy()
    for method in rsa.COMPARATORS:
        rsa.compare_rdms(a, b, method)
    np.testing.assert_array_equal(a, ac)
    np.testing.assert_array_equal(b, bc)
    X, Y = data(0), data(1)
    Xc, Yc = X.copy(), Y.copy()
    repalign.pairwise([X, Y], "rsa", compare="corr_cov")
    np.testing.assert_array_equal(X, Xc)
    np.testing.assert_array_equal(Y, Yc)


# ----------------------------------------------------------------------------- validation
def test_validation_errors():
    X, Y = data(0), data(1)
    bad = X.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="X contains non-finite"):
        repalign.compare(bad, Y, "rsa")
    with pytest.raises(ValueError, match="X contains non-finite"):
        rsa.rdm(bad)
    with pytest.raises(ValueError, match="same number of samples"):
        repalign.compare(X, data(1, n=6), "rsa")
    with pytest.raises(ValueError, match="at least 3"):
        repalign.compare(X[:2], Y[:2], "rsa")
    with pytest.raises(ValueError, match="X must be 2-D"):
        rsa.rdm(np.zeros(5))
    with pytest.raises(ValueError, match="method must be one of"):
        rsa.rdm(X, "manhattan")
    with pytest.raises(ValueError, match="compare must be one of"):
        get_measure("rsa", compare="kendall")
    with pytest.raises(ValueError, match="rdm must be one of"):
        get_measure("rsa", rdm="manhattan")
    with pytest.raises(ValueError, match="per_channel"):
        rsa.rdm(X, "euclidean", per_channel=True)
    with pytest.raises(ValueError, match="noise is only used"):
        rsa.rdm(X, "correlation", noise="diag")
    with pytest.raises(ValueError, match="constant across channels"):
        rsa.rdm(np.vstack([X, np.ones(5)]), "correlation")


def test_rdm_comparator_validation():
    a, b = random_rdms(16, k=2)
    with pytest.raises(ValueError, match="same conditions"):
        rsa.compare_rdms(a, b[:15])
    with pytest.raises(ValueError, match="not n \\(n - 1\\) / 2"):
        rsa.compare_rdms(a[:20], b[:20])
    with pytest.raises(ValueError, match="at least 3"):
        rsa.compare_rdms([1.0], [2.0])
    with pytest.raises(ValueError, match="non-finite"):
        rsa.compare_rdms(np.where(a > 0.5, np.nan, a), b)
    with pytest.raises(ValueError, match="condensed RDM"):
        rsa.compare_rdms(np.zeros((2, 3, 4)), b)
    with pytest.raises(ValueError, match="symmetric"):
        rsa.compare_rdms(np.triu(sp_squareform(a)), b)
    with pytest.raises(ValueError, match="constant"):
        rsa.compare_rdms(np.ones_like(a), b, "spearman")
    with pytest.raises(ValueError, match="all zeros"):
        rsa.compare_rdms(np.zeros_like(a), b, "cosine")
    assert rsa.compare_rdms(np.ones_like(a), b, "tau_a") == 0.0


def test_crossnobis_validation():
    X3 = repeated(17)
    flat, conds, runs = long_form(X3)
    with pytest.raises(ValueError, match="repeated measurements"):
        rsa.rdm(X3[0], "crossnobis")
    with pytest.raises(ValueError, match="at least 2 partitions"):
        rsa.rdm(X3[:1], "crossnobis")
    keep = ~((runs == 1) & (conds == 2))
    with pytest.raises(ValueError, match="lacks condition"):
        rsa.rdm(flat[keep], "crossnobis", conditions=conds[keep], partitions=runs[keep])
    with pytest.raises(ValueError, match="one label per row"):
        rsa.rdm(flat, "crossnobis", conditions=conds[:-1], partitions=runs)
    with pytest.raises(ValueError, match=r"\(5, 5\) precision"):
        rsa.rdm(X3, "crossnobis", noise=np.eye(4))
    with pytest.raises(ValueError, match="singular"):
        rsa.rdm(repeated(18, n_part=2, n_cond=3, p=6), "crossnobis", noise="full")
    with pytest.raises(ValueError, match="no residual degrees"):
        rsa.rdm(X3[0], "mahalanobis", noise="diag")
    with pytest.raises(ValueError, match="n_partitions"):
        get_measure("rsa", rdm="crossnobis")
    with pytest.raises(ValueError, match="multiple of n_partitions"):
        repalign.compare(flat[:-1], flat[:-1], "rsa", rdm="crossnobis", n_partitions=4)
