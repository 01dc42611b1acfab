"""Shape metrics (Williams et al. 2021) and permutation Procrustes: references, properties, validation."""

import itertools
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import inv, orthogonal_procrustes, sqrtm, subspace_angles

import repalign

SHAPE_NAMES = ["shape", "procrustes", "procrustes_euclidean", "cca_shape", "permutation_procrustes"]
PROPS = settings(max_examples=25, deadline=None)


def _rng(seed):
    return np.random.default_rng(seed)


def _orthogonal(rng, p):
    Q, R = np.linalg.qr(rng.standard_normal((p, p)))
    return Q * np.sign(np.diag(R))


def _centred(X):
    return X - X.mean(axis=0)


def _pad(X, width):
    return np.hstack([X, np.zeros((X.shape[0], width - X.shape[1]))])


def _procrustes_reference(Xphi, Yphi):
    """(euclidean, angular) from scipy's orthogonal Procrustes on zero-padded matrices."""
    w = max(Xphi.shape[1], Yphi.shape[1])
    Xp, Yp = _pad(Xphi, w), _pad(Yphi, w)
    R, _ = orthogonal_procrustes(Yp, Xp)
    euclid = np.linalg.norm(Yp @ R - Xp)
    cos = np.sum(Xp * (Yp @ R)) / (np.linalg.norm(Xp) * np.linalg.norm(Yp))
    return euclid, np.arccos(np.clip(cos, -1, 1))


def _partial_whiten_reference(X, alpha, ridge=0.0):
    Xc = _centred(X)
    n, p = Xc.shape
    C = Xc.T @ Xc / n
    B = alpha * np.eye(p) + (1 - alpha) * (C + ridge * np.trace(C) / p * np.eye(p))
    return Xc @ inv(np.real(sqrtm(B)))


# ------------------------------------------------------------------ closed forms / references
@pytest.mark.parametrize("p, q", [(5, 5), (3, 6)])
def test_procrustes_matches_scipy_orthogonal_procrustes(p, q):
    rng = _rng(0)
    X = rng.standard_normal((40, p)) + 3.0
    Y = X[:, :1] @ rng.standard_normal((1, q)) + rng.standard_normal((40, q))
    euclid, angle = _procrustes_reference(_centred(X), _centred(Y))
    assert repalign.compare(X, Y, "procrustes_euclidean") == pytest.approx(euclid, rel=1e-10)
    assert repalign.compare(X, Y, "procrustes") == pytest.approx(angle, rel=1e-10)
    assert repalign.compare(X, Y, "shape", alpha=1.0, score="euclidean") == pytest.approx(euclid, rel=1e-10)
    assert repalign.compare(X, Y, "shape") == pytest.approx(angle, rel=1e-10)


@pytest.mark.parametrize("alpha, ridge", [(0.3, 0.0), (0.7, 0.0), (0.5, 0.2), (0.0, 0.1)])
def test_partial_whitening_matches_direct_matrix_formula(alpha, ridge):
    rng = _rng(1)
    X = rng.standard_normal((30, 4)) @ rng.standard_normal((4, 4)) * 2.0
    Y = rng.standard_normal((30, 6)) @ np.diag([5, 3, 1, 0.5, 0.2, 0.1])
    euclid, angle = _procrustes_reference(
        _partial_whiten_reference(X, alpha, ridge), _partial_whiten_reference(Y, alpha, ridge)
    )
    kw = dict(alpha=alpha, ridge=ridge)
    assert repalign.compare(X, Y, "shape", score="euclidean", **kw) == pytest.approx(euclid, rel=1e-9)
    assert repalign.compare(X, Y, "shape", score="angular", **kw) == pytest.approx(angle, rel=1e-9)


@pytest.mark.parametrize("p, q", [(4, 4), (3, 5)])
def test_cca_shape_is_arccos_of_canonical_correlations(p, q):
    """Nuclear norm of the whitened cross-product = n * sum of canonical correlations."""
    rng = _rng(2)
    X = rng.standard_normal((60, p))
    Y = X[:, :2] @ rng.standard_normal((2, q)) + 0.7 * rng.standard_normal((60, q))
    rho = np.cos(subspace_angles(_centred(X), _centred(Y)))  # canonical correlations
    expected = np.arccos(rho.sum() / np.sqrt(p * q))
    if p == q:
        assert expected == pytest.approx(np.arccos(rho.mean()), rel=1e-12)
    assert repalign.compare(X, Y, "cca_shape") == pytest.approx(expected, rel=1e-9)
    assert repalign.compare(X, Y, "shape", alpha=0.0) == pytest.approx(expected, rel=1e-9)


def test_cca_shape_warns_when_whitening_fills_the_sample_space():
    rng = _rng(3)
    X, Y = rng.standard_normal((6, 8)), rng.standard_normal((6, 8))
    with pytest.warns(RuntimeWarning, match="rank"):
        assert repalign.compare(X, Y, "cca_shape") == pytest.approx(0.0, abs=1e-7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert repalign.compare(X, Y, "shape", alpha=0.0, ridge=0.5) > 0.1


def _perm_bruteforce(Xc, Yc):
    w = max(Xc.shape[1], Yc.shape[1])
    Xp, Yp = _pad(Xc, w), _pad(Yc, w)
    best = min(np.sum((Xp - Yp[:, list(P)]) ** 2) for P in itertools.permutations(range(w)))
    return np.sqrt(best)


@pytest.mark.parametrize("p, q", [(4, 4), (3, 5)])
def test_permutation_procrustes_matches_brute_force(p, q):
    rng = _rng(4)
    for _ in range(3):
        X = rng.standard_normal((12, p))
        Y = rng.standard_normal((12, q))
        Y[:, 0] += X[:, 0]
        Xc, Yc = _centred(X), _centred(Y)
        euclid = _perm_bruteforce(Xc, Yc)
        assert repalign.compare(X, Y, "permutation_procrustes", score="euclidean") == pytest.approx(euclid, rel=1e-10)
        nX, nY = np.linalg.norm(Xc), np.linalg.norm(Yc)
        chord = _perm_bruteforce(Xc / nX, Yc / nY)
        assert repalign.compare(X, Y, "permutation_procrustes") == pytest.approx(2 * np.arcsin(chord / 2), rel=1e-10)


def test_permutation_procrustes_recovers_shuffled_units_but_not_rotations():
    rng = _rng(5)
    X = rng.standard_normal((30, 6)) @ np.diag([3, 2, 1.5, 1, 0.5, 0.2])
    perm = rng.permutation(6)
    assert repalign.compare(X, X[:, perm] + 4.0, "permutation_procrustes") < 1e-7
    assert repalign.compare(X, X @ _orthogonal(rng, 6), "permutation_procrustes") > 0.1
    assert repalign.compare(X, X @ _orthogonal(rng, 6), "procrustes") < 1e-7


# ------------------------------------------------------------------ declarations
def test_declared_invariances_are_exactly_the_ones_that_hold_for_all_parameters():
    info = {m.name: m for m in repalign.measures()}
    assert set(info["shape"].invariances) == {"translation", "orthogonal", "permutation"}
    assert "isotropic_scaling" in info["procrustes"].invariances
    assert "isotropic_scaling" not in info["procrustes_euclidean"].invariances
    assert {"invertible_linear", "isotropic_scaling"} <= set(info["cca_shape"].invariances)
    assert "orthogonal" not in info["permutation_procrustes"].invariances
    for name in SHAPE_NAMES:
        assert info[name].is_metric and info[name].kind == "distance" and info[name].matched_samples
    # presets are fixed: their declarations could not be kept if alpha/score were changed
    with pytest.raises(ValueError, match="unknown parameter"):
        repalign.get_measure("procrustes", alpha=0.5)


def test_partial_whitening_is_not_scale_invariant():
    """Why 'shape' (0 < alpha < 1) and the euclidean score do not declare isotropic_scaling."""
    rng = _rng(6)
    X = rng.standard_normal((40, 4)) @ np.diag([4, 2, 1, 0.3])
    Y = X @ np.diag([0.5, 1, 2, 6]) + 0.3 * rng.standard_normal((40, 4))
    d = repalign.compare(X, Y, "shape", alpha=0.5)
    assert abs(repalign.compare(X, 10 * Y, "shape", alpha=0.5) - d) > 1e-2
    e = repalign.compare(X, Y, "procrustes_euclidean")
    assert abs(repalign.compare(X, 10 * Y, "procrustes_euclidean") - e) > 1
    a = repalign.compare(X, Y, "procrustes")
    assert repalign.compare(X, 10 * Y, "procrustes") == pytest.approx(a, rel=1e-10)


# ------------------------------------------------------------------ property tests
def _transform(kind, Y, rng):
    p = Y.shape[1]
    if kind == "translation":
        return Y + rng.normal(0, 5, size=p)
    if kind == "isotropic_scaling":
        return Y * rng.uniform(0.1, 10)
    if kind == "orthogonal":
        return Y @ _orthogonal(rng, p)
    if kind == "permutation":
        return Y[:, rng.permutation(p)]
    if kind == "invertible_linear":
        return Y @ (_orthogonal(rng, p) @ np.diag(rng.uniform(0.3, 3, p)) @ _orthogonal(rng, p))
    raise AssertionError(kind)


measure_configs = st.one_of(
    st.sampled_from([(n, {}) for n in SHAPE_NAMES[1:]]),
    st.builds(
        lambda a, s, r: ("shape", {"alpha": a, "score": s, "ridge": r}),
        st.sampled_from([0.0, 0.25, 0.5, 1.0]),
        st.sampled_from(["angular", "euclidean"]),
        st.sampled_from([0.0, 0.1]),
    ),
    st.sampled_from([("permutation_procrustes", {"score": "euclidean"})]),
)


@PROPS
@given(cfg=measure_configs, seed=st.integers(0, 2**32 - 1), p=st.integers(1, 5), q=st.integers(1, 5))
def test_identity_symmetry_and_declared_invariances(cfg, seed, p, q):
    name, params = cfg
    rng = _rng(seed)
    n = 12
    X = rng.standard_normal((n, p)) @ rng.standard_normal((p, p))
    Y = rng.standard_normal((n, q)) + X[:, :1]
    m = repalign.get_measure(name, **params)
    scale = np.sqrt(n) * max(np.abs(X).max(), np.abs(Y).max()) if {**getattr(m, "fixed", {}), **m.params}.get("score") == "euclidean" else 1.0
    assert repalign.compare(X, X, m) == pytest.approx(0.0, abs=1e-9 * scale)
    d = repalign.compare(X, Y, m)
    assert repalign.compare(Y, X, m) == pytest.approx(d, rel=1e-9, abs=1e-12)
    for kind in m.info().invariances:
        gY = _transform(kind, Y, rng)
        assert repalign.compare(X, gY, m) == pytest.approx(d, rel=1e-7, abs=1e-9 * scale), kind


@PROPS
@given(cfg=measure_configs, seed=st.integers(0, 2**32 - 1), widths=st.lists(st.integers(1, 4), min_size=3, max_size=3))
def test_triangle_inequality(cfg, seed, widths):
    name, params = cfg
    rng = _rng(seed)
    base = rng.standard_normal((10, 2))
    A, B, C = (np.hstack([base[:, :1], rng.standard_normal((10, w))]) for w in widths)
    m = repalign.get_measure(name, **params)
    D = repalign.pairwise([A, B, C], m)
    for i, j, k in itertools.permutations(range(3)):
        assert D[i, k] <= D[i, j] + D[j, k] + 1e-9 * (1 + D.max())


@pytest.mark.parametrize("name", ["procrustes", "procrustes_euclidean", "permutation_procrustes"])
def test_not_invariant_to_non_orthogonal_linear_maps(name):
    rng = _rng(7)
    X = rng.standard_normal((30, 4))
    Y = rng.standard_normal((30, 4)) + X
    M = np.diag([5.0, 1.0, 0.3, 1.0]) @ _orthogonal(rng, 4)
    assert abs(repalign.compare(X, Y @ M, name) - repalign.compare(X, Y, name)) > 1e-2


def test_cca_shape_invariant_to_invertible_maps_on_rank_deficient_data():
    rng = _rng(8)
    X = rng.standard_normal((25, 2)) @ rng.standard_normal((2, 5))  # rank 2 in 5 features
    Y = rng.standard_normal((25, 3))
    M = rng.standard_normal((5, 5)) + 3 * np.eye(5)
    d = repalign.compare(X, Y, "cca_shape")
    assert repalign.compare(X @ M, Y, "cca_shape") == pytest.approx(d, rel=1e-8)


# ------------------------------------------------------------------ validation and API
@pytest.mark.parametrize("name", SHAPE_NAMES)
def test_validation_errors(name):
    rng = _rng(9)
    X, Y = rng.standard_normal((10, 3)), rng.standard_normal((10, 4))
    bad = X.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        repalign.compare(bad, Y, name)
    with pytest.raises(ValueError, match="2-D"):
        repalign.compare(X[:, 0], Y, name)
    with pytest.raises(ValueError, match="same number of samples"):
        repalign.compare(X, Y[:9], name)
    with pytest.raises(ValueError, match="zero variance"):
        repalign.compare(X, np.ones((10, 4)), name)
    with pytest.raises(ValueError, match="at least 2"):
        repalign.compare(X[:1], Y[:1], name)


@pytest.mark.parametrize(
    "params, match",
    [({"alpha": 1.5}, "alpha"), ({"alpha": "1"}, "alpha"), ({"score": "cosine"}, "score"), ({"ridge": -1}, "ridge")],
)
def test_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        repalign.get_measure("shape", **params)


@pytest.mark.parametrize("name", SHAPE_NAMES)
def test_inputs_not_mutated_and_pairwise_equals_compare(name):
    rng = _rng(10)
    systems = [rng.standard_normal((15, w)) + 1.0 for w in (3, 4, 4, 2)]
    copies = [s.copy() for s in systems]
    D = repalign.pairwise(systems, name)
    for s, c in zip(systems, copies):
        assert np.array_equal(s, c)
    loop = np.array([[repalign.compare(a, b, name) for b in systems] for a in systems])
    np.testing.assert_allclose(D, loop, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(repalign.pairwise(systems[:2], name, others=systems[2:]), loop[:2, 2:], rtol=1e-12)


def test_small_distances_are_accurate():
    """No 1 - cos cancellation: a 1e-9 perturbation gives a ~1e-9 distance, as the explicit residual does."""
    rng = _rng(11)
    X = rng.standard_normal((50, 4))
    Y = X @ _orthogonal(rng, 4) + 1e-9 * rng.standard_normal((50, 4))
    euclid, _ = _procrustes_reference(_centred(X), _centred(Y))
    assert 1e-9 < euclid < 1e-7
    assert repalign.compare(X, Y, "procrustes_euclidean") == pytest.approx(euclid, rel=1e-5)
    angle = repalign.compare(X, Y, "procrustes")
    assert angle == pytest.approx(euclid / np.linalg.norm(_centred(X)), rel=1e-4)


@pytest.mark.parametrize("score", ["angular", "euclidean"])
def test_full_whitening_is_scale_free_and_ridge_breaks_only_linear_invariance(score):
    rng = _rng(12)
    X = rng.standard_normal((30, 4))
    Y = X @ rng.standard_normal((4, 5)) + rng.standard_normal((30, 5))
    M = rng.standard_normal((5, 5)) + 2 * np.eye(5)
    for ridge in (0.0, 0.3):
        d = repalign.compare(X, Y, "shape", alpha=0.0, ridge=ridge, score=score)
        assert repalign.compare(X, 7 * Y, "shape", alpha=0.0, ridge=ridge, score=score) == pytest.approx(d, rel=1e-10)
        shifted = repalign.compare(X, Y @ M, "shape", alpha=0.0, ridge=ridge, score=score)
        if ridge == 0.0:
            assert shifted == pytest.approx(d, rel=1e-8)
        else:
            assert abs(shifted - d) > 1e-3 * d
