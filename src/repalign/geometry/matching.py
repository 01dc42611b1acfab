"""Unit matching by tuning-curve correlation: hard (one-to-one) and soft (optimal transport).

Each system X, an ``(n, p)`` array (samples, units), is reduced to the correlations between its
units and the other system's: with ``z_i`` the i-th column centred and scaled to unit norm,
``C = Z_x^T Z_y`` is the ``(p, q)`` matrix of Pearson correlations between unit i of X and unit j
of Y over the n samples. A constant unit has no correlation; its column of Z is 0 (it correlates
0 with every unit) rather than an error, so a dead ReLU unit does not make the score undefined.

* ``"hard_matching"`` (Li et al. 2015, "convergent learning"; ReSi's HardCorrelationMatch): the
  one-to-one matching of units that maximises the summed correlation (Hungarian algorithm,
  :func:`scipy.optimize.linear_sum_assignment`), score = the mean correlation over the
  ``min(p, q)`` matched pairs. Range [-1, 1].
* ``"soft_matching"`` with ``assignment="transport"`` (Khosla & Williams 2023, soft matching):
  a transport plan ``P >= 0`` with row sums ``1/p`` and column sums ``1/q`` (each unit carries
  equal mass; units may be split), score ``max_P sum_ij P_ij C_ij``. Because z's have unit norm,
  ``sum_ij P_ij ||z_i - z'_j||^2 = 2 - 2 sum_ij P_ij C_ij``: the score is ``1 - d^2 / 2`` with d
  Khosla & Williams' soft-matching distance on z-scored units. For ``p == q`` the optimal plan
  is a permutation / p (Birkhoff), so the score equals hard matching's. Solved as a linear
  program (HiGHS via :func:`scipy.optimize.linprog`; ``p * q`` variables).
* ``"soft_matching"`` with ``assignment="max"``: ReSi's SoftCorrelationMatch, which is *not*
  optimal transport: every unit takes its best-correlated partner (many-to-one), score
  ``(mean_i max_j C_ij + mean_j max_i C_ij) / 2``.

Invariances: translation, isotropic scaling (indeed any positive rescaling of single units) and
permutation of units; not rotations (units are compared one by one).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.optimize import linear_sum_assignment, linprog

from .._validation import check_choice, check_nonconstant
from ..registry import Measure, register
from ._blocks import blockwise_cross


def unit_correlation_factor(X: np.ndarray) -> np.ndarray:
    """``Z (n, p)``: columns of X centred and scaled to unit norm (constant columns: 0)."""
    Xc = X - X.mean(axis=0)
    check_nonconstant(Xc, "X", "unit correlations")
    ok = np.ptp(X, axis=0) > 0  # constant columns: their centred rounding residue is no signal
    norms = np.linalg.norm(Xc, axis=0)
    Z = np.zeros_like(Xc)
    Z[:, ok] = Xc[:, ok] / norms[ok]
    return Z


def hard_match_score(C: np.ndarray) -> float:
    """Mean correlation of the best one-to-one matching of the ``(p, q)`` correlation matrix."""
    rows, cols = linear_sum_assignment(C, maximize=True)
    return float(C[rows, cols].mean())


def transport_score(C: np.ndarray) -> float:
    """``max sum P_ij C_ij`` over plans with row sums 1/p and column sums 1/q (a linear program)."""
    p, q = C.shape
    if p == q:  # the transport polytope's vertices are permutations / p
        return hard_match_score(C)
    rows = sparse.kron(sparse.eye(p), np.ones((1, q)))  # sum_j P_ij
    cols = sparse.kron(np.ones((1, p)), sparse.eye(q))  # sum_i P_ij
    A = sparse.vstack([rows, cols]).tocsr()
    b = np.concatenate([np.full(p, 1.0 / p), np.full(q, 1.0 / q)])
    res = linprog(-C.ravel(), A_eq=A, b_eq=b, bounds=(0, None), method="highs")
    if res.status != 0:  # pragma: no cover - a feasible bounded LP; HiGHS failing is a bug
        raise RuntimeError(f"soft matching: the transport LP failed ({res.message})")
    return float(-res.fun)


def max_match_score(C: np.ndarray) -> float:
    """ReSi's symmetrised best-partner score: mean of row maxima and column maxima, averaged."""
    return float((C.max(axis=1).mean() + C.max(axis=0).mean()) / 2.0)


class _MatchingBase(Measure):
    kind = "similarity"
    range = (-1.0, 1.0)
    invariances = frozenset({"translation", "isotropic_scaling", "permutation"})
    is_metric = False
    matched_samples = True
    min_samples = 2

    def _score(self, C: np.ndarray) -> float:
        raise NotImplementedError

    def _memory_need(self, n: int, p: int) -> tuple[float, str]:
        return 8.0 * (3 * n * p + 4 * p * p), f"copies of the {n:,} x {p:,} data and {p:,} x {p:,} correlations"

    def _prepare(self, X: np.ndarray) -> np.ndarray:
        return unit_correlation_factor(X)

    def _permute_state(self, state: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """State of ``X[rows]``: centring and unit scaling commute with reordering samples."""
        return state[rows]

    def _compare(self, a: np.ndarray, b: np.ndarray) -> float:
        return self._score(a.T @ b)

    def _compare_many(self, A: list, B: list, symmetric: bool = False) -> np.ndarray:
        """All correlation matrices from a few stacked products; one assignment per pair."""
        return blockwise_cross(A, B, lambda stack: np.array([self._score(C) for C in stack]), symmetric)


@register
class HardMatching(_MatchingBase):
    """Mean correlation of the best one-to-one matching of units (Hungarian on unit correlations)."""

    name = "hard_matching"
    defaults = {}

    def _score(self, C: np.ndarray) -> float:
        return hard_match_score(C)


@register
class SoftMatching(_MatchingBase):
    """Soft matching of units: optimal-transport (Khosla & Williams 2023) or best-partner correlation."""

    name = "soft_matching"
    defaults = {"assignment": "transport"}

    def _validate_params(self) -> None:
        check_choice(self.params["assignment"], "assignment", ("transport", "max"))

    def _memory_need(self, n: int, p: int) -> tuple[float, str]:
        if self.params["assignment"] == "max":
            return super()._memory_need(n, p)
        # the LP holds p*p variables, a 2 p^2-entry constraint matrix and HiGHS's copies
        return 8.0 * (3 * n * p + 12 * p * p), f"a transport LP with {p * p:,} variables (float64)"

    def _score(self, C: np.ndarray) -> float:
        return transport_score(C) if self.params["assignment"] == "transport" else max_match_score(C)
