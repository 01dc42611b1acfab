"""Tests of repalign.studies.transfer on synthetic data with known answers."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from repalign.studies import transfer as T

P = 24  # units


def frame(seed=0, p=P):
    """A random orthonormal basis of unit space, (p, p)."""
    return np.linalg.qr(np.random.default_rng(seed).standard_normal((p, p)))[0]


def exact_coords(n, scales, seed=1):
    """(n, d) centred coordinates with exactly orthogonal columns of norm scales[j] * sqrt(n-1),
    so the PCs of coords @ B[:, :d].T are exactly B's first d columns with variances scales**2."""
    Z = np.random.default_rng(seed).standard_normal((n, len(scales)))
    Z -= Z.mean(axis=0)
    Q, _ = np.linalg.qr(Z)
    return Q * np.sqrt(n - 1) * np.asarray(scales, float)


# ---------------------------------------------------------------------------- epoch_states
def recording(n_trials=4, n_time=20, units=3):
    t = np.arange(n_time)[None, :, None]
    tr = np.arange(n_trials)[:, None, None]
    return 1000.0 * tr + t + 0.1 * np.arange(units)[None, None, :]


def test_epoch_states_selects_per_trial_windows_after_dropping_a_quarter():
    H = recording()
    starts, ends = np.array([2, 5, -1, 0]), np.array([10, 13, -1, 20])
    before = H.copy()
    X, idx = T.epoch_states(H, {"stim1": (starts, ends)}, "stim1", return_trials=True)
    # trial 0: 8 steps, drop 2 -> 4..9; trial 1: 8 steps, drop 2 -> 7..12; trial 2 absent; trial 3: 20, drop 5
    expected_t = [np.arange(4, 10), np.arange(7, 13), np.arange(5, 20)]
    expected = np.concatenate([1000.0 * tr + t for tr, t in zip([0, 1, 3], expected_t)])
    np.testing.assert_array_equal(X[:, 0], expected)
    np.testing.assert_array_equal(idx, np.repeat([0, 1, 3], [6, 6, 15]))
    assert X.shape == (27, 3) and X.dtype == np.float64
    np.testing.assert_array_equal(H, before)


def test_epoch_states_formats_agree_and_trailing_dims_are_flattened():
    H = recording(n_trials=3, units=6)
    bounds = np.array([[0, 8], [4, 16], [2, 6]])
    a = T.epoch_states(H, {"go1": (bounds[:, 0], bounds[:, 1])}, "go1", drop_first=0.0)
    b = T.epoch_states(H, {"go1": bounds}, "go1", drop_first=0.0)

    class Batch:
        epochs = {"go1": [list(bounds[:, 0]), list(bounds[:, 1])]}

    c = T.epoch_states(H, Batch(), "go1", drop_first=0.0)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    assert a.shape == (8 + 12 + 4, 6)
    M = H.reshape(3, 20, 2, 3)  # (trials, time, out, in)
    np.testing.assert_array_equal(T.epoch_states(M, {"go1": bounds}, "go1", drop_first=0.0), a)
    # scalar bounds apply to every trial; None marks an absent trial
    s = T.epoch_states(H, {"e": (4, 8)}, "e", drop_first=0.0)
    assert s.shape == (12, 6)
    n = T.epoch_states(H, {"e": ([None, 4, 4], [None, 8, 8])}, "e", drop_first=0.0)
    assert n.shape == (8, 6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(hidden=np.zeros((5, 3))), "hidden"),
        (dict(epochs={"stim1": ([0, 0], [25, 25])}), "ends after"),
        (dict(epoch="delay1"), "delay1"),
        (dict(drop_first=1.0), "drop_first"),
        (dict(epochs={"stim1": ([-1, -1], [-1, -1])}), "no trial"),
        (dict(epochs={"stim1": [0, 1, 2]}), r"epochs\['stim1'\]"),
        (dict(epochs=[1, 2]), "epochs must be a mapping"),
    ],
)
def test_epoch_states_errors(kwargs, match):
    args = dict(hidden=recording(n_trials=2), epochs={"stim1": ([0, 0], [10, 10])}, epoch="stim1")
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        T.epoch_states(**args)


# ---------------------------------------------------------------------------- cross-task variance
def test_new_task_inside_pretraining_subspace_cross_equals_self():
    B = frame()
    pre = exact_coords(300, [5, 4, 3, 2, 1]) @ B[:, :5].T + 7.0
    new = exact_coords(200, [3, 2, 1], seed=2) @ B[:, :3].T - 2.0
    pre0, new0 = pre.copy(), new.copy()
    r = T.cross_task_variance(pre, new, 5)
    lam = np.array([9.0, 4.0, 1.0])
    self_curve = np.minimum(np.cumsum(np.r_[lam, 0, 0]) / lam.sum(), 1)
    np.testing.assert_allclose(r["self"], self_curve, atol=1e-12)
    np.testing.assert_allclose(r["cross"], self_curve, atol=1e-10)
    assert r["fraction"] == pytest.approx(1.0, abs=1e-12)
    assert r["area_ratio"] == pytest.approx(1.0, abs=1e-10)
    np.testing.assert_allclose(r["angles"], 0.0, atol=1e-7)
    # PR = (sum l)^2 / sum l^2
    assert r["pr_new"] == pytest.approx(14.0**2 / 98.0)
    assert r["pr_pre"] == pytest.approx(55.0**2 / 979.0)
    assert r["pr_new_in_pre"] == pytest.approx(r["pr_new"])
    np.testing.assert_array_equal(pre, pre0)
    np.testing.assert_array_equal(new, new0)


def test_new_task_orthogonal_to_pretraining_subspace():
    B = frame(3)
    pre = exact_coords(300, [5, 4, 3]) @ B[:, :3].T
    new = exact_coords(200, [2, 1], seed=4) @ B[:, 10:12].T
    r = T.cross_task_variance(pre, new, 3)
    np.testing.assert_allclose(r["cross"], 0.0, atol=1e-12)
    np.testing.assert_allclose(r["angles"], np.pi / 2, atol=1e-12)
    assert np.isnan(r["pr_new_in_pre"])
    res = T.random_basis_null(pre, new, 3, n_draws=200, seed=0)
    assert res.observed == pytest.approx(0.0, abs=1e-12)
    assert res.p_value > 0.05 and res.verdict == "indistinguishable from null"


def test_partial_overlap_fraction_matches_projection_and_ordering():
    B = frame(5)
    pre = exact_coords(400, [4, 3, 2]) @ B[:, :3].T
    # new: variance 4 inside span (along B2), variance 1 outside (B7), plus the reverse order case
    new = exact_coords(300, [2, 1], seed=6) @ np.c_[B[:, 2], B[:, 7]].T
    r = T.cross_task_variance(pre, new, 3)
    np.testing.assert_allclose(r["cross"], [0, 0, 0.8], atol=1e-12)  # only PC 3 (= B2) overlaps
    np.testing.assert_allclose(r["self"], [0.8, 1, 1], atol=1e-12)
    # independent reference: least-squares projection onto the pretraining span
    nc = new - new.mean(0)
    proj = B[:, :3] @ np.linalg.lstsq(B[:, :3], nc.T, rcond=None)[0]
    assert r["fraction"] == pytest.approx(np.sum(proj**2) / np.sum(nc**2))
    np.testing.assert_allclose(np.sort(r["angles"]), [0, np.pi / 2], atol=1e-7)


def test_random_basis_null_inside_is_rejected_with_closed_form_null_mean():
    B = frame(7)
    pre = exact_coords(300, [5, 4, 3, 2]) @ B[:, :4].T
    new = exact_coords(200, [3, 1], seed=8) @ B[:, :2].T
    k = 4
    res = T.random_basis_null(pre, new, k, n_draws=400, seed=1)
    assert res.observed == pytest.approx(1.0)
    assert res.verdict == "signal" and res.p_value == pytest.approx(1 / 401)
    # a uniformly random k-frame captures k/p of any variance on average
    assert res.null_mean == pytest.approx(k / P, abs=4 * res.null_sd / np.sqrt(res.n))
    again = T.random_basis_null(pre, new, k, n_draws=400, seed=1)
    np.testing.assert_array_equal(res.null, again.null)
    other = T.random_basis_null(pre, new, k, n_draws=400, seed=2)
    assert not np.array_equal(res.null, other.null)


def test_rotation_null_has_the_uniform_distribution():
    B = frame(11)
    pre = exact_coords(100, [3, 2, 1]) @ B[:, :3].T
    new = exact_coords(100, [2, 1, 1, 1], seed=12) @ B[:, 2:6].T
    uni = T.random_basis_null(pre, new, 3, n_draws=300, seed=5)
    rot = T.random_basis_null(pre, new, 3, n_draws=300, seed=6, method="rotation")
    assert rot.observed == uni.observed
    assert sps.ks_2samp(uni.null, rot.null).pvalue > 0.001
    assert rot.null_mean == pytest.approx(3 / P, abs=4 * rot.null_sd / np.sqrt(rot.n))


def test_covariance_null_is_stricter_than_uniform():
    B = frame(9)
    rng = np.random.default_rng(0)
    pre = rng.standard_normal((300, 6)) * [6, 5, 4, 3, 2, 1] @ B[:, :6].T + 0.1 * rng.standard_normal((300, P))
    new = rng.standard_normal((300, 3)) * [3, 2, 1] @ B[:, 3:6].T + 0.1 * rng.standard_normal((300, P))
    uni = T.random_basis_null(pre, new, 2, n_draws=200, seed=3)
    cov = T.random_basis_null(pre, new, 2, n_draws=200, seed=3, method="covariance")
    assert cov.observed == uni.observed
    assert cov.null_mean > 3 * uni.null_mean
    assert cov.info["method"] == "covariance"


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda p, n: T.cross_task_variance(p, n[:, :5], 3), "same units"),
        (lambda p, n: T.cross_task_variance(p, n, 0), "n_components"),
        (lambda p, n: T.cross_task_variance(p, np.full_like(n, np.nan), 3), "new_states"),
        (lambda p, n: T.cross_task_variance(p, n, 3, direction_matched=True), "pre_dirs"),
        (lambda p, n: T.random_basis_null(p, n, P), "k must"),
        (lambda p, n: T.random_basis_null(p, n, 2, method="shuffle"), "method"),
        (lambda p, n: T.random_basis_null(p, np.ones_like(n), 2), "new_states has zero variance"),
        (lambda p, n: T.cross_task_variance(np.ones_like(p), n, 2), "pre_states has zero variance"),
        (lambda p, n: T.random_basis_null(p[:3], n, 5), "exceeds"),
    ],
)
def test_cross_task_errors(call, match):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=match):
        call(rng.standard_normal((50, P)), rng.standard_normal((40, P)))


def direction_data(new_noise_units, n_per=30, n_dirs=8, radius=6.0, seed=0):
    """Directions 2 pi d / 8 (jittered by < half a bin). Both tasks share direction means on
    units 0-1; within a direction, pre varies on units 2-3 and new on ``new_noise_units``."""
    rng = np.random.default_rng(seed)
    dirs = np.repeat(2 * np.pi * np.arange(n_dirs) / n_dirs, n_per)

    def states(noise_units, s):
        X = np.zeros((dirs.size, P))
        X[:, 0], X[:, 1] = radius * np.cos(dirs), radius * np.sin(dirs)
        for d in range(n_dirs):
            rows = slice(d * n_per, (d + 1) * n_per)
            X[rows, noise_units[0]], X[rows, noise_units[1]] = exact_coords(n_per, [2.0, 1.0], seed=s + d).T
        return X

    jitter = rng.uniform(-0.3, 0.3, dirs.size)
    return states([2, 3], 100), states(new_noise_units, 200), dirs + jitter, dirs - jitter


def test_direction_matched_removes_shared_direction_means():
    pre, new, dp, dn = direction_data([4, 5])
    r = T.cross_task_variance(pre, new, 2, direction_matched=True, pre_dirs=dp, new_dirs=dn, n_bins=8)
    # globally the top-2 pretraining PCs are the shared direction plane (variance radius^2 / 2
    # per unit): the new task's variance there is 2 * 18 out of 36 + 4 + 1 (ddof=1 scaling aside)
    nc = new - new.mean(0)
    share = np.sum(nc[:, :2] ** 2) / np.sum(nc**2)
    assert r["fraction"] == pytest.approx(share, rel=1e-9)
    assert r["fraction"] > 0.85
    dm = r["direction_matched"]
    assert dm["bins"] == list(range(8)) and dm["skipped_bins"] == []
    assert [c for c in dm["n_samples"]] == [(30, 30)] * 8
    np.testing.assert_allclose(dm["cross"], 0.0, atol=1e-12)
    np.testing.assert_allclose(dm["self"], [0.8, 1.0], atol=1e-12)


def test_direction_matched_equals_self_when_within_direction_subspaces_coincide():
    pre, new, dp, dn = direction_data([2, 3])
    r = T.cross_task_variance(pre, new, 2, direction_matched=True, pre_dirs=dp, new_dirs=dn)
    dm = r["direction_matched"]
    np.testing.assert_allclose(dm["cross"], dm["self"], atol=1e-10)
    np.testing.assert_allclose(dm["per_bin_cross"], np.tile([0.8, 1.0], (8, 1)), atol=1e-10)
    # labels given directly (n_bins=None) give the same bins
    labels_p = np.repeat(np.arange(8), 30)
    r2 = T.cross_task_variance(pre, new, 2, direction_matched=True, pre_dirs=labels_p, new_dirs=labels_p, n_bins=None)
    np.testing.assert_allclose(r2["direction_matched"]["cross"], dm["cross"], atol=1e-12)


def test_direction_bins_centres():
    d = np.array([0.0, 0.1, -0.1, np.pi / 2, 2 * np.pi - 0.01, np.pi + 0.3])
    np.testing.assert_array_equal(T.direction_bins(d, 4), [0, 0, 0, 1, 0, 2])
    np.testing.assert_array_equal(T.direction_bins([3.0, 1.0, 3.0], None), [1, 0, 1])
    with pytest.raises(ValueError, match="n_bins"):
        T.direction_bins(d, 0)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 6))
def test_properties_rotation_invariance_and_bounds(seed, k):
    rng = np.random.default_rng(seed)
    pre = rng.standard_normal((40, 8)) @ rng.standard_normal((8, 8))
    new = rng.standard_normal((30, 8)) @ rng.standard_normal((8, 8))
    r = T.cross_task_variance(pre, new, k)
    assert np.all(np.diff(r["cross"]) >= -1e-12) and np.all(r["cross"] <= r["self"] + 1e-10)
    assert 0 <= r["fraction"] <= 1 + 1e-12
    R = np.linalg.qr(rng.standard_normal((8, 8)))[0]
    rr = T.cross_task_variance(pre @ R, new @ R, k)
    np.testing.assert_allclose(rr["cross"], r["cross"], atol=1e-9)
    np.testing.assert_allclose(rr["angles"], r["angles"], atol=1e-6)


# ---------------------------------------------------------------------------- modulation
def test_modulation_weighting_hides_entries_where_w_is_zero():
    rng = np.random.default_rng(0)
    out, inp, n = 4, 5, 120
    pre_M = np.zeros((n, out, inp))
    pre_M[:, 0, :] = rng.standard_normal((n, inp))  # pretraining modulates row 0
    new_M = np.zeros((n, out, inp))
    new_M[:, 0, :] = rng.standard_normal((n, inp))
    new_M[:, 3, :] = 2 * rng.standard_normal((n, inp))  # and the new task also row 3
    W = rng.standard_normal((out, inp))
    W[3] = 0.0
    W0 = W.copy()
    raw = T.cross_task_modulation(pre_M, new_M, 5)
    weighted = T.cross_task_modulation(pre_M, new_M, 5, W=W)
    assert raw["fraction"] < 0.3
    assert weighted["fraction"] == pytest.approx(1.0, abs=1e-10)
    manual = T.cross_task_variance((pre_M * W).reshape(n, -1), (new_M * W).reshape(n, -1), 5)
    np.testing.assert_allclose(weighted["cross"], manual["cross"])
    np.testing.assert_array_equal(W, W0)
    assert T.modulation_states(np.zeros((2, 3, out, inp))).shape == (6, out * inp)
    with pytest.raises(ValueError, match="W must"):
        T.modulation_states(pre_M, W[:, :2])
    with pytest.raises(ValueError, match="M must"):
        T.modulation_states(np.zeros((3, 4)))


# ---------------------------------------------------------------------------- rule vectors
def test_rule_geometry_span_fraction_and_cosines():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((30, 4))
    W[:, 3] = 0.3 * W[:, 0] - 2.0 * W[:, 1]  # new rule inside the span of rules 0, 1
    W0 = W.copy()
    g = T.rule_geometry(W, [0, 1], 3)
    assert g["span_fraction"] == pytest.approx(1.0, abs=1e-12)
    assert g["angle_to_span"] == pytest.approx(0.0, abs=1e-6)
    unit = W[:, [0, 1, 3]] / np.linalg.norm(W[:, [0, 1, 3]], axis=0)
    np.testing.assert_allclose(g["cosines"], unit.T @ unit, atol=1e-12)
    np.testing.assert_allclose(g["cos_new_pre"], (unit.T @ unit)[2, :2])
    np.testing.assert_array_equal(W, W0)
    # a component orthogonal to the span: fraction a^2 / (a^2 + b^2)
    Q = np.linalg.qr(W[:, :2])[0]
    v = rng.standard_normal(30)
    v -= Q @ (Q.T @ v)
    u = Q @ np.array([0.6, 0.8])
    W[:, 2] = 3 * u + 4 * v / np.linalg.norm(v)
    g = T.rule_geometry(W, [0, 1], 2)
    assert g["span_fraction"] == pytest.approx(9 / 25)
    assert g["angle_to_span"] == pytest.approx(np.arctan2(4, 3))


@pytest.mark.parametrize(
    "pre, new, match",
    [([0, 1], 1, "new_idx"), ([0, 5], 2, "pre_idx"), ([], 2, "pre_idx"), ([0, 0], 2, "repeated"), ([0], 3, "zero")],
)
def test_rule_geometry_errors(pre, new, match):
    W = np.random.default_rng(0).standard_normal((10, 4))
    W[:, 3] = 0
    with pytest.raises(ValueError, match=match):
        T.rule_geometry(W, pre, new)


# ---------------------------------------------------------------------------- backbone probe
def toy_task(target):
    """loss = ||c - target||^2; accuracy = fraction of entries whose sign matches target's."""
    seen = []

    def evaluate(column):
        seen.append(np.array(column))
        return float(np.sum((column - target) ** 2)), float(np.mean(np.sign(column) == np.sign(target)))

    return evaluate, seen


def test_backbone_probe_trained_column_beats_random_columns_of_same_norm():
    target = np.random.default_rng(1).standard_normal(40)
    evaluate, seen = toy_task(target)
    res = T.backbone_probe(evaluate, (40,), 100, 0, target)
    assert res.observed == 1.0 and res.info["loss"] == 0.0
    assert res.verdict == "signal" and res.alternative == "greater"
    norms = np.linalg.norm(np.array(seen[1:]), axis=1)
    np.testing.assert_allclose(norms, np.linalg.norm(target))
    # chance accuracy of a random sign pattern is 1/2
    assert res.null_mean == pytest.approx(0.5, abs=0.05)
    again = T.backbone_probe(toy_task(target)[0], 40, 100, 0, target)
    np.testing.assert_array_equal(res.null, again.null)


def test_backbone_probe_random_column_is_not_special_and_init_null():
    target = np.random.default_rng(1).standard_normal(40)
    evaluate, seen = toy_task(target)
    random_col = np.random.default_rng(2).standard_normal(40)
    res = T.backbone_probe(evaluate, 40, 100, 0, random_col, statistic="loss")
    assert res.alternative == "less" and res.verdict != "signal"
    evaluate, seen = toy_task(target)
    res = T.backbone_probe(evaluate, 40, 200, 0, target, null="init", init_std=0.5)
    norms = np.linalg.norm(np.array(seen[1:]), axis=1)
    assert np.mean(norms**2) == pytest.approx(40 * 0.25, rel=0.1)  # E||z||^2 = p sd^2
    assert res.info["null"] == "init"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(evaluate=None), "evaluate"),
        (dict(observed=np.zeros(5)), "observed"),
        (dict(null="shuffle"), "null"),
        (dict(null="init"), "init_std"),
        (dict(statistic="f1"), "statistic"),
        (dict(rule_shape=0), "rule_shape"),
        (dict(evaluate=lambda c: 1.0), r"\(loss, accuracy\)"),
        (dict(observed=np.zeros(4)), "all-zero"),
    ],
)
def test_backbone_probe_errors(kwargs, match):
    args = dict(evaluate=lambda c: (0.0, 1.0), rule_shape=4, n_draws=5, seed=0, observed=np.ones(4))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        T.backbone_probe(**args)


# ---------------------------------------------------------------------------- aggregation
def test_aggregate_mean_sem_against_scipy():
    runs = [
        {"fraction": 0.9, "cross": np.array([0.5, 0.8, 0.9]), "name": "a", "dm": {"fraction": 0.1}},
        {"fraction": 0.7, "cross": np.array([0.4, 0.6]), "name": "b", "dm": {"fraction": 0.3}},
        {"fraction": 0.8, "cross": np.array([0.3, 0.7, 0.95]), "name": "c", "dm": {"fraction": 0.2}},
    ]
    agg = T.aggregate(runs)
    assert agg["fraction"]["mean"] == pytest.approx(0.8)
    assert agg["fraction"]["sem"] == pytest.approx(sps.sem([0.9, 0.7, 0.8]))
    assert agg["fraction"]["n"] == 3
    np.testing.assert_allclose(agg["cross"]["mean"], [0.4, 0.7, 0.925])
    np.testing.assert_allclose(agg["cross"]["sem"][:2], sps.sem([[0.5, 0.8], [0.4, 0.6], [0.3, 0.7]], axis=0))
    assert agg["cross"]["sem"][2] == pytest.approx(sps.sem([0.9, 0.95]))
    np.testing.assert_array_equal(agg["cross"]["n"], [3, 3, 2])
    assert "name" not in agg
    assert agg["dm"]["fraction"]["mean"] == pytest.approx(0.2)
    assert np.isnan(T.aggregate([{"x": 1.0}])["x"]["sem"])
    with pytest.raises(ValueError, match="results"):
        T.aggregate([])
    with pytest.raises(ValueError, match=r"results\[1\]"):
        T.aggregate([{"x": 1.0}, 3])


# ---------------------------------------------------------------------------- figures
def test_figures_return_figures_and_save_png(tmp_path):
    B = frame()
    pre = exact_coords(100, [3, 2, 1]) @ B[:, :3].T
    runs = []
    for s in range(3):
        new = exact_coords(80, [2, 1], seed=10 + s) @ (B[:, :3] @ frame(s, 3)[:, :2]).T
        runs.append(T.cross_task_variance(pre, new, 3))
    agg = T.aggregate(runs)
    figs = {
        "curves.png": T.plot_variance_curves(runs[0], path=tmp_path / "curves.png"),
        "agg.png": T.plot_variance_curves(agg, path=tmp_path / "agg.png"),
        "angles.png": T.plot_angle_spectrum([r["angles"] for r in runs], labels=["a", "b", "c"],
                                            path=tmp_path / "angles.png"),
        "angles_agg.png": T.plot_angle_spectrum(agg["angles"], path=tmp_path / "angles_agg.png"),
        "scatter.png": T.plot_seed_scatter([r["fraction"] for r in runs], [0.2, 0.3, 0.1], labels=["0", "1", "2"],
                                           path=tmp_path / "sub" / "scatter.png"),
    }
    for name, fig in figs.items():
        assert fig.axes, name
        path = tmp_path / name if name != "scatter.png" else tmp_path / "sub" / name
        assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert len(figs["curves.png"].axes[0].lines) == 2
    with pytest.raises(ValueError, match="result"):
        T.plot_variance_curves({"cross": [1]})
    with pytest.raises(ValueError, match="x and y"):
        T.plot_seed_scatter([1, 2], [1])


def test_epoch_states_on_a_real_task_batch():
    from repalign.tasks import generate

    batch = generate("delayanti", 12, seed=3)
    n, t = batch.inputs.shape[:2]
    hidden = np.random.default_rng(0).standard_normal((n, t, 5))
    X, trial = T.epoch_states(hidden, batch, "delay1", return_trials=True)
    starts, ends = batch.epochs["delay1"]
    rows = []
    for i in range(n):
        s = starts[i] + (ends[i] - starts[i]) // 4
        rows.append(hidden[i, s : ends[i]])
    np.testing.assert_array_equal(X, np.concatenate(rows))
    assert set(trial) == set(range(n))
    dirs = batch.stim_dirs[trial, 0]
    assert np.all(np.isfinite(dirs)) and dirs.shape == (X.shape[0],)
    with pytest.raises(ValueError, match="no trial"):
        T.epoch_states(hidden, batch, "stim2")  # delayanti has a single stimulus
