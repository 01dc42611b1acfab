"""Local-neighbourhood agreement (mutual k-NN) and linear predictivity (cross-validated ridge R^2).

* ``"mutual_knn"`` (Huh et al. 2024, "The Platonic Representation Hypothesis"): for each
  sample i, the k nearest other samples in X, N_k^X(i), and in Y, N_k^Y(i); the score is
  mean_i |N_k^X(i) & N_k^Y(i)| / k, in [0, 1]. Independent systems score about k / (n - 1).
* ``"ridge_r2"``: how well X linearly predicts Y, as the cross-validated, variance-weighted
  R^2 of a ridge regression from X to Y.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.spatial.distance import cdist

from .._validation import check_choice, check_nonconstant, check_random_state, check_scalar
from ..registry import Comparison, Measure, register

_METRICS = ("cosine", "euclidean")
DEFAULT_ALPHAS = tuple(float(a) for a in np.logspace(-3, 5, 17))
_CHUNK_ELEMS = 2**22  # rows of the distance matrix are built this many entries at a time


def knn_indices(X: np.ndarray, k: int, metric: str = "cosine") -> np.ndarray:
    """Indices of the k nearest other samples of every row of ``X`` (n, p), shape (n, k).

    ``metric="cosine"`` ranks by cosine similarity of the raw (uncentred) rows, as Huh et
    al. (2024) do with L2-normalised features; ``"euclidean"`` by Euclidean distance. The
    sample itself is excluded. Ties are broken deterministically: among equally distant
    samples the lower index comes first. Rows of the result are in neighbour order.
    """
    n = X.shape[0]
    if metric == "cosine":
        norms = np.linalg.norm(X, axis=1)
        if np.any(norms == 0):
            i = int(np.argmin(norms))
            raise ValueError(
                f"X has a zero sample (row {i}), whose cosine neighbours are undefined; use metric='euclidean'"
            )
        X = X / norms[:, None]
    out = np.empty((n, k), dtype=np.intp)
    step = max(1, _CHUNK_ELEMS // n)
    for start in range(0, n, step):
        rows = np.arange(start, min(start + step, n))
        D = -(X[rows] @ X.T) if metric == "cosine" else cdist(X[rows], X, "sqeuclidean")
        D[np.arange(rows.size), rows] = np.inf
        out[rows] = _k_smallest(D, k)
    return out


def _k_smallest(D: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the k smallest entries of each row, ordered by (value, index).

    argpartition finds them in linear time; rows with a tie at the k-th value (where
    argpartition's choice is arbitrary) fall back to a stable full sort.
    """
    idx = np.argpartition(D, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(D, idx, axis=1)
    kth = vals.max(axis=1)
    tied = np.count_nonzero(D <= kth[:, None], axis=1) > k
    order = np.lexsort((idx, vals), axis=1)
    idx = np.take_along_axis(idx, order, axis=1)
    if np.any(tied):
        idx[tied] = np.argsort(D[tied], axis=1, kind="stable")[:, :k]
    return idx


def neighbour_overlap(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Per-row |A_i & B_i| for two (n, k) index arrays whose rows hold distinct entries."""
    both = np.sort(np.concatenate([A, B], axis=1), axis=1)
    return np.sum(both[:, 1:] == both[:, :-1], axis=1)


@register
class MutualKNN(Measure):
    """Mutual k-nearest-neighbour agreement (Huh et al. 2024): mean shared fraction of k-NN.

    Parameters: ``k`` (default 10, as Huh et al.) and ``metric`` "cosine" (default, as Huh et
    al.: neighbours by inner product of L2-normalised, uncentred features) or "euclidean".
    Needs n >= k + 1 samples; neighbour ties go to the lower sample index (see
    :func:`knn_indices`). Invariant to orthogonal maps, isotropic scaling and unit
    permutations; with ``metric="euclidean"`` also to translation (cosine is not, so
    translation is not declared). Extras: ``per_sample`` overlap fractions, shape (n,).
    """

    name = "mutual_knn"
    kind = "similarity"
    range = (0.0, 1.0)
    invariances = frozenset({"orthogonal", "isotropic_scaling", "permutation"})
    defaults = {"k": 10, "metric": "cosine"}

    def _validate_params(self) -> None:
        check_scalar(self.params["k"], "k", int, min_val=1)
        if "metric" in self.params:
            check_choice(self.params["metric"], "metric", _METRICS)

    def _min_samples(self) -> int:
        return int(self.params["k"]) + 1

    def _memory_need(self, n: int, p: int) -> tuple[float, str]:
        """Distances are built in row blocks of at most 2^22 entries (a few copies of a block),
        never the whole n x n matrix; plus the normalised data and the (n, k) neighbour lists."""
        block = min(n * n, max(n, _CHUNK_ELEMS))
        need = 8.0 * (4 * block + 2 * n * p + 3 * n * int(self.params["k"]))
        return need, f"row blocks of the {n:,} x {n:,} distance matrix ({block:,} entries at a time)"

    def _prepare(self, X: np.ndarray) -> np.ndarray:
        if self.params["metric"] == "euclidean":
            check_nonconstant(X - X.mean(axis=0), "X", "mutual k-NN")
        return knn_indices(X, int(self.params["k"]), self.params["metric"])

    def _compare(self, a: np.ndarray, b: np.ndarray) -> Comparison:
        frac = neighbour_overlap(a, b) / a.shape[1]
        return Comparison(float(frac.mean()), {"per_sample": frac})


@register
class RidgeR2(Measure):
    """Cross-validated ridge R^2 of predicting Y from X (variance-weighted over Y's units).

    Asymmetric: ``compare(X, Y)`` is how well X predicts Y. Procedure: X is centred and
    scaled by one scalar so that its mean unit variance is 1 (so ``alpha`` means the same
    for every system, and the score is invariant to isotropic scaling of X); samples are
    split into ``n_folds`` (default 5) shuffled folds (sklearn ``KFold``, seeded by ``seed``);
    on each training fold a ridge regression with intercept is fitted, with penalty
    ``alpha`` (a number), or chosen from a grid by efficient leave-one-out CV on the
    training fold (sklearn ``RidgeCV``): ``alpha`` a sequence, or None for
    ``DEFAULT_ALPHAS`` = 10^-3 .. 10^5 (17 values). One alpha is shared by all of Y's units.
    The pooled out-of-fold predictions give R^2 = 1 - sum (Y - Yhat)^2 / sum (Y - mean Y)^2
    (sums over samples and units, i.e. sklearn's ``multioutput="variance_weighted"``).
    Range (-inf, 1]: about 1 when Y is a linear map of X, about 0 or below when unrelated.
    Invariant to translation, isotropic scaling, orthogonal maps and unit permutations of
    either system. A Generator ``seed`` is drawn from once, when the measure is built, so
    every comparison of one measure instance uses the same folds. Extras: ``alphas`` chosen
    per fold.
    """

    name = "ridge_r2"
    kind = "similarity"
    range = (-np.inf, 1.0)
    symmetric = False
    invariances = frozenset({"translation", "isotropic_scaling", "orthogonal", "permutation"})
    defaults = {"alpha": None, "n_folds": 5, "seed": 0}

    def _validate_params(self) -> None:
        check_scalar(self.params["n_folds"], "n_folds", int, min_val=2)
        self._alphas = _check_alpha(self.params["alpha"])
        self._fold_seed = fold_seed(self.params["seed"])

    def _min_samples(self) -> int:
        return int(self.params["n_folds"]) + 2

    def _prepare(self, X: np.ndarray) -> np.ndarray:
        Xc = X - X.mean(axis=0)
        check_nonconstant(Xc, "X", "ridge R^2")
        return Xc * np.sqrt(Xc.size / np.sum(Xc**2))

    def _model(self):
        # sklearn.linear_model is imported here, not at module load: it costs ~2 s per new
        # worker process and most users of this module never fit a ridge.
        from sklearn.linear_model import Ridge, RidgeCV

        if len(self._alphas) == 1:
            return Ridge(alpha=self._alphas[0])
        return RidgeCV(alphas=self._alphas)

    def _compare(self, X: np.ndarray, Y: np.ndarray) -> Comparison:
        n, p = X.shape
        if p > n:  # RidgeCV's leave-one-out route works on the n x n Gram matrix and its eigenvectors
            from .._memory import check_memory

            check_memory(8.0 * (4 * n * n + 2 * n * (p + Y.shape[1])), f"ridge_r2 with {n:,} samples x {p:,} features",
                         f"{n:,} x {n:,} Gram matrices of the leave-one-out ridge", "use fewer samples or features")
        pred = np.empty_like(Y)
        chosen = []
        from sklearn.model_selection import KFold

        folds = KFold(int(self.params["n_folds"]), shuffle=True, random_state=self._fold_seed)
        for train, test in folds.split(X):
            model = self._model().fit(X[train], Y[train])
            pred[test] = np.reshape(model.predict(X[test]), (len(test), -1))  # 1-D for a single unit
            chosen.append(float(getattr(model, "alpha_", self._alphas[0])))
        ss_res = np.sum((Y - pred) ** 2)
        ss_tot = np.sum((Y - Y.mean(axis=0)) ** 2)
        return Comparison(float(1.0 - ss_res / ss_tot), {"alphas": np.array(chosen)})


def fold_seed(seed: Any) -> int:
    """The integer seed of the k-fold split: an int seed itself (mod 2^32), else one draw from the
    seed's Generator (made once, when the measure is built, so every comparison uses the same folds)."""
    rng = check_random_state(seed)  # validates the seed
    if isinstance(seed, (int, np.integer)):
        return int(seed) % 2**32
    return int(rng.integers(2**32))


def _check_alpha(alpha: Any) -> tuple:
    """The penalty grid as a tuple of positive floats (one value: a fixed penalty)."""
    if alpha is None:
        return DEFAULT_ALPHAS
    vals = np.atleast_1d(np.asarray(alpha, dtype=object))
    try:
        grid = tuple(float(a) for a in vals.ravel())
    except (TypeError, ValueError):
        grid = ()
    if not grid or not all(np.isfinite(a) and a > 0 for a in grid):
        raise ValueError(f"alpha must be a positive number, a non-empty sequence of them, or None; got {alpha!r}")
    return grid
