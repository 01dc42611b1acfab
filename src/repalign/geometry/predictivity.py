"""Linear predictivity: how well one system linearly predicts the other, out of sample.

Every measure here follows ``ridge_r2``'s procedure (:mod:`repalign.geometry.neighbors`) with a
different regression or score:

1. Each system is centred and scaled by one scalar so that its mean unit variance is 1 (the
   score is then invariant to translating or rescaling either system).
2. ``direction="forward"`` predicts Y from X (``compare(X, Y)`` is how well X predicts Y);
   ``"reverse"`` predicts X from Y (the same score as ``compare(Y, X)`` of the forward measure).
3. Samples are split into ``n_folds`` shuffled folds (sklearn ``KFold``, seeded by ``seed``); on
   each training fold the regression (with intercept) is fitted and it predicts the held-out fold.
4. The pooled out-of-fold predictions are scored against the targets:

   * ``score="r2"``: 1 - sum (Y - Yhat)^2 / sum (Y - mean Y)^2, sums over samples and units
     (variance-weighted R^2), in (-inf, 1];
   * ``score="pearson"``: the Pearson correlation of each target unit with its prediction
     over all samples, averaged over units (Brain-Score's "linear predictivity" before its
     ceiling and median; units constant over the samples are left out, a constant prediction
     counts as r = 0), in [-1, 1].

Regressions: ``"linear_predictivity"`` ridge with the penalty chosen per fold by efficient
leave-one-out CV over a grid (as ``ridge_r2``; default score Pearson r); ``"lstsq_predictivity"``
unregularised least squares (the minimum-norm solution when the training fold has fewer samples
than features; default score R^2); ``"pls_predictivity"`` partial least squares
(scikit-learn's ``PLSRegression(scale=False)`` algorithm with exact SVDs, see
:func:`pls_coefficients`; ``n_components`` capped by the training fold's rank; Brain-Score's
default 25 components; default score Pearson r).

Invariances (both systems, every parameter value): translation, isotropic scaling, permutation of
units. With ``score="r2"`` also orthogonal maps (every regression here is equivariant to
rotations of either system); the Pearson score is not (it scores each unit separately). Cost per
pair: ``n_folds`` fits, e.g. O(n p^2 + p^3) for least squares. Asymmetric.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_choice, check_nonconstant, check_scalar
from ..registry import Comparison, Measure, register
from .neighbors import _check_alpha, fold_seed

DIRECTIONS = ("forward", "reverse")
SCORES = ("pearson", "r2")


def pearson_per_unit(Y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Pearson r of each column of Y with the same column of ``pred`` (NaN for a constant Y column,
    0 for a constant prediction)."""
    Yc, Pc = Y - Y.mean(axis=0), pred - pred.mean(axis=0)
    sy, sp = np.sqrt(np.sum(Yc**2, axis=0)), np.sqrt(np.sum(Pc**2, axis=0))
    num = np.sum(Yc * Pc, axis=0)
    r = np.divide(num, sy * sp, out=np.zeros(Y.shape[1]), where=(sy * sp) > 0)
    r[sy <= 1e-12 * max(float(sy.max()), 1e-300)] = np.nan
    return np.clip(r, -1.0, 1.0)


class _Predictivity(Measure):
    """Shared procedure (module docstring); subclasses implement ``_fit_predict``."""

    kind = "similarity"
    range = (-np.inf, 1.0)
    symmetric = False
    invariances = frozenset({"translation", "isotropic_scaling", "permutation"})

    def _validate_params(self) -> None:
        p = self.params
        check_scalar(p["n_folds"], "n_folds", int, min_val=2)
        check_choice(p["direction"], "direction", DIRECTIONS)
        check_choice(p["score"], "score", SCORES)
        self._fold_seed = fold_seed(p["seed"])

    def _min_samples(self) -> int:
        return int(self.params["n_folds"]) + 2

    def _prepare(self, X: np.ndarray) -> np.ndarray:
        Xc = X - X.mean(axis=0)
        check_nonconstant(Xc, "X", f"'{self.name}'")
        return Xc * np.sqrt(Xc.size / np.sum(Xc**2))

    def _fit_predict(self, X: np.ndarray, Y: np.ndarray, X_test: np.ndarray) -> tuple[np.ndarray, dict]:
        """Predictions (n_test, q) of a regression of Y on X (with intercept), and extras."""
        raise NotImplementedError

    def out_of_fold(self, X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, list]:
        """Pooled out-of-fold predictions of Y from X, shape of Y, and each fold's extras."""
        # sklearn is imported here, not at module load: it costs ~2 s per new worker process
        # and most users of this module never fit a regression (as in ridge_r2).
        from sklearn.model_selection import KFold

        pred = np.empty_like(Y)
        extras = []
        folds = KFold(int(self.params["n_folds"]), shuffle=True, random_state=self._fold_seed)
        for train, test in folds.split(X):
            out, info = self._fit_predict(X[train], Y[train], X[test])
            pred[test] = np.reshape(out, (len(test), -1))
            extras.append(info)
        return pred, extras

    def _compare(self, a: np.ndarray, b: np.ndarray) -> Comparison:
        X, Y = (a, b) if self.params["direction"] == "forward" else (b, a)
        pred, extras = self.out_of_fold(X, Y)
        info = {k: np.array([e[k] for e in extras]) for k in (extras[0] if extras else {})}
        if self.params["score"] == "r2":
            ss_res = np.sum((Y - pred) ** 2)
            ss_tot = np.sum((Y - Y.mean(axis=0)) ** 2)
            return Comparison(float(1.0 - ss_res / ss_tot), info)
        r = pearson_per_unit(Y, pred)
        info["per_unit"] = r
        return Comparison(float(np.nanmean(r)), info)


@register
class LinearPredictivity(_Predictivity):
    """Cross-validated ridge predictivity scored by Pearson r per unit (or R^2): Brain-Score-style linear predictivity.

    Parameters: ``alpha`` (a penalty, a grid, or None for ``ridge_r2``'s 10^-3 .. 10^5 grid,
    chosen per fold by leave-one-out CV), ``n_folds`` (5), ``seed`` (0), ``score`` ('pearson'),
    ``direction`` ('forward': X predicts Y). Extras: ``alphas`` per fold, ``per_unit`` r.
    """

    name = "linear_predictivity"
    defaults = {"alpha": None, "n_folds": 5, "seed": 0, "score": "pearson", "direction": "forward"}

    def _validate_params(self) -> None:
        super()._validate_params()
        self._alphas = _check_alpha(self.params["alpha"])

    def _fit_predict(self, X, Y, X_test):
        from sklearn.linear_model import Ridge, RidgeCV  # see out_of_fold

        n, p = X.shape
        if p > n:  # RidgeCV's leave-one-out route works on the n x n Gram matrix
            self.check_memory(n, p, "X (a training fold)")
        model = Ridge(alpha=self._alphas[0]) if len(self._alphas) == 1 else RidgeCV(alphas=self._alphas)
        model.fit(X, Y)
        return model.predict(X_test), {"alphas": float(getattr(model, "alpha_", self._alphas[0]))}

    def _memory_need(self, n: int, p: int) -> tuple[float, str]:
        k = min(n, p)
        return 8.0 * (4 * k * k + 4 * n * p), f"{k:,} x {k:,} Gram or covariance matrices of the ridge fits"


@register
class LstsqPredictivity(_Predictivity):
    """Cross-validated unregularised least-squares predictivity (R^2 by default, or Pearson r per unit).

    Parameters: ``n_folds`` (5), ``seed`` (0), ``score`` ('r2'), ``direction`` ('forward').
    A training fold with fewer samples than features is interpolated (minimum-norm solution),
    so the out-of-fold score is then poor: use ``linear_predictivity`` (ridge) there.
    """

    name = "lstsq_predictivity"
    defaults = {"n_folds": 5, "seed": 0, "score": "r2", "direction": "forward"}

    def _fit_predict(self, X, Y, X_test):
        mx, my = X.mean(axis=0), Y.mean(axis=0)
        coef, *_ = np.linalg.lstsq(X - mx, Y - my, rcond=None)
        return (X_test - mx) @ coef + my, {}


@register
class PLSPredictivity(_Predictivity):
    """Cross-validated partial-least-squares (PLS2) predictivity, Pearson r per unit by default.

    Parameters: ``n_components`` (25, Brain-Score's choice; capped at the training fold's
    ``min(samples - 1, features)``), ``n_folds`` (5), ``seed`` (0), ``score`` ('pearson'),
    ``direction`` ('forward'). Extras: ``components`` used per fold, ``per_unit`` r.
    Agrees with scikit-learn's ``PLSRegression(scale=False)`` once its power iteration has
    converged (``tol=1e-15``: R^2 to 1e-7); at sklearn's default ``tol=1e-6`` the two differ by ~1e-5.
    """

    name = "pls_predictivity"
    defaults = {"n_components": 25, "n_folds": 5, "seed": 0, "score": "pearson", "direction": "forward"}

    def _validate_params(self) -> None:
        super()._validate_params()
        check_scalar(self.params["n_components"], "n_components", int, min_val=1)

    def _fit_predict(self, X, Y, X_test):
        rank = np.linalg.matrix_rank(X - X.mean(axis=0))
        c = int(max(1, min(self.params["n_components"], X.shape[0] - 1, X.shape[1], rank)))
        mx, my = X.mean(axis=0), Y.mean(axis=0)
        return (X_test - mx) @ pls_coefficients(X - mx, Y - my, c) + my, {"components": c}


def pls_coefficients(X: np.ndarray, Y: np.ndarray, n_components: int) -> np.ndarray:
    """Regression coefficients (p, q) of PLS2 with ``n_components`` on centred X (n, p), Y (n, q).

    scikit-learn's ``PLSRegression(scale=False)`` algorithm (NIPALS with regression-mode
    deflation, coefficients W (P^T W)^-1 Q^T), except that each weight vector is the exact first
    left singular vector of X_k^T Y_k rather than a power iteration stopped at 1e-6: the fit is
    then deterministic and exactly equivariant to rotations and permutations of either system.
    """
    Xk, Yk = X.copy(), Y.copy()
    p, q = X.shape[1], Y.shape[1]
    W, P, Q = np.zeros((p, n_components)), np.zeros((p, n_components)), np.zeros((q, n_components))
    for k in range(n_components):
        U, s, _ = np.linalg.svd(Xk.T @ Yk, full_matrices=False)
        if s[0] <= 1e-12 * max(float(np.abs(X).max()) * float(np.abs(Y).max()), 1e-300):
            W, P, Q = W[:, :k], P[:, :k], Q[:, :k]  # Y is explained: no further direction
            break
        w = U[:, 0]
        t = Xk @ w
        tt = t @ t
        P[:, k], Q[:, k], W[:, k] = Xk.T @ t / tt, Yk.T @ t / tt, w
        Xk -= np.outer(t, P[:, k])
        Yk -= np.outer(t, Q[:, k])
    if W.shape[1] == 0:
        return np.zeros((p, q))
    return W @ np.linalg.solve(P.T @ W, Q.T)
