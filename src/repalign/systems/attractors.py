"""Ring, line, point and bistable attractors whose condition averages coincide.

Construction (after Galgali et al. 2023, "Residual dynamics resolves recurrent contributions
to neural computation"): every trial of condition c is

    x(t) = m_c(t) + r(t),        r(t + 1) = r(t) + dt g(r(t)) + sqrt(dt) noise eps(t),

where ``m_c(t)`` is a shared, input-driven condition mean and ``r`` the *residual*, which
evolves under the system's own 2-D dynamics ``g``.  Equivalently, the state is driven by the
input u_c(t) = m_c(t + 1) - m_c(t) and its recurrent dynamics act on the deviation from the
reference trajectory; for the linear kinds (point, line) this is exactly the input-driven
linear system x(t + 1) = x(t) + dt A x(t) + [m_c(t + 1) - m_c(t) - dt A m_c(t)] + noise.

* ``m_c(t) = amplitude * (t / tau) * exp(1 - t / tau) * (cos theta_c, sin theta_c)``, theta_c
  evenly spaced: a pulse response that rises, peaks at t = tau steps and decays.
* The residual fields (``rate`` > 0, ``radius`` R > 0):

  - ring:     g(r) = rate r (1 - |r|^2 / R^2)    -- a circle of fixed points, radius R;
  - line:     g(r) = (0, -rate r_2)              -- a line of fixed points along axis 1;
  - point:    g(r) = -rate r                     -- one stable fixed point;
  - bistable: g(r) = (rate r_1 (1 - r_1^2 / R^2), -rate r_2)  -- wells at (+-R, 0), saddle at 0.

* r(0) = R (cos phi, sin phi), phi uniform.  Single trials then differ: noise-driven
  diffusion along the ring or the line, decay to the point, divergence to the two wells.

Why the condition averages match exactly: every g is odd (g(-r) = -g(r)), so trials come in
antithetic pairs (phi + pi, -eps) whose residuals are exact negatives of each other; the
residuals of each condition therefore average to 0 *in every sample*, not only in
expectation, and the condition average is m_c(t) for every kind.

:func:`arc_attractor` interpolates from a ring (lam = 0) to a line (lam = 1) attractor.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .._validation import check_random_state
from ._base import System, check_nonnegative, check_positive_int, seed_meta

ATTRACTOR_KINDS = ("ring", "line", "point", "bistable")


def _field(kind: str, rate: float, radius: float) -> Callable[[np.ndarray], np.ndarray]:
    R2 = radius**2
    if kind == "ring":
        return lambda r: rate * r * (1.0 - np.sum(r * r, axis=-1, keepdims=True) / R2)
    if kind == "line":
        return lambda r: np.stack([np.zeros_like(r[..., 0]), -rate * r[..., 1]], axis=-1)
    if kind == "point":
        return lambda r: -rate * r
    if kind == "bistable":
        return lambda r: np.stack([rate * r[..., 0] * (1.0 - r[..., 0] ** 2 / R2), -rate * r[..., 1]], axis=-1)
    raise ValueError(f"kind must be one of {ATTRACTOR_KINDS}; got {kind!r}")


def residual_field(kind: str, rate: float = 2.0, radius: float = 1.0) -> Callable[[np.ndarray], np.ndarray]:
    """The residual vector field g of ``kind`` (see module docstring), acting on (..., 2)."""
    return _field(kind, rate, radius)


def condition_means(n_conditions: int = 4, T: int = 100, amplitude: float = 2.0, tau: float = 15.0) -> np.ndarray:
    """Shared condition means m_c(t), shape (n_conditions, T, 2) (see module docstring)."""
    n_conditions = check_positive_int(n_conditions, "n_conditions")
    T = check_positive_int(T, "T")
    t = np.arange(T) / tau
    pulse = amplitude * t * np.exp(1.0 - t)
    theta = 2 * np.pi * np.arange(n_conditions) / n_conditions
    return pulse[None, :, None] * np.stack([np.cos(theta), np.sin(theta)], axis=1)[:, None, :]


def attractor_system(
    kind: str,
    n_conditions: int = 4,
    trials_per_condition: int = 10,
    T: int = 100,
    dt: float = 0.1,
    noise: float = 0.3,
    rate: float = 2.0,
    radius: float = 1.0,
    amplitude: float = 2.0,
    tau: float = 15.0,
    seed: Any = None,
) -> System:
    """Trials of a ``kind`` attractor around the shared condition means.

    Parameters
    ----------
    kind : {"ring", "line", "point", "bistable"}
    n_conditions : int
        Conditions (input directions).
    trials_per_condition : int
        Even number of trials per condition (antithetic pairs).
    T : int
        Time steps per trial; ``dt`` is the Euler-Maruyama step (model time units).
    noise : float
        Residual noise SD per unit sqrt(time).
    rate, radius : float
        Stable-direction rate (1/time) and attractor radius / well position (state units).
    amplitude, tau : float
        Peak of the condition means (state units) and its time (steps).
    seed : int or Generator

    Returns
    -------
    System with data (n_conditions * trials_per_condition, T, 2); labels hold ``kind``,
    ``condition`` (per trial), ``condition_means`` (n_conditions, T, 2) and ``residuals``.
    """
    g = _field(kind, rate, radius)
    trials_per_condition = check_positive_int(trials_per_condition, "trials_per_condition", minimum=2)
    if trials_per_condition % 2:
        raise ValueError(f"trials_per_condition must be even (antithetic pairs); got {trials_per_condition}")
    noise = check_nonnegative(noise, "noise")
    if not (dt > 0 and rate > 0 and radius > 0):
        raise ValueError(f"dt, rate and radius must be positive; got {dt!r}, {rate!r}, {radius!r}")
    rng = check_random_state(seed)
    means = condition_means(n_conditions, T, amplitude, tau)
    half = n_conditions * trials_per_condition // 2
    phi = rng.uniform(0, 2 * np.pi, half)
    eps = rng.standard_normal((T, half, 2))
    r0 = radius * np.stack([np.cos(phi), np.sin(phi)], axis=1)
    # Antithetic pairs: trial 2k + 1 is trial 2k with r0 and eps negated.
    r0 = np.stack([r0, -r0], axis=1).reshape(-1, 2)
    eps = np.stack([eps, -eps], axis=2).reshape(T, -1, 2)
    res = _integrate(g, r0, eps, dt, noise)
    condition = np.repeat(np.arange(n_conditions), trials_per_condition)
    data = means[condition] + res
    labels = {"kind": kind, "condition": condition, "condition_means": means, "residuals": res}
    meta = {"dt": dt, "noise": noise, "rate": rate, "radius": radius, "amplitude": amplitude, "tau": tau,
            "seed": seed_meta(seed)}
    return System(data, labels, meta)


def _integrate(g: Callable, r0: np.ndarray, eps: np.ndarray, dt: float, noise: float) -> np.ndarray:
    """Euler-Maruyama residuals, (trials, T, 2), r(0) = r0."""
    T = eps.shape[0]
    out = np.empty((r0.shape[0], T, 2))
    r = r0.copy()
    scale = noise * np.sqrt(dt)
    for t in range(T):
        out[:, t] = r
        r = r + dt * g(r) + scale * eps[t]
    return out


def arc_attractor(
    lam: float,
    trials: int = 20,
    T: int = 200,
    dt: float = 0.1,
    noise: float = 0.3,
    rate: float = 2.0,
    radius: float = 1.0,
    seed: Any = None,
) -> System:
    """A continuous attractor on a circular arc of curvature (1 - lam) / radius.

    lam = 0 is a ring attractor of radius R (circle centred at the origin); lam = 1 a
    straight line attractor (the line y = R); in between, a circle of radius R / (1 - lam)
    through (0, R) of which the trials visit an ever flatter arc.  In intrinsic coordinates
    (arc length s, normal offset n):

        ds = noise dW_1  (free diffusion along the attractor),  dn = -rate n dt + noise dW_2,

    with s(0) uniform on [-pi R, pi R] (the whole ring at lam = 0) and n(0) = 0, and the
    state is x = c(s) + n nu(s) (c the curve, nu its unit normal).  The same ``seed`` gives
    the same (s, n) paths for every lam (common random numbers), so the samples of two
    values of lam correspond one to one.

    Returns
    -------
    System with data (trials, T, 2); labels ``{"lam", "curvature", "s", "n"}``.
    """
    if not 0 <= lam <= 1:
        raise ValueError(f"lam must be in [0, 1]; got {lam!r}")
    trials = check_positive_int(trials, "trials")
    T = check_positive_int(T, "T")
    noise = check_nonnegative(noise, "noise")
    rng = check_random_state(seed)
    s0 = rng.uniform(-np.pi * radius, np.pi * radius, trials)
    eps = rng.standard_normal((trials, T, 2)) * noise * np.sqrt(dt)
    s = s0[:, None] + np.concatenate([np.zeros((trials, 1)), np.cumsum(eps[:, :-1, 0], axis=1)], axis=1)
    n = np.empty((trials, T))
    n[:, 0] = 0.0
    for t in range(1, T):
        n[:, t] = n[:, t - 1] * (1.0 - dt * rate) + eps[:, t - 1, 1]
    kappa = (1.0 - lam) / radius
    ks = kappa * s
    # sin(ks)/k and (1 - cos(ks))/k written with sinc so that kappa = 0 is the straight line.
    cx = s * np.sinc(ks / np.pi)
    cy = radius - 0.5 * kappa * s**2 * np.sinc(ks / (2 * np.pi)) ** 2
    data = np.stack([cx + n * np.sin(ks), cy + n * np.cos(ks)], axis=-1)
    labels = {"lam": lam, "curvature": kappa, "s": s, "n": n}
    meta = {"dt": dt, "noise": noise, "rate": rate, "radius": radius, "seed": seed_meta(seed)}
    return System(data, labels, meta)
