"""Subspace geometry: principal angles, cross-variance explained, participation ratio, projections."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import subspace_angles as scipy_angles
from sklearn.decomposition import PCA

import repalign
from _helpers import assert_pairwise_matches_compare, assert_rejects_bad_arrays
from repalign.geometry.subspace import (
    cross_variance_explained,
    participation_ratio,
    pca_basis,
    principal_angles,
    projection_fraction,
)


def _low_rank(rng, n, p, r, scales=None):
    """n samples of p units whose variance lies in a random r-dimensional subspace."""
    basis, _ = np.linalg.qr(rng.standard_normal((p, r)))
    scales = np.geomspace(4, 1, r) if scales is None else scales
    return rng.standard_normal((n, r)) * scales @ basis.T, basis


def _same_span(A, B):
    return np.allclose(A @ A.T, B @ B.T, atol=1e-8)


@pytest.mark.parametrize("shape", [(80, 6), (10, 30)])  # n > p (scatter side), n < p (Gram side)
def test_pca_basis_matches_sklearn_on_both_gram_sides(shape):
    rng = np.random.default_rng(0)
    X = rng.standard_normal(shape) * np.geomspace(5, 0.5, shape[1])
    sk = PCA(4).fit(X).components_.T
    for side in ("auto", "samples", "features"):
        V = pca_basis(X, 4, side=side)
        np.testing.assert_allclose(np.abs(np.sum(V * sk, axis=0)), 1.0, atol=1e-8)  # same axes up to sign
        np.testing.assert_allclose(V.T @ V, np.eye(4), atol=1e-10)
    with pytest.raises(ValueError, match="exceeds the number of nonzero"):
        pca_basis(X[:3], 4)
    with pytest.raises(ValueError, match="side must be"):
        pca_basis(X, 2, side="rows")


def test_principal_angles_match_scipy_and_known_angle():
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((60, 8)), rng.standard_normal((45, 8))  # samples need not match
    got = principal_angles(X, Y, n_components=3)
    ref = np.sort(scipy_angles(pca_basis(X, 3), pca_basis(Y, 3)))
    np.testing.assert_allclose(got, ref, atol=1e-12)
    # Two planes in R^3 sharing one axis and tilted by 0.3 rad about it: angles (0, 0.3).
    t = rng.standard_normal((50, 2)) * [3.0, 1.0]
    e1, e2, e2t = np.eye(3)[0], np.eye(3)[1], np.cos(0.3) * np.eye(3)[1] + np.sin(0.3) * np.eye(3)[2]
    A = t @ np.stack([e1, e2])
    B = t[::-1] @ np.stack([e1, e2t])
    np.testing.assert_allclose(principal_angles(A, B, 2), [0.0, 0.3], atol=1e-7)
    d = repalign.compare_detailed(A, B, "principal_angles", n_components=2)
    assert d.score == pytest.approx(0.15, abs=1e-7)
    assert repalign.compare(A, B, "principal_angles", n_components=2, statistic="max") == pytest.approx(0.3, abs=1e-7)
    with pytest.raises(ValueError, match="same number of features"):
        principal_angles(X, Y[:, :5])
    with pytest.raises(ValueError, match="same number of features"):
        repalign.compare(X, Y[:, :5], "principal_angles")


def test_cross_variance_closed_forms_and_sklearn():
    rng = np.random.default_rng(2)
    Y, _ = _low_rank(rng, 70, 10, 4)
    out = cross_variance_explained(Y, Y)
    assert out["n_components"] == 4
    ratio = np.cumsum(PCA(4).fit(Y).explained_variance_ratio_)
    np.testing.assert_allclose(out["self"], ratio, atol=1e-10)
    np.testing.assert_allclose(out["cross"], ratio, atol=1e-10)
    assert out["self"][-1] == pytest.approx(1.0, abs=1e-12)
    # Basis system spanning a larger subspace that contains Y's: everything captured by the end.
    X_big = np.vstack([Y, rng.standard_normal((30, 10))])
    full = cross_variance_explained(X_big, Y)
    assert full["cross"][-1] == pytest.approx(1.0, abs=1e-10)
    assert np.all(full["cross"] <= full["self"] + 1e-12)
    # Orthogonal subspaces: nothing captured.
    P = np.linalg.qr(rng.standard_normal((10, 10)))[0]
    A = rng.standard_normal((40, 3)) @ P[:, :3].T
    B = rng.standard_normal((50, 3)) @ P[:, 3:6].T
    np.testing.assert_allclose(cross_variance_explained(A, B)["cross"], 0.0, atol=1e-12)
    assert repalign.compare(A, B, "cross_variance") == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("shape_x, shape_y", [((15, 40), (12, 40)), ((90, 6), (70, 6))])
def test_cross_variance_same_on_both_gram_sides(shape_x, shape_y):
    rng = np.random.default_rng(3)
    X = rng.standard_normal(shape_x) * np.geomspace(3, 0.3, shape_x[1])
    Y = rng.standard_normal(shape_y) * np.geomspace(3, 0.3, shape_y[1])
    a = cross_variance_explained(X, Y, 5, side="samples")
    b = cross_variance_explained(X, Y, 5, side="features")
    np.testing.assert_allclose(a["cross"], b["cross"], atol=1e-9)
    np.testing.assert_allclose(a["self"], b["self"], atol=1e-9)
    # the cross curve is Y's variance fraction in the span of X's top-k PCs, computed directly
    Yc = Y - Y.mean(0)
    direct = [projection_fraction(Y, pca_basis(X, k)) for k in range(1, 6)]
    np.testing.assert_allclose(a["cross"], direct, atol=1e-9)
    assert np.sum((Yc @ pca_basis(Y, 1)) ** 2) / np.sum(Yc**2) == pytest.approx(a["self"][0], abs=1e-9)


def test_cross_variance_rotation_of_both_vs_one():
    rng = np.random.default_rng(4)
    X, _ = _low_rank(rng, 60, 8, 3)
    Y = X[:50] + 0.5 * rng.standard_normal((50, 8))
    Q = np.linalg.qr(rng.standard_normal((8, 8)))[0]
    base = repalign.compare(X, Y, "cross_variance", n_components=3)
    assert repalign.compare(X @ Q, Y @ Q, "cross_variance", n_components=3) == pytest.approx(base, abs=1e-10)
    assert repalign.compare(X @ Q, Y, "cross_variance", n_components=3) < base - 0.2
    assert repalign.compare(X, Y, "cross_variance") != pytest.approx(repalign.compare(Y, X, "cross_variance"))
    assert repalign.get_measure("cross_variance").info().symmetric is False


def test_participation_ratio_closed_forms():
    rng = np.random.default_rng(5)
    Z = rng.standard_normal((40, 6))
    Q, _ = np.linalg.qr(Z - Z.mean(0))  # centred orthonormal columns: equal variance in 6 directions
    assert participation_ratio(Q) == pytest.approx(6.0, abs=1e-10)
    assert participation_ratio(Q @ np.linalg.qr(rng.standard_normal((6, 6)))[0]) == pytest.approx(6.0, abs=1e-10)
    line = rng.standard_normal((30, 1)) @ rng.standard_normal((1, 9)) + 4.0
    assert participation_ratio(line) == pytest.approx(1.0, abs=1e-10)
    for shape in [(50, 7), (8, 30)]:
        X = rng.standard_normal(shape) * rng.uniform(0.1, 3, shape[1])
        lam = np.linalg.eigvalsh(np.cov(X, rowvar=False))
        assert participation_ratio(X) == pytest.approx(lam.sum() ** 2 / np.sum(lam**2), rel=1e-10)
    with pytest.raises(ValueError, match="zero variance"):
        participation_ratio(np.ones((5, 3)))


def test_projection_fraction_closed_forms():
    rng = np.random.default_rng(6)
    X, basis = _low_rank(rng, 40, 7, 3)
    X = X + 2.0  # translation is removed by centring
    assert projection_fraction(X, basis @ rng.standard_normal((3, 3))) == pytest.approx(1.0, abs=1e-12)
    assert projection_fraction(X, np.column_stack([basis, basis[:, :1]])) == pytest.approx(1.0, abs=1e-12)
    perp = np.linalg.qr(np.column_stack([basis, rng.standard_normal((7, 4))]))[0][:, 3:]
    assert projection_fraction(X, perp) == pytest.approx(0.0, abs=1e-12)
    W = rng.standard_normal((7, 2))
    Xc = X - X.mean(0)
    P = W @ np.linalg.solve(W.T @ W, W.T)  # textbook projector onto span(W)
    assert projection_fraction(X, W) == pytest.approx(np.trace(Xc @ P @ Xc.T) / np.trace(Xc @ Xc.T), abs=1e-12)
    with pytest.raises(ValueError, match="one row per feature"):
        projection_fraction(X, W[:5])
    with pytest.raises(ValueError, match="basis must be 2-D"):
        projection_fraction(X, W[:, 0])
    with pytest.raises(ValueError, match="spans no direction"):
        projection_fraction(X, np.zeros((7, 2)))


# ----------------------------------------------------------------------------- properties
_NAMES = ["principal_angles", "cross_variance"]
_dims = st.tuples(st.integers(6, 40), st.integers(6, 40), st.integers(2, 8), st.integers(1, 4),
                  st.integers(0, 2**31 - 1))


@settings(max_examples=25, deadline=None)
@given(_dims, st.sampled_from(_NAMES))
def test_declared_invariances_identity_symmetry(dims, name):
    n_x, n_y, p, k, seed = dims
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_x, p)) * np.geomspace(4, 0.25, p)
    Y = rng.standard_normal((n_y, p)) * np.geomspace(4, 0.25, p)[::-1] + 0.3 * rng.standard_normal(p)
    m = repalign.get_measure(name, n_components=k)
    assert set(m.info().invariances) == {"translation", "isotropic_scaling", "sample_permutation"}
    base = repalign.compare(X, Y, m)
    for Xt, Yt in [(X + 5.0 * rng.standard_normal(p), Y), (X, 0.01 * Y), (X, Y[rng.permutation(n_y)]),
                   (X[rng.permutation(n_x)] * 3.0, Y - 2.0)]:
        assert repalign.compare(Xt, Yt, m) == pytest.approx(base, abs=1e-7)
    identity = 0.0 if name == "principal_angles" else 1.0
    assert repalign.compare(X, X, m) == pytest.approx(identity, abs=1e-6)
    if name == "principal_angles":
        assert repalign.compare(Y, X, m) == pytest.approx(base, abs=1e-10)
        assert 0.0 <= base <= np.pi / 2 + 1e-12
    else:
        assert -1e-12 <= base <= 1.0 + 1e-12


def test_rotating_one_system_is_not_invariant():
    rng = np.random.default_rng(7)
    X, _ = _low_rank(rng, 50, 6, 2)
    Q = np.linalg.qr(rng.standard_normal((6, 6)))[0]
    assert repalign.compare(X, X @ Q, "principal_angles", n_components=2) > 0.2
    assert repalign.compare(X, X @ Q, "cross_variance", n_components=2) < 0.8


@pytest.mark.parametrize("name", _NAMES)
def test_pairwise_equals_pair_loop_with_unmatched_samples(name):
    rng = np.random.default_rng(8)
    systems = [rng.standard_normal((n, 5)) * np.geomspace(3, 0.3, 5)[rng.permutation(5)] for n in (12, 20, 30, 9)]
    assert_pairwise_matches_compare(systems, name, n_components=2)


@pytest.mark.parametrize("name", _NAMES)
def test_validation_errors_and_no_mutation(name):
    rng = np.random.default_rng(9)
    X, Y = rng.standard_normal((15, 4)), rng.standard_normal((11, 4))
    X0, Y0 = X.copy(), Y.copy()
    repalign.compare(X, Y, name)
    repalign.pairwise([X, Y], name)
    cross_variance_explained(X, Y)
    principal_angles(X, Y)
    participation_ratio(X)
    projection_fraction(X, Y.T)
    assert np.array_equal(X, X0) and np.array_equal(Y, Y0)
    assert_rejects_bad_arrays(X, Y, name)
    with pytest.raises(ValueError, match="zero variance"):
        repalign.compare(X, np.ones((11, 4)), name)
    with pytest.raises(ValueError, match="same number of features"):
        repalign.compare(X, Y[:, :3], name)
    with pytest.raises(ValueError, match="n_components must be"):
        repalign.compare(X, Y, name, n_components=0)
