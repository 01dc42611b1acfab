"""Observation of a latent system through a random map into N neurons, with noise.

y = f((x C^T + b) / s) + noise * sd(y_clean) * eps,   eps ~ N(0, 1),

with C an (N, d) Gaussian matrix with entries N(0, 1/d), s the overall SD of x C^T (so a
nonlinearity acts in its curved range whatever the latent scale), b ~ N(0, 0.5^2) per
neuron, and f the identity (linear observation: b = 0, s = 1) or a pointwise nonlinearity.
``noise`` is relative: its SD is ``noise`` times the SD of the noise-free observations.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .._validation import check_random_state, to_numpy
from ._base import System, check_nonnegative, check_positive_int, seed_meta

NONLINEARITIES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "tanh": np.tanh,
    "softplus": lambda z: np.logaddexp(0.0, z),
    "relu": lambda z: np.maximum(z, 0.0),
}


def random_observation(d: int, n_neurons: int, seed: Any = None) -> np.ndarray:
    """A random (n_neurons, d) loading matrix with N(0, 1/d) entries."""
    d = check_positive_int(d, "d")
    n_neurons = check_positive_int(n_neurons, "n_neurons")
    return check_random_state(seed).standard_normal((n_neurons, d)) / np.sqrt(d)


def observe(
    system: System | Any,
    n_neurons: int = 50,
    nonlinearity: str | Callable | None = None,
    noise: float = 0.0,
    seed: Any = None,
    C: Any = None,
) -> System:
    """Observe a latent ``system`` (System or (trials, time, d) array) through N neurons.

    Parameters
    ----------
    n_neurons : int
        Observed units N.
    nonlinearity : None, "tanh", "softplus", "relu" or callable
        Pointwise f (None: linear observation).
    noise : float
        Observation-noise SD relative to the noise-free observations' SD.
    seed : int or Generator
        Draws C (unless given), b and the noise, in that order.
    C : (n_neurons, d) array, optional
        A fixed loading matrix (e.g. to observe several systems through the same map).

    Returns
    -------
    System with data (trials, time, n_neurons); labels of the latent plus ``"C"``.
    """
    latent = system if isinstance(system, System) else System(to_numpy(system, "system"))
    X = latent.data
    noise = check_nonnegative(noise, "noise")
    rng = check_random_state(seed)
    C = random_observation(X.shape[-1], n_neurons, rng) if C is None else to_numpy(C, "C")
    if C.ndim != 2 or C.shape[1] != X.shape[-1]:
        raise ValueError(f"C must be (n_neurons, {X.shape[-1]}); got shape {C.shape}")
    Z = X @ C.T
    f = NONLINEARITIES.get(nonlinearity) if isinstance(nonlinearity, str) else nonlinearity
    if isinstance(nonlinearity, str) and f is None:
        raise ValueError(
            f"nonlinearity must be one of {sorted(NONLINEARITIES)}, a callable or None; got {nonlinearity!r}"
        )
    if f is not None:
        s = Z.std()
        Z = f((Z + 0.5 * s * rng.standard_normal(C.shape[0])) / (s if s > 0 else 1.0))
    sd = Z.std()
    Y = Z + noise * sd * rng.standard_normal(Z.shape)
    meta = {**latent.meta, "n_neurons": C.shape[0], "nonlinearity": str(nonlinearity), "obs_noise": noise,
            "obs_seed": seed_meta(seed)}
    return System(Y, {**latent.labels, "C": C}, meta)
