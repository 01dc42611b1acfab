"""The Lorenz system, integrated with classical fourth-order Runge-Kutta (or forward Euler).

dx/dt = sigma (y - x),   dy/dt = x (rho - z) - y,   dz/dt = x y - beta z.

Fixed points: the origin, and for rho > 1 the pair C+- = (+-q, +-q, rho - 1) with
q = sqrt(beta (rho - 1)).  With sigma = 10, beta = 8/3 (the defaults):

* rho < 1: the origin is the only fixed point and is globally stable ("one_point");
* 1 < rho < rho_H = sigma (sigma + beta + 3) / (sigma - beta - 1) ~= 24.74: the origin is a
  saddle and C+- are stable ("two_points"; e.g. rho = 15);
* rho = 28: all three are unstable, trajectories settle on the chaotic attractor ("chaotic").

:func:`paper_lorenz`, :func:`unit_scale`, :func:`perturb` and :func:`add_pattern` build the
attractor test sets of Guilhot et al. (arXiv 2410.24070, code: qglht/RepAL): forward Euler,
beta = 2.667, initial points uniform in [0, 1)^3, every trajectory min-max scaled into [0, 1].
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_choice, check_finite, check_random_state, to_numpy
from ._base import System, check_nonnegative, check_positive_int, seed_meta

# Regime name -> rho (sigma = 10, beta = 8/3).
LORENZ_REGIMES = {"one_point": 0.5, "two_points": 15.0, "chaotic": 28.0}


def lorenz_rhs(X: np.ndarray, sigma: float = 10.0, rho: float = 28.0, beta: float = 8.0 / 3.0) -> np.ndarray:
    """Time derivative at states ``X`` of shape (..., 3)."""
    x, y, z = X[..., 0], X[..., 1], X[..., 2]
    return np.stack([sigma * (y - x), x * (rho - z) - y, x * y - beta * z], axis=-1)


def lorenz_jacobian(x: np.ndarray, sigma: float = 10.0, rho: float = 28.0, beta: float = 8.0 / 3.0) -> np.ndarray:
    """Jacobian (3, 3) of the vector field at the state ``x`` (3,)."""
    x1, x2, x3 = np.asarray(x, dtype=np.float64)
    return np.array([[-sigma, sigma, 0.0], [rho - x3, -1.0, -x1], [x2, x1, -beta]])


def lorenz_fixed_points(sigma: float = 10.0, rho: float = 28.0, beta: float = 8.0 / 3.0) -> np.ndarray:
    """Analytic fixed points, shape (1, 3) for rho <= 1 else (3, 3): origin, C+, C-."""
    origin = np.zeros((1, 3))
    if rho <= 1:
        return origin
    q = np.sqrt(beta * (rho - 1.0))
    return np.vstack([origin, [[q, q, rho - 1.0], [-q, -q, rho - 1.0]]])


def _rk4_step(X: np.ndarray, dt: float, sigma: float, rho: float, beta: float) -> np.ndarray:
    k1 = lorenz_rhs(X, sigma, rho, beta)
    k2 = lorenz_rhs(X + 0.5 * dt * k1, sigma, rho, beta)
    k3 = lorenz_rhs(X + 0.5 * dt * k2, sigma, rho, beta)
    k4 = lorenz_rhs(X + dt * k3, sigma, rho, beta)
    return X + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)


def _euler_step(X: np.ndarray, dt: float, sigma: float, rho: float, beta: float) -> np.ndarray:
    return X + dt * lorenz_rhs(X, sigma, rho, beta)


_STEPPERS = {"rk4": _rk4_step, "euler": _euler_step}


def lorenz(
    rho: float = 28.0,
    sigma: float = 10.0,
    beta: float = 8.0 / 3.0,
    T: int = 1000,
    trials: int = 1,
    dt: float = 0.01,
    burn_in: int = 0,
    x0: Any = None,
    x0_scale: float = 10.0,
    seed: Any = None,
    method: str = "rk4",
) -> System:
    """Lorenz trajectories from seeded initial conditions.

    Parameters
    ----------
    rho, sigma, beta : float
        System parameters (see module docstring for the regimes).
    T : int
        Samples kept per trial, spaced ``dt`` apart (model time units).
    trials : int
        Trajectories, each from its own initial condition.
    dt : float
        Integration step (model time units); 0.01 is well inside RK4's stability region here.
    burn_in : int
        RK4 steps integrated and discarded before the kept samples.
    x0 : (3,) or (trials, 3) array, optional
        Initial states; by default (0, 0, rho - 1 if rho > 1 else 0) + N(0, x0_scale^2 I).
    seed : int or Generator
    method : {"rk4", "euler"}
        Classical Runge-Kutta, or forward Euler x(t + dt) = x(t) + dt f(x(t)) (as in the code of
        Guilhot et al.).

    Returns
    -------
    System with data (trials, T, 3), labels ``{"regime", "fixed_points", "rho"}``.
    """
    check_choice(method, "method", sorted(_STEPPERS))
    step = _STEPPERS[method]
    T = check_positive_int(T, "T")
    trials = check_positive_int(trials, "trials")
    burn_in = check_positive_int(burn_in, "burn_in", minimum=0)
    if not (np.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be a positive number; got {dt!r}")
    x0_scale = check_nonnegative(x0_scale, "x0_scale")
    if not all(np.isfinite([rho, sigma, beta])):
        raise ValueError(f"rho, sigma and beta must be finite; got {rho!r}, {sigma!r}, {beta!r}")
    rng = check_random_state(seed)
    if x0 is None:
        centre = np.array([0.0, 0.0, max(rho - 1.0, 0.0)])
        X = centre + x0_scale * rng.standard_normal((trials, 3))
    else:
        x0 = to_numpy(x0, "x0")
        check_finite(x0, "x0")
        if x0.shape not in ((3,), (trials, 3)):
            raise ValueError(f"x0 must have shape (3,) or ({trials}, 3); got {x0.shape}")
        X = np.broadcast_to(x0, (trials, 3)).copy()
    for _ in range(burn_in):
        X = step(X, dt, sigma, rho, beta)
    out = np.empty((trials, T, 3))
    for t in range(T):
        out[:, t] = X
        X = step(X, dt, sigma, rho, beta)
    if not np.all(np.isfinite(out)):
        raise FloatingPointError(f"Lorenz trajectories diverged (rho={rho}, dt={dt}, method={method!r})")
    labels = {"regime": regime_of(rho, sigma, beta), "rho": rho, "fixed_points": lorenz_fixed_points(sigma, rho, beta)}
    meta = {"sigma": sigma, "beta": beta, "dt": dt, "burn_in": burn_in, "method": method, "seed": seed_meta(seed)}
    return System(out, labels, meta)


def regime_of(rho: float, sigma: float = 10.0, beta: float = 8.0 / 3.0) -> str:
    """'one_point', 'two_points' or 'chaotic' from the linear stability of the fixed points.

    Above the Hopf value rho_H every fixed point is unstable; for the classical parameters
    this is the chaotic regime (rho = 28).
    """
    if rho < 1:
        return "one_point"
    rho_h = sigma * (sigma + beta + 3.0) / (sigma - beta - 1.0)
    return "two_points" if rho < rho_h else "chaotic"


# ---------------------------------------------------------------------------- paper test sets
PAPER_BETA = 2.667  # the rounded value of the paper's code


def unit_scale(data: Any) -> np.ndarray:
    """Each trajectory min-max scaled into [0, 1]: ``(x - min) / (max - min)`` over its
    (time, units) values (one min and max per trajectory, shared by its units).

    ``data``: (trials, time, units); returns a new array of that shape. A constant trajectory
    raises ValueError (its range is 0).
    """
    X = to_numpy(data, "data")
    if X.ndim != 3:
        raise ValueError(f"data must have shape (trials, time, units); got {X.shape}")
    check_finite(X, "data")
    lo = X.min(axis=(1, 2), keepdims=True)
    span = X.max(axis=(1, 2), keepdims=True) - lo
    if np.any(span == 0):
        raise ValueError("data has a constant trajectory; min-max scaling is undefined")
    return (X - lo) / span


def paper_lorenz(
    rho: float, trials: int = 200, T: int = 200, dt: float = 0.01, x0: Any = None, seed: Any = None
) -> System:
    """Lorenz trajectories as in Guilhot et al.: sigma = 10, beta = 2.667, forward Euler,
    initial points uniform in [0, 1)^3 (drawn from ``seed`` unless ``x0`` (trials, 3) is
    given), each trajectory min-max scaled into [0, 1] (:func:`unit_scale`).

    Returns a System with data (trials, T, 3) and ``meta["x0"]`` the initial points.
    """
    trials = check_positive_int(trials, "trials")
    if x0 is None:
        x0 = check_random_state(seed).random((trials, 3))
    sys_ = lorenz(rho=rho, sigma=10.0, beta=PAPER_BETA, T=T, trials=trials, dt=dt, x0=x0, method="euler")
    meta = {**sys_.meta, "scaling": "min-max per trajectory", "x0": np.asarray(x0, dtype=np.float64).copy(),
            "seed": seed_meta(seed)}
    return System(unit_scale(sys_.data), sys_.labels, meta)


def perturb(data: Any, s: float, seed: Any = None) -> np.ndarray:
    """The paper's noise: ``sqrt(1 - s^2) x + s eps``, eps ~ N(0, 1) i.i.d. per entry.

    ``data``: any shape; ``s`` in [0, 1]. Returns a new array (the input is not modified).
    """
    X = to_numpy(data, "data")
    if not (np.isfinite(s) and 0.0 <= s <= 1.0):
        raise ValueError(f"s must be a number in [0, 1]; got {s!r}")
    eps = check_random_state(seed).standard_normal(X.shape)
    return np.sqrt(1.0 - s * s) * X + s * eps


def add_pattern(base: Any, other: Any, m: float) -> np.ndarray:
    """``base + m (other(t) - other(0))``: ``other``'s displacement from each trajectory's
    initial point, weighted by ``m``, added to ``base``. Both (trials, time, units)."""
    A, B = to_numpy(base, "base"), to_numpy(other, "other")
    if A.shape != B.shape or A.ndim != 3:
        raise ValueError(f"base and other must have the same (trials, time, units) shape; got {A.shape}, {B.shape}")
    if not np.isfinite(m):
        raise ValueError(f"m must be a finite number; got {m!r}")
    return A + m * (B - B[:, :1])
