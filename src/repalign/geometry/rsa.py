"""Representational similarity analysis: the RSA measures, and the public names of RSA.

RSA scores two systems by comparing their RDMs (representational dissimilarity matrices). The
RDMs are built in :mod:`repalign.geometry.rdm`, compared in :mod:`repalign.geometry.rsa_compare`;
both are re-exported here, so ``from repalign.geometry.rsa import rdm, compare_rdms`` works.

* ``"rsa"``: a similarity comparator (``COMPARATORS``) of the two RDMs, in [-1, 1].
* ``"rsa_distance"``: a distance comparator (``DISTANCE_COMPARATORS``: ``"euclidean"``,
  ``"bures_metric"``) of the two RDMs, >= 0 in the RDM's units.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_choice, check_scalar
from ..registry import Measure, register
from .rdm import (  # noqa: F401  (public names of RSA)
    NOISE_METHODS,
    PER_CHANNEL_METHODS,
    RDM_METHODS,
    SQUARED_METHODS,
    noise_covariance,
    rdm,
    squareform,
)
from .rsa_compare import (  # noqa: F401
    BURES_COMPARATORS,
    COMPARATORS,
    DISTANCE_COMPARATORS,
    DOT_COMPARATORS,
    _permuted_condensed,
    _RDMState,
    compare_rdms,
    prepare_rdm,
    score_block,
    _score,
)


__all__ = ["RDM_METHODS", "SQUARED_METHODS", "PER_CHANNEL_METHODS", "NOISE_METHODS", "COMPARATORS",
           "DISTANCE_COMPARATORS", "DOT_COMPARATORS", "BURES_COMPARATORS", "rdm", "squareform",
           "noise_covariance", "compare_rdms", "prepare_rdm", "RSA", "RSADistance"]


class _RSABase(Measure):
    """Shared parameters and steps of the RSA measures: an RDM per system, then a comparator.

    Parameters (read from ``self.params``): ``rdm`` (RDM method), ``compare`` (comparator; the
    parameter keeps rsatoolbox's name although the method ``compare`` exists too), ``noise``
    (for 'mahalanobis'/'crossnobis', see :func:`rdm`) and ``n_partitions``: the rows of X are
    ``n_partitions`` repeated measurements of the conditions, partition-major (row ``k =
    partition * n_conditions + condition``, what a ``(partitions, conditions, channels)`` array
    becomes); required by 'crossnobis', and the other methods average the repeats.
    """

    matched_samples = True
    min_samples = 3
    comparators: tuple = COMPARATORS

    def _validate_params(self) -> None:
        p = self.params
        check_choice(p["rdm"], "rdm", RDM_METHODS)
        check_choice(p["compare"], "compare", self.comparators)
        P = check_scalar(p["n_partitions"], "n_partitions", int, min_val=1, allow_none=True)
        if p["rdm"] == "crossnobis" and (P is None or P < 2):
            raise ValueError("rdm='crossnobis' needs n_partitions >= 2 (repeated measurements)")
        if p["noise"] is not None and p["rdm"] not in ("mahalanobis", "crossnobis"):
            raise ValueError(f"noise is only used by rdm='mahalanobis' or 'crossnobis'; got rdm={p['rdm']!r}")

    def _min_samples(self) -> int:
        return 3 * (self.params["n_partitions"] or 1)

    memory_way_out = ("use fewer conditions (average repeated samples into conditions), or a measure computed "
                      "in feature space such as linear 'cka' or 'procrustes'")

    def _memory_need(self, n: int, p: int) -> tuple[float, str]:
        """The condensed RDM and the comparator's copies of it (ranks, argsorts, centring: ~8 vectors of
        n_c (n_c - 1) / 2 float64); the whitening and bures comparators also form n_c x n_c matrices."""
        n_c = n // (self.params["n_partitions"] or 1)
        m = n_c * (n_c - 1) / 2
        need = 8.0 * m * 8 + 2.0 * n * p * 8
        arrays = f"~8 condensed RDMs of {int(m):,} float64 entries, {n_c:,} conditions"
        if (self.params["compare"] in ("cosine_cov", "corr_cov") + BURES_COMPARATORS
                or self.params["rdm"] in ("mahalanobis", "crossnobis")):
            need += 4.0 * n_c * n_c * 8
            arrays += f", and 4 {n_c:,} x {n_c:,} matrices"
        return need, arrays

    def _prepare(self, X: np.ndarray) -> _RDMState:
        P, method, noise = self.params["n_partitions"], self.params["rdm"], self.params["noise"]
        if P is None:
            d = rdm(X, method, noise=noise)
        else:
            n = X.shape[0]
            if n % P:
                raise ValueError(f"X has {n} rows, not a multiple of n_partitions={P}")
            d = rdm(X.reshape(P, n // P, X.shape[1]), method, noise=noise)
        return prepare_rdm(d, self.params["compare"])

    @property
    def permutes_state(self) -> bool:
        """Rows are conditions (so a permutation of rows permutes the RDM) only without partitions."""
        return self.params["n_partitions"] is None

    def _permute_state(self, state: _RDMState, rows: np.ndarray) -> _RDMState:
        """State of ``X[rows]``: the RDM's rows and columns permuted, not rebuilt. Every comparator's
        vector is an entrywise function of the RDM's entries (ranks, centring, scaling) or, for the
        whitened ones, the condensed entries then the diagonal of G, so it permutes the same way;
        the bures comparators' factor of G permutes by rows."""
        rows = np.asarray(rows)
        if state.factor is not None:
            return _RDMState(state.vec, state.ties, np.ascontiguousarray(state.factor[rows]), state.trace)
        n = len(rows)
        m = n * (n - 1) // 2
        vec = np.empty_like(state.vec)
        vec[:m] = _permuted_condensed(state.vec[:m], rows)
        if state.vec.size > m:  # whitened: diagonal of G after the condensed part
            vec[m:] = state.vec[m:][rows]
        return _RDMState(vec, state.ties)

    def _compare(self, a: _RDMState, b: _RDMState) -> float:
        return _score(a, b, self.params["compare"])

    def _compare_many(self, A: list, B: list, symmetric: bool = False):
        """One matrix product (or batched SVDs for bures); Kendall's go through the loop."""
        return score_block(A, B, self.params["compare"])


@register
class RSA(_RSABase):
    """Representational similarity analysis: a comparator between the systems' RDMs.

    Parameters as in :class:`_RSABase`: ``rdm`` (default 'correlation'), ``compare`` (a
    similarity comparator, default 'spearman'), ``noise``, ``n_partitions``.

    Declared invariances are those of the defaults (correlation RDM, Spearman): permutation
    and isotropic scaling of the units, monotonic maps of the dissimilarities. Other choices
    differ: a euclidean/sqeuclidean/gaussian RDM is invariant to orthogonal maps and
    translation, a poisson RDM is not invariant to scaling, and only the rank comparators are
    invariant to monotonic maps.
    """

    name = "rsa"
    kind = "similarity"
    range = (-1.0, 1.0)
    invariances = frozenset({"permutation", "isotropic_scaling", "monotonic"})
    is_metric = False
    symmetric = True
    defaults = {"rdm": "correlation", "compare": "spearman", "noise": None, "n_partitions": None}


@register
class RSADistance(_RSABase):
    """RSA as a distance: the Euclidean or squared Bures distance between the systems' RDMs.

    Parameters as in :class:`_RSABase`: ``rdm`` (default 'correlation'), ``compare``
    ('euclidean', default: ``||a - b||`` of the condensed RDMs, ReSi's ``RSA_*_euclidean``; or
    'bures_metric': rsatoolbox's squared Bures metric), ``noise``, ``n_partitions``. In the
    units of the RDMs, so not invariant to scaling when the RDM is not (correlation RDMs are:
    the default is invariant to isotropic scaling and permutations of the units).
    """

    name = "rsa_distance"
    kind = "distance"
    range = (0.0, np.inf)
    invariances = frozenset({"permutation", "isotropic_scaling"})
    is_metric = False
    symmetric = True
    comparators = DISTANCE_COMPARATORS
    defaults = {"rdm": "correlation", "compare": "euclidean", "noise": None, "n_partitions": None}
