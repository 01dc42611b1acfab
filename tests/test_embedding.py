"""Delay embedding: exact values, shapes, dsa-metric's column order, errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from repalign.dynamics.embedding import delay_embed


def test_tiny_example_by_hand():
    X = np.arange(12.0).reshape(6, 2)  # x(t) = [2t, 2t + 1]
    E = delay_embed(X, n_delays=3, delay_interval=2)
    # rows describe t = 4 and t = 5; blocks x(t), x(t-2), x(t-4)
    expected = np.array([[8, 9, 4, 5, 0, 1], [10, 11, 6, 7, 2, 3]], dtype=float)
    np.testing.assert_array_equal(E, expected)
    np.testing.assert_array_equal(delay_embed(X, 2), np.hstack([X[1:], X[:-1]]))


def test_single_delay_is_a_copy():
    X = np.random.default_rng(0).standard_normal((7, 3))
    E = delay_embed(X, 1)
    np.testing.assert_array_equal(E, X)
    assert not np.shares_memory(E, X)


def test_layouts_and_ragged_trials():
    rng = np.random.default_rng(1)
    X3 = rng.standard_normal((4, 20, 3))
    E3 = delay_embed(X3, 4, 3)
    assert E3.shape == (4, 11, 12)
    for k in range(4):
        np.testing.assert_array_equal(E3[k], delay_embed(X3[k], 4, 3))
    trials = [rng.standard_normal((n, 2)) for n in (9, 15, 7)]
    out = delay_embed(trials, 3, 3)
    assert isinstance(out, list) and [e.shape for e in out] == [(3, 6), (9, 6), (1, 6)]
    np.testing.assert_array_equal(out[1], delay_embed(trials[1], 3, 3))


@pytest.mark.parametrize("shape", [(30, 3), (2, 25, 4)])
@pytest.mark.parametrize("n_delays,interval", [(1, 1), (5, 1), (4, 3)])
def test_matches_dsa_metric_column_order(shape, n_delays, interval):
    import torch
    from DSA import dmd as dsa_dmd
    X = np.random.default_rng(2).standard_normal(shape)
    ref = dsa_dmd.embed_signal_torch(torch.tensor(X), n_delays, interval).double().numpy()
    # dsa-metric allocates its output in torch's default dtype (float32): compare at that precision
    np.testing.assert_allclose(delay_embed(X, n_delays, interval), ref, rtol=1e-6, atol=1e-6)


@settings(max_examples=25, deadline=None)
@given(T=st.integers(1, 30), units=st.integers(1, 3), D=st.integers(1, 5), tau=st.integers(1, 4))
def test_every_entry_is_the_delayed_state(T, units, D, tau):
    X = np.random.default_rng(T * 100 + units).standard_normal((T, units))
    if T < (D - 1) * tau + 1:
        with pytest.raises(ValueError, match="needs at least"):
            delay_embed(X, D, tau)
        return
    E = delay_embed(X, D, tau)
    assert E.shape == (T - (D - 1) * tau, D * units)
    for j in range(E.shape[0]):
        s = j + (D - 1) * tau
        for d in range(D):
            np.testing.assert_array_equal(E[j, d * units:(d + 1) * units], X[s - d * tau])


def test_too_short_trial_is_named():
    trials = [np.zeros((10, 2)), np.zeros((4, 2))]
    with pytest.raises(ValueError, match=r"X\[1\] has 4 time points.*needs at least 7"):
        delay_embed(trials, 4, 2)


@pytest.mark.parametrize(
    "kw", [{"n_delays": 0}, {"n_delays": 2.0}, {"n_delays": True}, {"n_delays": 2, "delay_interval": 0}]
)
def test_bad_parameters(kw):
    with pytest.raises(ValueError, match="positive integer"):
        delay_embed(np.zeros((10, 2)), **kw)


def test_nan_and_bad_shape_rejected_and_input_untouched():
    X = np.random.default_rng(3).standard_normal((10, 2))
    before = X.copy()
    delay_embed(X, 3, 2)
    np.testing.assert_array_equal(X, before)
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        delay_embed(X, 2)
    with pytest.raises(ValueError, match="must be"):
        delay_embed(np.zeros(10), 2)
