"""Spectral Wasserstein: closed forms on the real line, brute-force LP, POT, dsa-metric."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog
from scipy.stats import wasserstein_distance

import repalign
from repalign.dynamics.dmd import DMD
from repalign.dynamics.spectral import spectral_wasserstein


def _quantile_w2(a, b, grid=200_000):
    """W2 between uniform measures on the real line: L2 distance of the quantile functions."""
    q = (np.arange(grid) + 0.5) / grid
    qa = np.sort(a)[np.minimum((q * len(a)).astype(int), len(a) - 1)]
    qb = np.sort(b)[np.minimum((q * len(b)).astype(int), len(b) - 1)]
    return np.sqrt(np.mean((qa - qb) ** 2))


def _dense_lp(a, b, p):
    """Brute-force transport LP with dense constraints (independent of the sparse one used)."""
    n, m = len(a), len(b)
    cost = np.abs(a[:, None] - b[None, :]) ** p
    A_eq = np.zeros((n + m, n * m))
    for i in range(n):
        A_eq[i, i * m:(i + 1) * m] = 1
    for j in range(m):
        A_eq[n + j, j::m] = 1
    b_eq = np.r_[np.full(n, 1 / n), np.full(m, 1 / m)]
    return linprog(cost.ravel(), A_eq=A_eq, b_eq=b_eq, bounds=(0, None)).fun ** (1 / p)


def test_equal_sizes_on_the_real_line_is_sorted_matching():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(7), rng.standard_normal(7) + 0.5
    d = np.sort(a) - np.sort(b)
    assert spectral_wasserstein(a, b, p=1) == pytest.approx(np.mean(np.abs(d)), rel=1e-12)
    assert spectral_wasserstein(a, b, p=2) == pytest.approx(np.sqrt(np.mean(d**2)), rel=1e-12)
    assert spectral_wasserstein(a, b, p=1) == pytest.approx(wasserstein_distance(a, b), rel=1e-12)


def test_different_sizes_on_the_real_line():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(5), rng.standard_normal(8) * 2
    assert spectral_wasserstein(a, b, p=1) == pytest.approx(wasserstein_distance(a, b), rel=1e-9)
    assert spectral_wasserstein(a, b, p=2) == pytest.approx(_quantile_w2(a, b), rel=1e-4)


@pytest.mark.parametrize("n,m", [(4, 4), (3, 6), (7, 2)])
@pytest.mark.parametrize("p", [1, 2])
def test_complex_sets_against_brute_force_lp_and_pot(n, m, p):
    rng = np.random.default_rng(10 * n + m)
    a = rng.standard_normal(n) + 1j * rng.standard_normal(n)
    b = rng.standard_normal(m) + 1j * rng.standard_normal(m)
    got = spectral_wasserstein(a, b, p=p)
    assert got == pytest.approx(_dense_lp(a, b, p), rel=1e-8)
    import ot
    cost = np.abs(a[:, None] - b[None, :]) ** p
    ref = ot.emd2(np.full(n, 1 / n), np.full(m, 1 / m), cost) ** (1 / p)
    assert got == pytest.approx(ref, rel=1e-8)


def test_closed_form_for_conjugate_pairs():
    # {e^{+-i t}} vs {r e^{+-i t}}: each point moves radially by |1 - r|
    t, r = 0.7, 0.6
    a = np.exp(1j * np.array([t, -t]))
    assert spectral_wasserstein(a, r * a, p=2) == pytest.approx(1 - r, rel=1e-12)
    assert spectral_wasserstein(a, a.conj(), p=1) == pytest.approx(0.0, abs=1e-15)


def test_padding_reproduces_dsa_metric_squared_w2():
    from DSA import simdist as simdist
    rng = np.random.default_rng(2)
    A, B = rng.standard_normal((5, 5)) / 3, rng.standard_normal((3, 3)) / 2
    ea, eb = np.linalg.eigvals(A), np.linalg.eigvals(B)
    theirs = simdist.SimilarityTransformDist(score_method="wasserstein").fit_score(A, B)
    assert spectral_wasserstein(ea, eb, p=2, pad=True) ** 2 == pytest.approx(theirs, rel=1e-4)  # float32 there
    assert spectral_wasserstein(ea, eb, p=2, pad=False) != pytest.approx(theirs ** 0.5, rel=1e-2)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), sizes=st.tuples(st.integers(1, 6), st.integers(1, 6), st.integers(1, 6)),
       p=st.sampled_from([1, 2]))
def test_metric_axioms(seed, sizes, p):
    rng = np.random.default_rng(seed)
    x, y, z = (rng.standard_normal(k) + 1j * rng.standard_normal(k) for k in sizes)
    dxy, dyz, dxz = (spectral_wasserstein(u, v, p=p) for u, v in ((x, y), (y, z), (x, z)))
    assert spectral_wasserstein(x, x, p=p) == pytest.approx(0.0, abs=1e-12)
    assert dxy == pytest.approx(spectral_wasserstein(y, x, p=p), rel=1e-8, abs=1e-12)
    assert dxz <= dxy + dyz + 1e-9


def test_errors_and_no_mutation():
    a = np.array([0.5 + 0.1j, 0.5 - 0.1j])
    before = a.copy()
    spectral_wasserstein(a, np.array([0.2, 0.3, 0.1]), p=2)
    np.testing.assert_array_equal(a, before)
    with pytest.raises(ValueError, match="p must be 1 or 2"):
        spectral_wasserstein(a, a, p=3)
    with pytest.raises(ValueError, match="non-empty 1-D"):
        spectral_wasserstein(a, np.array([]))
    with pytest.raises(ValueError, match="eig_b contains non-finite"):
        spectral_wasserstein(a, np.array([np.nan]))


def test_registered_measure():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, 3)).cumsum(axis=0) * 0.05 + rng.standard_normal((300, 3))
    Y = rng.standard_normal((2, 200, 3))
    kw = dict(n_delays=3, rank=5)
    got = repalign.compare(X, Y, "spectral_wasserstein", p=2, **kw)
    ref = spectral_wasserstein(DMD(**kw).fit(X).eigenvalues, DMD(**kw).fit(Y).eigenvalues, p=2)
    assert got == pytest.approx(ref, rel=1e-12) and got > 0.05
    Q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    assert repalign.compare(X, 2.5 * X @ Q, "spectral_wasserstein", **kw) < 1e-8
    info = repalign.get_measure("spectral_wasserstein").info()
    assert info.input == "trials" and not info.matched_samples and info.kind == "distance"
    with pytest.raises(ValueError, match="p must be 1 or 2"):
        repalign.get_measure("spectral_wasserstein", p=0)
