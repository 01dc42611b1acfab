"""Issue 25b's measures against independent references: brute force, closed forms, the papers'
formulas written out here in sample space, scipy and the dcor package; invariances; calibrate."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.linalg import orthogonal_procrustes, sqrtm
from scipy.optimize import linear_sum_assignment
from scipy.stats import energy_distance, ortho_group

import repalign


def _rng(seed=0):
    return np.random.default_rng(seed)


def _pair(seed=0, n=40, p=4, q=4, noise=0.5):
    rng = _rng(seed)
    latent = rng.standard_normal((n, 3))
    X = latent @ rng.standard_normal((3, p)) + noise * rng.standard_normal((n, p))
    Y = latent @ rng.standard_normal((3, q)) + noise * rng.standard_normal((n, q))
    return X, Y


def _corr(X, Y):
    """(p, q) Pearson correlations between the columns of X and of Y (numpy's corrcoef)."""
    p = X.shape[1]
    return np.corrcoef(X.T, Y.T)[:p, p:]


# ------------------------------------------------------------------------------------ matching
@pytest.mark.parametrize("p,q", [(4, 4), (3, 5), (5, 3)])
def test_hard_matching_equals_brute_force_over_all_injective_matchings(p, q):
    X, Y = _pair(1, p=p, q=q)
    C = _corr(X, Y)
    small, big = (C, p) if p <= q else (C.T, q)
    best = max(np.mean([small[i, j] for i, j in enumerate(perm)])
               for perm in itertools.permutations(range(small.shape[1]), big))
    assert repalign.compare(X, Y, "hard_matching") == pytest.approx(best, abs=1e-12)


@pytest.mark.parametrize("p,q", [(2, 3), (4, 6), (3, 4)])
def test_soft_matching_equals_the_assignment_on_replicated_units(p, q):
    """Uniform-marginal OT = assignment after copying X's units q/g times and Y's p/g times."""
    X, Y = _pair(2, p=p, q=q)
    C = _corr(X, Y)
    g = math.gcd(p, q)
    big = np.repeat(np.repeat(C, q // g, axis=0), p // g, axis=1)
    r, c = linear_sum_assignment(big, maximize=True)
    score = repalign.compare(X, Y, "soft_matching")
    assert score == pytest.approx(big[r, c].mean(), abs=1e-9)
    # each unit's mass goes at best to its best partner: never above either mean of best partners
    assert score <= min(C.max(axis=1).mean(), C.max(axis=0).mean()) + 1e-12


def test_soft_matching_modes_and_equal_widths():
    X, Y = _pair(3, p=5, q=5)
    assert repalign.compare(X, Y, "soft_matching") == pytest.approx(repalign.compare(X, Y, "hard_matching"))
    C = _corr(X, Y)
    resi = (C.max(axis=1).mean() + C.max(axis=0).mean()) / 2  # ReSi's SoftCorrelationMatch
    assert repalign.compare(X, Y, "soft_matching", assignment="max") == pytest.approx(resi, abs=1e-12)
    with pytest.raises(ValueError, match="assignment"):
        repalign.get_measure("soft_matching", assignment="sinkhorn")


def test_matching_invariances_and_constant_units():
    X, Y = _pair(4, p=4, q=4)
    rng = _rng(5)
    Yt = Y[:, rng.permutation(4)] * rng.uniform(0.5, 3.0, 4) + rng.standard_normal(4)  # per-unit affine
    for name in ("hard_matching", "soft_matching"):
        assert repalign.compare(X, Yt, name) == pytest.approx(repalign.compare(X, Y, name), abs=1e-12)
        Yr = Y @ ortho_group.rvs(4, random_state=6)
        assert abs(repalign.compare(X, Yr, name) - repalign.compare(X, Y, name)) > 1e-3  # not rotation invariant
    Xd = np.column_stack([X, np.full(len(X), 2.0)])  # a dead unit correlates 0 with everything
    C = np.column_stack([_corr(X, Y).T, np.zeros(4)]).T
    rows = linear_sum_assignment(C, maximize=True)
    assert repalign.compare(Xd, Y, "hard_matching") == pytest.approx(C[rows].mean(), abs=1e-12)


# ---------------------------------------------------------------------------------------- GULP
def _gulp_sample_space(X, Y, lam):
    """||H_x - H_y||_F with the (n, n) ridge hat matrices of the normalised systems (paper, eq. 5)."""
    def hat(A):
        A = A - A.mean(axis=0)
        A = A * np.sqrt(len(A)) / np.linalg.norm(A)
        S = A.T @ A / len(A)
        return A @ np.linalg.pinv(S + lam * np.eye(S.shape[0])) @ A.T / len(A)
    return np.linalg.norm(hat(X) - hat(Y))


@pytest.mark.parametrize("lam", [0.0, 0.05, 1.0])
def test_gulp_equals_the_sample_space_formula(lam):
    X, Y = _pair(7, n=30, p=4, q=6)
    assert repalign.compare(X, Y, "gulp", lam=lam) == pytest.approx(_gulp_sample_space(X, Y, lam), rel=1e-9)


def test_gulp_at_zero_ridge_is_a_cca_distance_and_affine_invariant():
    X, Y = _pair(8, n=50, p=3, q=5)
    qx, _ = np.linalg.qr(X - X.mean(0))
    qy, _ = np.linalg.qr(Y - Y.mean(0))
    rho = np.linalg.svd(qx.T @ qy, compute_uv=False)  # canonical correlations
    d = repalign.compare(X, Y, "gulp")
    assert d == pytest.approx(np.sqrt(3 + 5 - 2 * np.sum(rho**2)), rel=1e-9)
    M = _rng(9).standard_normal((5, 5))
    assert repalign.compare(X, Y @ M + 3.0, "gulp") == pytest.approx(d, rel=1e-8)
    # lam > 0: an invertible (non-orthogonal) map changes it; a rotation and a rescaling do not
    assert abs(repalign.compare(X, Y @ M, "gulp", lam=0.1) - repalign.compare(X, Y, "gulp", lam=0.1)) > 1e-3
    Q = ortho_group.rvs(5, random_state=10)
    assert repalign.compare(X, 7 * Y @ Q, "gulp", lam=0.1) == pytest.approx(
        repalign.compare(X, Y, "gulp", lam=0.1), rel=1e-9)
    with pytest.raises(ValueError, match="lam"):
        repalign.get_measure("gulp", lam=-1.0)


# -------------------------------------------------------------------- distance-matrix measures
def _loop_distances(X):
    n = len(X)
    return np.array([[np.sqrt(np.sum((X[i] - X[j]) ** 2)) for j in range(n)] for i in range(n)])


def test_rsm_norm_difference_both_norms():
    X, Y = _pair(11, n=25, p=3, q=6)
    diff = _loop_distances(X) - _loop_distances(Y)
    assert repalign.compare(X, Y, "rsm_norm_difference") == pytest.approx(np.sqrt(np.sum(diff**2)), rel=1e-10)
    # ReSi's code: numpy's ord=2 norm of the square matrix (its largest singular value)
    assert repalign.compare(X, Y, "rsm_norm_difference", norm="spectral") == pytest.approx(
        np.linalg.norm(diff, ord=2), rel=1e-10)
    assert repalign.compare(X, 2 * Y, "rsm_norm_difference") != pytest.approx(
        repalign.compare(X, Y, "rsm_norm_difference"))  # not scale invariant: units of the data


def test_distance_correlation_matches_dcor_and_its_extremes():
    import dcor  # pinned in the test extra (numba-compiled: ~12 s CPU to import, so only here)
    X, Y = _pair(12, n=35, p=3, q=2)
    Y = np.column_stack([Y[:, 0] ** 2, np.sin(Y[:, 1])])  # a nonlinear dependence
    assert repalign.compare(X, Y, "distance_correlation") == pytest.approx(
        dcor.distance_correlation(X, Y), rel=1e-10)
    Q = ortho_group.rvs(3, random_state=13)
    assert repalign.compare(X, 5 * X @ Q - 2, "distance_correlation") == pytest.approx(1.0, abs=1e-12)
    systems = [X, Y, X @ Q]
    loop = [[dcor.distance_correlation(a, b) for b in systems] for a in systems]
    np.testing.assert_allclose(repalign.pairwise(systems, "distance_correlation"), loop, atol=1e-10)


# ------------------------------------------------------------------------------ overlap measures
def test_eigenspace_overlap_resi_formula_and_invariance():
    X, Y = _pair(14, n=30, p=4, q=6)
    X[:, 3] = X[:, 0] + X[:, 1]  # rank deficient: rank 3 of width 4
    u = np.linalg.svd(X)[0][:, :np.linalg.matrix_rank(X)]
    v = np.linalg.svd(Y)[0][:, :np.linalg.matrix_rank(Y)]
    ref = np.linalg.norm(u.T @ v) ** 2 / max(4, 6)
    assert repalign.compare(X, Y, "eigenspace_overlap") == pytest.approx(ref, rel=1e-10)
    M = _rng(15).standard_normal((6, 6))
    assert repalign.compare(X, Y @ M, "eigenspace_overlap") == pytest.approx(ref, rel=1e-8)
    assert repalign.compare(Y, Y @ M, "eigenspace_overlap") == pytest.approx(1.0, abs=1e-10)


def test_ensd_is_the_participation_ratio_on_itself_and_tutorial_formula():
    X, Y = _pair(16, n=40, p=5, q=4)
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    lam = np.linalg.eigvalsh(np.cov(Xc.T))
    assert repalign.compare(X, X, "ensd") == pytest.approx(lam.sum() ** 2 / np.sum(lam**2), rel=1e-10)

    def pr(A):  # Giaffar et al.'s tutorial, on the data matrix (features x samples)
        return np.trace(A.T @ A) ** 2 / np.trace(A.T @ A @ A.T @ A)

    def tr(A, B):
        return np.trace((A.T @ A) / np.trace(A.T @ A) @ ((B.T @ B) / np.trace(B.T @ B)))

    ref = pr(Xc.T) * pr(Yc.T) * tr(Xc.T, Yc.T)
    assert repalign.compare(X, Y, "ensd") == pytest.approx(ref, rel=1e-10)
    cka = repalign.compare(X, Y, "cka")
    assert ref / np.sqrt(pr(Xc.T) * pr(Yc.T)) == pytest.approx(cka, rel=1e-10)


# ------------------------------------------------------------------------- descriptive statistics
def test_descriptive_differences_match_resi_definitions():
    rng = _rng(17)
    X = rng.standard_normal((20, 3)) + 1.0
    Y = rng.standard_normal((26, 5)) * 0.7  # samples need not match
    mag = abs(np.linalg.norm(X.mean(0)) - np.linalg.norm(Y.mean(0)))
    assert repalign.compare(X, Y, "magnitude_difference") == pytest.approx(mag, rel=1e-12)

    def conc(A):
        mu = A.mean(0)
        return np.mean([a @ mu / (np.linalg.norm(a) * np.linalg.norm(mu)) for a in A])

    assert repalign.compare(X, Y, "concentricity_difference") == pytest.approx(abs(conc(X) - conc(Y)), rel=1e-10)

    def unif(A, t=2.0):
        return np.log(np.mean([[np.exp(-t * np.sum((a - b) ** 2)) for b in A] for a in A]))

    assert repalign.compare(X, Y, "uniformity_difference") == pytest.approx(abs(unif(X) - unif(Y)), rel=1e-10)
    assert repalign.compare(X, Y, "uniformity_difference", t=0.5) == pytest.approx(
        abs(unif(X, 0.5) - unif(Y, 0.5)), rel=1e-10)
    # declared invariances: rotation (all), translation (uniformity), scaling (concentricity)
    Q = ortho_group.rvs(5, random_state=18)
    for name in ("magnitude_difference", "concentricity_difference", "uniformity_difference"):
        assert repalign.compare(X, Y @ Q, name) == pytest.approx(repalign.compare(X, Y, name), rel=1e-9, abs=1e-12)
    assert repalign.compare(X, Y + 4.0, "uniformity_difference") == pytest.approx(
        repalign.compare(X, Y, "uniformity_difference"), rel=1e-10)
    assert repalign.compare(X, 3 * Y, "concentricity_difference") == pytest.approx(
        repalign.compare(X, Y, "concentricity_difference"), rel=1e-10)


# --------------------------------------------------------------------- stochastic shape metrics
def _gaussian_loss_at(X, Y, Q):
    """mean_c ||mu_c - Q mu'_c||^2 + Bures^2(S_c, Q S'_c Q^T), Bures by matrix square roots."""
    total = 0.0
    for c in range(X.shape[1]):
        mx, my = X[:, c].mean(0), Y[:, c].mean(0)
        Sx = np.cov(X[:, c].T, bias=True).reshape(X.shape[2], X.shape[2])
        Sy = Q @ np.cov(Y[:, c].T, bias=True).reshape(Y.shape[2], Y.shape[2]) @ Q.T
        r = sqrtm(Sx)
        total += np.sum((mx - Q @ my) ** 2) + np.trace(Sx + Sy - 2 * np.real(sqrtm(r @ Sy @ r)))
    return total / X.shape[1]


def test_gaussian_stochastic_shape_closed_forms_and_bound():
    rng = _rng(19)
    # one condition with zero mean (trials Z and -Z): the distance depends only on the spectra
    Z, W = rng.standard_normal((6, 1, 3)), rng.standard_normal((5, 1, 3)) * [2.0, 1.0, 0.3]
    X, Y = np.concatenate([Z, -Z]), np.concatenate([W, -W])
    lx = np.sort(np.linalg.eigvalsh(np.cov(X[:, 0].T, bias=True)))[::-1]
    ly = np.sort(np.linalg.eigvalsh(np.cov(Y[:, 0].T, bias=True)))[::-1]
    ref = np.sqrt(np.sum((np.sqrt(np.clip(lx, 0, None)) - np.sqrt(np.clip(ly, 0, None))) ** 2))
    assert repalign.compare(X, Y, "gaussian_stochastic_shape") == pytest.approx(ref, rel=1e-6)
    # noiseless trials: Procrustes of the condition means (scipy), divided by sqrt(M)
    A, B = rng.standard_normal((7, 3)), rng.standard_normal((7, 3))
    R, _ = orthogonal_procrustes(B, A)
    ref = np.linalg.norm(A - B @ R) / np.sqrt(7)
    assert repalign.compare(A[None], B[None], "gaussian_stochastic_shape") == pytest.approx(ref, rel=1e-8)
    # general case: rotation invariant, and never above the loss at the identity (matrix square roots)
    X, Y = rng.standard_normal((8, 4, 3)), rng.standard_normal((6, 4, 3)) * 1.5 + 0.3
    d = repalign.compare(X, Y, "gaussian_stochastic_shape")
    assert d <= np.sqrt(_gaussian_loss_at(X, Y, np.eye(3))) + 1e-9
    Q = ortho_group.rvs(3, random_state=20)
    assert repalign.compare(X, Y @ Q, "gaussian_stochastic_shape") == pytest.approx(d, rel=1e-4)
    assert repalign.compare(X, X @ Q, "gaussian_stochastic_shape") == pytest.approx(0.0, abs=1e-6)


def test_energy_stochastic_shape_is_scipys_energy_distance_for_one_unit():
    rng = _rng(21)
    x, y = rng.standard_normal((9, 1, 1)), rng.standard_normal((7, 1, 1)) * 2 + 0.5
    ref = min(energy_distance(x.ravel(), s * y.ravel()) for s in (1.0, -1.0))  # Q in {+1, -1}
    assert repalign.compare(x, y, "energy_stochastic_shape") == pytest.approx(ref, rel=1e-9)
    X = rng.standard_normal((6, 5, 3))
    Q = ortho_group.rvs(3, random_state=22)
    assert repalign.compare(X, X @ Q, "energy_stochastic_shape") == pytest.approx(0.0, abs=1e-6)
    Y = rng.standard_normal((4, 5, 2)) * 0.5
    assert repalign.compare(X, Y, "energy_stochastic_shape") > 0.1
    with pytest.raises(ValueError, match="same number of conditions"):
        repalign.compare(X, Y[:, :4], "energy_stochastic_shape")


def test_stochastic_shape_is_symmetric_and_more_starts_never_hurt():
    rng = _rng(27)
    latent = rng.standard_normal((60, 2))
    X, Y = [(latent @ rng.standard_normal((2, 4)) + 0.5 * rng.standard_normal((60, 4))).reshape(10, 6, 4)
            for _ in range(2)]
    for name in ("gaussian_stochastic_shape", "energy_stochastic_shape"):
        d0 = repalign.compare(X, Y, name, n_init=0)
        assert repalign.compare(Y, X, name, n_init=0) == pytest.approx(d0, rel=1e-12)  # both orientations run
        d3 = repalign.compare(X, Y, name, n_init=3, seed=5)
        assert d3 <= d0 + 1e-12 and d3 == repalign.compare(X, Y, name, n_init=3, seed=5)  # seeded
    with pytest.raises(ValueError, match="n_init"):
        repalign.get_measure("gaussian_stochastic_shape", n_init=-1)


# ----------------------------------------------------------------------- calibrate and the engine
@pytest.mark.parametrize("name", ["hard_matching", "gulp", "distance_correlation", "ensd", "eigenspace_overlap"])
def test_permuted_states_equal_fresh_prepares_and_calibrate_runs(name):
    """calibrate's fast path permutes prepared states; that must equal preparing the permuted Y."""
    X, Y = _pair(23, n=30, p=3, q=3, noise=0.3)
    m = repalign.get_measure(name)
    px, py = m.prepare(X, "X"), m.prepare(Y, "Y")
    rows = _rng(24).permutation(30)
    permuted = repalign.Prepared(m._permute_state(py.state, rows), py.n_samples, py.n_features, py.measure_key)
    assert m.compare(px, permuted) == pytest.approx(m.compare(px, m.prepare(Y[rows], "Y")), rel=1e-9, abs=1e-12)
    res = repalign.calibrate(X, Y, name, n=30, seed=1)
    assert res.p_value < 0.1  # a shared latent: far out in the permutation null


def test_unmatched_measures_refuse_the_permutation_null():
    X, Y = _pair(25, n=20)
    with pytest.raises(ValueError, match="matched_samples=False"):
        repalign.calibrate(X, Y, "uniformity_difference", n=10)


def test_engine_sweep_and_report_card_run_the_new_measures(tmp_path):
    from repalign.report_card.cases import run_case
    from repalign.engine.results import load
    from repalign.engine.sweep import sweep

    rng = _rng(26)
    latent = rng.standard_normal((25, 3))
    S = {f"s{i}": latent @ rng.standard_normal((3, 4)) + 0.3 * rng.standard_normal((25, 4)) for i in range(4)}
    names = ["soft_matching", "gulp", "rsm_norm_difference", "eigenspace_overlap", "concentricity_difference"]
    summary = sweep(S, names, tmp_path / "r.db", backend="serial", progress=False)
    assert summary.failed == 0
    res = load(tmp_path / "r.db")
    off = ~np.eye(4, dtype=bool)
    for name in names:
        ref = repalign.pairwise(list(S.values()), name)
        np.testing.assert_allclose(res.matrix(name).to_numpy()[off], ref[off], rtol=1e-10, atol=1e-12)
    T = {f"t{i}": rng.standard_normal((5, 4, 3)) for i in range(3)}  # (trials, conditions, units)
    assert sweep(T, "energy_stochastic_shape", tmp_path / "t.db", backend="serial", progress=False).failed == 0
    stored = load(tmp_path / "t.db").matrix("energy_stochastic_shape").to_numpy()
    off3 = ~np.eye(3, dtype=bool)
    np.testing.assert_allclose(stored[off3], repalign.pairwise(list(T.values()), "energy_stochastic_shape")[off3],
                               rtol=1e-10)
    r = run_case("deformation", "gulp", quick=True, seed=0)  # the report card's API on a new measure
    assert r.score is not None and r.status
