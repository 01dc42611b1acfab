"""Small dynamical examples with a known answer.

``circle_oval_walk`` reproduces the three 2-D processes of the Neuromatch Academy NeuroAI
tutorial on DSA (W1D3, Tutorial 5), ``x(t+1) = A x(t) + B eps(t)``, ``eps ~ N(0, I_2)``,
``x(0) = 0``, with the tutorial's matrices (r = 0.1 rad per step, s = 4, c = -0.95):

* Circle: ``A = [[cos r, sin r], [-sin r, cos r]]`` (a rotation, eigenvalues ``exp(+-i r)``),
  ``B = I``.
* Oval: ``A = V S^{-1} R S V^T`` with ``S = diag(1, s)`` and ``V`` the 45-degree rotation
  ``[[1, 1], [-1, 1]] / sqrt(2)``: the same rotation seen through a non-orthogonal map, so the
  same eigenvalues as Circle but an elongated orbit; ``B = I``.
* Walk: ``A = 0.9 I`` (real eigenvalues, no rotation), ``B = [[1, c], [0, sqrt(1 - c^2)]]``:
  strongly correlated noise makes its cloud an elongated ellipse like the Oval's.

Circle and Oval share their dynamics (conjugate operators), Oval and Walk their geometry (both
elongated clouds). The rotations are not damped (|eigenvalue| = 1), as in the tutorial: the
processes are not stationary, their spread grows like sqrt(t).

``related_operators`` draws DMD-like operators whose DSA distances are known to be small: orthogonal
conjugations of one operator, plus perturbations of a chosen relative size (0 gives exact conjugates,
DSA distance 0).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_random_state, check_scalar

__all__ = ["circle_oval_walk", "CIRCLE_OVAL_WALK_MATRICES"]


def _rotation(r: float) -> np.ndarray:
    return np.array([[np.cos(r), np.sin(r)], [-np.sin(r), np.cos(r)]])


def _matrices(r: float = 0.1, s: float = 4.0, c: float = -0.95) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    R = _rotation(r)
    S, S_inv = np.diag([1.0, s]), np.diag([1.0, 1.0 / s])
    V = np.array([[1.0, 1.0], [-1.0, 1.0]]) / np.sqrt(2.0)
    return {
        "circle": (R, np.eye(2)),
        "oval": (V @ S_inv @ R @ S @ V.T, np.eye(2)),
        "walk": (0.9 * np.eye(2), np.array([[1.0, c], [0.0, np.sqrt(1.0 - c * c)]])),
    }


CIRCLE_OVAL_WALK_MATRICES = _matrices()


def circle_oval_walk(T: int = 1000, seed: Any = 0) -> dict[str, np.ndarray]:
    """The Circle / Oval / Walk processes (module docstring), each a ``(T, 2)`` array.

    Row ``t`` is ``x(t + 1)``: the ``T`` states after the zero initial state. One generator
    (``seed``: int or Generator) draws the noise of circle, oval and walk in that order.
    """
    T = check_scalar(T, "T", int, min_val=1)
    rng = check_random_state(seed)
    out = {}
    for name, (A, B) in CIRCLE_OVAL_WALK_MATRICES.items():
        noise = rng.standard_normal((T, 2)) @ B.T
        x = np.zeros(2)
        traj = np.empty((T, 2))
        for t in range(T):
            x = A @ x + noise[t]
            traj[t] = x
        out[name] = traj
    return out


def related_operators(n: int, k: int, eps: float, seed: int = 0) -> list[np.ndarray]:
    """``k`` operators ``Q_i (A0 + eps ||A0|| E_i / ||E_i||) Q_i^T``, each ``(n, n)``: one standard
    Gaussian ``A0``, Gaussian perturbation directions ``E_i`` of relative Frobenius size ``eps``, and
    Haar-random orthogonal ``Q_i`` (``scipy.stats.ortho_group`` seeded ``seed + i``)."""
    from scipy.stats import ortho_group  # scipy.stats costs ~0.3 s: not at `import repalign`

    n, k = check_scalar(n, "n", int, min_val=1), check_scalar(k, "k", int, min_val=1)
    eps = check_scalar(eps, "eps", float, min_val=0.0)
    rng = np.random.default_rng(seed)
    A0 = rng.standard_normal((n, n))
    out = []
    for i in range(k):
        E = rng.standard_normal((n, n))
        Q = ortho_group.rvs(n, random_state=seed + i)
        out.append(Q @ (A0 + eps * np.linalg.norm(A0) * E / np.linalg.norm(E)) @ Q.T)
    return out
