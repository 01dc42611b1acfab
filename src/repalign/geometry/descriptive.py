"""Differences of one descriptive statistic of each system (ReSi's definitions, Klabunde et al. 2024).

Each system X, an ``(n, p)`` array (samples, features), is reduced to one number s(X); the
measure is ``|s(X) - s(Y)|`` (0 for different systems with equal statistics: a pseudometric,
not declared a metric). Samples need not correspond (``matched_samples = False``).

* ``"magnitude_difference"``: ``s(X) = ||mean_i x_i||``, the length of the mean representation
  (ReSi's code; units of the data). Invariant to rotations and permutations of units.
* ``"concentricity_difference"``: ``s(X) = mean_i cos(x_i, mean(X))``, how concentrated the
  samples are around the direction of their mean (a zero vector has cosine 0, the convention of
  :func:`sklearn.metrics.pairwise.cosine_similarity` that ReSi uses). In [0, 2]; invariant to
  rotations, permutations and isotropic scaling.
* ``"uniformity_difference"``: ``s(X) = log( mean_ij exp(-t ||x_i - x_j||^2) )`` over all n^2
  ordered pairs (Wang & Isola 2020; t = 2 as in ReSi): how uniformly the samples spread, in
  ``[-log n, 0]``. Invariant to translation, rotations and permutations; not to scaling.
  ``O(n^2)`` work (distances in blocks, no n x n matrix kept).

All three are invariant to reordering the samples (``sample_permutation``).
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp
from scipy.spatial.distance import cdist

from .._validation import check_scalar
from ..registry import Measure, register


class _StatisticDifference(Measure):
    kind = "distance"
    range = (0.0, np.inf)
    is_metric = False
    matched_samples = False
    min_samples = 1
    defaults = {}

    def _statistic(self, X: np.ndarray) -> float:
        raise NotImplementedError

    def _memory_need(self, n: int, p: int) -> tuple[float, str]:
        return 8.0 * 3 * n * p, f"copies of the {n:,} x {p:,} data (float64)"

    def _prepare(self, X: np.ndarray) -> float:
        return self._statistic(X)

    def _compare(self, a: float, b: float) -> float:
        return abs(a - b)

    def _compare_many(self, A: list, B: list, symmetric: bool = False) -> np.ndarray:
        return np.abs(np.array(A, dtype=float)[:, None] - np.array(B, dtype=float)[None, :])


@register
class MagnitudeDifference(_StatisticDifference):
    """Difference of the lengths of the two mean representations, | ||mean X|| - ||mean Y|| | (ReSi)."""

    name = "magnitude_difference"
    invariances = frozenset({"orthogonal", "permutation", "sample_permutation"})

    def _statistic(self, X: np.ndarray) -> float:
        return float(np.linalg.norm(X.mean(axis=0)))


def cosine_to_mean(X: np.ndarray) -> np.ndarray:
    """``(n,)`` cosines between each row and the mean row (0 where either vector is zero)."""
    mu = X.mean(axis=0)
    denom = np.linalg.norm(X, axis=1) * np.linalg.norm(mu)
    dots = X @ mu
    return np.divide(dots, denom, out=np.zeros_like(dots), where=denom > 0)


@register
class ConcentricityDifference(_StatisticDifference):
    """Difference of mean cosine between samples and their mean direction (ReSi's concentricity)."""

    name = "concentricity_difference"
    range = (0.0, 2.0)
    invariances = frozenset({"orthogonal", "permutation", "isotropic_scaling", "sample_permutation"})

    def _statistic(self, X: np.ndarray) -> float:
        return float(cosine_to_mean(X).mean())


def uniformity(X: np.ndarray, t: float = 2.0, block: int = 1024) -> float:
    """``log mean_ij exp(-t ||x_i - x_j||^2)`` over all ordered pairs, in blocks of rows."""
    n = X.shape[0]
    parts = [logsumexp(-t * cdist(X[i:i + block], X, "sqeuclidean")) for i in range(0, n, block)]
    return float(logsumexp(parts) - 2.0 * np.log(n))


@register
class UniformityDifference(_StatisticDifference):
    """Difference of Wang & Isola's uniformity, log mean exp(-t ||x_i - x_j||^2) (ReSi, t = 2)."""

    name = "uniformity_difference"
    invariances = frozenset({"translation", "orthogonal", "permutation", "sample_permutation"})
    defaults = {"t": 2.0}

    def _validate_params(self) -> None:
        check_scalar(self.params["t"], "t", float, min_val=0.0, include_boundaries="neither")

    def _memory_need(self, n: int, p: int) -> tuple[float, str]:
        b = min(n, 1024)
        return 8.0 * (3 * n * p + 2 * b * n), f"the data and a {b:,} x {n:,} block of distances (float64)"

    def _statistic(self, X: np.ndarray) -> float:
        return uniformity(X, float(self.params["t"]))
