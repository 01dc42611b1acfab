"""The registered "dsa" measure: identity, invariances, modes of use, the Circle/Oval/Walk case."""

import numpy as np
import pytest

import repalign
from repalign.dynamics.dmd import DMD
from repalign.dynamics.dsa import DSA, dsa_from_operators
from repalign.dynamics.examples import CIRCLE_OVAL_WALK_MATRICES, circle_oval_walk
from repalign.dynamics.vector_fields import vector_field_distance

KW = dict(n_delays=3, rank=6)


def _system(seed, T=300, n=4):
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((n, n))
    M *= 0.95 / np.abs(np.linalg.eigvals(M)).max()
    X = np.zeros((T, n))
    for t in range(T - 1):
        X[t + 1] = M @ X[t] + rng.standard_normal(n)
    return X


def test_identity_and_extras():
    X = _system(0)
    c = repalign.compare_detailed(X, X, "dsa", **KW)
    assert c.score < 1e-6
    assert set(c.extras) == {"loss", "lower_bound", "converged", "n_iter", "method"}
    Y = _system(1)
    c2 = repalign.compare_detailed(X, Y, "dsa", **KW)
    assert 0.05 < c2.score <= np.pi and c2.extras["lower_bound"] <= c2.score + 1e-9
    assert isinstance(c2.extras["converged"], bool)


def test_invariant_to_rotation_scaling_and_permutation_of_units():
    rng = np.random.default_rng(2)
    X = _system(3)
    Q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    assert repalign.compare(X, X @ Q, "dsa", **KW) < 1e-6
    assert repalign.compare(X, 7.5 * X[:, [2, 0, 3, 1]], "dsa", **KW) < 1e-6
    # at full rank the DMD is also blind to any invertible map of the units (docs/dsa.md)
    M = rng.standard_normal((4, 4))
    assert repalign.compare(X, X @ M, "dsa", n_delays=2) < 1e-6


def test_not_translation_invariant():
    X = _system(4)
    assert repalign.compare(X, X + 20.0, "dsa", **KW) > 1e-3
    assert "translation" not in repalign.get_measure("dsa").info().invariances


def test_matches_dsa_metric_operators_fed_to_the_same_optimiser():
    import torch
    from DSA import dmd as dsa_dmd
    X, Y = _system(5), _system(6)
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        ops = []
        for Z in (X, Y):
            d = dsa_dmd.DMD(Z, lamb=0.0, **KW)
            d.fit()
            ops.append(d.A_v.numpy())
    finally:
        torch.set_default_dtype(old)
    ref = vector_field_distance(ops[0], ops[1], seed=0).score
    assert repalign.compare(X, Y, "dsa", **KW) == pytest.approx(ref, abs=1e-6)


def test_pairwise_modes_equal_the_per_pair_loop():
    systems = [_system(s) for s in (7, 8, 9)]
    others = [_system(10), np.stack([_system(11, T=150), _system(12, T=150)])]
    P = repalign.pairwise(systems, "dsa", **KW)
    assert P.shape == (3, 3) and np.allclose(P, P.T) and np.all(np.diag(P) < 1e-6)
    for i in range(3):
        for j in range(i + 1, 3):
            assert P[i, j] == pytest.approx(repalign.compare(systems[i], systems[j], "dsa", **KW), abs=1e-9)
    R = repalign.pairwise(systems, "dsa", others=others, **KW)
    loop = [[repalign.compare(a, b, "dsa", **KW) for b in others] for a in systems]
    np.testing.assert_allclose(R, loop, atol=1e-9)
    ops = [DMD(**KW).fit(s).A_v for s in systems]
    np.testing.assert_allclose(dsa_from_operators(ops), P, atol=1e-9)
    np.testing.assert_allclose(dsa_from_operators(ops, [DMD(**KW).fit(o).A_v for o in others]), R, atol=1e-9)
    # a measure instance works like the name
    assert repalign.compare(systems[0], systems[1], DSA(**KW)) == pytest.approx(P[0, 1], abs=1e-12)


def test_torch_device_path_gives_converged_scores_close_to_the_numpy_path():
    """device="cpu" runs the batched torch path (meant for GPUs) on the CPU: same starts, same
    polish; rounding may pick another local minimum, so scores are compared loosely, and the
    exactly conjugate pair (a system against its rotated copy) must still be 0."""
    systems = [_system(s) for s in (21, 22, 23)]
    Q = np.linalg.qr(np.random.default_rng(5).standard_normal((systems[0].shape[-1],) * 2))[0]
    systems.append(systems[0] @ Q)
    P_np = repalign.pairwise(systems, "dsa", **KW)
    P_t = repalign.pairwise(systems, "dsa", device="cpu", **KW)
    assert P_t.shape == (4, 4) and np.array_equal(P_t, P_t.T) and np.all(np.diag(P_t) < 1e-6)
    assert P_t[0, 3] < 1e-6
    assert np.all(P_t <= P_np + 0.02) and np.mean(np.abs(P_t - P_np)) < 5e-3
    ops = [DMD(**KW).fit(s).A_v for s in systems]
    np.testing.assert_allclose(dsa_from_operators(ops, device="cpu"), P_t, atol=1e-9)
    with pytest.raises(ValueError, match="GL"):
        repalign.get_measure("dsa", device="cpu", group="GL")
    with pytest.raises(ValueError, match="device"):
        repalign.get_measure("dsa", device=3)


def test_invalid_input_and_parameters():
    X = _system(13, T=40)
    before = X.copy()
    repalign.compare(X, X[::-1], "dsa", n_delays=2, rank=3)
    np.testing.assert_array_equal(X, before)
    bad = X.copy()
    bad[3, 2] = np.inf
    with pytest.raises(ValueError, match="non-finite"):
        repalign.compare(X, bad, "dsa")
    with pytest.raises(ValueError, match="rank=20 exceeds"):
        repalign.compare(X, X, "dsa", n_delays=2, rank=20)
    with pytest.raises(ValueError, match="needs at least|need at least"):
        repalign.compare(X, X[:5], "dsa", n_delays=3, delay_interval=2)
    with pytest.raises(ValueError, match="group"):
        repalign.get_measure("dsa", group="U")
    with pytest.raises(ValueError, match="n_restarts"):
        repalign.get_measure("dsa", n_restarts=-1)
    with pytest.raises(ValueError, match="unknown parameter"):
        repalign.get_measure("dsa", iters=10)


def test_neuromatch_matrices():
    R = CIRCLE_OVAL_WALK_MATRICES["circle"][0]
    Ao = CIRCLE_OVAL_WALK_MATRICES["oval"][0]
    np.testing.assert_allclose(np.sort_complex(np.linalg.eigvals(Ao)), np.sort_complex(np.linalg.eigvals(R)))
    np.testing.assert_allclose(np.abs(np.linalg.eigvals(R)), 1.0)
    d = circle_oval_walk(T=50, seed=3)
    assert set(d) == {"circle", "oval", "walk"} and all(v.shape == (50, 2) for v in d.values())
    np.testing.assert_array_equal(circle_oval_walk(T=50, seed=3)["oval"], d["oval"])
    # x(0) = 0, x(t+1) = A x(t) + B eps(t); one generator, circle's noise drawn first
    eps = np.random.default_rng(3).standard_normal((50, 2))
    np.testing.assert_allclose(d["circle"][0], eps[0])
    np.testing.assert_allclose(d["circle"][1:], d["circle"][:-1] @ R.T + eps[1:], atol=1e-12)


def _normalised_spectrum_distance(X, Y):
    def spec(Z):
        Zc = Z - Z.mean(axis=0)
        lam = np.sort(np.linalg.eigvalsh(Zc.T @ Zc / len(Z)))[::-1]
        return lam / lam.sum()

    return float(np.sqrt(np.sum((np.sqrt(spec(X)) - np.sqrt(spec(Y))) ** 2)))


@pytest.mark.parametrize("seed", range(5))
def test_circle_oval_walk_dynamics_versus_geometry(seed):
    d = circle_oval_walk(T=1000, seed=seed)
    names = ["circle", "oval", "walk"]
    D = repalign.pairwise([d[k] for k in names], "dsa", n_delays=20, delay_interval=10, rank=10)
    co, cw, ow = D[0, 1], D[0, 2], D[1, 2]
    assert co < cw and co < ow, D  # DSA: Circle and Oval share their dynamics
    geo = {(a, b): _normalised_spectrum_distance(d[a], d[b]) for a, b in [("circle", "oval"), ("oval", "walk")]}
    assert geo[("oval", "walk")] < geo[("circle", "oval")]  # geometry: Oval looks like Walk
    if "bures" in repalign.registry.names():
        bw = lambda a, b: repalign.compare(d[a], d[b], "bures", align="orthogonal", normalize=True)  # noqa: E731
        assert bw("oval", "walk") == pytest.approx(geo[("oval", "walk")], rel=1e-6)
        assert bw("oval", "walk") < bw("circle", "oval")


def test_dsa_is_exactly_symmetric_on_random_pairs():
    """The optimiser is non-convex; both orders must nevertheless give the same number."""
    import repalign
    from repalign.dynamics.dsa import dsa_from_operators

    rng = np.random.default_rng(11)
    ops = [rng.standard_normal((12, 12)) for _ in range(3)]
    D = dsa_from_operators(ops)
    R = dsa_from_operators(ops[::-1])[::-1, ::-1]
    np.testing.assert_array_equal(D, R)
    X, Y = rng.standard_normal((2, 200, 3)).cumsum(axis=1) * 0.1
    m = repalign.get_measure("dsa", n_delays=3, rank=6)
    a, b = m.prepare(X), m.prepare(Y)
    assert m.compare(a, b) == m.compare(b, a)
