"""The k-nearest-neighbour family beyond mutual k-NN: Jaccard, second-order cosine, rank similarity, CKNNA.

Each system is reduced to its k nearest other samples per sample (:func:`knn_indices`: by cosine
similarity of the raw rows by default, ties to the lower index); the measures compare the two
systems' neighbourhoods, sample by sample, and average over samples. ``N_X(i)`` is the k-NN set of
sample i in X, ``r_X(i, j)`` the rank (1 = nearest) of j among them.

* ``"jaccard_knn"``: mean_i |N_X(i) & N_Y(i)| / |N_X(i) | N_Y(i)| (ReSi's Jaccard similarity).
* ``"second_order_cosine"`` (Hamilton et al. 2016): for U_i = N_X(i) | N_Y(i), the cosine between
  the vectors (cos(x_i, x_j))_{j in U_i} and (cos(y_i, y_j))_{j in U_i}, averaged over i.
* ``"rank_similarity"`` (Wang et al. 2020): mean_i (1 / H_{K_i}) sum_{j in N_X(i) & N_Y(i)}
  2 / ((1 + |r_X(i, j) - r_Y(i, j)|) (r_X(i, j) + r_Y(i, j))), with K_i the size of the
  intersection and H_K = sum_{t <= K} 1 / t (0 for an empty intersection).
* ``"cknna"`` (Huh et al. 2024, centred kernel nearest-neighbour alignment): CKA restricted to
  mutual neighbours. With the cosine kernel K_ij = cos(x_i, x_j), the mask M_ij = 1 when j is in
  N_X(i) and in N_Y(i), and Song et al.'s unbiased HSIC of the masked kernels
  ``hsic(A, B) = tr(A B) + 1^T A 1 1^T B 1 / ((n-1)(n-2)) - 2 1^T A B 1 / (n-2)`` (the common
  1 / (n(n-3)) dropped), the score is hsic(M*K, M*L) / sqrt(hsic(M_X*K, M_X*K) hsic(M_Y*L, M_Y*L))
  with M_X (M_Y) X's (Y's) own k-NN mask: the formula of Huh et al.'s code. The masks are not
  symmetric, so neither is the score (1^T A B 1 != 1^T B A 1), and it is not bounded by 1.

All are invariant to orthogonal maps, isotropic scaling and permutations of the units (cosine
neighbourhoods, as Huh et al. and ReSi use; not translation). Costs: k-NN search O(n^2 p) per
system (distances in row blocks, never the whole n x n matrix), then O(n k log(n k)) per pair
(O(n k p) for second-order cosine).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..registry import Comparison, register
from .neighbors import MutualKNN, knn_indices, neighbour_overlap


def _shared_edges(a: np.ndarray, b: np.ndarray):
    """Edges (i, j) present in both (n, k) neighbour lists: (sorted keys i * n + j, their positions
    in a.ravel(), in b.ravel())."""
    n = a.shape[0]
    rows = np.arange(n)[:, None]
    keys_a = (rows * n + a).ravel()
    keys_b = (rows * n + b).ravel()
    return np.intersect1d(keys_a, keys_b, assume_unique=True, return_indices=True)


def _row_dots(U: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """out[i, j] = <U[i], U[idx[i, j]]>, (n, m), one column at a time (never an (n, m, p) array)."""
    out = np.empty(idx.shape)
    for j in range(idx.shape[1]):
        out[:, j] = np.einsum("ip,ip->i", U, U[idx[:, j]])
    return out


def _unit_rows(X: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(X, axis=1)
    if np.any(norms == 0):
        raise ValueError(f"X has a zero sample (row {int(np.argmin(norms))}), whose cosine neighbours are undefined")
    return X / norms[:, None]


@register
class JaccardKNN(MutualKNN):
    """Jaccard k-NN overlap: mean over samples of |N_X(i) & N_Y(i)| / |N_X(i) | N_Y(i)|.

    Parameters ``k`` (default 10) and ``metric`` ('cosine' default, or 'euclidean') as
    ``mutual_knn``, whose per-sample overlap o gives o / (2k - o). Extras: ``per_sample``.
    """

    name = "jaccard_knn"

    def _compare(self, a: np.ndarray, b: np.ndarray) -> Comparison:
        shared = neighbour_overlap(a, b)
        frac = shared / (2.0 * a.shape[1] - shared)
        return Comparison(float(frac.mean()), {"per_sample": frac})


@register
class RankSimilarity(MutualKNN):
    """Rank similarity of k-NN (Wang et al. 2020): shared neighbours weighted by how alike and how near their ranks are.

    Parameters ``k`` (default 10) and ``metric`` ('cosine' default, or 'euclidean'). In [0, 1]:
    1 when both systems rank the same first K neighbours alike. Extras: ``per_sample``.
    """

    name = "rank_similarity"

    def _compare(self, a: np.ndarray, b: np.ndarray) -> Comparison:
        n, k = a.shape
        _, pos_a, pos_b = _shared_edges(a, b)
        rank_a, rank_b = pos_a % k + 1.0, pos_b % k + 1.0
        terms = 2.0 / ((1.0 + np.abs(rank_a - rank_b)) * (rank_a + rank_b))
        rows = pos_a // k
        total = np.bincount(rows, terms, minlength=n)
        count = np.bincount(rows, minlength=n)
        harmonic = np.concatenate([[1.0], np.cumsum(1.0 / np.arange(1, k + 1))])  # H_0 := 1 (total is 0)
        per_sample = total / harmonic[count]
        return Comparison(float(np.clip(per_sample.mean(), 0.0, 1.0)), {"per_sample": per_sample})


@dataclass(frozen=True)
class _CosineKNNState:
    U: np.ndarray  # (n, p) unit-norm rows
    idx: np.ndarray  # (n, k) neighbour indices, nearest first
    sims: np.ndarray  # (n, k) cos(x_i, x_idx[i, j])
    self_hsic: float  # cknna only: hsic(M_X * K, M_X * K)


class _CosineKNN(MutualKNN):
    """Shared steps of the measures on cosine neighbourhoods with their cosine similarities."""

    defaults = {"k": 10}

    def _prepare(self, X: np.ndarray) -> _CosineKNNState:
        U = _unit_rows(X)
        idx = knn_indices(U, int(self.params["k"]), "cosine")
        sims = _row_dots(U, idx)
        return _CosineKNNState(U, idx, sims, self._self_term(idx, sims))

    def _self_term(self, idx: np.ndarray, sims: np.ndarray) -> float:
        return 0.0


@register
class SecondOrderCosine(_CosineKNN):
    """Second-order cosine similarity (Hamilton et al. 2016): cosine of the samples' similarity profiles over the union of their k-NN.

    Parameter ``k`` (default 10); neighbours and similarities by cosine. In [-1, 1] (in
    practice [0, 1] for mostly positive similarities). Extras: ``per_sample``.
    """

    name = "second_order_cosine"
    range = (-1.0, 1.0)

    def _compare(self, a: _CosineKNNState, b: _CosineKNNState) -> Comparison:
        n = a.idx.shape[0]
        union = np.sort(np.concatenate([a.idx, b.idx], axis=1), axis=1)
        first = np.ones(union.shape, dtype=bool)
        first[:, 1:] = union[:, 1:] != union[:, :-1]  # each neighbour once
        sx = _row_dots(a.U, union) * first
        sy = _row_dots(b.U, union) * first
        num = np.einsum("ik,ik->i", sx, sy)
        den = np.sqrt(np.einsum("ik,ik->i", sx, sx) * np.einsum("ik,ik->i", sy, sy))
        per_sample = np.divide(num, den, out=np.zeros(n), where=den > 0)
        return Comparison(float(np.clip(per_sample.mean(), -1.0, 1.0)), {"per_sample": per_sample})


def _masked_hsic(n: int, keys: np.ndarray, kv: np.ndarray, lv: np.ndarray) -> float:
    """Song et al.'s unbiased HSIC (times n(n-3)) of A = M*K and B = M*L for a mask given as sorted
    edge keys i * n + j (no diagonal) with values kv = K_ij, lv = L_ij."""
    rows, cols = keys // n, keys % n
    transposed = cols * n + rows
    pos = np.minimum(np.searchsorted(keys, transposed), keys.size - 1)
    back = keys[pos] == transposed  # (j, i) is an edge too
    trace = float(np.sum(kv[back] * lv[pos[back]]))  # tr(A B) = sum_ij A_ij B_ji
    col_a = np.bincount(cols, kv, minlength=n)  # 1^T A
    row_b = np.bincount(rows, lv, minlength=n)  # B 1
    return trace + kv.sum() * lv.sum() / ((n - 1) * (n - 2)) - 2.0 * float(col_a @ row_b) / (n - 2)


@register
class CKNNA(_CosineKNN):
    """CKNNA (Huh et al. 2024): centred kernel alignment restricted to pairs that are k-NN in both systems.

    Parameter ``k`` (default 10, as Huh et al.); cosine kernel and neighbourhoods (L2-normalised
    rows). Asymmetric and unbounded in principle (see the module docstring); 1 for identical
    neighbourhoods and kernels. Needs n >= max(k + 1, 4).
    """

    name = "cknna"
    range = (-np.inf, np.inf)
    symmetric = False

    def _min_samples(self) -> int:
        return max(int(self.params["k"]) + 1, 4)

    def _self_term(self, idx: np.ndarray, sims: np.ndarray) -> float:
        n = idx.shape[0]
        keys = (np.arange(n)[:, None] * n + idx).ravel()
        order = np.argsort(keys)
        hsic = _masked_hsic(n, keys[order], sims.ravel()[order], sims.ravel()[order])
        if not hsic > 0:
            raise ValueError("X has a k-NN kernel whose unbiased HSIC with itself is not positive; CKNNA is undefined")
        return hsic

    def _compare(self, a: _CosineKNNState, b: _CosineKNNState) -> float:
        n = a.idx.shape[0]
        keys, pos_a, pos_b = _shared_edges(a.idx, b.idx)
        if keys.size == 0:
            return 0.0
        cross = _masked_hsic(n, keys, a.sims.ravel()[pos_a], b.sims.ravel()[pos_b])
        return float(cross / np.sqrt(a.self_hsic * b.self_hsic))
