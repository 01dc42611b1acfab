"""Kernel DMD, multi-step forecasts and the rank/delay grid (repalign.dynamics.kernel_dmd, forecast)."""

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from repalign.dynamics.dmd import DMD
from repalign.dynamics.forecast import forecast, forecast_error, select_dmd
from repalign.dynamics.kernel_dmd import KernelDMD


def van_der_pol(x0, mu=1.0, T=400, dt=0.05):
    f = lambda t, z: [z[1], mu * (1 - z[0] ** 2) * z[1] - z[0]]
    return solve_ivp(f, (0, T * dt), x0, t_eval=np.arange(T) * dt, rtol=1e-9, atol=1e-9).y.T


@pytest.fixture(scope="module")
def vdp():
    rng = np.random.default_rng(0)
    train = [van_der_pol(rng.uniform(-3, 3, 2)) for _ in range(4)]
    test = [van_der_pol(rng.uniform(-3, 3, 2)) for _ in range(2)]
    return train, test


def test_kernel_dmd_beats_linear_dmd_on_a_nonlinear_oscillator(vdp):
    train, test = vdp
    lin = DMD().fit(train)
    ker = KernelDMD(kernel="rbf", num_centers=0.1, lamb=1e-8, seed=0).fit(train)
    e_lin = forecast_error(lin, test, context=1, horizon=50)["relative"]
    e_ker = forecast_error(ker, test, context=1, horizon=50)["relative"]
    # a 2-D linear map cannot hold a limit cycle: its 50-step forecast is off by >10 %
    assert e_lin > 0.05
    assert e_ker < 0.1 * e_lin
    assert ker.prediction_error(test) < 0.01 * lin.prediction_error(test)


@pytest.mark.parametrize("n_delays, delay_interval, rank", [(1, 1, None), (3, 2, 4)])
def test_linear_kernel_equals_linear_dmd(vdp, n_delays, delay_interval, rank):
    train, test = vdp
    lin = DMD(n_delays=n_delays, delay_interval=delay_interval, rank=rank).fit(train)
    ker = KernelDMD(n_delays=n_delays, delay_interval=delay_interval, rank=rank, kernel="linear",
                    num_centers=1.0).fit(train)
    np.testing.assert_allclose(ker.A_v, lin.A_v, atol=1e-10)
    np.testing.assert_allclose(ker.singular_values[: lin.rank], lin.singular_values[: lin.rank], rtol=1e-10)
    np.testing.assert_allclose(np.sort_complex(ker.eigenvalues), np.sort_complex(lin.eigenvalues), atol=1e-10)
    p_lin, p_ker = lin.predict(test[0]), ker.predict(test[0])
    np.testing.assert_allclose(p_ker[lin.warmup:], p_lin[lin.warmup:], atol=1e-9)
    context = (n_delays - 1) * delay_interval + 1
    np.testing.assert_allclose(forecast(ker, test[0], context, 20), forecast(lin, test[0], context, 20), atol=1e-8)


def test_kernel_dmd_is_seeded_and_validates():
    x = van_der_pol([1.0, 0.0], T=200)
    a = KernelDMD(kernel="rbf", num_centers=20, seed=3).fit(x)
    b = KernelDMD(kernel="rbf", num_centers=20, seed=3).fit(x)
    c = KernelDMD(kernel="rbf", num_centers=20, seed=4).fit(x)
    np.testing.assert_array_equal(a.A_v, b.A_v)
    assert a.centers.shape == (20, 2) and not np.array_equal(a.centers, c.centers)
    for bad in ({"kernel": "cubic"}, {"num_centers": 0.0}, {"num_centers": 1.5}, {"kernel_width": -1.0},
                {"kernel": None}, {"kernel_degree": 0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            KernelDMD(**{"kernel": "rbf", **bad})


def test_forecast_of_an_exact_linear_system_is_exact():
    # x(t+1) = R x(t), a rotation: DMD recovers R, so any horizon is predicted to rounding
    r = 0.3
    R = np.array([[np.cos(r), -np.sin(r)], [np.sin(r), np.cos(r)]])
    x = np.empty((60, 2))
    x[0] = [1.0, 0.5]
    for t in range(59):
        x[t + 1] = R @ x[t]
    dmd = DMD().fit(x[:30])
    keep = x.copy()
    for mode in ("reencode", "koopman"):
        res = forecast_error(dmd, x, context=30, horizon=30, mode=mode)
        assert res["relative"] < 1e-20 and len(res["per_step"]) == 30
    np.testing.assert_array_equal(x, keep)  # the caller's array is not modified
    with pytest.raises(ValueError, match="context"):
        forecast(DMD(n_delays=3).fit(x), x, context=2, horizon=5)
    with pytest.raises(ValueError, match="steps_ahead"):
        forecast(DMD(steps_ahead=2).fit(x), x, context=5, horizon=5)
    with pytest.raises(ValueError, match="context \\+ horizon"):
        forecast_error(dmd, x, context=50, horizon=30)


def test_select_dmd_prefers_delays_for_a_partially_observed_oscillator(vdp):
    # only the first coordinate observed: one delay cannot describe a 2-D oscillator, several can
    train, test = vdp
    tr, te = [t[:, :1] for t in train], [t[:, :1] for t in test]
    res = select_dmd(tr, te, n_delays=[1, 4], ranks=[1, 2, 3], context=10, horizon=20)
    err = np.array(res["error"])
    assert np.isnan(err[0, 1]) and np.isnan(err[0, 2])  # rank > 1 impossible with one delay of one unit
    assert len(res["skipped"]) == 2
    assert res["best"]["n_delays"] == 4 and res["best"]["rank"] >= 2
    assert err[1, 1] < 0.5 * err[0, 0]
