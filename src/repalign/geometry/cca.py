"""Canonical correlation analysis (CCA) and its SVCCA / PWCCA variants.

The canonical correlations rho_1 >= rho_2 >= ... of two centred systems X (n, p) and
Y (n, q) are the singular values of Q_x^T Q_y, where Q_x (n, r_x) and Q_y (n, r_y) are
orthonormal bases of the column spaces of the centred data.  There are
``min(r_x, r_y)`` of them, each in [0, 1].

* ``"cca"``: mean canonical correlation (``statistic="mean"``), or Yanai's R^2_CCA, the
  mean *squared* canonical correlation (``statistic="mean_squared"``, alias ``"cca_r2"``).
* ``"svcca"`` (Raghu et al. 2017): each system is first reduced to its top principal
  components, the fewest explaining a fraction ``threshold`` (default 0.99) of its variance,
  or exactly ``n_components`` of them; then mean CCA between the reduced systems.
* ``"pwcca"`` (Morcos et al. 2018): mean canonical correlation weighted by how much of the
  *first* system X each canonical variate accounts for (see :class:`PWCCA`).

Rank tolerance.  The basis Q_x comes from the SVD of the centred data; singular values
below ``max(n, p) * eps * s_max`` (numpy.linalg.matrix_rank's convention) are treated as
zero, so rank-deficient data (collinear units, p > n - 1) are handled by working in the
numerical column space.

Invariances (n > p, full rank): CCA is invariant to any invertible linear map of either
system's features (hence to orthogonal maps, isotropic scaling and unit permutations) and
to translation.  When ``rank_x + rank_y >= n`` the centred column spaces must intersect and
some canonical correlations are 1 regardless of the data: use many more samples than units.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .._validation import as_system, check_choice, check_nonconstant, check_same_samples, check_scalar
from ..registry import Comparison, Measure, register, register_alias

_STATISTICS = ("mean", "mean_squared")


@dataclass(frozen=True)
class _CCAState:
    Q: np.ndarray  # orthonormal basis of the centred column space, (n, r)
    R: np.ndarray  # Q^T X_c, coordinates of the centred units in that basis, (r, p)
    sv: np.ndarray  # singular values of X_c kept (descending), (r,)


def centre(X: np.ndarray) -> np.ndarray:
    """Column-centred copy of ``X`` (two passes, so constant columns become exactly 0)."""
    Xc = X - X.mean(axis=0)
    return Xc - Xc.mean(axis=0)


def column_basis(Xc: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thin SVD of ``Xc`` (n, p) truncated to its numerical rank.

    Returns ``(U, s, Vt)`` with ``U`` (n, r) orthonormal, ``s`` (r,) descending and ``Vt``
    (r, p); singular values at or below ``max(n, p) * eps * s[0]`` are dropped.
    """
    U, s, Vt = np.linalg.svd(Xc, full_matrices=False)
    tol = max(Xc.shape) * np.finfo(np.float64).eps * (s[0] if s.size else 0.0)
    r = int(np.sum(s > tol))
    return U[:, :r], s[:r], Vt[:r]


def canonical_correlations(X, Y) -> np.ndarray:
    """Canonical correlations (descending) of two matched systems ``X`` (n, p), ``Y`` (n, q)."""
    X, Y = as_system(X, "X", min_samples=2), as_system(Y, "Y", min_samples=2)
    check_same_samples(X.shape[0], Y.shape[0])
    a, b = _cca_state(X, "X"), _cca_state(Y, "Y")
    return _correlations(a.Q, b.Q)[1]


def _cca_state(X: np.ndarray, name: str = "X") -> _CCAState:
    Xc = centre(X)
    check_nonconstant(Xc, name, "CCA")
    U, s, Vt = column_basis(Xc)
    return _CCAState(U, s[:, None] * Vt, s)


def warn_if_saturated(ra: int, rb: int, n: int, name: str) -> None:
    """CCA on ranks with r_a + r_b >= n: the two column spaces (in the (n - 1)-dimensional centred
    sample space) must share directions, so correlations of 1 appear whatever the data, and with a
    full-rank system every pair scores 1.0."""
    if ra + rb >= n:
        warnings.warn(
            f"'{name}': rank_x + rank_y = {ra} + {rb} >= n_samples = {n}, so the centred column spaces "
            "overlap whatever the data and canonical correlations of 1 appear (every pair can score 1.0); "
            "use more samples than the two ranks together, or 'svcca' with fewer components",
            RuntimeWarning,
            stacklevel=4,
        )


def _correlations(Qa: np.ndarray, Qb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(U, rho): left singular vectors and the min(r_a, r_b) canonical correlations."""
    U, rho, _ = np.linalg.svd(Qa.T @ Qb, full_matrices=False)
    c = min(Qa.shape[1], Qb.shape[1])
    return U[:, :c], np.clip(rho[:c], 0.0, 1.0)


class _CCABase(Measure):
    kind = "similarity"
    range = (0.0, 1.0)
    invariances = frozenset({"translation", "isotropic_scaling", "orthogonal", "invertible_linear", "permutation"})
    min_samples = 3

    def _prepare(self, X: np.ndarray) -> _CCAState:
        return _cca_state(X, "X")

    def _compare(self, a: _CCAState, b: _CCAState) -> Comparison:
        warn_if_saturated(a.Q.shape[1], b.Q.shape[1], a.Q.shape[0], self.name)
        _, rho = _correlations(a.Q, b.Q)
        vals = rho**2 if self.params.get("statistic") == "mean_squared" else rho  # only "cca" has the parameter
        return Comparison(float(np.mean(vals)), {"correlations": rho})


@register
class CCA(_CCABase):
    """Mean canonical correlation (or, with statistic='mean_squared', Yanai's R^2_CCA)."""

    name = "cca"
    defaults = {"statistic": "mean"}

    def _validate_params(self) -> None:
        check_choice(self.params["statistic"], "statistic", _STATISTICS)


@register
class SVCCA(_CCABase):
    """SVCCA (Raghu et al. 2017): mean CCA between the systems' top principal components.

    Each system keeps the fewest principal components whose cumulative variance reaches
    ``threshold`` (default 0.99), or exactly ``n_components`` of them (capped at its rank);
    give exactly one of the two (passing ``n_components`` alone unsets ``threshold``).
    Because that truncation depends on the variance spectrum, SVCCA is *not* invariant to
    general invertible linear maps; it is invariant to translation, isotropic scaling,
    orthogonal maps and unit permutations.
    """

    name = "svcca"
    invariances = frozenset({"translation", "isotropic_scaling", "orthogonal", "permutation"})
    defaults = {"threshold": 0.99, "n_components": None}

    def __init__(self, **params) -> None:
        if params.get("n_components") is not None and "threshold" not in params:
            params["threshold"] = None
        super().__init__(**params)

    def _validate_params(self) -> None:
        if (self.params["threshold"] is None) == (self.params["n_components"] is None):
            raise ValueError(
                "give exactly one of threshold (fraction of variance kept) and n_components; got "
                f"threshold={self.params['threshold']!r}, n_components={self.params['n_components']!r}"
            )
        check_scalar(self.params["threshold"], "threshold", float, min_val=0, max_val=1, include_boundaries="right",
                     allow_none=True)
        check_scalar(self.params["n_components"], "n_components", int, min_val=1, allow_none=True)

    def _prepare(self, X: np.ndarray) -> _CCAState:
        full = _cca_state(X, "X")
        if self.params["n_components"] is not None:
            k = min(int(self.params["n_components"]), full.sv.size)
        else:
            frac = np.cumsum(full.sv**2) / np.sum(full.sv**2)
            k = int(np.searchsorted(frac, self.params["threshold"] - 1e-12) + 1)
        return _CCAState(full.Q[:, :k], full.R[:k], full.sv[:k])


@register
class PWCCA(_CCABase):
    """PWCCA (Morcos et al. 2018): canonical correlations weighted by X's projection weights.

    With X's canonical variates h_i = Q_x u_i (unit-norm sample vectors, i = 1..c,
    c = min(rank_x, rank_y)) and X's centred units x_j (columns of X_c), the weight of
    correlation rho_i is alpha_i = sum_j |<h_i, x_j>|, normalised to sum to 1 (Morcos et al.
    2018, eq. 2), and PWCCA = sum_i alpha_i rho_i.

    Asymmetric (``symmetric = False``): the weights always come from the *first* system X.
    (google/svcca's ``compute_pwcca`` instead weights whichever system has fewer units and
    projects uncentred activations; here the side is fixed and the units are centred, so the
    score is translation invariant.)  The weights depend on X's unit basis, so PWCCA is not
    invariant to rotating X; rotating, or any invertible linear map of, Y alone leaves it
    unchanged.  Declared invariances are those that hold for either argument.
    """

    name = "pwcca"
    symmetric = False
    invariances = frozenset({"translation", "isotropic_scaling", "permutation"})
    defaults = {}

    def _compare(self, a: _CCAState, b: _CCAState) -> Comparison:
        warn_if_saturated(a.Q.shape[1], b.Q.shape[1], a.Q.shape[0], self.name)
        U, rho = _correlations(a.Q, b.Q)
        # <h_i, x_j> = (U^T Q_x^T X_c)_ij = (U^T R)_ij
        alpha = np.abs(U.T @ a.R).sum(axis=1)
        alpha = alpha / alpha.sum()
        return Comparison(float(alpha @ rho), {"correlations": rho, "weights": alpha})


register_alias("cca_r2", "cca", statistic="mean_squared")
