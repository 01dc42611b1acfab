"""Ground truth of the generators in repalign.systems."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import solve_ivp
from scipy.linalg import solve_discrete_lyapunov

from repalign.systems import (
    ATTRACTOR_KINDS,
    LORENZ_REGIMES,
    MOTIFS,
    RandomDiffeomorphism,
    System,
    arc_attractor,
    attractor_system,
    circle_oval_walk,
    compose_motifs,
    condition_means,
    deform,
    linear_process,
    lorenz,
    lorenz_fixed_points,
    lorenz_jacobian,
    lorenz_rhs,
    motif_map,
    observe,
    random_observation,
    sigmoid_warp,
)
from repalign.systems.linear import rotation
from repalign.systems.lorenz import regime_of

SIGMA, BETA = 10.0, 8.0 / 3.0
RHO_HOPF = SIGMA * (SIGMA + BETA + 3) / (SIGMA - BETA - 1)


# ------------------------------------------------------------------------------ Lorenz
@pytest.mark.parametrize("rho", [0.5, 15.0, 28.0])
def test_lorenz_fixed_points_are_zeros_of_the_field(rho):
    fps = lorenz_fixed_points(SIGMA, rho, BETA)
    assert fps.shape == ((1, 3) if rho < 1 else (3, 3))
    np.testing.assert_allclose(lorenz_rhs(fps, SIGMA, rho, BETA), 0.0, atol=1e-12)


def _max_real(rho, x):
    return np.linalg.eigvals(lorenz_jacobian(x, SIGMA, rho, BETA)).real.max()


def test_lorenz_stability_matches_theory():
    origin, = lorenz_fixed_points(SIGMA, 0.5, BETA)
    assert _max_real(0.5, origin) < 0  # rho < 1: the origin is stable
    o, cp, cm = lorenz_fixed_points(SIGMA, 15.0, BETA)
    assert _max_real(15.0, o) > 0  # a saddle
    assert _max_real(15.0, cp) < 0 and _max_real(15.0, cm) < 0
    for x in lorenz_fixed_points(SIGMA, 28.0, BETA):
        assert _max_real(28.0, x) > 0  # nothing stable: chaos
    # C+- lose stability exactly at the Hopf value rho_H ~ 24.74.
    assert abs(RHO_HOPF - 24.7368) < 1e-3
    for drho, sign in [(-0.05, -1), (0.05, 1)]:
        rho = RHO_HOPF + drho
        assert np.sign(_max_real(rho, lorenz_fixed_points(SIGMA, rho, BETA)[1])) == sign
    assert [regime_of(r) for r in LORENZ_REGIMES.values()] == list(LORENZ_REGIMES)


def test_lorenz_jacobian_matches_finite_differences():
    x = np.array([1.3, -2.0, 20.0])
    h = 1e-6
    fd = np.stack([(lorenz_rhs(x + h * e) - lorenz_rhs(x - h * e)) / (2 * h) for e in np.eye(3)], axis=1)
    np.testing.assert_allclose(lorenz_jacobian(x), fd, atol=1e-6)


@pytest.mark.parametrize("rho", [0.5, 15.0])
def test_lorenz_converges_to_a_stable_fixed_point(rho):
    sys_ = lorenz(rho=rho, T=2, trials=4, dt=0.01, burn_in=6000, seed=3)
    fps = lorenz_fixed_points(SIGMA, rho, BETA)
    stable = fps[[_max_real(rho, x) < 0 for x in fps]]
    final = sys_.data[:, -1]
    dist = np.linalg.norm(final[:, None] - stable[None], axis=-1).min(axis=1)
    assert dist.max() < 1e-3
    assert sys_.labels["regime"] == regime_of(rho)


def test_lorenz_chaotic_stays_bounded_and_away_from_fixed_points():
    sys_ = lorenz(rho=28.0, T=3000, trials=2, burn_in=500, seed=1)
    X = sys_.data.reshape(-1, 3)
    assert np.abs(X).max() < 60
    fps = lorenz_fixed_points(SIGMA, 28.0, BETA)
    assert np.linalg.norm(sys_.data[:, -500:, None] - fps, axis=-1).min() > 0.5
    # Chaos: two nearby starts separate.
    a = lorenz(rho=28.0, T=2000, x0=X[-1], seed=0).data[0]
    b = lorenz(rho=28.0, T=2000, x0=X[-1] + 1e-8, seed=0).data[0]
    assert np.linalg.norm(a[-1] - b[-1]) > 1.0


def test_lorenz_rk4_matches_scipy():
    x0 = np.array([1.0, 1.0, 20.0])
    ref = solve_ivp(lambda t, x: lorenz_rhs(x), (0, 1.0), x0, t_eval=np.linspace(0, 1.0, 101), rtol=1e-12, atol=1e-12)
    coarse = lorenz(rho=28.0, T=101, dt=0.01, x0=x0).data[0]
    fine = lorenz(rho=28.0, T=201, dt=0.005, x0=x0).data[0, ::2]
    err_coarse = np.abs(coarse - ref.y.T).max()
    err_fine = np.abs(fine - ref.y.T).max()
    assert err_coarse < 1e-3
    assert 10 < err_coarse / err_fine < 22  # fourth order: halving dt divides the error by ~16


# ------------------------------------------------------------------------------ linear
def test_linear_process_follows_its_recursion():
    A = np.array([[0.9, 0.2], [-0.1, 0.8]])
    B = np.array([[0.5], [0.1]])
    sys_ = linear_process(A, B, T=20, trials=3, seed=0)
    X = sys_.data
    resid = X[:, 1:] - X[:, :-1] @ A.T  # = B eps, so it lies in the column space of B
    cross = resid[..., 0] * B[1, 0] - resid[..., 1] * B[0, 0]
    np.testing.assert_allclose(cross, 0.0, atol=1e-12)
    det = linear_process(A, np.zeros((2, 1)), T=5, x0=[1.0, 0.0])
    np.testing.assert_allclose(det.data[0, 3], np.linalg.matrix_power(A, 3) @ [1.0, 0.0])


def test_linear_process_stationary_covariance_matches_lyapunov():
    A = 0.9 * rotation(0.3)
    B = np.array([[1.0, 0.0], [0.5, 0.5]])
    sys_ = linear_process(A, B, T=1, trials=20000, burn_in=100, seed=1)
    emp = np.cov(sys_.data[:, 0].T)
    np.testing.assert_allclose(emp, solve_discrete_lyapunov(A, B @ B.T), rtol=0.06)


def test_circle_oval_walk_reuses_dynamics_examples():
    from repalign.dynamics.examples import circle_oval_walk as ref

    trio = circle_oval_walk(T=300, seed=4)
    arrays = ref(T=300, seed=4)
    for name in ("circle", "oval", "walk"):
        np.testing.assert_array_equal(trio[name].data[0], arrays[name])
    ev = {k: np.sort_complex(np.linalg.eigvals(v.labels["A"])) for k, v in trio.items()}
    np.testing.assert_allclose(ev["circle"], ev["oval"], atol=1e-12)  # conjugate dynamics
    assert np.all(np.abs(ev["walk"].imag) < 1e-12)  # no rotation
    assert trio["oval"].labels["geometry"] == trio["walk"].labels["geometry"] == "elongated"


# ------------------------------------------------------------------------------ attractors
@pytest.mark.parametrize("kind", ATTRACTOR_KINDS)
def test_condition_averages_match_exactly(kind):
    sys_ = attractor_system(kind, n_conditions=3, trials_per_condition=8, T=50, seed=2)
    c = sys_.labels["condition"]
    avg = np.stack([sys_.data[c == k].mean(axis=0) for k in range(3)])
    np.testing.assert_allclose(avg, condition_means(3, 50), atol=1e-12)
    np.testing.assert_allclose(sys_.labels["condition_means"], condition_means(3, 50))


def test_ring_states_stay_on_the_ring():
    sys_ = attractor_system("ring", trials_per_condition=10, T=200, radius=1.5, noise=0.3, rate=2.0, seed=0)
    radius = np.linalg.norm(sys_.labels["residuals"], axis=-1)
    assert np.abs(radius - 1.5).mean() < 0.1  # linearised radial SD: 0.3 / sqrt(4 * 2) ~ 0.11
    assert np.abs(radius - 1.5).max() < 0.6
    angle = np.unwrap(np.arctan2(*sys_.labels["residuals"][..., ::-1].transpose(2, 0, 1)), axis=1)
    assert np.std(angle[:, -1] - angle[:, 0]) > 0.5  # noise-driven diffusion along the ring


def test_point_line_bistable_residual_dynamics():
    kw = dict(trials_per_condition=20, T=300, dt=0.1, noise=0.2, rate=2.0, radius=1.0, seed=5)
    r_point = attractor_system("point", **kw).labels["residuals"]
    assert np.linalg.norm(r_point[:, -50:], axis=-1).mean() < 0.2  # decays to the point
    r_line = attractor_system("line", **kw).labels["residuals"]
    assert np.abs(r_line[:, -50:, 1]).mean() < 0.15  # off-line direction decays
    # along the line: free diffusion, variance grows by noise^2 * elapsed time
    var_growth = np.var(r_line[:, -1, 0] - r_line[:, 0, 0])
    assert 0.5 < var_growth / (0.2**2 * 299 * 0.1) < 1.6
    r_bi = attractor_system("bistable", **kw).labels["residuals"]
    assert np.abs(np.abs(r_bi[:, -1, 0]) - 1.0).mean() < 0.15  # settles in the wells at +-1
    assert np.abs(r_bi[:, -1, 1]).mean() < 0.15


def test_arc_attractor_ring_and_line_limits():
    ring = arc_attractor(0.0, trials=10, T=100, noise=0.2, seed=1)
    np.testing.assert_allclose(np.linalg.norm(ring.data, axis=-1), 1.0 + ring.labels["n"], atol=1e-12)
    line = arc_attractor(1.0, trials=10, T=100, noise=0.2, seed=1)
    np.testing.assert_allclose(line.data[..., 1], 1.0 + line.labels["n"], atol=1e-12)
    np.testing.assert_allclose(line.data[..., 0], ring.labels["s"], atol=1e-12)
    mid = arc_attractor(0.5, trials=10, T=100, noise=0.2, seed=1)
    centre = np.array([0.0, 1.0 - 2.0])  # circle of radius R / (1 - lam) = 2 through (0, 1)
    np.testing.assert_allclose(np.linalg.norm(mid.data - centre, axis=-1), 2.0 + mid.labels["n"], atol=1e-12)
    np.testing.assert_array_equal(mid.labels["s"], ring.labels["s"])  # common random numbers


# ------------------------------------------------------------------------------ motifs
def test_composed_trajectory_contains_exactly_its_motifs():
    names = ["shear", "rotation", "expansion", "translation"]
    sys_ = compose_motifs(names, segment_length=15, trials=5, seed=0)
    assert sys_.labels["motifs"] == names
    assert sys_.labels["boundaries"] == [(0, 15), (15, 30), (30, 45), (45, 60)]
    X = sys_.data
    for name, (start, stop) in zip(names, sys_.labels["boundaries"]):
        src = X[:, start : stop - 1].reshape(-1, 2)
        dst = X[:, start + 1 : stop].reshape(-1, 2)
        coef, *_ = np.linalg.lstsq(np.hstack([src, np.ones((len(src), 1))]), dst, rcond=None)
        A, b = motif_map(name)
        np.testing.assert_allclose(coef[:2].T, A, atol=1e-8)
        np.testing.assert_allclose(coef[2], b, atol=1e-8)
        others = [m for m in MOTIFS if m != name]
        for o in others:  # and not any other motif
            Ao, bo = motif_map(o)
            assert np.abs(dst - (src @ Ao.T + bo)).max() > 1e-3
    # the segments are chained: the state after a segment's last step starts the next one
    A, b = motif_map("shear")
    np.testing.assert_allclose(X[:, 15], X[:, 14] @ A.T + b, atol=1e-12)


def test_motifs_are_distinct_affine_maps():
    maps = [np.hstack([*motif_map(m)[0], motif_map(m)[1]]) for m in MOTIFS]
    for i in range(len(maps)):
        for j in range(i + 1, len(maps)):
            assert np.abs(maps[i] - maps[j]).max() > 0.01


# ------------------------------------------------------------------------------ deformations
def test_random_diffeomorphism_is_invertible_with_positive_jacobian():
    f = RandomDiffeomorphism(3, n_layers=4, eps=0.9, scale=2.0, seed=0)
    X = np.random.default_rng(0).normal(scale=3.0, size=(500, 3))
    J = f.jacobian(X)
    assert np.all(np.linalg.det(J) > 0)
    np.testing.assert_allclose(f.inverse(f(X)), X, atol=1e-9)
    h = 1e-6
    fd = np.stack([(f(X[:5] + h * e) - f(X[:5] - h * e)) / (2 * h) for e in np.eye(3)], axis=2)
    np.testing.assert_allclose(J[:5], fd, atol=1e-6)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.0, 0.95), st.integers(1, 4))
def test_diffeomorphism_property(seed, eps, dim):
    f = RandomDiffeomorphism(dim, n_layers=3, eps=eps, seed=seed)
    X = np.random.default_rng(seed).normal(scale=2.0, size=(50, dim))
    dets = np.linalg.det(f.jacobian(X))
    assert np.all(dets > 0)  # the sign of det J never changes
    np.testing.assert_allclose(f.inverse(f(X)), X, atol=1e-8)


def test_sigmoid_warp_is_monotone_per_unit_and_smooth():
    X = np.random.default_rng(1).normal(size=(4, 50, 3)) * [1.0, 5.0, 0.1]
    Y = sigmoid_warp(X, gain=2.0)
    for i in range(3):
        order = np.argsort(X[..., i].ravel())
        assert np.all(np.diff(Y[..., i].ravel()[order]) > 0)
    # small gain: close to the identity around the mean
    Z = sigmoid_warp(X, gain=1e-4)
    np.testing.assert_allclose(Z, X - X.reshape(-1, 3).mean(axis=0), atol=1e-6)


def test_deform_keeps_labels():
    ring = attractor_system("ring", T=20, seed=0)
    out = deform(ring, lambda x: sigmoid_warp(x, 1.0), kind="sigmoid")
    assert out.labels is ring.labels and out.data.shape == ring.data.shape
    assert out.meta["deformation"] == {"kind": "sigmoid"}


# ------------------------------------------------------------------------------ observation
def test_linear_observation_is_exact_and_noise_is_relative():
    latent = linear_process(0.9 * np.eye(3), np.eye(3), T=400, trials=2, seed=0)
    C = random_observation(3, 20, seed=1)
    clean = observe(latent, C=C, seed=2)
    np.testing.assert_allclose(clean.data, latent.data @ C.T, atol=1e-12)
    noisy = observe(latent, C=C, noise=0.5, seed=2)
    assert abs((noisy.data - clean.data).std() / clean.data.std() - 0.5) < 0.02
    nl = observe(latent, 20, nonlinearity="tanh", seed=3)
    assert nl.data.shape == (2, 400, 20) and np.abs(nl.data).max() <= 1.0


# ------------------------------------------------------------------------------ seeds, inputs
GENERATORS = {
    "linear": lambda s: linear_process(np.eye(2) * 0.5, np.eye(2), 10, trials=2, seed=s).data,
    "cow": lambda s: circle_oval_walk(50, seed=s)["oval"].data,
    "lorenz": lambda s: lorenz(28.0, T=20, trials=2, seed=s).data,
    "attractor": lambda s: attractor_system("bistable", T=20, seed=s).data,
    "arc": lambda s: arc_attractor(0.3, trials=3, T=20, seed=s).data,
    "motifs": lambda s: compose_motifs(["rotation", "shear"], 5, noise=0.1, seed=s).data,
    "diffeo": lambda s: RandomDiffeomorphism(2, seed=s)(np.ones((3, 2))),
    "observe": lambda s: observe(np.ones((2, 5, 2)), 4, noise=0.1, seed=s).data,
}


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_same_seed_same_arrays_different_seed_different(name):
    gen = GENERATORS[name]
    np.testing.assert_array_equal(gen(7), gen(7))
    assert not np.allclose(gen(7), gen(8))
    np.testing.assert_array_equal(gen(np.random.default_rng(3)), gen(np.random.default_rng(3)))


def test_generators_return_systems_of_float64_trials():
    for sys_ in [lorenz(T=5), attractor_system("point", T=5), compose_motifs(["rotation"], 5)]:
        assert isinstance(sys_, System) and sys_.data.dtype == np.float64 and sys_.data.ndim == 3
        assert sys_.flat().shape == (sys_.n_trials * sys_.n_time, sys_.n_units)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: linear_process(np.eye(2), np.eye(3), 5), "B must be"),
        (lambda: linear_process(np.ones((2, 3)), np.eye(2), 5), "A must be"),
        (lambda: linear_process(np.eye(2), np.eye(2), 0), "T must be"),
        (lambda: linear_process([[np.nan, 0], [0, 1]], np.eye(2), 5), "non-finite"),
        (lambda: lorenz(dt=-0.1), "dt must be"),
        (lambda: attractor_system("torus"), "kind must be"),
        (lambda: attractor_system("ring", trials_per_condition=3), "even"),
        (lambda: arc_attractor(1.5), "lam must be"),
        (lambda: compose_motifs(["twirl"]), "motif must be"),
        (lambda: compose_motifs([]), "at least one"),
        (lambda: RandomDiffeomorphism(2, eps=1.0), "invertible"),
        (lambda: RandomDiffeomorphism(2)(np.ones((3, 4))), "2 units"),
        (lambda: sigmoid_warp(np.ones((3, 2)), gain=0), "gain must be"),
        (lambda: observe(np.ones((2, 5, 2)), noise=-1), "noise must be"),
        (lambda: observe(np.ones((2, 5, 2)), nonlinearity="cube"), "nonlinearity must be"),
        (lambda: lorenz(seed="x"), "seed must be"),
    ],
)
def test_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_caller_arrays_are_not_mutated():
    A, B, x0 = 0.5 * np.eye(2), np.eye(2), np.ones(2)
    copies = [A.copy(), B.copy(), x0.copy()]
    linear_process(A, B, 5, x0=x0, seed=0)
    for a, c in zip([A, B, x0], copies):
        np.testing.assert_array_equal(a, c)
    X = np.random.default_rng(0).normal(size=(2, 5, 2))
    X0 = X.copy()
    sigmoid_warp(X)
    RandomDiffeomorphism(2, seed=0)(X)
    RandomDiffeomorphism(2, seed=0).inverse(X)
    sys_ = System(X)
    observe(sys_, 3, noise=1.0, seed=0)
    deform(sys_, lambda x: x.__imul__(2.0))  # even an in-place fn leaves the caller's data alone
    np.testing.assert_array_equal(X, X0)
