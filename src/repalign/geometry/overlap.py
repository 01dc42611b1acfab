"""Overlap of the two systems' principal subspaces: eigenspace overlap score and ENSD.

Each system X is an ``(n, p)`` array (samples, features).

* ``"eigenspace_overlap"`` (May, Zhang, Dao & Re 2019; ReSi's EigenspaceOverlapScore):
  ``EOS = ||U_x^T U_y||_F^2 / max(p, q)``, with ``U`` an orthonormal basis of the column space
  of X (left singular vectors of the numerical rank; singular values below ``max(n, p) * eps *
  s_max`` dropped). X is *not* centred, as in ReSi. In [0, 1]; 1 when the column spaces agree
  and both systems have full column rank (a rank-deficient X scores rank / p against itself).
  Invariant to any invertible linear map of the features (hence rotations and scaling) and
  permutations; not to translation.
* ``"ensd"`` (Giaffar, Rangel Buitrago & Koulakov 2023): the effective number of shared
  dimensions. With centred Grams ``K = X_c X_c^T`` and ``L = Y_c Y_c^T``::

      ENSD = tr(K L) tr(K) tr(L) / (tr(K^2) tr(L^2)) = PR_x PR_y tr(K L) / (tr K tr L)

  where ``PR = tr(K)^2 / tr(K^2)`` is the participation ratio, so ``ENSD(X, X) = PR_x`` (a
  count of dimensions; a similarity). ``ENSD / sqrt(PR_x PR_y)`` is linear CKA, so ENSD lies in
  ``[0, sqrt(PR_x PR_y)]``. Computed in feature space (``tr(K L) = ||X_c^T Y_c||_F^2``). Invariant to
  translation, rotations, isotropic scaling and permutation.

Both batch pairwise through stacked products of the per-system factors.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_nonconstant
from ..registry import Measure, register
from ._blocks import blockwise_cross


def _frobenius_sq(stack: np.ndarray) -> np.ndarray:
    return np.einsum("kij,kij->k", stack, stack)


def column_basis(X: np.ndarray) -> np.ndarray:
    """Orthonormal basis ``(n, r)`` of the column space of X (numerical rank r)."""
    n, p = X.shape
    U, s, _ = np.linalg.svd(X, full_matrices=False)
    if s[0] == 0:
        raise ValueError("X is all zeros: its column space is empty")
    return np.ascontiguousarray(U[:, s > s[0] * max(n, p) * np.finfo(float).eps])


@register
class EigenspaceOverlap(Measure):
    """Eigenspace overlap score: squared overlap of the column spaces over the larger width (May et al. 2019)."""

    name = "eigenspace_overlap"
    kind = "similarity"
    range = (0.0, 1.0)
    invariances = frozenset({"invertible_linear", "orthogonal", "isotropic_scaling", "permutation"})
    is_metric = False
    matched_samples = True
    min_samples = 1
    defaults = {}

    def _prepare(self, X: np.ndarray) -> tuple[np.ndarray, int]:
        return column_basis(X), X.shape[1]

    def _permute_state(self, state: tuple, rows: np.ndarray) -> tuple:
        """State of ``X[rows]``: the column-space basis with its rows reordered."""
        return state[0][rows], state[1]

    def _compare(self, a: tuple, b: tuple) -> float:
        return float(np.sum((a[0].T @ b[0]) ** 2)) / max(a[1], b[1])

    def _compare_many(self, A: list, B: list, symmetric: bool = False) -> np.ndarray:
        overlap = blockwise_cross([s[0] for s in A], [s[0] for s in B], _frobenius_sq, symmetric)
        width = np.maximum(np.array([s[1] for s in A])[:, None], np.array([s[1] for s in B])[None, :])
        return overlap / width


@register
class ENSD(Measure):
    """Effective number of shared dimensions (Giaffar et al. 2023); ENSD(X, X) = participation ratio."""

    name = "ensd"
    kind = "similarity"
    range = (0.0, np.inf)
    invariances = frozenset({"translation", "orthogonal", "isotropic_scaling", "permutation"})
    is_metric = False
    matched_samples = True
    min_samples = 2
    defaults = {}

    def _prepare(self, X: np.ndarray) -> tuple[np.ndarray, float, float]:
        Xc = X - X.mean(axis=0)
        check_nonconstant(Xc, "X", "ENSD")
        scale = np.abs(Xc).max()  # work at unit scale: tr(K^2) is a 4th power of the data
        Xc = Xc / scale
        n, p = Xc.shape
        small = Xc.T @ Xc if p <= n else Xc @ Xc.T
        return np.ascontiguousarray(Xc), float(np.trace(small)), float(np.sum(small**2))

    def _permute_state(self, state: tuple, rows: np.ndarray) -> tuple:
        """State of ``X[rows]``: centring commutes with reordering samples."""
        return state[0][rows], state[1], state[2]

    def _compare(self, a: tuple, b: tuple) -> float:
        return _ensd(float(np.sum((a[0].T @ b[0]) ** 2)), a, b)

    def _compare_many(self, A: list, B: list, symmetric: bool = False) -> np.ndarray:
        cross = blockwise_cross([s[0] for s in A], [s[0] for s in B], _frobenius_sq, symmetric)
        return np.array([[_ensd(cross[i, j], a, b) for j, b in enumerate(B)] for i, a in enumerate(A)])


def _ensd(tr_kl: float, a: tuple, b: tuple) -> float:
    return tr_kl * a[1] * b[1] / (a[2] * b[2])
