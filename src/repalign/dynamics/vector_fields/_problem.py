"""The problem: validated unit-norm operators, options, scores, the certified lower bound and the
result type (docs/dsa_optimiser.md, "Conventions" and "Certified lower bound")."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from ..._validation import check_choice, check_finite, check_scalar, to_numpy

GROUPS = ("O", "SO", "GL")
SCORES = ("angular", "euclidean")
_SCREEN_TOL = 1e-4  # gradient norm to which every start is descended before the best is polished
_SINGLE_THREAD_MAX_N = 256  # below this size BLAS threads only add contention
# effort -> (factor on n_restarts, gradient norm to which every start is descended); "default" is
# the search of docs/dsa_optimiser.md; failure rates of each in docs/dsa_optimiser.md ("Effort")
EFFORTS = {"fast": (0.25, 1e-3), "default": (1.0, _SCREEN_TOL), "thorough": (4.0, 1e-5)}


def _blas_threads(n: int) -> AbstractContextManager:
    """One BLAS thread for (n, n) operators up to _SINGLE_THREAD_MAX_N, BLAS's own choice above."""
    return threadpool_limits(limits=1, user_api="blas") if n <= _SINGLE_THREAD_MAX_N else nullcontext()


def _effort_search(n_restarts: int, effort: str) -> tuple[int, float]:
    """(n_restarts actually used, screening gradient tolerance) for an effort level."""
    factor, screen_tol = EFFORTS[effort]
    return (int(np.ceil(n_restarts * factor)) if n_restarts else 0), screen_tol


def _search_budget(n: int, n_restarts: int) -> int:
    """Haar-random starts descended besides the structured ones.

    For n <= 32 a start is cheap (numpy's per-call cost, not arithmetic, sets the time of a batched
    iteration) and 32 descents found a loss at least as low as dsa-metric's on 30 of 30 random
    n = 20 pairs (16: 29 of 30); above, each start costs ~400 iterations of O(n^3), and
    n_restarts / 4 (rounded up) random starts are added to the three structured ones.
    """
    return 8 * n_restarts if n <= 32 else -(-n_restarts // 4)


@dataclass(frozen=True)
class VectorFieldResult:
    """Outcome of :func:`vector_field_distance`.

    score: angular (radians, in [0, pi]) or euclidean distance, as requested.
    loss: ``||A_hat - C B_hat C^{-1}||_F^2`` at the returned C (unit-norm, padded operators).
    C: the transform found, ``(n, n)`` with n the padded size.
    lower_bound: certified lower bound on ``score`` (same units) for O/SO; nan for GL (GL orbits are not closed:
        no such certificate exists; docs/dsa_optimiser.md).
    converged: Riemannian gradient norm below ``tol``, or loss equal to the lower bound.
    n_iter: optimiser iterations of the best start.
    restarts: number of starts that were run.
    method: how the best start was obtained and refined, e.g. ``"spectral+rtr"``, ``"random+rtr"``,
        ``"spectral(certified)"`` (a start already met the lower bound), ``"orthogonal+lbfgs(GL)"``.
    """

    score: float
    loss: float
    C: np.ndarray
    lower_bound: float
    converged: bool
    n_iter: int
    restarts: int
    method: str


# ----------------------------------------------------------------------------- input handling
def _as_operator(X: Any, name: str) -> np.ndarray:
    arr = to_numpy(X, name)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
        raise ValueError(f"{name} must be a square 2-D array (n, n) with n >= 1; got shape {arr.shape}")
    check_finite(arr, name)
    return arr


def _unit_operator(X: Any, name: str) -> np.ndarray:
    """``X`` validated as a square operator and scaled to unit Frobenius norm (a new array)."""
    arr = _as_operator(X, name)
    norm = np.linalg.norm(arr)
    if norm == 0.0:
        raise ValueError(f"{name} is the zero operator; its unit-norm scaling (and the distance) is undefined")
    return arr / norm


def _prepare_pair(A: Any, B: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validated, unit-Frobenius-norm, zero-padded float64 copies of A and B."""
    out = [_unit_operator(A, "A"), _unit_operator(B, "B")]
    n = max(out[0].shape[0], out[1].shape[0])
    padded = []
    for arr in out:
        P = np.zeros((n, n))
        P[: arr.shape[0], : arr.shape[1]] = arr
        padded.append(P)
    return padded[0], padded[1]


def _check_options(group: str, score: str) -> None:
    check_choice(group, "group", GROUPS)
    check_choice(score, "score", SCORES)


def _check_search_params(n_restarts: Any, tol: Any, max_iter: Any, effort: Any = "default") -> None:
    check_choice(effort, "effort", EFFORTS)
    check_scalar(n_restarts, "n_restarts", int, min_val=0)
    check_scalar(max_iter, "max_iter", int, min_val=1)
    check_scalar(tol, "tol", float, min_val=0.0, include_boundaries="neither")


# ----------------------------------------------------------------------------- scores and bound
def _loss_to_score(loss: float, score: str) -> float:
    """Map ||A_hat - M_hat||^2 (unit-norm A_hat, M_hat) to the requested score."""
    loss = max(float(loss), 0.0)
    if score == "euclidean":
        return float(np.sqrt(loss))
    # ||a - m||^2 = 4 sin^2(theta / 2) for unit vectors: accurate for small angles, unlike arccos
    return float(2.0 * np.arcsin(min(np.sqrt(loss) / 2.0, 1.0)))


def _lower_bound_loss(A: np.ndarray, B: np.ndarray) -> float:
    SA, SB = (A + A.T) / 2, (B + B.T) / 2
    KA, KB = (A - A.T) / 2, (B - B.T) / 2
    sym = np.sum((np.linalg.eigvalsh(SA) - np.linalg.eigvalsh(SB)) ** 2)
    skew = np.sum((np.linalg.svd(KA, compute_uv=False) - np.linalg.svd(KB, compute_uv=False)) ** 2)
    return float(sym + skew)


def procrustes_lower_bound(A: Any, B: Any, *, score: str = "angular") -> float:
    """Certified lower bound on the O(n) vector-field Procrustes score of A (n, n) and B (m, m).

    Hoffman-Wielandt on the symmetric parts plus Mirsky on the skew parts of the unit-norm,
    zero-padded operators (docs/dsa_optimiser.md); in radians for ``score="angular"``.
    """
    _check_options("O", score)
    Ah, Bh = _prepare_pair(A, B)
    return _loss_to_score(_lower_bound_loss(Ah, Bh), score)
