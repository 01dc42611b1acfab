"""Tests of repalign.stats: permutation / resampled nulls, p-values, bootstrap intervals."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from _helpers import orthogonal
from repalign.registry import Measure
from repalign.stats import (
    CalibrationResult,
    bootstrap_ci,
    bootstrap_statistic,
    calibrate,
    paired_bootstrap,
    permutation_null,
    resampled_null,
)
from repalign.stats._units import check_groups, permutation
from repalign.stats.result import THRESHOLDS_TEXT, p_value, verdict, z_score


# ---------------------------------------------------------------------- calibration
def test_permutation_p_values_are_uniform_under_independence():
    """200 independent (X, Y) pairs -> permutation p-values of linear CKA are uniform.

    With 99 permutations p = K / 100, K uniform on {1..100} under the null (exchangeability):
    a discrete uniform, which a KS test against the continuous uniform would reject for its
    steps alone. Subtracting U / 100 with U ~ Uniform(0, 1) independent (a randomized p-value)
    makes it exactly continuous Uniform(0, 1) under the null, so the KS test is valid.
    """
    rng = np.random.default_rng(2024)
    n_perm = 99
    p_rand = []
    for rep in range(200):
        X = rng.standard_normal((30, 5))
        Y = rng.standard_normal((30, 5))
        res = permutation_null(X, Y, "cka", n=n_perm, seed=rep)
        p_rand.append(res.p_value - rng.uniform() / (n_perm + 1))
    assert sps.kstest(p_rand, "uniform").pvalue > 0.01
    # and the discrete p-values themselves sit on the grid k / 100
    grid = np.round(np.array(p_rand) * 100 + 0.5)
    assert np.all((grid >= 1) & (grid <= 100))


def test_permutation_rejects_noisy_rotation():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 5))
    Y = X @ orthogonal(rng, 5) + 0.5 * rng.standard_normal((30, 5))
    res = calibrate(X, Y, "cka", null="permutation", n=99, seed=0)
    assert res.p_value == pytest.approx(1 / 100)  # the smallest value 99 permutations allow
    assert res.z > 3 and res.verdict == "signal"
    assert res.alternative == "greater"


def test_distance_measure_defaults_to_less_and_rejects():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((40, 4))
    Y = X @ orthogonal(rng, 4) + 0.3 * rng.standard_normal((40, 4))
    res = calibrate(X, Y, "cka_angular", n=99, seed=0)
    assert res.alternative == "less"
    assert res.p_value == pytest.approx(0.01) and res.z < -3 and res.verdict == "signal"


def test_indistinguishable_verdict_on_independent_data():
    rng = np.random.default_rng(3)
    X, Y = rng.standard_normal((40, 5)), rng.standard_normal((40, 5))
    res = calibrate(X, Y, "cka", n=199, seed=0)
    # this fixed draw is not extreme; the verdict must follow the stated thresholds
    assert res.p_value > 0.05 and res.verdict == "indistinguishable from null"


# ---------------------------------------------------------------------- p-value, z, verdict
def test_p_value_formula_on_hand_example():
    null = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert p_value(4.0, null, "greater") == pytest.approx((1 + 2) / 6)  # 4, 5
    assert p_value(4.0, null, "less") == pytest.approx((1 + 4) / 6)  # 1, 2, 3, 4
    # two-sided: |null - 3| = [2, 1, 0, 1, 2] >= |4 - 3| for 4 draws
    assert p_value(4.0, null, "two-sided") == pytest.approx((1 + 4) / 6)
    assert p_value(10.0, null, "greater") == pytest.approx(1 / 6)
    assert p_value(3.0 + 1e-15, null, "greater") == pytest.approx(4 / 6)  # rounding-level tie counts
    res = CalibrationResult(4.0, null, "greater")
    assert res.z == pytest.approx((4.0 - 3.0) / np.std(null, ddof=1))
    assert res.p_value == pytest.approx(0.5)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=40),
    st.floats(-1e3, 1e3, allow_nan=False),
)
def test_p_value_properties(null, observed):
    null = np.array(null)
    n = null.size
    pg, pl = p_value(observed, null, "greater"), p_value(observed, null, "less")
    p2 = p_value(observed, null, "two-sided")
    for p in (pg, pl, p2):
        assert 1 / (n + 1) - 1e-12 <= p <= 1 + 1e-12
    # every draw is >= or <= observed; draws equal to it (up to the tie slack) count twice
    ties = np.count_nonzero(np.abs(null - observed) <= 1e-12 * max(1.0, abs(observed)))
    assert (pg + pl) * (n + 1) == pytest.approx(2 + n + ties)


def test_verdict_thresholds():
    assert verdict(0.005, 4.0, "greater") == "signal"
    assert verdict(0.005, 2.0, "greater") == "mixed"  # p small but |z| < 3
    assert verdict(0.005, -4.0, "greater") == "mixed"  # z in the wrong direction
    assert verdict(0.005, -4.0, "less") == "signal"
    assert verdict(0.03, 4.0, "greater") == "mixed"
    assert verdict(0.2, 0.5, "two-sided") == "indistinguishable from null"
    assert np.isnan(z_score(1.0, np.ones(10)))  # no spread -> no z


def test_result_str_and_json():
    rng = np.random.default_rng(0)
    res = CalibrationResult(3.5, rng.standard_normal(99), "two-sided", interval=(3.0, 4.0), ci=0.9)
    text = str(res)
    assert THRESHOLDS_TEXT in text and "p = " in text and "90% bootstrap interval" in text
    d = json.loads(json.dumps(res.to_dict()))
    assert d["p_value"] == pytest.approx(res.p_value) and len(d["null"]) == 99
    assert d["verdict"] == res.verdict and d["interval"] == [3.0, 4.0]
    res.undefined = "gradient at floor"
    assert res.verdict.startswith("undefined")
    assert CalibrationResult(None, np.zeros(3)).verdict.startswith("no observed")


# ---------------------------------------------------------------------- groups and trials
def test_group_permutation_stays_within_groups():
    groups = np.repeat(["a", "b", "c"], [5, 7, 4])
    members = check_groups(groups, groups.size, "sample")
    rng = np.random.default_rng(0)
    moved = False
    for _ in range(50):
        perm = permutation(rng, groups.size, members)
        assert np.array_equal(np.sort(perm), np.arange(groups.size))
        assert np.array_equal(groups[perm], groups)
        moved |= not np.array_equal(perm, np.arange(groups.size))
    assert moved


def test_group_permutation_keeps_group_structure_in_the_null():
    """X and Y share only group means: a full permutation calls that signal, within-group not."""
    rng = np.random.default_rng(5)
    groups = np.repeat(np.arange(6), 10)
    means = 3.0 * rng.standard_normal((6, 4))
    X = means[groups] + rng.standard_normal((60, 4))
    Y = means[groups] @ orthogonal(rng, 4) + rng.standard_normal((60, 4))
    full = permutation_null(X, Y, "cka", n=199, seed=0)
    within = permutation_null(X, Y, "cka", n=199, seed=0, groups=groups)
    assert full.verdict == "signal"
    assert within.p_value > 0.05
    assert "within groups" in within.method


class _Recorder(Measure):
    """Records what it prepares; scores the mean cross-correlation of matched rows."""

    name = "recorder"
    seen: list = []

    def _prepare(self, X):
        type(self).seen.append(np.array(X))
        return (X - X.mean(0)) / X.std(0)

    def _compare(self, a, b):
        return float(np.mean(a * b))


class _TrialRecorder(_Recorder):
    input = "trials"

    def _prepare(self, trials):
        type(self).seen.append([t.copy() for t in trials])
        return np.concatenate(trials)


def test_trial_permutation_keeps_trials_intact():
    rng = np.random.default_rng(0)
    Y = rng.standard_normal((6, 5, 3))  # (trials, time, units)
    X = Y + 0.1 * rng.standard_normal(Y.shape)
    _Recorder.seen = []
    res = permutation_null(X, Y, _Recorder(), n=20, seed=0)
    assert res.info["unit"] == "trial" and res.info["n_units"] == 6
    orders = set()
    for flat in _Recorder.seen[2:]:  # after the prepares of X and the unpermuted Y
        blocks = flat.reshape(6, 5, 3)
        order = [int(np.flatnonzero([np.array_equal(b, t) for t in Y])[0]) for b in blocks]
        assert sorted(order) == list(range(6))  # every block is one whole original trial
        orders.add(tuple(order))
    assert len(orders) > 5
    _TrialRecorder.seen = []
    permutation_null(list(X), list(Y), _TrialRecorder(), n=10, seed=0)
    for trials in _TrialRecorder.seen[2:]:
        assert all(any(np.array_equal(t, y) for y in Y) for t in trials)


class _SlowRDM(Measure):
    """Pearson correlation of Euclidean RDM upper triangles (a small RSA)."""

    name = "slow_rdm"
    prepares = 0

    def _prepare(self, X):
        type(self).prepares += 1
        return np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(-1))

    def _compare(self, a, b):
        iu = np.triu_indices(a.shape[0], 1)
        return float(np.corrcoef(a[iu], b[iu])[0, 1])


class _FastRDM(_SlowRDM):
    def _permute_state(self, D, rows):
        return D[np.ix_(rows, rows)]


@pytest.mark.parametrize("shape", [(24, 3), (6, 4, 3)])
def test_permuting_the_prepared_state_matches_preparing_permuted_data(shape):
    rng = np.random.default_rng(0)
    X = rng.standard_normal(shape)
    Y = X + rng.standard_normal(shape)
    slow = permutation_null(X, Y, _SlowRDM(), n=40, seed=3)
    _FastRDM.prepares = 0
    fast = permutation_null(X, Y, _FastRDM(), n=40, seed=3)
    np.testing.assert_allclose(fast.null, slow.null, rtol=1e-12, atol=1e-12)
    assert fast.p_value == slow.p_value
    assert _FastRDM.prepares == 2  # X and Y once each


def test_degenerate_permutation_null_warns():
    class Spread(_Recorder):  # ignores which row is which
        def _compare(self, a, b):
            return float(np.var(a.sum(1)) + np.var(b.sum(1)))

    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((10, 2)), rng.standard_normal((10, 2))
    with pytest.warns(RuntimeWarning, match="ignores the correspondence"):
        permutation_null(X, Y, Spread(), n=10, seed=0)


# ---------------------------------------------------------------------- bootstrap
def _quantile_mc_sd(boot: np.ndarray, value: float) -> float:
    """Monte-Carlo sd of a bootstrap quantile estimate: sqrt(q(1-q)/B) / density at it."""
    q = np.mean(boot < value)
    h = 0.01
    lo, hi = np.quantile(boot, [max(q - h, 0.0), min(q + h, 1.0)])
    density = (min(q + h, 1.0) - max(q - h, 0.0)) / (hi - lo)
    return np.sqrt(q * (1 - q) / boot.size) / density


def test_bca_agrees_with_scipy_on_mean_of_skewed_sample():
    rng = np.random.default_rng(11)
    data = rng.lognormal(0.0, 1.0, size=40)
    B = 20000
    ours = bootstrap_statistic(data, np.mean, n=B, ci=0.95, method="bca", seed=1)
    ref = sps.bootstrap((data,), np.mean, n_resamples=B, confidence_level=0.95, method="BCa", random_state=2)
    assert ours.method == "bca"
    # Two independent B-draw runs: each endpoint has Monte-Carlo sd s (binomial quantile
    # formula), their difference sqrt(2) s; allow 4 of those.
    for mine, theirs in zip(ours.interval, ref.confidence_interval):
        tol = 4 * np.sqrt(2) * _quantile_mc_sd(ours.distribution, mine)
        assert abs(mine - theirs) < tol
    # BCa shifts right of the percentile interval for a right-skewed mean
    pct = bootstrap_statistic(data, np.mean, n=B, method="percentile", seed=1)
    assert ours.interval[1] > pct.interval[1] + 4 * _quantile_mc_sd(ours.distribution, ours.interval[1])
    assert pct.interval == pytest.approx(tuple(np.percentile(pct.distribution, [2.5, 97.5])))


def test_bootstrap_ci_for_a_measure_and_trials():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 4))
    Y = X @ orthogonal(rng, 4) + 0.8 * rng.standard_normal((50, 4))
    Xc, Yc = X.copy(), Y.copy()
    res = bootstrap_ci(X, Y, "cka", n=300, seed=0)
    lo, hi = res.interval
    assert lo < res.observed < hi and 0 < lo and hi <= 1
    assert np.array_equal(X, Xc) and np.array_equal(Y, Yc)  # caller arrays untouched
    again = bootstrap_ci(X, Y, "cka", n=300, seed=0)
    assert np.array_equal(res.distribution, again.distribution)
    trials = bootstrap_ci(X.reshape(10, 5, 4), Y.reshape(10, 5, 4), "cka", n=100, seed=0, method="percentile")
    assert trials.info["unit"] == "trial" and trials.observed == pytest.approx(res.observed)


def test_biased_measure_bootstrap_falls_back_to_basic_with_warning():
    """Linear CKA of 200 x 20 systems: every resample (duplicated rows) scores above the data."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 20))
    Y = X @ orthogonal(rng, 20) + 2.0 * rng.standard_normal((200, 20))
    with pytest.warns(RuntimeWarning, match="BCa bias correction is infinite"):
        bca = bootstrap_ci(X, Y, "cka", n=100, seed=0)
    assert bca.method == "basic" and np.all(bca.distribution > bca.observed)
    q_lo, q_hi = np.percentile(bca.distribution, [2.5, 97.5])
    assert bca.interval == pytest.approx((2 * bca.observed - q_hi, 2 * bca.observed - q_lo))
    with pytest.warns(RuntimeWarning, match="outside its percentile interval"):
        bootstrap_ci(X, Y, "cka", n=100, seed=0, method="percentile")


def test_calibrate_with_bootstrap_interval():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((40, 3))
    Y = X + rng.standard_normal((40, 3))
    res = calibrate(X, Y, "cka", n=99, seed=0, bootstrap=200, ci=0.9)
    assert res.ci == 0.9 and res.interval[0] < res.observed < res.interval[1]
    assert np.array_equal(res.null, permutation_null(X, Y, "cka", n=99, seed=0).null)


def test_paired_bootstrap_detects_a_real_difference():
    rng = np.random.default_rng(7)
    A = rng.standard_normal((60, 5))
    B = A + 0.5 * rng.standard_normal((60, 5))
    C = A + 1.5 * rng.standard_normal((60, 5))
    res = paired_bootstrap(A, B, C, "cka", n=500, seed=0)
    assert res.difference > 0 and res.interval[0] > 0 and res.p_value < 0.01
    assert res.scores["A_B"] > res.scores["A_C"]
    # swapping B and C flips the sign; a distance measure agrees on the direction
    flipped = paired_bootstrap(A, C, B, "cka", n=500, seed=0)
    assert np.allclose(flipped.distribution, -res.distribution)
    assert paired_bootstrap(A, B, C, "procrustes", n=200, seed=0).p_value < 0.01
    # equally noisy copies: no difference detected
    D = A + 1.0 * rng.standard_normal((60, 5))
    E = A + 1.0 * rng.standard_normal((60, 5))
    assert paired_bootstrap(A, D, E, "cka", n=500, seed=0, alternative="two-sided").p_value > 0.05


# ---------------------------------------------------------------------- seeds, jobs, resampled null
def test_same_seed_same_draws_and_n_jobs_independent():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 3))
    Y = X + rng.standard_normal((20, 3))
    one = calibrate(X, Y, "cka", n=120, seed=42, n_jobs=1)
    two = calibrate(X, Y, "cka", n=120, seed=42, n_jobs=2)
    np.testing.assert_array_equal(one.null, two.null)
    assert one.p_value == two.p_value
    assert not np.array_equal(one.null, calibrate(X, Y, "cka", n=120, seed=43).null)

    def draw(g):
        return float(g.standard_normal())

    r1 = resampled_null(draw, n=120, seed=5, observed=2.5, n_jobs=1)
    r2 = resampled_null(draw, n=120, seed=5, observed=2.5, n_jobs=2)
    np.testing.assert_array_equal(r1.null, r2.null)
    children = np.random.SeedSequence(5).spawn(120)
    assert r1.null[17] == np.random.default_rng(children[17]).standard_normal()


def test_progress_bar_does_not_change_results(capsys):
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((15, 2)), rng.standard_normal((15, 2))
    quiet = permutation_null(X, Y, n=60, seed=1)
    loud = permutation_null(X, Y, n=60, seed=1, progress=True)
    np.testing.assert_array_equal(quiet.null, loud.null)
    assert "permutations" in capsys.readouterr().err


def test_resampled_null_against_a_known_distribution():
    res = resampled_null(lambda g: g.standard_normal(), n=2000, seed=0, observed=3.5)
    assert abs(res.null_mean) < 5 / np.sqrt(2000)
    assert res.null_sd == pytest.approx(1.0, abs=0.1)
    exact_tail = sps.norm.sf(3.5)
    assert res.p_value <= exact_tail + 5 * np.sqrt(exact_tail / 2000) + 1 / 2001
    assert res.verdict == "signal"
    assert np.isnan(CalibrationResult(None, res.null).p_value)
    via_calibrate = calibrate(np.eye(5), np.eye(5), "cka", null=lambda g: g.uniform(), n=99, seed=0)
    assert via_calibrate.observed == pytest.approx(1.0) and via_calibrate.p_value == pytest.approx(0.01)
    assert via_calibrate.method == "resampled"
    null_only = resampled_null(lambda g: g.uniform(), n=10, seed=0)
    assert null_only.observed is None and np.isnan(null_only.p_value)


# ---------------------------------------------------------------------- validation
def test_validation_errors():
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((20, 3)), rng.standard_normal((20, 3))
    with pytest.raises(ValueError, match="null must be one of"):
        calibrate(X, Y, null="shuffle")
    with pytest.raises(ValueError, match="n must be an int >= 1"):
        calibrate(X, Y, n=0)
    with pytest.raises(ValueError, match="groups must be a 1-D array with one label per sample"):
        calibrate(X, Y, n=10, groups=np.zeros(19))
    with pytest.raises(ValueError, match="single sample"):
        calibrate(X, Y, n=10, groups=np.arange(20))
    with pytest.raises(ValueError, match="alternative must be one of"):
        calibrate(X, Y, n=10, alternative="bigger")
    with pytest.raises(ValueError, match="ci must be"):
        calibrate(X, Y, n=10, bootstrap=10, ci=95)
    with pytest.raises(ValueError, match="bootstrap must be"):
        calibrate(X, Y, n=10, bootstrap=-1)
    with pytest.raises(ValueError, match="seed must be"):
        calibrate(X, Y, n=10, seed="zero")
    with pytest.raises(ValueError, match="n_jobs"):
        calibrate(X, Y, n=10, n_jobs=0)
    with pytest.raises(ValueError, match="same number of samples"):
        calibrate(X, Y[:15], n=10)
    with pytest.raises(ValueError, match="non-finite"):
        calibrate(X, np.where(Y > 1.5, np.nan, Y), n=10)
    with pytest.raises(ValueError, match="matched_samples=False"):
        calibrate(X, Y, "bures", n=10)
    with pytest.raises(ValueError, match="method must be"):
        bootstrap_ci(X, Y, n=10, method="studentized")
    with pytest.raises(ValueError, match="same number of resampling units"):
        paired_bootstrap(X, Y, Y[:10], n=10)
    with pytest.raises(ValueError, match="draw must be a callable"):
        resampled_null(3.0, n=10)


def test_does_not_mutate_inputs():
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((3, 6, 2)), rng.standard_normal((3, 6, 2))
    groups = np.array([0, 0, 1])
    Xc, Yc, gc = X.copy(), Y.copy(), groups.copy()
    calibrate(X, Y, "cka", n=20, seed=0, groups=groups, bootstrap=20)
    assert np.array_equal(X, Xc) and np.array_equal(Y, Yc) and np.array_equal(groups, gc)
