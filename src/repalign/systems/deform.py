"""Smooth deformations that keep topology (diffeomorphisms onto their image).

* :func:`sigmoid_warp`: y_i = s_i tanh(gain z_i) / gain with z_i = (x_i - mu_i) / s_i the
  standardised unit i (mu_i, s_i its mean and SD over all samples).  Each coordinate map
  is strictly increasing, so the warp is invertible with a positive diagonal Jacobian
  sech^2(gain z_i); ``gain`` -> 0 is the identity, larger gains bend more.
* :class:`RandomDiffeomorphism`: a composition of residual layers
  f_k(x) = x + eps * scale * tanh(W_k x / scale + b_k) with ||W_k||_2 = 1 (spectral norm).
  **Invertibility condition:** the residual term is Lipschitz with constant eps ||W_k||_2 =
  eps, so for eps < 1 each layer is a bi-Lipschitz bijection of R^d (its inverse is the
  Banach fixed point of x = y - eps scale tanh(W x / scale + b)), and its Jacobian
  I + eps diag(sech^2(.)) W has all eigenvalues in the disc |z - 1| <= eps < 1, so
  det J > 0 everywhere (orientation is kept, the sign of det J never changes).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .._validation import check_random_state, to_numpy
from ._base import System, check_positive_int, seed_meta


def sigmoid_warp(X: Any, gain: float = 1.0) -> np.ndarray:
    """Elementwise sigmoid warp of ``X`` (..., units); returns a new float64 array."""
    X = to_numpy(X, "X")
    if not (np.isfinite(gain) and gain > 0):
        raise ValueError(f"gain must be a positive number; got {gain!r}")
    flat = X.reshape(-1, X.shape[-1])
    mu = flat.mean(axis=0)
    sd = flat.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    return sd * np.tanh(gain * (X - mu) / sd) / gain


class RandomDiffeomorphism:
    """A random smooth invertible map of R^dim (see module docstring).

    Parameters
    ----------
    dim : int
        Dimension of the space.
    n_layers : int
        Residual layers composed.
    eps : float
        Layer strength in [0, 1): the invertibility condition.
    scale : float
        Length scale of the bends, in state units (use the data's SD).
    seed : int or Generator
    """

    def __init__(self, dim: int, n_layers: int = 3, eps: float = 0.5, scale: float = 1.0, seed: Any = None):
        self.dim = check_positive_int(dim, "dim")
        self.n_layers = check_positive_int(n_layers, "n_layers")
        if not 0 <= eps < 1:
            raise ValueError(f"eps must be in [0, 1) for the map to be invertible; got {eps!r}")
        if not (np.isfinite(scale) and scale > 0):
            raise ValueError(f"scale must be a positive number; got {scale!r}")
        self.eps, self.scale = float(eps), float(scale)
        rng = check_random_state(seed)
        self.weights, self.biases = [], []
        for _ in range(self.n_layers):
            W = rng.standard_normal((dim, dim))
            self.weights.append(W / np.linalg.norm(W, 2))
            self.biases.append(rng.uniform(-1.0, 1.0, dim))
        self.seed = seed_meta(seed)

    def _check(self, X: Any) -> np.ndarray:
        X = to_numpy(X, "X")
        if X.shape[-1] != self.dim:
            raise ValueError(f"X must have {self.dim} units in its last axis; got shape {X.shape}")
        return X

    def __call__(self, X: Any) -> np.ndarray:
        """Apply the map to ``X`` (..., dim); returns a new array."""
        Y = self._check(X)
        for W, b in zip(self.weights, self.biases):
            Y = Y + self.eps * self.scale * np.tanh(Y @ W.T / self.scale + b)
        return Y

    def jacobian(self, X: Any) -> np.ndarray:
        """Jacobians at the points ``X`` (n, dim), shape (n, dim, dim)."""
        Y = self._check(X).reshape(-1, self.dim)
        J = np.broadcast_to(np.eye(self.dim), (Y.shape[0], self.dim, self.dim)).copy()
        for W, b in zip(self.weights, self.biases):
            pre = Y @ W.T / self.scale + b
            layer = np.eye(self.dim) + self.eps * (1.0 / np.cosh(pre) ** 2)[:, :, None] * W[None]
            J = layer @ J
            Y = Y + self.eps * self.scale * np.tanh(pre)
        return J

    def inverse(self, Y: Any, tol: float = 1e-12, max_iter: int = 500) -> np.ndarray:
        """Invert the map by fixed-point iteration, layer by layer (converges for eps < 1)."""
        X = self._check(Y)
        for W, b in zip(reversed(self.weights), reversed(self.biases)):
            target = X
            for _ in range(max_iter):
                nxt = target - self.eps * self.scale * np.tanh(X @ W.T / self.scale + b)
                done = np.max(np.abs(nxt - X)) <= tol * max(1.0, np.max(np.abs(nxt)))
                X = nxt
                if done:
                    break
        return X


def deform(system: System, fn: Callable[[np.ndarray], np.ndarray], **meta: Any) -> System:
    """A copy of ``system`` with ``fn`` applied to its data (``fn`` maps (..., units) arrays)."""
    return system.with_data(fn(system.data.copy()), deformation=meta or getattr(fn, "__name__", repr(fn)))
