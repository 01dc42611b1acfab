"""Subspace geometry in a shared unit space: principal angles, cross-variance, dimensionality.

These tools compare *where in unit space* two systems put their variance, so X (n_x, p) and
Y (n_y, p) must record the same p units (features) but need not share samples: e.g. the
same neurons during two tasks (Driscoll et al. 2024).

PCA convention.  Principal components of the centred data X_c (n, p) are computed from
whichever Gram matrix is smaller: the (p, p) scatter X_c^T X_c when n >= p, otherwise the
(n, n) Gram X_c X_c^T, whose eigenvectors u_i give the components v_i = X_c^T u_i / sqrt(l_i)
(re-orthonormalised).  Eigenvalues ``l`` are sums of squares (variance times n - 1);
components whose eigenvalue is at most ``1e-10 * l_max`` are treated as absent, so the
number of components available is the numerical rank.

Measures:

* ``"principal_angles"`` (distance, radians in [0, pi/2]): principal angles between the
  top-``n_components`` PC subspaces of X and Y; the score is their mean (``statistic="mean"``)
  or the largest (``"max"``); all angles are in the extras.
* ``"cross_variance"`` (similarity in [0, 1], asymmetric): how much of Y's variance the top
  PCs of X capture, relative to Y's own top PCs; see :class:`CrossVariance`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import as_system, check_choice, check_nonconstant, check_scalar
from ..registry import Comparison, Measure, register

EIG_RTOL = 1e-10
_SIDES = ("auto", "samples", "features")


@dataclass(frozen=True)
class _PCAState:
    eigvals: np.ndarray  # nonzero eigenvalues of X_c^T X_c, descending, (r,)
    V: np.ndarray  # matching orthonormal components as columns, (p, r)


def _pca(X: np.ndarray, name: str = "X", side: str = "auto") -> _PCAState:
    """All numerically nonzero principal components of ``X`` (n, p), from the smaller Gram side."""
    if side not in _SIDES:
        raise ValueError(f"side must be one of {_SIDES}; got {side!r}")
    Xc = X - X.mean(axis=0)
    Xc = Xc - Xc.mean(axis=0)
    check_nonconstant(Xc, name, "PCA")
    n, p = Xc.shape
    if side == "auto":
        side = "samples" if n < p else "features"
    lam, W = np.linalg.eigh(Xc @ Xc.T if side == "samples" else Xc.T @ Xc)
    lam, W = lam[::-1], W[:, ::-1]
    keep = lam > EIG_RTOL * lam[0]
    lam, W = lam[keep], W[:, keep]
    if side == "features":
        return _PCAState(lam, W)
    V = (Xc.T @ W) / np.sqrt(lam)
    # Re-orthonormalise (rounding grows as l_i shrinks); QR keeps each leading span.
    Q, R = np.linalg.qr(V)
    return _PCAState(lam, Q * np.sign(np.diag(R)))


def pca_basis(X: Any, k: int | None = None, side: str = "auto") -> np.ndarray:
    """Top-``k`` principal components of ``X`` (samples, features) as orthonormal columns.

    Parameters
    ----------
    X : array-like, (n, p)
    k : int, optional
        Number of components; default all numerically nonzero ones. Must not exceed the rank.
    side : {"auto", "samples", "features"}
        Gram matrix to diagonalise: (n, n) "samples", (p, p) "features", or the smaller.

    Returns
    -------
    ndarray, (p, k), columns ordered by decreasing variance (signs arbitrary).
    """
    st = _pca(as_system(X, "X", min_samples=2), "X", side)
    if k is None:
        return st.V
    k = _check_k(k, "k")
    if k > st.V.shape[1]:
        raise ValueError(f"k={k} exceeds the number of nonzero principal components of X ({st.V.shape[1]})")
    return st.V[:, :k]


def _check_k(k: Any, name: str) -> int:
    return check_scalar(k, name, int, min_val=1)


def _check_same_units(p_x: int, p_y: int, what: str) -> None:
    if p_x != p_y:
        raise ValueError(
            f"X and Y must have the same number of features (units) for {what}, which compares "
            f"subspaces of one unit space; got {p_x} and {p_y}"
        )


def subspace_angles(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Principal angles (radians, ascending) between the spans of orthonormal columns A, B.

    Cosines come from the singular values of A^T B; small angles, where arccos loses
    accuracy, come from the sines, the singular values of B - A A^T B (Björck & Golub 1973).
    """
    if A.shape[1] < B.shape[1]:
        A, B = B, A
    M = A.T @ B
    cos = np.linalg.svd(M, compute_uv=False)  # descending: angles ascending
    sin = np.linalg.svd(B - A @ M, compute_uv=False)[::-1]  # ascending: angles ascending
    return np.where(cos**2 < 0.5, np.arccos(np.clip(cos, -1.0, 1.0)), np.arcsin(np.clip(sin, -1.0, 1.0)))


def principal_angles(X: Any, Y: Any, n_components: int = 10) -> np.ndarray:
    """Principal angles between the top-``n_components`` PC subspaces of X and Y.

    Parameters
    ----------
    X : array-like, (n_x, p)
    Y : array-like, (n_y, p)
        Same units (features) as X; the samples may differ.
    n_components : int
        PCs per system, capped at each system's rank.

    Returns
    -------
    ndarray, (min(k_x, k_y),): angles in radians, ascending.
    """
    k = _check_k(n_components, "n_components")
    a = _pca(as_system(X, "X", min_samples=2), "X")
    b = _pca(as_system(Y, "Y", min_samples=2), "Y")
    _check_same_units(a.V.shape[0], b.V.shape[0], "principal angles")
    return subspace_angles(a.V[:, :k], b.V[:, :k])


def participation_ratio(X: Any) -> float:
    """Participation ratio (sum l)^2 / sum l^2 of the covariance eigenvalues of X (n, p).

    Computed without an eigendecomposition as tr(G)^2 / ||G||_F^2, with G the smaller of
    X_c X_c^T and X_c^T X_c (both have the nonzero eigenvalues l). Lies in [1, rank(X_c)].
    """
    X = as_system(X, "X", min_samples=2)
    Xc = X - X.mean(axis=0)
    check_nonconstant(Xc, "X", "the participation ratio")
    n, p = Xc.shape
    G = Xc @ Xc.T if n < p else Xc.T @ Xc
    return float(np.trace(G) ** 2 / np.sum(G * G))


def projection_fraction(X: Any, basis: Any) -> float:
    """Fraction of the centred variance of X (n, p) inside the span of ``basis``'s columns.

    ``basis`` (p, k) is any set of directions in unit space (orthonormalised internally;
    linearly dependent columns are allowed). Returns ||X_c P||_F^2 / ||X_c||_F^2 in [0, 1].
    """
    X = as_system(X, "X", min_samples=2)
    B = np.array(basis, dtype=np.float64, copy=True)
    if B.ndim != 2:
        raise ValueError(f"basis must be 2-D (features, k); got shape {B.shape}")
    if not np.all(np.isfinite(B)):
        raise ValueError("basis contains non-finite values")
    if B.shape[0] != X.shape[1]:
        raise ValueError(f"basis must have one row per feature of X ({X.shape[1]}); got {B.shape[0]} rows")
    U, s, _ = np.linalg.svd(B, full_matrices=False)
    tol = max(B.shape) * np.finfo(np.float64).eps * (s[0] if s.size else 0.0)
    if not np.any(s > tol):
        raise ValueError("basis spans no direction (all columns are zero)")
    P = U[:, s > tol]
    Xc = X - X.mean(axis=0)
    check_nonconstant(Xc, "X", "the projection fraction")
    return float(np.sum((Xc @ P) ** 2) / np.sum(Xc**2))


def _curves(basis_state: _PCAState, y_state: _PCAState, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative fractions of Y's variance in X's top-j PCs and in Y's own, j = 1..k."""
    k = min(k, basis_state.V.shape[1])
    total = y_state.eigvals.sum()
    # ||Y_c v||^2 = sum_i l_i (v_i^T v)^2 over Y's eigenpairs (l_i, v_i).
    captured = y_state.eigvals @ (y_state.V.T @ basis_state.V[:, :k]) ** 2
    own = np.zeros(k)
    m = min(k, y_state.eigvals.size)
    own[:m] = y_state.eigvals[:m]
    return np.cumsum(captured) / total, np.minimum(np.cumsum(own) / total, 1.0)


def cross_variance_explained(
    X_basis: Any, Y: Any, n_components: int | None = None, side: str = "auto"
) -> dict:
    """Driscoll et al. (2024) cross-task variance explained.

    Parameters
    ----------
    X_basis : array-like, (n_x, p)
        The system whose principal components define the subspaces.
    Y : array-like, (n_y, p)
        The system whose variance is measured; same units as ``X_basis``, any samples.
    n_components : int, optional
        K, the number of X's PCs; default (and cap) the number of nonzero PCs of ``X_basis``.
    side : {"auto", "samples", "features"}
        Gram side for both PCAs (see module docstring); the result does not depend on it.

    Returns
    -------
    dict with
        ``cross`` : (K,) fraction of Y's centred variance in the span of X's first k PCs;
        ``self`` : (K,) fraction in Y's own first k PCs (the upper bound; reaches 1 at
        k = rank(Y_c));
        ``n_components`` : K.
    """
    a = _pca(as_system(X_basis, "X_basis", min_samples=2), "X_basis", side)
    b = _pca(as_system(Y, "Y", min_samples=2), "Y", side)
    _check_same_units(a.V.shape[0], b.V.shape[0], "cross-variance explained")
    k = a.V.shape[1] if n_components is None else _check_k(n_components, "n_components")
    cross, own = _curves(a, b, k)
    return {"cross": cross, "self": own, "n_components": int(cross.size)}


class _SubspaceMeasure(Measure):
    matched_samples = False
    invariances = frozenset({"translation", "isotropic_scaling", "sample_permutation"})
    defaults = {"n_components": 10}

    def _validate_params(self) -> None:
        _check_k(self.params["n_components"], "n_components")

    def _prepare(self, X: np.ndarray) -> _PCAState:
        return _pca(X, "X")


@register
class PrincipalAngles(_SubspaceMeasure):
    """Mean (or largest) principal angle between the top-k PC subspaces, in radians.

    ``n_components`` PCs per system (capped at its rank; default 10); ``statistic`` "mean"
    (default) or "max". Both systems must have the same units (features); samples may
    differ. Extras: ``angles`` (all of them, ascending).
    """

    name = "principal_angles"
    kind = "distance"
    range = (0.0, np.pi / 2)
    defaults = {"n_components": 10, "statistic": "mean"}

    def _validate_params(self) -> None:
        super()._validate_params()
        check_choice(self.params["statistic"], "statistic", ("mean", "max"))

    def _compare(self, a: _PCAState, b: _PCAState) -> Comparison:
        _check_same_units(a.V.shape[0], b.V.shape[0], "'principal_angles'")
        k = self.params["n_components"]
        theta = subspace_angles(a.V[:, :k], b.V[:, :k])
        score = theta.mean() if self.params["statistic"] == "mean" else theta.max()
        return Comparison(float(score), {"angles": theta})


@register
class CrossVariance(_SubspaceMeasure):
    """Cross-variance explained: area under Y's variance curve in X's PCs over Y's own curve.

    With K = min(n_components, rank of X) and the curves of :func:`cross_variance_explained`,
    the score is sum_k cross[k] / sum_k self[k] (k = 1..K): 1 when X's top-k PC subspaces
    capture as much of Y's variance as Y's own top-k PCs for every k <= K (e.g. X = Y), and 0
    when X's PCs are orthogonal to all of Y's variance (Ky Fan: cross[k] <= self[k]).
    Asymmetric: the first system gives the basis, the second the variance. Both systems
    must have the same units; samples may differ. Extras: ``cross`` and ``self`` curves.
    """

    name = "cross_variance"
    kind = "similarity"
    range = (0.0, 1.0)
    symmetric = False

    def _compare(self, a: _PCAState, b: _PCAState) -> Comparison:
        _check_same_units(a.V.shape[0], b.V.shape[0], "'cross_variance'")
        cross, own = _curves(a, b, self.params["n_components"])
        return Comparison(float(cross.sum() / own.sum()), {"cross": cross, "self": own})
