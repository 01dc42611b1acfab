"""HAVOK DMD: closed forms, within-trial pairing, rank criteria, prediction, dsa-metric parity."""

import numpy as np
import pytest

from repalign.dynamics.dmd import DMD
from repalign.dynamics.embedding import delay_embed


def _rotation_block(rho, theta):
    c, s = np.cos(theta), np.sin(theta)
    return rho * np.array([[c, -s], [s, c]])


def _known_system(seed=0):
    """A 4-unit linear system with eigenvalues 0.95 e^{+-0.3i}, 0.8, -0.5 in a random basis."""
    rng = np.random.default_rng(seed)
    D = np.zeros((4, 4))
    D[:2, :2] = _rotation_block(0.95, 0.3)
    D[2, 2], D[3, 3] = 0.8, -0.5
    P = rng.standard_normal((4, 4))
    return P @ D @ np.linalg.inv(P), np.array([0.95 * np.exp(0.3j), 0.95 * np.exp(-0.3j), 0.8, -0.5])


def _simulate(A, trials, T, rng, noise=0.0):
    X = np.empty((trials, T, A.shape[0]))
    X[:, 0] = rng.standard_normal((trials, A.shape[0]))
    for t in range(T - 1):
        X[:, t + 1] = X[:, t] @ A.T + noise * rng.standard_normal((trials, A.shape[0]))
    return X


def _sorted(e):
    return np.sort_complex(np.round(e, 10))


@pytest.mark.parametrize("n_delays", [1, 3])
def test_recovers_eigenvalues_of_noiseless_system(n_delays):
    A, eigs = _known_system()
    X = _simulate(A, 3, 40, np.random.default_rng(1))
    dmd = DMD(n_delays=n_delays).fit(X)
    assert dmd.rank == 4  # numerical rank of the embedding: 4 states, however many delays
    np.testing.assert_allclose(_sorted(dmd.eigenvalues), _sorted(eigs), atol=1e-8)
    assert dmd.fit_error < 1e-20
    # the full operator acts as A on the current-state block
    if n_delays == 1:
        np.testing.assert_allclose(dmd.A_havok_dmd, A, atol=1e-9)


@pytest.mark.parametrize("steps_ahead", [1, 3])
def test_predicts_held_out_trials_exactly(steps_ahead):
    A, _ = _known_system()
    rng = np.random.default_rng(2)
    dmd = DMD(n_delays=2, delay_interval=2, steps_ahead=steps_ahead).fit(_simulate(A, 3, 50, rng))
    test = _simulate(A, 2, 30, rng)
    pred = dmd.predict(test)
    assert pred.shape == test.shape
    w = 2 + steps_ahead
    assert dmd.warmup == w and np.all(np.isnan(pred[:, :w]))
    np.testing.assert_allclose(pred[:, w:], test[:, w:], atol=1e-9 * np.abs(test).max())
    assert dmd.prediction_error(test) < 1e-18
    assert dmd.predict(test[0]).shape == test[0].shape
    ragged = dmd.predict([test[0], test[1, :12]])
    assert isinstance(ragged, list) and ragged[1].shape == (12, 4)
    np.testing.assert_array_equal(ragged[1], pred[1, :12])


def test_prediction_error_is_large_for_a_wrong_model():
    A, _ = _known_system()
    rng = np.random.default_rng(3)
    dmd = DMD().fit(_simulate(A, 2, 40, rng))
    other = _simulate(-A.T, 2, 40, rng)
    assert dmd.prediction_error(other) > 0.1


def _within_trial_reference(trials, n_delays, interval):
    """Least squares h_{t+1} ~ M h_t over pairs inside each trial, solved directly."""
    Hs = [delay_embed(t, n_delays, interval) for t in trials]
    cur = np.vstack([h[:-1] for h in Hs])
    nxt = np.vstack([h[1:] for h in Hs])
    return np.linalg.lstsq(cur, nxt, rcond=None)[0].T


@pytest.mark.parametrize("n_delays,interval", [(1, 1), (2, 3)])
def test_pairs_never_cross_trial_boundaries(n_delays, interval):
    rng = np.random.default_rng(4)
    A = _rotation_block(0.9, 0.4)
    t1 = _simulate(A, 1, 60, rng, noise=0.1)[0]
    t2 = _simulate(A, 1, 45, rng, noise=0.1)[0] + 25.0  # a jump at the junction if concatenated
    ref = _within_trial_reference([t1, t2], n_delays, interval)
    dmd = DMD(n_delays=n_delays, delay_interval=interval).fit([t1, t2])
    np.testing.assert_allclose(dmd.A_havok_dmd, ref, atol=1e-9)
    glued = DMD(n_delays=n_delays, delay_interval=interval).fit(np.vstack([t1, t2]))
    assert np.abs(glued.A_havok_dmd - ref).max() > 1e-3  # the test can tell the difference


def test_rank_criteria_against_independent_svd():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((2, 80, 3)).cumsum(axis=1)
    H = np.vstack([delay_embed(x, 4, 2) for x in X])
    s = np.linalg.svd(H, compute_uv=False)
    assert DMD(n_delays=4, delay_interval=2).fit(X).rank == 12
    thr = (s[4] + s[5]) / 2
    assert DMD(n_delays=4, delay_interval=2, rank_thresh=thr).fit(X).rank == 5
    ev = np.cumsum(s**2) / np.sum(s**2)
    target = (ev[2] + ev[3]) / 2  # needs 4 components
    dmd = DMD(n_delays=4, delay_interval=2, rank_explained_variance=target).fit(X)
    assert dmd.rank == 4 and dmd.A_v.shape == (4, 4)
    np.testing.assert_allclose(dmd.singular_values, s, rtol=1e-10)
    np.testing.assert_allclose(dmd.explained_variance, ev, rtol=1e-10)


def test_rank_errors():
    X = np.random.default_rng(6).standard_normal((50, 3))
    with pytest.raises(ValueError, match="at most one of"):
        DMD(rank=2, rank_thresh=0.1)
    with pytest.raises(ValueError, match="rank=7 exceeds"):
        DMD(n_delays=2, rank=7).fit(X)  # embedding dimension is 6
    with pytest.raises(ValueError, match="rank must be"):
        DMD(rank=0)
    with pytest.raises(ValueError, match="rank_explained_variance"):
        DMD(rank_explained_variance=1.5)
    with pytest.raises(ValueError, match="lamb"):
        DMD(lamb=-1.0)
    with pytest.raises(ValueError, match="lamb"):
        DMD(lamb=float("nan"))
    with pytest.raises(ValueError, match="rank_thresh"):
        DMD(rank_thresh="0.1")
    with pytest.raises(ValueError, match="steps_ahead"):
        DMD(steps_ahead=0)


def test_invalid_data_and_no_mutation():
    X = np.random.default_rng(7).standard_normal((2, 30, 3))
    before = X.copy()
    dmd = DMD(n_delays=3, rank=4).fit(X)
    dmd.predict(X)
    np.testing.assert_array_equal(X, before)
    bad = X.copy()
    bad[1, 5, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        DMD().fit(bad)
    with pytest.raises(ValueError, match=r"X\[1\] has 5 time points.*need at least 6"):
        DMD(n_delays=3, delay_interval=2).fit([X[0], X[1, :5]])
    with pytest.raises(ValueError, match="not fitted"):
        DMD().predict(X)
    with pytest.raises(ValueError, match="units"):
        dmd.predict(X[..., :2])
    with pytest.raises(ValueError, match="zero"):
        DMD().fit(np.zeros((10, 2)))
    # unit 1 is non-zero only at the last time point: it never appears as a current state
    singular = np.zeros((10, 2))
    singular[:, 0], singular[-1, 1] = np.arange(10.0), 1.0
    with pytest.raises(ValueError, match="singular.*lamb > 0"):
        DMD().fit(singular)
    assert np.all(np.isfinite(DMD(lamb=1e-3).fit(singular).A_v))


def test_rotation_of_units_conjugates_the_operator():
    rng = np.random.default_rng(8)
    X = rng.standard_normal((200, 4)).cumsum(axis=0) * 0.1 + rng.standard_normal((200, 4))
    Q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    a = DMD(n_delays=3, rank=6).fit(X)
    b = DMD(n_delays=3, rank=6).fit(3.0 * X @ Q)
    signs = np.sign(np.sum((np.kron(np.eye(3), Q).T @ a.U) * b.U, axis=0))
    np.testing.assert_allclose(b.A_v, signs[:, None] * a.A_v * signs[None, :], atol=1e-9)


# ---------------------------------------------------------------- parity with dsa-metric
@pytest.fixture
def torch64():
    import torch
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # dsa-metric allocates its embedding in the default dtype
    yield torch
    torch.set_default_dtype(old)


def _noisy_linear(seed, trials=3, T=80, n=4, noise=0.3):
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((n, n))
    M *= 0.9 / np.abs(np.linalg.eigvals(M)).max()
    return _simulate(M, trials, T, rng, noise)


CASES = [
    ({"n_delays": 5, "delay_interval": 2, "rank": 6}, "3d"),
    ({"n_delays": 5, "delay_interval": 2, "rank": 6}, "2d"),
    ({"n_delays": 3, "rank": 8, "lamb": 0.5}, "3d"),
    ({"n_delays": 4, "delay_interval": 3}, "2d"),
    ({"n_delays": 2, "rank": 5, "steps_ahead": 3}, "3d"),
    ({"n_delays": 3, "rank_thresh": 5.0}, "3d"),
    ({"n_delays": 3, "rank_explained_variance": 0.9}, "2d"),
    ({"n_delays": 2, "rank": 5}, "list"),
    ({"n_delays": 1, "rank": 3, "reduced_rank_reg": True}, "3d"),
    ({"n_delays": 1, "rank": 2, "reduced_rank_reg": True, "lamb": 0.3}, "2d"),
]


@pytest.mark.parametrize("kw,layout", CASES)
def test_operator_matches_dsa_metric(torch64, kw, layout):
    from DSA import dmd as dsa_dmd
    X = _noisy_linear(9)
    data = {"3d": X, "2d": X[0], "list": [X[0], X[1, :50], X[2, :65]]}[layout]
    ours = DMD(**kw).fit(data)
    theirs = dsa_dmd.DMD(data, **{"lamb": 0.0, **kw})
    theirs.fit()
    assert ours.rank == theirs.rank
    A_theirs = theirs.A_v.numpy()
    if kw.get("reduced_rank_reg"):
        A_theirs = A_theirs.T  # dsa-metric stores the reduced-rank operator in row convention
    m = ours.A_v.shape[0]
    # align the arbitrary signs of the singular vectors, then compare entrywise
    signs = np.sign(np.sum(ours.U * theirs.U.numpy()[:, :m], axis=0))
    np.testing.assert_allclose(signs[:, None] * ours.A_v * signs[None, :], A_theirs, atol=1e-6)
    np.testing.assert_allclose(_sorted(ours.eigenvalues), _sorted(np.linalg.eigvals(A_theirs)), atol=1e-6)
    if layout == "2d" and not kw.get("reduced_rank_reg"):
        np.testing.assert_allclose(ours.A_havok_dmd, theirs.A_havok_dmd.numpy(), atol=1e-6)
