"""The Lorenz system, integrated with classical fourth-order Runge-Kutta.

dx/dt = sigma (y - x),   dy/dt = x (rho - z) - y,   dz/dt = x y - beta z.

Fixed points: the origin, and for rho > 1 the pair C+- = (+-q, +-q, rho - 1) with
q = sqrt(beta (rho - 1)).  With sigma = 10, beta = 8/3 (the defaults):

* rho < 1: the origin is the only fixed point and is globally stable ("one_point");
* 1 < rho < rho_H = sigma (sigma + beta + 3) / (sigma - beta - 1) ~= 24.74: the origin is a
  saddle and C+- are stable ("two_points"; e.g. rho = 15);
* rho = 28: all three are unstable, trajectories settle on the chaotic attractor ("chaotic").
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_finite, check_random_state, to_numpy
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
        RK4 step (model time units); 0.01 is well inside RK4's stability region here.
    burn_in : int
        RK4 steps integrated and discarded before the kept samples.
    x0 : (3,) or (trials, 3) array, optional
        Initial states; by default (0, 0, rho - 1 if rho > 1 else 0) + N(0, x0_scale^2 I).
    seed : int or Generator

    Returns
    -------
    System with data (trials, T, 3), labels ``{"regime", "fixed_points", "rho"}``.
    """
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
        X = _rk4_step(X, dt, sigma, rho, beta)
    out = np.empty((trials, T, 3))
    for t in range(T):
        out[:, t] = X
        X = _rk4_step(X, dt, sigma, rho, beta)
    labels = {"regime": regime_of(rho, sigma, beta), "rho": rho, "fixed_points": lorenz_fixed_points(sigma, rho, beta)}
    meta = {"sigma": sigma, "beta": beta, "dt": dt, "burn_in": burn_in, "seed": seed_meta(seed)}
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
