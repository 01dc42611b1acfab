"""GULP: the distance between the best ridge-regression predictors that two representations allow
(Boix-Adsera, Lawrence, Stepaniants & Rigollet 2022, NeurIPS).

Each system X, an ``(n, p)`` array (samples, features), is centred and scaled so that its total
variance is 1 (``||X_c||_F^2 = n``, the normalisation of the GULP code and of ReSi). With
``S = X_c^T X_c / n`` and ridge ``lam >= 0``, the ridge predictor of any target ``y (n,)`` from X
returns ``H y``, where the ``(n, n)`` hat matrix is::

    H = X_c (S + lam I)^(-1) X_c^T / n = U diag(e / (e + lam)) U^T,

``X_c = U diag(s) V^T`` the thin SVD and ``e = s^2 / n`` the eigenvalues of S (lam = 0: the
projection onto the column space). GULP is the mean squared difference of the two predictors'
outputs over targets; for isotropic targets it is::

    GULP(X, Y) = ||H_x - H_y||_F = sqrt( tr H_x^2 + tr H_y^2 - 2 tr(H_x H_y) )

(eq. 5 of the paper, written in sample space; ReSi and the GULP code return the square). It is a
metric. Computed from the factors ``F = U diag(sqrt(e / (e + lam)))``: ``tr(H_x H_y) =
||F_x^T F_y||_F^2``, so no ``(n, n)`` matrix is formed and pairwise runs from stacked products.
At lam = 0, ``GULP^2 = r_x + r_y - 2 sum_i rho_i^2`` with rho the canonical correlations (a CCA
distance); as lam grows it approaches a linear-CKA-like comparison.

Singular values below ``max(n, p) * eps * s_max`` are treated as zero. With lam = 0 and a rank
that fills the centred sample space (``rank >= n - 1``) every such system has the same H and all
distances are 0 (a warning says so): use lam > 0 or more samples.

Invariances: translation, isotropic scaling (the normalisation), orthogonal maps, permutation;
at lam = 0 also any invertible linear map (not declared, since it fails for lam > 0).
"""

from __future__ import annotations

import warnings

import numpy as np

from .._validation import check_nonconstant, check_scalar
from ..registry import Measure, register
from ._blocks import blockwise_cross


def gulp_factor(X: np.ndarray, lam: float) -> np.ndarray:
    """``F (n, r)`` with ``F F^T = H``, the ridge hat matrix of the normalised system (see module docstring)."""
    n, p = X.shape
    Xc = X - X.mean(axis=0)
    check_nonconstant(Xc, "X", "GULP")
    U, s, _ = np.linalg.svd(Xc, full_matrices=False)
    keep = s > s[0] * max(n, p) * np.finfo(float).eps
    U, s = U[:, keep], s[keep]
    e = s**2 / float(s @ s)  # eigenvalues of S after scaling to unit total variance
    return np.ascontiguousarray(U * np.sqrt(e / (e + lam)))


def _frobenius_sq(stack: np.ndarray) -> np.ndarray:
    return np.einsum("kij,kij->k", stack, stack)


@register
class GULP(Measure):
    """GULP distance between the ridge predictors of two representations (Boix-Adsera et al. 2022)."""

    name = "gulp"
    kind = "distance"
    range = (0.0, np.inf)
    invariances = frozenset({"translation", "isotropic_scaling", "orthogonal", "permutation"})
    is_metric = True
    matched_samples = True
    min_samples = 2
    defaults = {"lam": 0.0}

    def _validate_params(self) -> None:
        check_scalar(self.params["lam"], "lam", float, min_val=0.0)

    def _prepare(self, X: np.ndarray) -> tuple[np.ndarray, float]:
        F = gulp_factor(X, float(self.params["lam"]))
        if self.params["lam"] == 0 and F.shape[1] >= X.shape[0] - 1:
            warnings.warn(
                f"'gulp' with lam=0: X has rank {F.shape[1]} >= n_samples - 1 = {X.shape[0] - 1}, so its "
                "predictor is the projection onto all centred directions and its distance to any such "
                "system is 0; use lam > 0 or more samples", RuntimeWarning, stacklevel=4)
        return F, float(np.sum((F.T @ F) ** 2))

    def _permute_state(self, state: tuple, rows: np.ndarray) -> tuple:
        """State of ``X[rows]``: the hat matrix's factor has one row per sample."""
        return state[0][rows], state[1]

    def _compare(self, a: tuple, b: tuple) -> float:
        cross = float(np.sum((a[0].T @ b[0]) ** 2))
        sq = a[1] + b[1] - 2.0 * cross
        if sq <= 1e-4 * (a[1] + b[1]):  # nearly equal predictors: avoid the cancellation
            return _explicit_distance(a[0], b[0])
        return float(np.sqrt(sq))

    def _compare_many(self, A: list, B: list, symmetric: bool = False) -> np.ndarray:
        """Stacked products for every tr(H_a H_b); nearly equal pairs recomputed explicitly."""
        cross = blockwise_cross([s[0] for s in A], [s[0] for s in B], _frobenius_sq, symmetric)
        sa = np.array([s[1] for s in A])[:, None]
        sb = np.array([s[1] for s in B])[None, :]
        sq = sa + sb - 2.0 * cross
        out = np.sqrt(np.maximum(sq, 0.0))
        close = sq <= 1e-4 * (sa + sb)
        if symmetric:
            close &= np.triu(np.ones(close.shape, dtype=bool))
        for i, j in zip(*np.nonzero(close)):
            out[i, j] = _explicit_distance(A[i][0], B[j][0])
        return out


def _explicit_distance(Fa: np.ndarray, Fb: np.ndarray) -> float:
    """``||Fa Fa^T - Fb Fb^T||_F`` in an orthonormal basis W of [Fa, Fb]: small matrices, no cancellation."""
    W, _ = np.linalg.qr(np.hstack([Fa, Fb]))
    Pa, Pb = W.T @ Fa, W.T @ Fb
    return float(np.linalg.norm(Pa @ Pa.T - Pb @ Pb.T))
