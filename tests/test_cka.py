"""CKA: published values, closed forms, the small-n bias, invariances and the pairwise path."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import repalign
from _helpers import assert_pairwise_matches_compare, published_pair
from repalign.geometry.cka import rbf_gram


def _gram_reference_cka(K, L, debiased=False):
    """Textbook Gram-matrix CKA, written independently of the library (Kornblith et al. 2019)."""
    n = K.shape[0]
    if not debiased:
        H = np.eye(n) - np.ones((n, n)) / n
        Kc, Lc = H @ K @ H, H @ L @ H
        return np.sum(Kc * Lc) / np.sqrt(np.sum(Kc * Kc) * np.sum(Lc * Lc))

    def hsic_u(A, B):  # Song et al. (2012), eq. (5)
        A, B = A.copy(), B.copy()
        np.fill_diagonal(A, 0)
        np.fill_diagonal(B, 0)
        one = np.ones(n)
        t1 = np.trace(A @ B)
        t2 = (one @ A @ one) * (one @ B @ one) / ((n - 1) * (n - 2))
        t3 = 2.0 / (n - 2) * (one @ A @ B @ one)
        return (t1 + t2 - t3) / (n * (n - 3))

    return hsic_u(K, L) / np.sqrt(hsic_u(K, K) * hsic_u(L, L))


def test_published_values():
    X, Y = published_pair()
    assert repalign.compare(X, Y, "cka") == pytest.approx(0.55761, abs=5e-6)
    assert repalign.compare(X, Y, "debiased_cka") == pytest.approx(0.51346, abs=5e-6)
    assert repalign.compare(X, Y, "rbf_cka") == pytest.approx(0.65483, abs=5e-6)
    assert repalign.compare(X, Y, "cka", kernel="rbf", threshold=0.5) == pytest.approx(0.65483, abs=5e-6)


@pytest.mark.parametrize("debiased", [False, True])
@pytest.mark.parametrize("shape", [(40, 5, 7), (12, 30, 25)])  # n > p (feature path), p > n (Gram path)
def test_linear_matches_gram_reference(debiased, shape):
    n, p, q = shape
    rng = np.random.default_rng(3)
    X = rng.standard_normal((n, p))
    Y = X[:, :1] * rng.standard_normal((1, q)) + rng.standard_normal((n, q))
    ref = _gram_reference_cka(X @ X.T, Y @ Y.T, debiased)
    assert repalign.compare(X, Y, "cka", debiased=debiased) == pytest.approx(ref, abs=1e-12)


def test_rbf_matches_gram_reference_and_fixed_sigma():
    rng = np.random.default_rng(4)
    X, Y = rng.standard_normal((30, 4)), rng.standard_normal((30, 6))
    K, L = rbf_gram(X, 0.8), rbf_gram(Y, 0.8)
    for deb in (False, True):
        got = repalign.compare(X, Y, "cka", kernel="rbf", threshold=0.8, debiased=deb)
        assert got == pytest.approx(_gram_reference_cka(K, L, deb), abs=1e-12)
    d2 = ((X[:, None] - X[None]) ** 2).sum(-1)
    K2 = np.exp(-d2 / (2 * 1.7**2))
    d2y = ((Y[:, None] - Y[None]) ** 2).sum(-1)
    L2 = np.exp(-d2y / (2 * 1.7**2))
    assert repalign.compare(X, Y, "cka", kernel="rbf", sigma=1.7) == pytest.approx(_gram_reference_cka(K2, L2), abs=1e-12)


def test_small_n_bias_of_biased_cka():
    """Independent data, n=50, p=1000: biased CKA is about 0.95, debiased about 0."""
    rng = np.random.default_rng(0)
    pairs = [(rng.standard_normal((50, 1000)), rng.standard_normal((50, 1000))) for _ in range(8)]
    biased = np.array([repalign.compare(X, Y, "cka") for X, Y in pairs])
    debiased = np.array([repalign.compare(X, Y, "debiased_cka") for X, Y in pairs])
    assert np.all((0.93 < biased) & (biased < 0.97))
    # The debiased estimate fluctuates around 0 with sd ~ sqrt(2)/n = 0.03 at n = 50.
    assert np.all(np.abs(debiased) < 0.12)
    assert abs(debiased.mean()) < 0.03


def test_angular_is_arccos():
    X, Y = published_pair()
    assert repalign.compare(X, Y, "cka_angular") == pytest.approx(np.arccos(repalign.compare(X, Y, "cka")), abs=1e-12)


@pytest.mark.parametrize("name", ["cka", "debiased_cka", "rbf_cka", "cka_angular"])
def test_pairwise_equals_pair_loop_and_is_symmetric(name):
    rng = np.random.default_rng(5)
    systems = [rng.standard_normal((25, w)) for w in (3, 8, 8, 40)]  # mixed widths, one with p > n
    # arccos turns a 1e-16 rounding difference at CKA = 1 into ~1e-8 rad
    M = assert_pairwise_matches_compare(systems, name, atol=1e-7 if name == "cka_angular" else 1e-12)
    assert np.array_equal(M, M.T)


def test_blocked_pairwise_with_many_systems_matches_loop():
    """Enough systems that the stacked product is split into several blocks."""
    from repalign.geometry.cka import _blocked_sq_cross

    rng = np.random.default_rng(6)
    Xs = [rng.standard_normal((20, int(w))) for w in rng.integers(1, 9, size=13)]
    got = _blocked_sq_cross(Xs, Xs, symmetric=False, max_elems=100)
    ref = np.array([[np.sum((a.T @ b) ** 2) for b in Xs] for a in Xs])
    np.testing.assert_allclose(got, ref, rtol=1e-12)


# ----------------------------------------------------------------------------- properties
_arrays = st.tuples(st.integers(8, 30), st.integers(1, 6), st.integers(1, 6), st.integers(0, 2**31 - 1))


@settings(max_examples=25, deadline=None)
@given(_arrays, st.sampled_from(["cka", "debiased_cka", "rbf_cka"]))
def test_declared_invariances_hold(dims, name):
    n, p, q, seed = dims
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    Y = X @ rng.standard_normal((p, q)) + rng.standard_normal((n, q))
    base = repalign.compare(X, Y, name)
    Q, _ = np.linalg.qr(rng.standard_normal((q, q)))
    info = repalign.get_measure(name)
    assert set(info.invariances) >= {"orthogonal", "translation", "isotropic_scaling", "permutation"}
    assert repalign.compare(X, Y @ Q, name) == pytest.approx(base, abs=1e-9)
    assert repalign.compare(X, Y + rng.standard_normal(q) * 10, name) == pytest.approx(base, abs=1e-9)
    assert repalign.compare(X, 7.3 * Y, name) == pytest.approx(base, abs=1e-9)
    assert repalign.compare(X, Y[:, rng.permutation(q)], name) == pytest.approx(base, abs=1e-9)
    assert repalign.compare(X, Y, name) == pytest.approx(repalign.compare(Y, X, name), abs=1e-12)
    assert repalign.compare(X, X, name) == pytest.approx(1.0, abs=1e-9)


def test_not_invariant_to_invertible_linear_maps():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((200, 5))
    M = np.diag([10.0, 1.0, 1.0, 0.1, 0.1])  # invertible, far from orthogonal
    assert repalign.compare(X, X @ M, "cka") < 0.9


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_angular_triangle_inequality(seed):
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((20, 4))
    X, Y, Z = (base @ rng.standard_normal((4, 4)) + s * rng.standard_normal((20, 4)) for s in (0.3, 1.0, 3.0))
    d = lambda a, b: repalign.compare(a, b, "cka_angular")  # noqa: E731
    assert d(X, Z) <= d(X, Y) + d(Y, Z) + 1e-12
    assert d(X, X) == pytest.approx(0.0, abs=1e-6)


# ----------------------------------------------------------------------------- validation
def test_validation_errors_name_the_argument():
    rng = np.random.default_rng(8)
    X = rng.standard_normal((10, 3))
    bad = X.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"Y contains non-finite"):
        repalign.compare(X, bad, "cka")
    with pytest.raises(ValueError, match=r"same number of samples"):
        repalign.compare(X, X[:9], "cka")
    with pytest.raises(ValueError, match=r"X must be 2-D"):
        repalign.compare(X[:, 0], X, "cka")
    with pytest.raises(ValueError, match=r"at least 4"):
        repalign.compare(X[:3], X[:3], "debiased_cka")
    with pytest.raises(ValueError, match=r"zero variance"):
        repalign.compare(np.ones((10, 3)), X, "cka")
    with pytest.raises(ValueError, match=r"kernel must be"):
        repalign.compare(X, X, "cka", kernel="poly")
    with pytest.raises(ValueError, match=r"unknown parameter"):
        repalign.compare(X, X, "cka", alpha=1)
    with pytest.raises(ValueError, match=r"unknown measure"):
        repalign.compare(X, X, "no_such_measure")


def test_inputs_not_mutated_and_float32_computed_in_float64():
    rng = np.random.default_rng(9)
    X = rng.standard_normal((30, 4)).astype(np.float32)
    Y = rng.standard_normal((30, 5)).astype(np.float32)
    X0, Y0 = X.copy(), Y.copy()
    for name in ("cka", "debiased_cka", "rbf_cka"):
        repalign.compare(X, Y, name)
        repalign.pairwise([X, Y], name)
    assert np.array_equal(X, X0) and np.array_equal(Y, Y0)
    got = repalign.compare(X, Y, "cka")
    assert got == pytest.approx(repalign.compare(X.astype(np.float64), Y.astype(np.float64), "cka"), abs=1e-14)
