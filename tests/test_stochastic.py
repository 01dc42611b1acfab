"""Bures / 2-Wasserstein distance between Gaussian fits: references, alignment, properties, validation."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import expm, sqrtm
from scipy.optimize import minimize

import repalign
from _helpers import assert_pairwise_matches_compare, assert_rejects_bad_arrays, orthogonal, transform

PROPS = settings(max_examples=25, deadline=None)


def _fit(X):
    mu = X.mean(axis=0)
    return mu, np.cov(X, rowvar=False, bias=True).reshape(X.shape[1], X.shape[1])


def _w2_reference(mx, Sx, my, Sy, means=True):
    """The textbook formula with scipy's matrix square root."""
    rx = np.real(sqrtm(Sx))
    cross = np.real(sqrtm(rx @ Sy @ rx))
    sq = np.trace(Sx) + np.trace(Sy) - 2 * np.trace(cross)
    if means:
        sq += np.sum((mx - my) ** 2)
    return np.sqrt(max(sq, 0.0))


def _with_covariance(rng, n, V, evals, mean):
    """n samples whose mean and (divisor-n) covariance are exactly ``mean`` and V diag(evals) V^T."""
    p = len(evals)
    W, _ = np.linalg.qr(rng.standard_normal((n, p + 1)))
    W = W[:, 1:] - W[:, 1:].mean(axis=0)  # centred columns ...
    W, _ = np.linalg.qr(W)  # ... orthonormalised again (still centred)
    return np.sqrt(n) * W @ np.diag(np.sqrt(evals)) @ V.T + mean


# ------------------------------------------------------------------ closed forms / references
@pytest.mark.parametrize("means", [True, False])
def test_bures_matches_sqrtm_formula(means):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 4)) @ rng.standard_normal((4, 4)) + 1.0
    Y = rng.standard_normal((50, 4)) @ np.diag([3, 1, 0.5, 0.1]) - 2.0
    expected = _w2_reference(*_fit(X), *_fit(Y), means=means)
    assert repalign.compare(X, Y, "bures", means=means) == pytest.approx(expected, rel=1e-9)


def test_bures_normalize_rescales_the_whole_distribution():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((60, 3)) @ rng.standard_normal((3, 3)) + 2.0
    Y = rng.standard_normal((70, 3)) * [2, 1, 0.2] + 1.0
    (mx, Sx), (my, Sy) = _fit(X), _fit(Y)
    cx, cy = 1 / np.sqrt(np.trace(Sx)), 1 / np.sqrt(np.trace(Sy))
    expected = _w2_reference(cx * mx, cx**2 * Sx, cy * my, cy**2 * Sy)
    assert repalign.compare(X, Y, "bures", normalize=True) == pytest.approx(expected, rel=1e-9)
    assert repalign.compare(X, 7.0 * Y, "bures", normalize=True) == pytest.approx(expected, rel=1e-9)


def test_bures_for_commuting_covariances_is_distance_of_root_spectra():
    rng = np.random.default_rng(2)
    V = orthogonal(rng, 4)
    a, b = np.array([4.0, 1.0, 0.25, 2.0]), np.array([1.0, 1.0, 1.0, 0.5])
    ma, mb = rng.standard_normal(4), rng.standard_normal(4)
    X = _with_covariance(rng, 40, V, a, ma)
    Y = _with_covariance(rng, 55, V, b, mb)
    np.testing.assert_allclose(_fit(X)[1], V @ np.diag(a) @ V.T, atol=1e-12)
    expected = np.sqrt(np.sum((np.sqrt(a) - np.sqrt(b)) ** 2) + np.sum((ma - mb) ** 2))
    assert repalign.compare(X, Y, "bures") == pytest.approx(expected, rel=1e-10)
    # aligned: eigenvalues matched in sorted order, not in the shared basis's order
    aligned = np.sqrt(np.sum((np.sqrt(np.sort(a)) - np.sqrt(np.sort(b))) ** 2))
    assert repalign.compare(X, Y, "bures", align="orthogonal") == pytest.approx(aligned, rel=1e-10)
    assert aligned < expected


def test_constant_system_is_a_point_mass_unless_normalised():
    rng = np.random.default_rng(3)
    Y = rng.standard_normal((30, 3)) + 1.0
    point = np.tile([0.5, -1.0, 2.0], (10, 1))
    my, Sy = _fit(Y)
    expected = np.sqrt(np.sum((my - point[0]) ** 2) + np.trace(Sy))
    assert repalign.compare(point, Y, "bures") == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="zero variance"):
        repalign.compare(point, Y, "bures", normalize=True)
    with pytest.raises(ValueError, match="zero variance"):
        repalign.compare(point, Y, "bures_spectral")


# ------------------------------------------------------------------ alignment over rotations
def _psd_sqrt(S):
    lam, V = np.linalg.eigh(S)
    return (V * np.sqrt(lam.clip(0))) @ V.T


def _sq_bures(Sx, Sy):
    """Squared Bures distance, with eigh square roots (cheap enough for an optimiser's inner loop)."""
    rx = _psd_sqrt(Sx)
    return np.trace(Sx) + np.trace(Sy) - 2 * np.trace(_psd_sqrt(rx @ Sy @ rx))


def _skew(theta, p):
    A = np.zeros((p, p))
    A[np.triu_indices(p, 1)] = theta
    return A - A.T


def test_aligned_bures_equals_brute_force_minimum_over_rotations():
    rng = np.random.default_rng(4)
    p = 3
    X = rng.standard_normal((60, p)) @ rng.standard_normal((p, p))
    Y = rng.standard_normal((40, p)) @ rng.standard_normal((p, p)) + 3.0
    Sx, Sy = _fit(X)[1], _fit(Y)[1]
    closed = repalign.compare(X, Y, "bures", align="orthogonal")
    # random rotations/reflections never do better than the closed form
    for _ in range(100):
        Q = orthogonal(rng, p)
        assert np.sqrt(_sq_bures(Sx, Q.T @ Sy @ Q)) >= closed - 1e-9
    # a local optimiser over SO(3) from several starts reaches it (reflections are not needed:
    # S_y is unchanged by reflecting along its own eigenvectors)
    best = min(
        minimize(lambda t: _sq_bures(Sx, expm(_skew(t, p)).T @ Sy @ expm(_skew(t, p))), rng.uniform(-3, 3, 3)).fun
        for _ in range(4)
    )
    assert np.sqrt(max(best, 0)) == pytest.approx(closed, rel=1e-5, abs=1e-7)


@pytest.mark.parametrize("normalize", [False, True])
def test_aligned_bures_is_zero_for_an_exactly_rotated_and_shifted_system(normalize):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((50, 4)) @ rng.standard_normal((4, 4))
    Y = X[rng.permutation(50)] @ orthogonal(rng, 4) + rng.normal(0, 5, 4)
    assert repalign.compare(X, Y, "bures", align="orthogonal", normalize=normalize) < 1e-12
    assert repalign.compare(X, Y, "bures") > 1.0


def test_bures_spectral_is_the_dsa_helpers_call_and_compares_normalised_spectra():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((200, 2)) @ np.array([[2.0, 0.3], [0.0, 0.5]])
    Y = rng.standard_normal((150, 3)) @ np.diag([1.0, 0.6, 0.1])
    lx = np.sort(np.linalg.eigvalsh(np.cov(X, rowvar=False)))[::-1]
    ly = np.sort(np.linalg.eigvalsh(np.cov(Y, rowvar=False)))[::-1]
    lx, ly = np.append(lx / lx.sum(), 0.0), ly / ly.sum()
    expected = np.sqrt(np.sum((np.sqrt(lx) - np.sqrt(ly)) ** 2))
    assert repalign.compare(X, Y, "bures", align="orthogonal", normalize=True) == pytest.approx(expected, rel=1e-10)
    assert repalign.compare(X, Y, "bures_spectral") == pytest.approx(expected, rel=1e-10)


@pytest.mark.filterwarnings("ignore:Matrix is singular")  # scipy's sqrtm of the padded reference
def test_different_widths_are_zero_padded():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((40, 2)) + 1.0
    Y = rng.standard_normal((30, 4)) @ rng.standard_normal((4, 4))
    Xp = np.hstack([X, np.zeros((40, 2))])
    for params in ({}, {"align": "orthogonal"}, {"normalize": True}):
        assert repalign.compare(X, Y, "bures", **params) == pytest.approx(
            repalign.compare(Xp, Y, "bures", **params), rel=1e-12
        )
    assert repalign.compare(X, Y, "bures") == pytest.approx(_w2_reference(*_fit(Xp), *_fit(Y)), rel=1e-9)


# ------------------------------------------------------------------ property tests
configs = st.one_of(
    st.sampled_from([("bures_spectral", {})]),
    st.builds(
        lambda a, nz, mn: ("bures", {"align": a, "normalize": nz, "means": mn}),
        st.sampled_from(["none", "orthogonal"]),
        st.booleans(),
        st.booleans(),
    ),
)


@PROPS
@given(cfg=configs, seed=st.integers(0, 2**32 - 1), p=st.integers(1, 4), q=st.integers(1, 4))
def test_identity_symmetry_and_declared_invariances(cfg, seed, p, q):
    name, params = cfg
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((int(rng.integers(2, 20)), p)) @ rng.standard_normal((p, p)) + rng.normal(0, 2, p)
    Y = rng.standard_normal((int(rng.integers(2, 20)), q)) + 1.0
    m = repalign.get_measure(name, **params)
    assert repalign.compare(X, X, m) == pytest.approx(0.0, abs=1e-9 * (1 + np.abs(X).max()))
    d = repalign.compare(X, Y, m)
    assert repalign.compare(Y, X, m) == pytest.approx(d, rel=1e-9, abs=1e-12)
    for kind in m.info().invariances:
        assert repalign.compare(X, transform(kind, Y, rng), m) == pytest.approx(d, rel=1e-7, abs=1e-9), kind


@PROPS
@given(cfg=configs, seed=st.integers(0, 2**32 - 1), widths=st.lists(st.integers(1, 4), min_size=3, max_size=3))
def test_triangle_inequality(cfg, seed, widths):
    name, params = cfg
    rng = np.random.default_rng(seed)
    systems = [
        rng.standard_normal((int(rng.integers(3, 15)), w)) * rng.uniform(0.2, 3, w) + rng.normal(0, 1, w)
        for w in widths
    ]
    D = repalign.pairwise(systems, name, **params)
    for i, j, k in itertools.permutations(range(3)):
        assert D[i, k] <= D[i, j] + D[j, k] + 1e-9 * (1 + D.max())


def test_non_invariances():
    rng = np.random.default_rng(8)
    X = rng.standard_normal((50, 3)) * [3, 1, 0.3]
    Y = rng.standard_normal((60, 3)) * [2, 1, 0.5]
    d = repalign.compare(X, Y, "bures")
    assert abs(repalign.compare(X, Y @ orthogonal(rng, 3), "bures") - d) > 1e-2
    assert abs(repalign.compare(X, Y + 1.0, "bures") - d) > 1e-2
    assert abs(repalign.compare(X, 3 * Y, "bures") - d) > 1e-2
    s = repalign.compare(X, Y, "bures_spectral")
    assert abs(repalign.compare(X, Y * [5, 1, 1], "bures_spectral") - s) > 1e-2  # non-isotropic scaling
    info = {m.name: m for m in repalign.measures()}
    assert set(info["bures"].invariances) == {"sample_permutation"}
    assert not info["bures"].matched_samples and info["bures"].is_metric


# ------------------------------------------------------------------ validation and API
@pytest.mark.parametrize("name", ["bures", "bures_spectral"])
def test_validation_errors(name):
    rng = np.random.default_rng(9)
    X, Y = rng.standard_normal((10, 3)), rng.standard_normal((14, 4))
    assert_rejects_bad_arrays(X, Y, name)
    with pytest.raises(ValueError, match="at least 2"):
        repalign.compare(X[:1], Y, name)
    assert np.isfinite(repalign.compare(X, Y, name))  # unmatched samples are fine


@pytest.mark.parametrize(
    "params, match", [({"align": "rotation"}, "align"), ({"normalize": "yes"}, "normalize"), ({"means": 1}, "means")]
)
def test_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        repalign.get_measure("bures", **params)


@pytest.mark.parametrize("name, params", [("bures", {}), ("bures", {"align": "orthogonal"}), ("bures_spectral", {})])
def test_inputs_not_mutated_and_pairwise_equals_compare(name, params):
    rng = np.random.default_rng(10)
    shapes = ((15, 3), (20, 2), (9, 4), (30, 3))  # unmatched samples and widths
    systems = [rng.standard_normal((n, w)) * rng.uniform(0.5, 2, w) + 1.0 for n, w in shapes]
    assert_pairwise_matches_compare(systems, name, rtol=1e-12, atol=1e-12, **params)


def test_small_distances_are_accurate():
    """No cancellation in tr S_x + tr S_y - 2 tr(...): a 1e-10 relative change gives a ~1e-10 distance."""
    rng = np.random.default_rng(11)
    V = orthogonal(rng, 3)
    a = np.array([3.0, 1.0, 0.5])
    b = a * (1 + 2e-10)
    X = _with_covariance(rng, 40, V, a, np.zeros(3))
    Y = _with_covariance(rng, 30, V, b, np.zeros(3))
    expected = np.sqrt(np.sum((np.sqrt(a) - np.sqrt(b)) ** 2))  # = 1e-10 * sqrt(sum a)
    assert repalign.compare(X, Y, "bures") == pytest.approx(expected, rel=1e-3)
    assert repalign.compare(X, Y, "bures", align="orthogonal") == pytest.approx(expected, rel=1e-3)


@pytest.mark.filterwarnings("ignore:Matrix is singular")
def test_more_units_than_samples_uses_no_square_covariance_but_agrees():
    rng = np.random.default_rng(12)
    X = rng.standard_normal((5, 8)) + 1.0
    Y = rng.standard_normal((7, 8)) * 2.0
    expected = _w2_reference(*_fit(X), *_fit(Y))  # sqrtm of rank-deficient matrices: ~1e-8 accurate
    assert repalign.compare(X, Y, "bures") == pytest.approx(expected, rel=1e-6)
    lx = np.linalg.eigvalsh(_fit(X)[1])[::-1].clip(0)
    ly = np.linalg.eigvalsh(_fit(Y)[1])[::-1].clip(0)
    spectral = np.sqrt(np.sum((np.sqrt(lx) - np.sqrt(ly)) ** 2))
    assert repalign.compare(X, Y, "bures", align="orthogonal") == pytest.approx(spectral, rel=1e-6)
