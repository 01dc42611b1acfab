"""Comparisons of the two systems' distance matrices: RSM norm difference and distance correlation.

Each system X, an ``(n, p)`` array (samples, features), becomes its ``(n, n)`` matrix of Euclidean
distances between samples, ``D_ij = ||x_i - x_j||`` (units of the data). Both measures need
``O(n^2)`` memory per system (checked before allocating).

* ``"rsm_norm_difference"`` (Shahbazi et al. 2021; ReSi's RSMNormDifference): ``||D_x - D_y||``
  with ``norm="frobenius"`` (the definition in the ReSi survey, Klabunde et al. 2023) or
  ``norm="spectral"`` (the largest singular value of ``D_x - D_y``: what ReSi's code computes,
  since ``numpy.linalg.norm(M, ord=2)`` of a square matrix is the spectral norm). A metric on
  systems modulo the invariances; units of the data (not scale invariant).
* ``"distance_correlation"`` (Szekely, Rizzo & Bakirov 2007): with ``A`` the double-centred
  ``D_x`` (``A_ij = D_ij - mean_i - mean_j + mean``) and B that of Y, the V-statistics
  ``dCov^2 = mean(A * B)``, ``dVar_x^2 = mean(A * A)`` give ``dCor = sqrt(dCov^2 / sqrt(dVar_x^2
  dVar_y^2))`` in [0, 1], 0 iff the samples are independent (population version). Equal to
  ``dcor.distance_correlation`` (the default V-statistic). Pairwise is batched: every
  ``mean(A_i * A_j)`` comes from stacked products of the flattened matrices.

Invariances (both): translation, orthogonal maps, permutation of units; distance correlation also
isotropic scaling.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import pdist, squareform

from .._validation import check_choice, check_nonconstant
from ..registry import Measure, register
from ._blocks import blockwise_cross


def distance_matrix(X: np.ndarray) -> np.ndarray:
    """``(n, n)`` Euclidean distances between the rows of X."""
    return squareform(pdist(X, "euclidean"))


def double_centre(D: np.ndarray) -> np.ndarray:
    """``D - row means - column means + grand mean`` (a new array)."""
    return D - D.mean(axis=0, keepdims=True) - D.mean(axis=1, keepdims=True) + D.mean()


class _DistanceMatrixBase(Measure):
    matched_samples = True
    min_samples = 2
    memory_way_out = "use fewer samples (e.g. a random subset of stimuli)"

    def _memory_need(self, n: int, p: int) -> tuple[float, str]:
        return 8.0 * (n * p + 3.0 * n * n), f"~3 {n:,} x {n:,} distance matrices (float64)"

    def _permute_state(self, state, rows: np.ndarray):
        """State of ``X[rows]``: the distance matrix with rows and columns reordered."""
        if isinstance(state, tuple):
            return state[0][np.ix_(rows, rows)], state[1]
        return state[np.ix_(rows, rows)]


@register
class RSMNormDifference(_DistanceMatrixBase):
    """Norm of the difference of the two Euclidean distance matrices (ReSi's RSM norm difference)."""

    name = "rsm_norm_difference"
    kind = "distance"
    range = (0.0, np.inf)
    invariances = frozenset({"translation", "orthogonal", "permutation"})
    is_metric = True
    defaults = {"norm": "frobenius"}

    def _validate_params(self) -> None:
        check_choice(self.params["norm"], "norm", ("frobenius", "spectral"))

    def _prepare(self, X: np.ndarray) -> np.ndarray:
        return distance_matrix(X)

    def _compare(self, a: np.ndarray, b: np.ndarray) -> float:
        diff = a - b
        if self.params["norm"] == "frobenius":
            return float(np.linalg.norm(diff))
        return float(np.abs(np.linalg.eigvalsh(diff)).max())  # symmetric: spectral norm = max |eigenvalue|


@register
class DistanceCorrelation(_DistanceMatrixBase):
    """Distance correlation of Szekely et al. (2007) between the two systems (V-statistic, in [0, 1])."""

    name = "distance_correlation"
    kind = "similarity"
    range = (0.0, 1.0)
    invariances = frozenset({"translation", "orthogonal", "permutation", "isotropic_scaling"})
    is_metric = False
    defaults = {}

    def _prepare(self, X: np.ndarray) -> tuple[np.ndarray, float]:
        check_nonconstant(X - X.mean(axis=0), "X", "distance correlation")
        A = double_centre(distance_matrix(X))
        return A, float(np.mean(A * A))

    def _compare(self, a: tuple, b: tuple) -> float:
        return _dcor(float(np.mean(a[0] * b[0])), a[1], b[1])

    def _compare_many(self, A: list, B: list, symmetric: bool = False) -> np.ndarray:
        flat = lambda states: [s[0].reshape(-1, 1) for s in states]  # noqa: E731
        n2 = A[0][0].size
        cross = blockwise_cross(flat(A), flat(B), lambda stack: stack[:, 0, 0], symmetric) / n2
        out = np.empty(cross.shape)
        for i, a in enumerate(A):
            for j, b in enumerate(B):
                out[i, j] = _dcor(cross[i, j], a[1], b[1])
        return out


def _dcor(dcov2: float, dvar2_x: float, dvar2_y: float) -> float:
    """``sqrt(dCov^2 / sqrt(dVar_x^2 dVar_y^2))``, clipped to [0, 1] against rounding."""
    return float(np.sqrt(min(max(dcov2 / np.sqrt(dvar2_x * dvar2_y), 0.0), 1.0)))
