"""Centred kernel alignment (Kornblith et al. 2019) and its debiased form (Song et al. 2012).

CKA(K, L) = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)) for Gram matrices K, L of the two systems.

* ``kernel='linear'``: K = X X^T. Computed in feature space, ||X_c^T Y_c||_F^2, which costs
  n p q instead of n^2 (p + q); the Gram matrix is only formed when features outnumber samples.
* ``kernel='rbf'``: K_ij = exp(-||x_i - x_j||^2 / (2 sigma^2)) with the bandwidth rule of
  Kornblith et al.: ``sigma = threshold * sqrt(median_ij ||x_i - x_j||^2)`` (median over all
  n^2 entries, diagonal included), default threshold 0.5. Pass ``sigma`` to fix it instead.
* ``kernel='laplace'``: K_ij = exp(-||x_i - x_j|| / sigma) (Euclidean norm, as Lange et al.'s
  repsim; scikit-learn's ``laplacian_kernel`` uses the L1 norm instead, which is not rotation
  invariant), with the same bandwidth rule ``sigma = threshold * sqrt(median_ij ||x_i - x_j||^2)``.
* ``debiased=True``: the unbiased HSIC estimator (Song et al. 2012, eq. 5) replaces the biased
  one, removing the upward bias of CKA at small n / large p (needs n >= 4). It can be negative.
* ``debiased='lange'``: Lange et al. (2023)'s estimator: the inner product of the centred Gram
  matrices with their diagonals removed, sum_{i != j} (HKH)_ij (HLH)_ij. Most of the upward
  bias goes (the diagonal carries each sample's squared norm), and being an inner product it
  keeps |CKA| <= 1 (Cauchy-Schwarz), so arccos of it stays an angle. It can be negative.

``cka_angular`` is arccos(CKA): the angle between the centred, normalised Gram matrices, a
metric on systems modulo the invariances of CKA (biased estimator only).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.distance import pdist, squareform

from .._validation import check_choice, check_nonconstant, check_scalar
from ._blocks import width_groups
from ..registry import Measure, register, register_alias

KERNELS = ("linear", "rbf", "laplace")


@dataclass(frozen=True)
class _FeatureState:
    Xc: np.ndarray  # centred data, (n, p)
    row_sq: np.ndarray  # ||x_i||^2 of the centred rows, (n,)   (debiased only)
    self_hsic: float  # HSIC(X, X) with the same estimator and scaling as the cross term
    gram: np.ndarray | None  # X_c X_c^T when p > n, else None


@dataclass(frozen=True)
class _GramState:
    K: np.ndarray  # centred Gram (biased), Gram with zero diagonal (song), centred and zero diagonal (lange)
    rowsum: np.ndarray  # K 1 (debiased only), (n,)
    total: float  # 1^T K 1 (debiased only)
    self_hsic: float


def _unbiased_hsic_terms(cross: float, r_a, r_b, s_a: float, s_b: float, n: int) -> float:
    """Song et al. (2012) unbiased HSIC, up to the 1/(n(n-3)) factor that cancels in CKA.

    ``cross`` = tr(K~ L~), ``r`` = K~ 1, ``s`` = 1^T K~ 1, K~ the Gram with its diagonal zeroed.
    """
    return cross + s_a * s_b / ((n - 1) * (n - 2)) - 2.0 * np.dot(r_a, r_b) / (n - 2)


def rbf_gram(X: np.ndarray, threshold: float = 0.5, sigma: float | None = None) -> np.ndarray:
    """RBF Gram matrix with Kornblith et al.'s median bandwidth rule (see module docstring)."""
    sq = squareform(pdist(X, "sqeuclidean"))
    if sigma is None:
        med = np.median(sq)
        if med <= 0:
            raise ValueError("RBF bandwidth is zero: more than half of the pairwise distances are 0")
        sigma2 = threshold**2 * med
    else:
        sigma2 = float(sigma) ** 2
    return np.exp(-sq / (2.0 * sigma2))


def laplace_gram(X: np.ndarray, threshold: float = 0.5, sigma: float | None = None) -> np.ndarray:
    """Laplace Gram matrix exp(-||x_i - x_j|| / sigma), bandwidth as :func:`rbf_gram`'s sigma."""
    sq = squareform(pdist(X, "sqeuclidean"))
    if sigma is None:
        med = np.median(sq)
        if med <= 0:
            raise ValueError("Laplace bandwidth is zero: more than half of the pairwise distances are 0")
        scale = threshold * np.sqrt(med)
    else:
        scale = float(sigma)
    return np.exp(-np.sqrt(sq) / scale)


def _center_gram(K: np.ndarray) -> np.ndarray:
    K = K - K.mean(axis=0, keepdims=True)
    return K - K.mean(axis=1, keepdims=True)


@register
class CKA(Measure):
    """Centred kernel alignment (linear, RBF or Laplace kernel; Gretton, Song or Lange HSIC estimator).

    Parameters: ``kernel`` ('linear', 'rbf', 'laplace'), ``debiased`` (False: Gretton et al.'s
    biased estimator; True: Song et al.'s unbiased one; 'lange': Lange et al. 2023's; see the
    module docstring), ``threshold`` and ``sigma`` (bandwidth of the RBF/Laplace kernels).
    """

    name = "cka"
    kind = "similarity"
    range = (-1.0, 1.0)  # [0, 1] for the biased estimator; debiased can dip below 0
    invariances = frozenset({"translation", "isotropic_scaling", "orthogonal", "permutation"})
    is_metric = False
    defaults = {"kernel": "linear", "debiased": False, "threshold": 0.5, "sigma": None}

    def _validate_params(self) -> None:
        p = self.params
        check_choice(p["kernel"], "kernel", KERNELS)
        check_scalar(p["threshold"], "threshold", float, min_val=0, include_boundaries="neither")
        check_scalar(p["sigma"], "sigma", float, min_val=0, include_boundaries="neither", allow_none=True)
        check_choice(p["debiased"], "debiased", (False, True, "lange"))

    def _estimator(self) -> str:
        """'gretton' (biased), 'song' (unbiased) or 'lange' (see the module docstring)."""
        d = self.params["debiased"]
        if isinstance(d, str):
            return d
        return "song" if d else "gretton"

    def _min_samples(self) -> int:
        return 4 if self._estimator() == "song" else 2

    memory_way_out = ("use kernel='linear' with fewer features than samples (computed in feature space, "
                      "no n x n matrix), or fewer samples")

    def _memory_need(self, n: int, p: int) -> tuple[float, str]:
        """RBF: squared distances, their median's copy and the kernel (~3.5 n x n float64);
        linear: the n x n Gram and its square when p > n, else the p x p cross product."""
        data = 3.0 * n * p * 8
        if self.params["kernel"] != "linear":
            return data + 3.5 * n * n * 8, f"~3.5 n x n float64 matrices, n = {n:,}"
        if p > n:
            return data + 2.0 * n * n * 8, f"the {n:,} x {n:,} Gram matrix and its square (float64)"
        return data + 2.0 * p * p * 8, f"the data and a {p:,} x {p:,} cross product (float64)"

    # ------------------------------------------------------------------ prepare
    def _prepare(self, X: np.ndarray):
        Xc = X - X.mean(axis=0)
        check_nonconstant(Xc, "X", "CKA")
        kernel = self.params["kernel"]
        if kernel != "linear":
            gram_fn = rbf_gram if kernel == "rbf" else laplace_gram
            return self._gram_state(gram_fn(X, self.params["threshold"], self.params["sigma"]))
        n, p = Xc.shape
        row_sq = np.einsum("ij,ij->i", Xc, Xc)
        gram = Xc @ Xc.T if p > n else None
        xtx = np.sum((gram if gram is not None else Xc.T @ Xc) ** 2)
        if self._estimator() == "lange":  # centred Gram without its diagonal
            self_hsic = xtx - row_sq @ row_sq
        elif self._estimator() == "song":
            # With centred X: K~ 1 = -row_sq and 1^T K~ 1 = -sum(row_sq).
            self_hsic = _unbiased_hsic_terms(
                xtx - row_sq @ row_sq, -row_sq, -row_sq, -row_sq.sum(), -row_sq.sum(), n
            )
        else:
            self_hsic = xtx
        return _FeatureState(Xc, row_sq, float(self_hsic), gram)

    def _gram_state(self, K: np.ndarray) -> _GramState:
        n = K.shape[0]
        if self._estimator() == "lange":
            Kc = _center_gram(K)
            np.fill_diagonal(Kc, 0.0)
            return _GramState(Kc, np.zeros(0), 0.0, float(np.sum(Kc * Kc)))
        if self._estimator() == "song":
            K = K.copy()
            np.fill_diagonal(K, 0.0)
            r = K.sum(axis=1)
            s = float(r.sum())
            self_hsic = _unbiased_hsic_terms(np.sum(K * K), r, r, s, s, n)
            return _GramState(K, r, s, float(self_hsic))
        Kc = _center_gram(K)
        return _GramState(Kc, np.zeros(0), 0.0, float(np.sum(Kc * Kc)))

    def _permute_state(self, state, rows: np.ndarray):
        """The state of the row-permuted system ``X[rows]``, without recomputing it (for nulls):
        rows of the centred data (and of its Gram), or rows and columns of the kernel matrix.
        HSIC(X, X) and the kernel bandwidth do not depend on the order of samples."""
        if isinstance(state, _GramState):
            rowsum = state.rowsum[rows] if state.rowsum.size else state.rowsum
            return _GramState(state.K[np.ix_(rows, rows)], rowsum, state.total, state.self_hsic)
        gram = None if state.gram is None else state.gram[np.ix_(rows, rows)]
        return _FeatureState(state.Xc[rows], state.row_sq[rows], state.self_hsic, gram)

    # ------------------------------------------------------------------ compare
    def _cross(self, a, b) -> float:
        """The (unnormalised) cross HSIC between two prepared systems."""
        if isinstance(a, _GramState):
            cross = float(np.sum(a.K * b.K))
            if self._estimator() != "song":
                return cross
            return _unbiased_hsic_terms(cross, a.rowsum, b.rowsum, a.total, b.total, a.K.shape[0])
        n = a.Xc.shape[0]
        if a.gram is not None and b.gram is not None:
            tr = float(np.sum(a.gram * b.gram))
        else:
            tr = float(np.sum((a.Xc.T @ b.Xc) ** 2))
        ra, rb = a.row_sq, b.row_sq
        if self._estimator() == "lange":
            return tr - ra @ rb
        if self._estimator() == "gretton":
            return tr
        return _unbiased_hsic_terms(tr - ra @ rb, -ra, -rb, -ra.sum(), -rb.sum(), n)

    def _normalise(self, cross, self_a, self_b):
        denom = np.sqrt(np.maximum(self_a, 0.0) * np.maximum(self_b, 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(denom > 0, cross / np.where(denom > 0, denom, 1.0), np.nan)
        return out

    def _compare(self, a, b) -> float:
        return float(self._normalise(self._cross(a, b), a.self_hsic, b.self_hsic))

    def _compare_many(self, A: list, B: list, symmetric: bool = False):
        """All cross HSICs of a block as a few large matrix products."""
        if A and isinstance(A[0], _GramState):
            return self._gram_block(A, B)
        n = A[0].Xc.shape[0]
        Xa, Xb = [s.Xc for s in A], [s.Xc for s in B]
        tr = _pairwise_trace_kl(Xa, Xb, symmetric)
        if self._estimator() == "gretton":
            cross = tr
        else:
            Ra = np.stack([s.row_sq for s in A])
            Rb = np.stack([s.row_sq for s in B])
            rr = Ra @ Rb.T
            cross = tr - rr
            if self._estimator() == "song":
                sa, sb = Ra.sum(axis=1), Rb.sum(axis=1)
                cross = cross + np.outer(sa, sb) / ((n - 1) * (n - 2)) - 2.0 * rr / (n - 2)
        self_a = np.array([s.self_hsic for s in A])
        self_b = np.array([s.self_hsic for s in B])
        return self._normalise(cross, self_a[:, None], self_b[None, :])

    def _gram_block(self, A: list, B: list):
        n = A[0].K.shape[0]
        Fa = np.stack([s.K.ravel() for s in A])
        Fb = Fa if A is B else np.stack([s.K.ravel() for s in B])
        cross = Fa @ Fb.T
        if self._estimator() == "song":
            Ra = np.stack([s.rowsum for s in A])
            Rb = np.stack([s.rowsum for s in B])
            ta = np.array([s.total for s in A])
            tb = np.array([s.total for s in B])
            cross = cross + np.outer(ta, tb) / ((n - 1) * (n - 2)) - 2.0 * (Ra @ Rb.T) / (n - 2)
        self_a = np.array([s.self_hsic for s in A])
        self_b = np.array([s.self_hsic for s in B])
        return self._normalise(cross, self_a[:, None], self_b[None, :])


def _blocked_sq_cross(Xa: list, Xb: list, symmetric: bool, max_elems: int = 2**24) -> np.ndarray:
    """out[i, j] = ||Xa[i]^T Xb[j]||_F^2, computed by stacking systems into large matmuls.

    Systems are grouped so that each product holds at most ``max_elems`` entries (bounded
    memory for large N); with ``symmetric`` only blocks on or above the diagonal are computed.
    """
    widths_a = np.array([x.shape[1] for x in Xa])
    widths_b = np.array([x.shape[1] for x in Xb])
    side = max(int(np.sqrt(max_elems)), int(max(widths_a.max(), widths_b.max())))
    groups_a = width_groups(widths_a, side)
    groups_b = groups_a if symmetric else width_groups(widths_b, side)
    out = np.zeros((len(Xa), len(Xb)))
    for gi, (ia0, ia1) in enumerate(groups_a):
        Za = np.hstack(Xa[ia0:ia1])
        offs_a = np.concatenate([[0], np.cumsum(widths_a[ia0:ia1])[:-1]])
        for gj, (ib0, ib1) in enumerate(groups_b):
            if symmetric and gj < gi:
                continue
            Zb = Za if (symmetric and gi == gj) else np.hstack(Xb[ib0:ib1])
            offs_b = np.concatenate([[0], np.cumsum(widths_b[ib0:ib1])[:-1]])
            S = Za.T @ Zb
            S *= S
            S = np.add.reduceat(np.add.reduceat(S, offs_a, axis=0), offs_b, axis=1)
            out[ia0:ia1, ib0:ib1] = S
    return out


def _pairwise_trace_kl(Xa: list, Xb: list, symmetric: bool) -> np.ndarray:
    """out[i, j] = tr(K_i L_j) = ||Xa[i]^T Xb[j]||_F^2 by the cheaper of two exact routes.

    Feature route: n p q multiply-adds per pair. Gram route: form each n x n Gram once
    (n^2 p / 2) and then n^2 / 2 per pair (inner product of upper triangles). With many
    systems of moderate width (n < p q) the Gram route wins; e.g. 50 systems of 2000 x 100
    need about as much as the feature route, while 50 systems of 2000 x 1000 need ~10x less.
    """
    n = Xa[0].shape[0]
    pa = np.array([x.shape[1] for x in Xa], dtype=float)
    pb = pa if symmetric else np.array([x.shape[1] for x in Xb], dtype=float)
    pairs = len(Xa) * len(Xb) / (2.0 if symmetric else 1.0)
    feature_cost = pairs * n * pa.mean() * pb.mean()
    grams = len(Xa) + (0 if symmetric else len(Xb))
    # Forming a Gram (syrk plus extracting its triangle) runs at about half the speed of a
    # large matmul, hence n^2 p rather than n^2 p / 2 (measured on 2000 x 100 systems).
    gram_cost = grams * n * n * max(pa.mean(), pb.mean()) + pairs * n * n / 2
    if gram_cost < 0.5 * feature_cost:  # the Gram route must win clearly: its constants are worse
        return _blocked_gram_cross(Xa, Xb, symmetric)
    return _blocked_sq_cross(Xa, Xb, symmetric)


def _blocked_gram_cross(Xa: list, Xb: list, symmetric: bool, max_bytes: int = 2**30) -> np.ndarray:
    """tr(K_i L_j) from upper triangles of the Gram matrices, in memory-bounded blocks."""
    from .._memory import check_memory, memory_budget

    n = Xa[0].shape[0]
    weights_len = n + n * (n - 1) // 2
    max_bytes = int(min(max_bytes, memory_budget()[0] / 4))
    # One Gram, its triangle indices (2 int64) and feature vector, plus two blocks of feature vectors.
    need = 8 * (n * n + 3 * weights_len) + 2 * max(max_bytes, 8 * weights_len)
    check_memory(need, f"CKA's Gram-matrix route on systems of {n:,} samples",
                 f"a {n:,} x {n:,} Gram and vectors of its {weights_len:,} upper-triangle entries",
                 "use fewer samples, or systems with fewer features than samples")
    iu = np.triu_indices(n, 1)

    def features(X):  # v with <v_K, v_L> = tr(K L): diagonal once, off-diagonal twice
        K = X @ X.T
        v = np.empty(weights_len)
        v[:n] = np.diagonal(K)
        v[n:] = K[iu] * np.sqrt(2.0)
        return v

    per_block = max(1, int(max_bytes // (8 * weights_len)))
    blocks_a = [(i, min(i + per_block, len(Xa))) for i in range(0, len(Xa), per_block)]
    blocks_b = blocks_a if symmetric else [(i, min(i + per_block, len(Xb))) for i in range(0, len(Xb), per_block)]
    out = np.zeros((len(Xa), len(Xb)))
    for bi, (a0, a1) in enumerate(blocks_a):
        Fa = np.stack([features(X) for X in Xa[a0:a1]])
        for bj, (b0, b1) in enumerate(blocks_b):
            if symmetric and bj < bi:
                continue
            Fb = Fa if (symmetric and bi == bj) else np.stack([features(X) for X in Xb[b0:b1]])
            out[a0:a1, b0:b1] = Fa @ Fb.T
    return out


@register
class AngularCKA(CKA):
    """arccos(CKA): angle between centred normalised Gram matrices (radians), a metric.

    ``debiased`` is False (Gretton's estimator: the angle is in [0, pi/2]) or 'lange' (Lange et
    al. 2023's AngularCKA: the angle between the centred Grams with their diagonals removed, an
    inner product, so still a metric; in [0, pi] since that CKA can be negative). Song's
    unbiased estimator is not offered here.
    """

    name = "cka_angular"
    kind = "distance"
    range = (0.0, np.pi)
    is_metric = True
    defaults = {"kernel": "linear", "debiased": False, "threshold": 0.5, "sigma": None}

    def _validate_params(self) -> None:
        super()._validate_params()
        check_choice(self.params["debiased"], "debiased", (False, "lange"))

    def _compare(self, a, b) -> float:
        return float(np.arccos(np.clip(super()._compare(a, b), -1.0, 1.0)))

    def _compare_many(self, A, B, symmetric=False):
        sim = super()._compare_many(A, B, symmetric)
        return None if sim is None else np.arccos(np.clip(sim, -1.0, 1.0))


register_alias("linear_cka", "cka", kernel="linear", debiased=False)
register_alias("debiased_cka", "cka", kernel="linear", debiased=True)
register_alias("rbf_cka", "cka", kernel="rbf", debiased=False)
