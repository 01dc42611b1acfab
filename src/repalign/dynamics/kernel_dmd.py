"""Kernel DMD: HAVOK DMD on Nystrom kernel features of the delay embedding.

Solver (kernel extended DMD with centres; Williams, Rowley & Kevrekidis 2015, with the Nystrom
approximation of the Gram matrix):

1. Delay-embed each trial and stack the rows into ``H`` ``(N, d)`` exactly as :class:`DMD`.
2. Centres: ``m`` rows of ``H`` drawn without replacement (seeded). ``num_centers`` is a
   fraction of ``N`` when a float in (0, 1] (at least one centre; dsa-metric's ``KernelDMD``
   default is 0.1) or a count when an int >= 1 (at most ``N``).
3. Nystrom features ``Psi = k(H, C) W diag(lam)^{-1/2}`` ``(N, m')`` from the eigenpairs
   ``(lam, W)`` of ``k(C, C)`` above ``lam_max * m * eps``; then ``Psi Psi^T`` is the Nystrom
   approximation ``k(H, C) k(C, C)^+ k(C, H)`` of the ``N x N`` Gram matrix, which is never formed.
4. Steps 2-4 of :mod:`repalign.dynamics.dmd` on ``Psi`` instead of ``H``: thin SVD
   ``Psi = V diag(s) U^T``, rank criterion, within-trial pairs, principal-component (or
   reduced-rank) regression ``v_{t+1} ~= A_v v_t``. ``A_v`` is what DSA compares.

Kernels ``k(x, y)`` (``kernel_width`` ``w``; None = the median distance between the centres):

* ``"linear"``: ``x . y``. When the centres span the embedding space (``m >= d`` rows in
  general position), ``Psi Psi^T = H H^T``: the same ``V``, singular values, ``A_v`` and
  predictions as linear :class:`DMD` (signs are fixed on ``H^T V``, as DMD fixes them on ``U``).
* ``"rbf"``: ``exp(-||x - y||^2 / (2 w^2))``.
* ``"laplacian"``: ``exp(-||x - y|| / w)``.
* ``"polynomial"``: ``(1 + x . y / w^2)^kernel_degree``.

States are read back from reduced coordinates by the least-squares linear decoder
``V^T H[:, :units]`` (the newest block of the embedding); for the linear kernel this equals
DMD's ``diag(s) U^T``. ``U``, ``modes`` and ``A_havok_dmd`` live in feature space here.
Memory: the ``(N, m)`` kernel block and ``(m, m)`` centre Gram matrix, float64.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.spatial.distance import cdist, pdist

from .._validation import check_choice, check_random_state, check_scalar
from .dmd import DMD

__all__ = ["KernelDMD", "KERNELS", "check_kernel_params", "kernel_matrix", "n_centers"]

KERNELS = ("linear", "rbf", "laplacian", "polynomial")


def check_kernel_params(kernel: Any, num_centers: Any, kernel_width: Any, kernel_degree: Any) -> None:
    """Raise ValueError naming the first invalid kernel parameter (``kernel=None``: no kernel)."""
    check_choice(kernel, "kernel", (None,) + KERNELS)
    if isinstance(num_centers, (float, np.floating)):
        check_scalar(num_centers, "num_centers (a fraction of the embedded rows)", float, min_val=0.0, max_val=1.0,
                     include_boundaries="right")
    else:
        check_scalar(num_centers, "num_centers (a fraction in (0, 1] or a count)", int, min_val=1)
    check_scalar(kernel_width, "kernel_width (None: median heuristic)", float, min_val=0.0,
                 include_boundaries="neither", allow_none=True)
    check_scalar(kernel_degree, "kernel_degree", int, min_val=1)


def n_centers(num_centers: float | int, n: int) -> int:
    """Number of centres for ``n`` embedded rows: a fraction (float) or a count (int), in [1, n]."""
    if isinstance(num_centers, (float, np.floating)):
        return int(min(n, max(1, round(num_centers * n))))
    return int(min(n, num_centers))


def kernel_matrix(A: np.ndarray, B: np.ndarray, kernel: str, width: float, degree: int = 3) -> np.ndarray:
    """``k(a_i, b_j)`` for rows of ``A`` ``(n, d)`` and ``B`` ``(m, d)``: an ``(n, m)`` array."""
    if kernel == "linear":
        return A @ B.T
    if kernel == "polynomial":
        return (1.0 + (A @ B.T) / width**2) ** degree
    if kernel == "rbf":
        return np.exp(-cdist(A, B, "sqeuclidean") / (2.0 * width**2))
    return np.exp(-cdist(A, B, "euclidean") / width)


class KernelDMD(DMD):
    """DMD on Nystrom kernel features of the delay embedding (module docstring).

    Parameters: those of :class:`DMD`, plus ``kernel`` (one of :data:`KERNELS`),
    ``num_centers`` (fraction of embedded rows or a count), ``kernel_width`` (None = median
    heuristic), ``kernel_degree`` (polynomial kernel) and ``seed`` (the draw of the centres).

    Fitted attributes: those of :class:`DMD` (``U``/``modes`` in feature space), plus
    ``centers`` ``(m, d)`` and ``kernel_width_`` (the width used).
    """

    def __init__(self, n_delays: int = 1, delay_interval: int = 1, rank: int | None = None,
                 rank_thresh: float | None = None, rank_explained_variance: float | None = None,
                 lamb: float = 0.0, reduced_rank_reg: bool = False, steps_ahead: int = 1, *,
                 kernel: str = "rbf", num_centers: float | int = 0.1, kernel_width: float | None = None,
                 kernel_degree: int = 3, seed: Any = 0) -> None:
        super().__init__(n_delays, delay_interval, rank, rank_thresh, rank_explained_variance, lamb,
                         reduced_rank_reg, steps_ahead)
        if kernel is None:
            raise ValueError(f"kernel must be one of {KERNELS} for KernelDMD (use DMD for none); got None")
        check_kernel_params(kernel, num_centers, kernel_width, kernel_degree)
        self.kernel, self.num_centers = kernel, num_centers
        self.kernel_width, self.kernel_degree = kernel_width, int(kernel_degree)
        self.seed = seed

    def fit(self, X: Any) -> "KernelDMD":
        super().fit(X)
        self._H_fit = None  # only needed during the fit (signs, decoder)
        return self

    def _lift_fit(self, H: np.ndarray) -> np.ndarray:
        rng = check_random_state(self.seed)
        idx = np.sort(rng.choice(H.shape[0], size=n_centers(self.num_centers, H.shape[0]), replace=False))
        self.centers = H[idx].copy()
        if self.kernel_width is not None:
            self.kernel_width_ = float(self.kernel_width)
        else:
            d = pdist(self.centers) if len(idx) > 1 else np.zeros(0)
            d = d[d > 0]
            self.kernel_width_ = float(np.median(d)) if d.size else 1.0
        Kcc = self._k(self.centers, self.centers)
        lam, W = np.linalg.eigh((Kcc + Kcc.T) / 2.0)
        keep = lam > max(lam.max(), 0.0) * len(idx) * np.finfo(float).eps
        if not np.any(keep):
            raise ValueError("X: the kernel matrix of the centres is zero; DMD is undefined")
        self._nystrom = W[:, keep] / np.sqrt(lam[keep])
        self._H_fit = H
        return self._lift(H)

    def _k(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        return kernel_matrix(A, B, self.kernel, self.kernel_width_, self.kernel_degree)

    def _lift(self, H: np.ndarray) -> np.ndarray:
        return self._k(H, self.centers) @ self._nystrom

    def _sign_reference(self, V: np.ndarray, U: np.ndarray) -> np.ndarray:
        return self._H_fit.T @ V  # = U_H diag(s) for the linear kernel: DMD's convention

    def _make_decoder(self, V: np.ndarray) -> np.ndarray:
        return V.T @ self._H_fit[:, : self.n_units]

    def __repr__(self) -> str:
        return (super().__repr__()[:-1] + f", kernel={self.kernel!r}, num_centers={self.num_centers}, "
                f"kernel_width={self.kernel_width}, kernel_degree={self.kernel_degree}, seed={self.seed!r})")
