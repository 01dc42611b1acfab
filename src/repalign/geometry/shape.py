"""Generalized shape metrics (Williams, Kunz, Kornblith & Linderman 2021), the Procrustes family and
permutation Procrustes.

Each system X, an ``(n, p)`` array (samples, features), is centred, ``X_c = X - mean(X)``, and
partially whitened::

    X_phi = X_c (alpha I + (1 - alpha) C_X)^(-1/2),      C_X = X_c^T X_c / n   (features x features)

so ``alpha = 1`` leaves X_c unchanged (Procrustes) and ``alpha = 0`` whitens fully (CCA-like).
This is the partial whitening of the paper; note that netrep's ``LinearMetric`` instead
interpolates the whitening *matrices*, ``alpha I + (1 - alpha) (X_c^T X_c)^(-1/2)``, and rescales
the result to keep the total variance. Both agree at ``alpha = 1`` and, up to a per-system factor
that the angular score ignores, at ``alpha = 0``; in between they are different metrics.
C_X is divided by n so that the whitening does not depend on how many times samples are
repeated.

Scores (both are metrics on systems modulo rotations, Williams et al. 2021, section 3):

* ``"angular"``: ``arccos(||X_phi^T Y_phi||_* / (||X_phi||_F ||Y_phi||_F))`` in radians, in
  [0, pi/2]: the angle between X_phi and Y_phi after the best orthogonal alignment.
* ``"euclidean"``: ``min_Q ||X_phi - Y_phi Q||_F`` over orthogonal Q, *not* normalised (as in
  netrep): it has the units of the data times sqrt(n). Divide by sqrt(n) for a per-sample
  root-mean-square distance, or use the angular score for a scale-free comparison.

Different widths p != q: the narrower system is zero-padded to the wider one's width. This is
implicit here: each prepared system is stored as ``Z = U S`` (``X_phi = U S V^T``, thin SVD,
``(n, r)`` with ``r = rank <= min(n, p)``), which equals X_phi up to a rotation of the features,
and zero columns change neither norms nor the optimal alignment. A comparison is then one SVD
of the ``(r_x, r_y)`` matrix ``Z_x^T Z_y`` (cost ``n r_x r_y + r^3``). When the two systems are
nearly aligned the distance is recomputed as the explicit residual of the aligned systems, so
small distances do not suffer the ``1 - cos`` cancellation (d(X, X) is ~1e-16, not ~1e-8).

Rank deficiency. Singular values below ``max(n, p) * eps * s_max`` are treated as zero. With
``alpha = 0`` the whitening is then the pseudo-inverse one (X_phi spans the column space of X_c);
if that column space is the whole centred sample space (rank = n - 1, e.g. p >= n - 1) every
system whitens to the same subspace and all distances are 0 (a warning says so). ``ridge``
regularises: ``C_X`` is replaced by ``C_X + ridge * (tr C_X / p) I`` (relative to the mean
eigenvalue, so it is unchanged by rescaling X), which keeps ``alpha = 0`` scale invariant but
breaks its invariance to invertible linear maps.

Invariances. For every alpha, score and ridge: translation, orthogonal, permutation. In
addition ``alpha = 1`` with the angular score (``"procrustes"``) is invariant to isotropic
scaling, and ``alpha = 0`` (either score: X_phi no longer depends on the scale of X) to isotropic
scaling and, if ``ridge = 0`` (``"cca_shape"``), to any invertible linear map. For
``0 < alpha < 1`` the whitening mixes a fixed identity with a covariance that scales as c^2, so
rescaling X changes the distance: those settings are not scale invariant. The registered names declare exactly what holds for all
their parameter values, which is why the presets are separate classes with fixed parameters.

The Procrustes family (alpha = 1, centred, no whitening): ``"procrustes"`` (the angle),
``"procrustes_euclidean"`` (the residual), ``"procrustes_sq_euclidean"`` (its square),
``"procrustes_normalized"`` (the residual of the norm-normalised systems, the chord
``sqrt(2 - 2 nbs)``), ``"nbs"`` (normalised Bures similarity, the cosine of the angle) and
``"aligned_cosine"`` (mean per-sample cosine after the rotation; uncentred, as ReSi).

``"permutation_procrustes"``: centred systems, best one-to-one matching of units (Hungarian
algorithm on X_c^T Y_c, zero-padding for different widths), no whitening, same two scores.
Invariant to translation and permutation of units (and, angular score only, isotropic scaling);
not to rotations. Angular range [0, pi] (the best matching can still anti-align).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from .._validation import check_choice, check_nonconstant, check_scalar
from ._blocks import blockwise_cross, nuclear_norms
from ..registry import Measure, register

_SCORES = ("angular", "euclidean")


@dataclass(frozen=True)
class _ShapeState:
    Z: np.ndarray  # (n, r): X_phi in a rotated feature basis
    norm: float  # ||X_phi||_F


def _sqnorm(A: np.ndarray) -> float:
    flat = A.ravel()  # a view for contiguous arrays: no temporary the size of A
    return float(flat @ flat)


def aligned_sq_residual(A: np.ndarray, B: np.ndarray, scale_a: float = 1.0, scale_b: float = 1.0) -> float:
    """``min_Q ||A / scale_a - (B / scale_b) Q||_F^2`` over orthogonal Q, zero-padding to a common width.

    A is ``(m, a)``, B is ``(m, b)``. Equal to ``||A'||^2 + ||B'||^2 - 2 ||A'^T B'||_*`` (primes:
    scaled); when that difference is small against the norms (rounding would dominate it),
    the explicit residual of the two systems rotated onto the singular bases of ``A^T B`` is
    computed instead, so that small distances are accurate too.
    """
    total = _sqnorm(A) / scale_a**2 + _sqnorm(B) / scale_b**2
    if A.shape[1] == 0 or B.shape[1] == 0:
        return total
    cross = A.T @ B
    sq = total - 2.0 * float(np.linalg.svd(cross, compute_uv=False).sum()) / (scale_a * scale_b)
    if sq > 1e-4 * total:  # relative rounding error of sq below ~1e-11
        return sq
    U, _, Vt = np.linalg.svd(cross, full_matrices=True)
    return _split_residual(A @ (U / scale_a), B @ (Vt.T / scale_b))


def _split_residual(Ar: np.ndarray, Br: np.ndarray) -> float:
    """``||Ar - Br||^2`` for the first k = min widths columns, plus the norms of the unmatched ones."""
    k = min(Ar.shape[1], Br.shape[1])
    return _sqnorm(Ar[:, :k] - Br[:, :k]) + _sqnorm(Ar[:, k:]) + _sqnorm(Br[:, k:])


def _distance(sq_residual_fn, A: np.ndarray, B: np.ndarray, norm_a: float, norm_b: float, score: str) -> float:
    """Euclidean residual (or its square), or from the normalised systems' chord length: the chord
    itself ("normalized") or the angle between them ("angular")."""
    if score in ("euclidean", "sq_euclidean"):
        sq = max(sq_residual_fn(A, B), 0.0)
        return float(sq if score == "sq_euclidean" else np.sqrt(sq))
    chord = np.sqrt(max(sq_residual_fn(A, B, norm_a, norm_b), 0.0))
    if score == "normalized":
        return float(chord)
    return float(2.0 * np.arcsin(min(chord / 2.0, 1.0)))


def _scores_from_nuclear(nuc: np.ndarray, na: np.ndarray, nb: np.ndarray, score: str):
    """(scores, squared chords or residuals, their scale) of a block from ||Z_a^T Z_b||_*."""
    if score in ("angular", "normalized"):
        total = np.full(nuc.shape, 2.0)
        sq = total - 2.0 * nuc / (na * nb)
    else:
        total = na**2 + nb**2
        sq = total - 2.0 * nuc
    sq0 = np.maximum(sq, 0.0)
    if score == "sq_euclidean":
        return sq0, sq, total
    out = np.sqrt(sq0)
    if score == "angular":
        out = 2.0 * np.arcsin(np.minimum(out / 2.0, 1.0))
    return out, sq, total


def partial_whiten(Xc: np.ndarray, alpha: float, ridge: float = 0.0) -> np.ndarray:
    """``Z (n, r)`` with ``Z Z^T = X_phi X_phi^T`` for the partial whitening in the module docstring.

    ``Xc`` is a centred ``(n, p)`` system; ``r`` its numerical rank (``p`` for alpha = 1, p <= n,
    where X_c itself is returned).
    """
    n, p = Xc.shape
    if alpha == 1.0 and p <= n:
        return np.ascontiguousarray(Xc)  # X_phi = X_c: no SVD needed (zero directions are harmless)
    U, s, _ = np.linalg.svd(Xc, full_matrices=False)
    keep = s > s[0] * max(n, p) * np.finfo(float).eps
    U, s = U[:, keep], s[keep]
    if alpha == 1.0:
        return np.ascontiguousarray(U * s)
    lam = s**2 / n  # nonzero eigenvalues of C_X; the zero ones multiply X_c by 0 anyway
    shrink = ridge * lam.sum() / p
    return np.ascontiguousarray(U * (s / np.sqrt(alpha + (1.0 - alpha) * (lam + shrink))))


class _ShapeBase(Measure):
    kind = "distance"
    is_metric = True
    matched_samples = True
    min_samples = 2
    def _validate_params(self) -> None:
        p = self.params
        if "alpha" in p:
            check_scalar(p["alpha"], "alpha", float, min_val=0.0, max_val=1.0)
        if "score" in p:
            check_choice(p["score"], "score", _SCORES)
        if "ridge" in p:
            check_scalar(p["ridge"], "ridge", float, min_val=0.0)

    def _prepare(self, X: np.ndarray) -> _ShapeState:
        Xc = X - X.mean(axis=0)
        check_nonconstant(Xc, "X", f"'{self.name}'")
        alpha, ridge = float(self._setting("alpha")), float(self._setting("ridge"))
        Z = partial_whiten(Xc, alpha, ridge)
        if alpha == 0.0 and ridge == 0 and Z.shape[1] >= X.shape[0] - 1:
            warnings.warn(
                f"'{self.name}' with alpha=0: X has rank {Z.shape[1]} >= n_samples - 1 = {X.shape[0] - 1}, "
                "so full whitening maps it onto the whole centred sample space and its distance to any "
                "such system is 0; use more samples, alpha > 0 or ridge > 0",
                RuntimeWarning,
                stacklevel=4,
            )
        return _ShapeState(Z, float(np.linalg.norm(Z)))

    def _permute_state(self, state: _ShapeState, rows: np.ndarray) -> _ShapeState:
        """State of ``X[rows]``: centring and (partial) whitening commute with reordering samples."""
        return _ShapeState(state.Z[rows], state.norm)

    def _compare(self, a: _ShapeState, b: _ShapeState) -> float:
        return _distance(aligned_sq_residual, a.Z, b.Z, a.norm, b.norm, self._setting("score"))

    def _compare_many(self, A: list, B: list, symmetric: bool = False) -> np.ndarray:
        """All nuclear norms ||Z_i^T Z_j||_* from stacked products and batched SVDs.

        Pairs so close that ``1 - cos`` cancellation matters are recomputed one by one through
        the explicit aligned residual, exactly as :meth:`_compare` does.
        """
        nuc = blockwise_cross([s.Z for s in A], [s.Z for s in B], nuclear_norms, symmetric)
        na = np.array([s.norm for s in A])[:, None]
        nb = np.array([s.norm for s in B])[None, :]
        out, sq, total = _scores_from_nuclear(nuc, na, nb, self._setting("score"))
        close = sq <= 1e-4 * total
        if symmetric:
            close &= np.triu(np.ones(close.shape, dtype=bool))
        for i, j in zip(*np.nonzero(close)):
            out[i, j] = self._compare(A[i], B[j])
        return out


@register
class ShapeMetric(_ShapeBase):
    """Generalized shape metric: distance after partial whitening (alpha) and optimal rotation."""

    name = "shape"
    range = (0.0, np.inf)  # angular score: [0, pi/2]
    invariances = frozenset({"translation", "orthogonal", "permutation"})
    defaults = {"alpha": 1.0, "score": "angular", "ridge": 0.0}


@register
class Procrustes(_ShapeBase):
    """Angular Procrustes distance: arccos of the normalised inner product after rotation (radians)."""

    name = "procrustes"
    range = (0.0, np.pi / 2)
    invariances = frozenset({"translation", "orthogonal", "permutation", "isotropic_scaling"})
    defaults = {}
    fixed = {"alpha": 1.0, "score": "angular", "ridge": 0.0}


@register
class ProcrustesEuclidean(_ShapeBase):
    """Euclidean Procrustes distance min_Q ||X_c - Y_c Q||_F (units of the data x sqrt(samples))."""

    name = "procrustes_euclidean"
    range = (0.0, np.inf)
    invariances = frozenset({"translation", "orthogonal", "permutation"})
    defaults = {}
    fixed = {"alpha": 1.0, "score": "euclidean", "ridge": 0.0}


@register
class CCAShape(_ShapeBase):
    """Angular shape metric after full whitening: arccos of the mean canonical correlation (radians)."""

    name = "cca_shape"
    range = (0.0, np.pi / 2)
    invariances = frozenset(
        {"translation", "orthogonal", "permutation", "isotropic_scaling", "invertible_linear"}
    )
    defaults = {}
    fixed = {"alpha": 0.0, "score": "angular", "ridge": 0.0}


@register
class NBS(_ShapeBase):
    """Normalised Bures similarity ||X_c^T Y_c||_* / (||X_c||_F ||Y_c||_F): the cosine of the Procrustes angle.

    Also the Bures fidelity of the two centred Gram matrices (Tang et al. 2020's NBS), in
    [0, 1]: ``nbs == cos(procrustes)``.
    """

    name = "nbs"
    kind = "similarity"
    range = (0.0, 1.0)
    is_metric = False
    invariances = frozenset({"translation", "orthogonal", "permutation", "isotropic_scaling"})
    defaults = {}
    fixed = {"alpha": 1.0, "ridge": 0.0}

    def _compare(self, a: _ShapeState, b: _ShapeState) -> float:
        if a.Z.shape[1] == 0 or b.Z.shape[1] == 0:
            return 0.0
        nuc = float(np.linalg.svd(a.Z.T @ b.Z, compute_uv=False).sum())
        return float(np.clip(nuc / (a.norm * b.norm), 0.0, 1.0))

    def _compare_many(self, A: list, B: list, symmetric: bool = False) -> np.ndarray:
        nuc = blockwise_cross([s.Z for s in A], [s.Z for s in B], nuclear_norms, symmetric)
        na = np.array([s.norm for s in A])[:, None]
        nb = np.array([s.norm for s in B])[None, :]
        return np.clip(nuc / (na * nb), 0.0, 1.0)


@register
class ProcrustesSqEuclidean(_ShapeBase):
    """Squared Euclidean Procrustes distance min_Q ||X_c - Y_c Q||_F^2 (units of the data squared x samples)."""

    name = "procrustes_sq_euclidean"
    range = (0.0, np.inf)
    is_metric = False  # the square of a metric: the triangle inequality fails
    invariances = frozenset({"translation", "orthogonal", "permutation"})
    defaults = {}
    fixed = {"alpha": 1.0, "score": "sq_euclidean", "ridge": 0.0}


@register
class ProcrustesNormalized(_ShapeBase):
    """Normalised Euclidean Procrustes distance min_Q ||X_c/||X_c|| - Y_c/||Y_c|| Q||_F, in [0, sqrt 2].

    The chord between the normalised systems: ``sqrt(2 - 2 nbs) = 2 sin(procrustes / 2)``, ReSi's
    ``OrthogonalProcrustesCenteredAndNormalized``; its square is Ding et al. (2021)'s "procrustes".
    """

    name = "procrustes_normalized"
    range = (0.0, float(np.sqrt(2.0)))
    invariances = frozenset({"translation", "orthogonal", "permutation", "isotropic_scaling"})
    defaults = {}
    fixed = {"alpha": 1.0, "score": "normalized", "ridge": 0.0}


@register
class AlignedCosine(Measure):
    """Aligned cosine similarity: mean over samples of cos(x_i Q, y_i) after the best rotation Q of X onto Y.

    As ReSi's ``AlignedCosineSimilarity`` (Hamilton et al. 2016), on the raw, *uncentred*
    systems (the narrower zero-padded to the wider one's width): ``Q`` is the orthogonal map
    minimising ``||X Q - Y||_F`` (``Q = U V^T`` for ``X^T Y = U S V^T``), and the score is
    ``mean_i <x_i Q, y_i> / (||x_i|| ||y_i||)`` in [-1, 1]. Symmetric: aligning Y to X by Q^T
    gives the same cosines. Invariant to orthogonal maps, isotropic scaling and permutations,
    not to translation (the cosines are taken about the origin). Where ``X^T Y`` is rank
    deficient, Q is not unique on the null directions; numpy's SVD fixes one choice.
    A zero sample has no direction: ValueError.
    """

    name = "aligned_cosine"
    kind = "similarity"
    range = (-1.0, 1.0)
    invariances = frozenset({"orthogonal", "permutation", "isotropic_scaling"})
    is_metric = False
    matched_samples = True
    defaults = {}

    def _prepare(self, X: np.ndarray) -> np.ndarray:
        norms = np.linalg.norm(X, axis=1)
        if np.any(norms <= 1e-12 * norms.max()) or norms.max() == 0:
            raise ValueError(f"X has a zero sample (row {int(np.argmin(norms))}), whose cosine is undefined")
        return X

    def _permute_state(self, state: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return state[rows]

    def _compare(self, a: np.ndarray, b: np.ndarray) -> float:
        width = max(a.shape[1], b.shape[1])
        A = np.pad(a, ((0, 0), (0, width - a.shape[1])))
        B = np.pad(b, ((0, 0), (0, width - b.shape[1])))
        U, _, Vt = np.linalg.svd(A.T @ B)
        aligned = A @ (U @ Vt)
        cos = np.einsum("ij,ij->i", aligned, B) / (np.linalg.norm(A, axis=1) * np.linalg.norm(B, axis=1))
        return float(np.clip(cos.mean(), -1.0, 1.0))


@dataclass(frozen=True)
class _CentredState:
    Xc: np.ndarray  # (n, p) centred system
    norm: float  # ||X_c||_F


def permutation_sq_residual(A: np.ndarray, B: np.ndarray, scale_a: float = 1.0, scale_b: float = 1.0) -> float:
    """``min_P ||A / scale_a - (B / scale_b) P||_F^2`` over permutations P of units, zero-padding.

    Unmatched units (the wider system's extra columns) are matched to zero columns.
    """
    total = _sqnorm(A) / scale_a**2 + _sqnorm(B) / scale_b**2
    cross = A.T @ B
    rows, cols = linear_sum_assignment(cross, maximize=True)
    sq = total - 2.0 * float(cross[rows, cols].sum()) / (scale_a * scale_b)
    if sq > 1e-4 * total:
        return sq
    rest_a = np.setdiff1d(np.arange(A.shape[1]), rows)
    rest_b = np.setdiff1d(np.arange(B.shape[1]), cols)
    order_a, order_b = np.concatenate([rows, rest_a]), np.concatenate([cols, rest_b])
    return _split_residual(A[:, order_a] / scale_a, B[:, order_b] / scale_b)


@register
class PermutationProcrustes(Measure):
    """Distance after the best one-to-one matching of units (Hungarian), centred, no rotation."""

    name = "permutation_procrustes"
    kind = "distance"
    range = (0.0, np.inf)  # angular score: [0, pi]
    # The angular score is also invariant to isotropic scaling; the euclidean one is not.
    invariances = frozenset({"translation", "permutation"})
    is_metric = True
    matched_samples = True
    defaults = {"score": "angular"}

    def _validate_params(self) -> None:
        check_choice(self.params["score"], "score", _SCORES)

    def _prepare(self, X: np.ndarray) -> _CentredState:
        Xc = X - X.mean(axis=0)
        check_nonconstant(Xc, "X", f"'{self.name}'")
        return _CentredState(Xc, float(np.linalg.norm(Xc)))

    def _compare(self, a: _CentredState, b: _CentredState) -> float:
        return _distance(permutation_sq_residual, a.Xc, b.Xc, a.norm, b.norm, self.params["score"])
