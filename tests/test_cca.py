"""CCA, SVCCA, PWCCA: published value, textbook references, sklearn, invariances, validation."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import sqrtm
from sklearn.cross_decomposition import CCA as SkCCA
from sklearn.decomposition import PCA

import repalign
from _helpers import (assert_inputs_unchanged, assert_pairwise_matches_compare, assert_rejects_bad_arrays,
                      published_pair)
from repalign.geometry.cca import canonical_correlations


def _textbook_cca(X, Y):
    """Canonical correlations and X's canonical weights from covariance matrices (Hotelling 1936)."""
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    Sxx, Syy, Sxy = Xc.T @ Xc, Yc.T @ Yc, Xc.T @ Yc
    Wx = np.linalg.inv(np.real(sqrtm(Sxx)))
    Wy = np.linalg.inv(np.real(sqrtm(Syy)))
    U, rho, _ = np.linalg.svd(Wx @ Sxy @ Wy)
    c = min(X.shape[1], Y.shape[1])
    return rho[:c], Wx @ U[:, :c]  # columns: canonical weight vectors a_i of X


def _related(rng, n, p, q, noise=1.0):
    X = rng.standard_normal((n, p))
    return X, X @ rng.standard_normal((p, q)) + noise * rng.standard_normal((n, q))


def test_published_value_yanai_r2():
    X, Y = published_pair()
    assert repalign.compare(X, Y, "cca_r2") == pytest.approx(0.54540, abs=5e-6)
    assert repalign.compare(X, Y, "cca", statistic="mean_squared") == pytest.approx(0.54540, abs=5e-6)


@pytest.mark.parametrize("shape", [(60, 4, 7), (80, 9, 3)])
def test_matches_textbook_and_sklearn(shape):
    rng = np.random.default_rng(0)
    X, Y = _related(rng, *shape)
    ref, _ = _textbook_cca(X, Y)
    rho = canonical_correlations(X, Y)
    np.testing.assert_allclose(rho, ref, atol=1e-10)
    assert repalign.compare(X, Y, "cca") == pytest.approx(ref.mean(), abs=1e-10)
    assert repalign.compare(X, Y, "cca_r2") == pytest.approx(np.mean(ref**2), abs=1e-10)
    sk = SkCCA(n_components=2, scale=False, max_iter=5000, tol=1e-12).fit(X, Y)
    u, v = sk.transform(X, Y)
    sk_rho = [abs(np.corrcoef(u[:, i], v[:, i])[0, 1]) for i in range(2)]
    np.testing.assert_allclose(rho[:2], sk_rho, atol=1e-6)


def test_rank_deficient_data_use_the_numerical_column_space():
    rng = np.random.default_rng(1)
    X, Y = _related(rng, 50, 3, 4)
    X_dup = np.column_stack([X, X[:, 0] + 2 * X[:, 1], np.full(50, 3.0)])  # rank 3 of 5 columns
    det = repalign.compare_detailed(X_dup, Y, "cca")
    assert det.extras["correlations"].shape == (3,)
    assert det.score == pytest.approx(repalign.compare(X, Y, "cca"), abs=1e-10)


def test_svcca_equals_cca_on_sklearn_pca_scores():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((80, 12)) * np.geomspace(10, 0.01, 12)
    Y = X @ rng.standard_normal((12, 9)) + 0.5 * rng.standard_normal((80, 9))
    for thr in (0.9, 0.99):
        Xr = PCA(n_components=thr, svd_solver="full").fit_transform(X)
        Yr = PCA(n_components=thr, svd_solver="full").fit_transform(Y)
        assert Xr.shape[1] < 12
        ref = repalign.compare(Xr, Yr, "cca")
        assert repalign.compare(X, Y, "svcca", threshold=thr) == pytest.approx(ref, abs=1e-10)
    Xr, Yr = PCA(4).fit_transform(X), PCA(4).fit_transform(Y)
    got = repalign.compare(X, Y, "svcca", n_components=4)
    assert got == pytest.approx(repalign.compare(Xr, Yr, "cca"), abs=1e-10)
    # svcca is not invariant to a general invertible map (it changes which PCs are kept)...
    M = np.diag(np.geomspace(1e-2, 1e2, 9))
    assert abs(repalign.compare(X, Y @ M, "svcca") - repalign.compare(X, Y, "svcca")) > 1e-3
    # ... while plain CCA is.
    assert repalign.compare(X, Y @ M, "cca") == pytest.approx(repalign.compare(X, Y, "cca"), abs=1e-9)


def test_svcca_parameters():
    assert repalign.get_measure("svcca", n_components=3).params["threshold"] is None
    with pytest.raises(ValueError, match="exactly one of threshold"):
        repalign.get_measure("svcca", threshold=0.9, n_components=3)
    with pytest.raises(ValueError, match="exactly one of threshold"):
        repalign.get_measure("svcca", threshold=None)
    with pytest.raises(ValueError, match="threshold must be"):
        repalign.get_measure("svcca", threshold=1.5)
    with pytest.raises(ValueError, match="n_components must be"):
        repalign.get_measure("svcca", n_components=0)
    with pytest.raises(ValueError, match="statistic must be"):
        repalign.get_measure("cca", statistic="median")


def _pwcca_reference(X, Y):
    """Morcos et al. (2018): alpha_i = sum_j |<h_i, x_j>|, h_i = unit-norm canonical variates of X."""
    rho, A = _textbook_cca(X, Y)
    Xc = X - X.mean(0)
    H = Xc @ A
    H /= np.linalg.norm(H, axis=0)
    alpha = np.abs(H.T @ Xc).sum(axis=1)
    return np.sum(alpha / alpha.sum() * rho)


@pytest.mark.parametrize("shape", [(70, 4, 6), (70, 6, 4)])
def test_pwcca_matches_paper_definition_and_is_asymmetric(shape):
    rng = np.random.default_rng(3)
    X, Y = _related(rng, *shape)
    X = X * np.array([5.0, 1.0, 0.2, 1.0, 3.0, 0.5][: shape[1]])  # uneven units: weights matter
    got = repalign.compare(X, Y, "pwcca")
    assert got == pytest.approx(_pwcca_reference(X, Y), abs=1e-10)
    assert got != pytest.approx(repalign.compare(X, Y, "cca"), abs=1e-4)
    assert got != pytest.approx(repalign.compare(Y, X, "pwcca"), abs=1e-4)
    assert repalign.get_measure("pwcca").info().symmetric is False
    w = repalign.compare_detailed(X, Y, "pwcca").extras["weights"]
    assert w.sum() == pytest.approx(1.0) and np.all(w >= 0)


def test_pwcca_invariance_is_one_sided():
    rng = np.random.default_rng(4)
    X, Y = _related(rng, 90, 5, 5)
    base = repalign.compare(X, Y, "pwcca")
    M = rng.standard_normal((5, 5))
    Q, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    assert repalign.compare(X, Y @ M, "pwcca") == pytest.approx(base, abs=1e-9)
    assert abs(repalign.compare(X @ Q, Y, "pwcca") - base) > 1e-4
    info = repalign.get_measure("pwcca").info()
    assert "orthogonal" not in info.invariances and "invertible_linear" not in info.invariances


def test_nonlinear_map_and_dropped_samples_break_invariance():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((200, 3))
    for name in ("cca", "svcca", "pwcca"):
        assert repalign.compare(X, X, name) == pytest.approx(1.0, abs=1e-12)
        assert repalign.compare(X, X**2, name) < 0.3  # even map: no linear relation left
        assert repalign.compare(X[:-1], np.roll(X, 1, axis=0)[:-1], name) < 0.5


# ----------------------------------------------------------------------------- properties
_NAMES = ["cca", "cca_r2", "svcca", "pwcca"]
_dims = st.tuples(st.integers(25, 60), st.integers(1, 5), st.integers(1, 5), st.integers(0, 2**31 - 1))


@settings(max_examples=25, deadline=None)
@given(_dims, st.sampled_from(_NAMES))
def test_declared_invariances_hold(dims, name):
    n, p, q, seed = dims
    rng = np.random.default_rng(seed)
    X, Y = _related(rng, n, p, q)
    m = repalign.get_measure(name)
    inv = set(m.info().invariances)
    assert inv >= {"translation", "isotropic_scaling", "permutation"}
    base = repalign.compare(X, Y, name)
    assert 0.0 <= base <= 1.0 + 1e-12
    for Z in (X, Y):  # applied to either system
        others = (Z, Y) if Z is X else (X, Z)
        pos = 0 if Z is X else 1
        d = Z.shape[1]
        Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
        M = Q @ np.diag(rng.uniform(0.2, 5.0, d)) @ np.linalg.qr(rng.standard_normal((d, d)))[0]
        maps = {
            "translation": Z + 10 * rng.standard_normal(d),
            "isotropic_scaling": 0.03 * Z,
            "permutation": Z[:, rng.permutation(d)],
            "orthogonal": Z @ Q,
            "invertible_linear": Z @ M,
        }
        for inv_name, Zt in maps.items():
            if inv_name not in inv:
                continue
            pair = list(others)
            pair[pos] = Zt
            assert repalign.compare(*pair, name) == pytest.approx(base, abs=1e-8), inv_name
    assert repalign.compare(X, X, name) == pytest.approx(1.0, abs=1e-9)
    if m.symmetric:
        assert repalign.compare(Y, X, name) == pytest.approx(base, abs=1e-12)


@pytest.mark.parametrize("name", _NAMES)
def test_pairwise_equals_pair_loop(name):
    rng = np.random.default_rng(6)
    systems = [rng.standard_normal((30, w)) for w in (2, 4, 4, 6)]
    systems[2] = systems[1] @ rng.standard_normal((4, 4)) + 0.3 * systems[2]
    assert_pairwise_matches_compare(systems, name)


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize("name", _NAMES)
def test_validation_errors_and_no_mutation(name):
    rng = np.random.default_rng(7)
    X, Y = rng.standard_normal((20, 3)), rng.standard_normal((20, 2))
    assert_inputs_unchanged(X, Y, name)
    assert_rejects_bad_arrays(X, Y, name)
    with pytest.raises(ValueError, match="same number of samples"):
        repalign.compare(X, Y[:19], name)
    with pytest.raises(ValueError, match="zero variance"):
        repalign.compare(np.ones((20, 3)), Y, name)
    with pytest.raises(ValueError, match="at least 3"):
        repalign.compare(X[:2], Y[:2], name)
