"""HAVOK-style dynamic mode decomposition (delay embedding + SVD + linear regression).

Given trials of shape ``(T_i, units)``:

1. Each trial is delay-embedded (:mod:`repalign.dynamics.embedding`; newest block first) and
   the embedded rows of all trials are stacked into ``H`` of shape ``(N, d)``,
   ``N = sum_i (T_i - (n_delays - 1) * delay_interval)``, ``d = n_delays * units``.
2. Thin SVD ``H = V diag(s) U^T``: ``V`` ``(N, k)`` are the time coordinates (orthonormal
   columns), ``U`` ``(d, k)`` the embedding-space basis, ``k = min(N, d)``. Each column pair is
   given the sign that makes the largest-magnitude entry of the ``U`` column positive (the SVD
   leaves it arbitrary; the operator only changes by a diagonal +-1 conjugation).
3. Pairs ``(v_t, v_{t+steps_ahead})`` of rows of ``V`` are formed *within* each trial, never
   across the boundary between two trials, and stacked into ``V_minus``, ``V_plus``.
4. Principal component regression (default): with the first ``r`` columns,
   ``A_v = ((Vm_r^T Vm_r + lamb I)^{-1} Vm_r^T Vp_r)^T``, an ``(r, r)`` matrix acting on column
   vectors: ``v_{t+steps_ahead} ~= A_v v_t``. This is dsa-metric's ``DMD.A_v`` (same
   convention, up to the singular-vector signs).

   Reduced-rank regression (``reduced_rank_reg=True``): the ridge regression on all ``k``
   retained coordinates, ``B = (Vm^T Vm + lamb I)^{-1} Vm^T Vp``, is projected onto the top
   ``r`` eigenvectors ``W_r`` of ``M = (Vm^T Vp)^T B`` (the covariance of the fitted values when
   ``lamb = 0``): ``A_v = W_r W_r^T B^T``, a ``(k, k)`` matrix of rank ``r``. dsa-metric stores
   the transpose ``B W_r W_r^T`` (row-vector convention); repalign keeps the column convention
   for both regressions.

The full operator in embedding space is ``A_havok_dmd = U_r diag(s_r) A_v diag(1/s_r) U_r^T``
(``d x d``); ``predict`` applies it through the reduced coordinates without forming it.

Rank (at most one criterion; none = the numerical rank, i.e. the number of singular values
above ``s_max * max(N, d) * eps``, so exactly rank-deficient directions are never fitted):

* ``rank``: an int, at most the numerical rank (ValueError otherwise, e.g. above ``d``).
* ``rank_thresh``: the number of singular values greater than the threshold (at least 1).
* ``rank_explained_variance``: the smallest r whose cumulative share of ``sum s^2`` reaches the
  value (in (0, 1]).

For reduced-rank regression the criteria apply to ``sqrt`` of the eigenvalues of ``M`` (the
singular values of the fitted values when ``lamb = 0``). dsa-metric applies ``rank_thresh`` to
the eigenvalues themselves and squares them again for the explained variance; explicit
``rank`` is the same in both.

Data are not centred (as in dsa-metric): a constant offset is part of the dynamics.
All computations are float64 numpy/scipy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.linalg import LinAlgError, eigh, solve

from .._validation import as_trials, check_scalar
from .embedding import check_delays, embed_trial, input_layout, min_length, trial_names

__all__ = ["DMD", "check_dmd_params", "DMD_PARAMS"]

DMD_PARAMS = {
    "n_delays": 1,
    "delay_interval": 1,
    "rank": None,
    "rank_thresh": None,
    "rank_explained_variance": None,
    "lamb": 0.0,
    "reduced_rank_reg": False,
    "steps_ahead": 1,
}


def check_dmd_params(
    n_delays: Any, delay_interval: Any, rank: Any, rank_thresh: Any, rank_explained_variance: Any,
    lamb: Any, reduced_rank_reg: Any, steps_ahead: Any,
) -> None:
    """Raise ValueError naming the first invalid DMD parameter."""
    check_delays(n_delays, delay_interval)
    given = [n for n, v in (("rank", rank), ("rank_thresh", rank_thresh),
                            ("rank_explained_variance", rank_explained_variance)) if v is not None]
    if len(given) > 1:
        raise ValueError(f"give at most one of rank, rank_thresh, rank_explained_variance; got {given}")
    check_scalar(rank, "rank", int, min_val=1, allow_none=True)
    check_scalar(rank_thresh, "rank_thresh", float, min_val=0.0, allow_none=True)
    check_scalar(rank_explained_variance, "rank_explained_variance", float, min_val=0.0, max_val=1.0,
                 include_boundaries="right", allow_none=True)
    check_scalar(lamb, "lamb", float, min_val=0.0)
    if not isinstance(reduced_rank_reg, (bool, np.bool_)):
        raise ValueError(f"reduced_rank_reg must be True or False; got {reduced_rank_reg!r}")
    check_scalar(steps_ahead, "steps_ahead", int, min_val=1)


def _fix_signs(V: np.ndarray, U: np.ndarray, ref: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Flip singular-vector pairs so the largest-magnitude entry of each ``ref`` column (default
    the U column) is positive."""
    ref = U if ref is None else ref
    idx = np.argmax(np.abs(ref), axis=0)
    signs = np.sign(ref[idx, np.arange(ref.shape[1])])
    signs[signs == 0] = 1.0
    return V * signs, U * signs


def _rank_from_values(
    values: np.ndarray, n_valid: int, rank: Any, rank_thresh: Any, explained: Any, what: str
) -> int:
    """Apply the rank criterion to descending ``values`` (singular-value-like, >= 0)."""
    if rank is not None:
        if rank > n_valid:
            raise ValueError(
                f"rank={rank} exceeds the {what} ({n_valid}: embedding dimension, number of embedded "
                f"time points and numerical rank bound it); use a smaller rank"
            )
        return int(rank)
    if rank_thresh is not None:
        return int(min(max(np.sum(values[:n_valid] > rank_thresh), 1), n_valid))
    if explained is not None:
        energy = values[:n_valid] ** 2
        cum = np.cumsum(energy) / energy.sum()
        return int(min(np.searchsorted(cum, explained) + 1, n_valid))
    return int(n_valid)


class DMD:
    """HAVOK DMD: delay embedding, SVD truncated to rank r, least-squares linear map.

    Parameters
    ----------
    n_delays, delay_interval : int
        Delay embedding (see :mod:`repalign.dynamics.embedding`).
    rank, rank_thresh, rank_explained_variance
        At most one rank criterion (module docstring); none = numerical rank.
    lamb : float
        Ridge penalty added to ``Vm^T Vm`` (0 = ordinary least squares). dsa-metric's ``DMD``
        defaults to 1e-8; pass ``lamb=1e-8`` to reproduce it.
    reduced_rank_reg : bool
        Reduced-rank instead of principal-component regression.
    steps_ahead : int
        The map is fitted from ``v_t`` to ``v_{t + steps_ahead}``.

    Fitted attributes
    -----------------
    A_v : (r, r), or (k, k) of rank r for reduced-rank regression
        Operator on the reduced (unit-variance SVD) coordinates, column convention.
    rank : int
    singular_values : (k,)
        All singular values of the stacked embedding, descending.
    explained_variance : (k,)
        Cumulative share of ``sum s^2``.
    U : (d, m)
        Embedding-space basis of the reduced coordinates (m = A_v.shape[0]).
    eigenvalues (alias ``eigs``) : (m,) complex
        Eigenvalues of ``A_v`` (= the non-trivial eigenvalues of ``A_havok_dmd``).
    modes : (d, m) complex
        Eigenvectors of ``A_havok_dmd`` in embedding space, ``U diag(s) W``.
    fit_error : float
        Relative one-step residual ``||Vp - Vm A_v^T||_F^2 / ||Vp||_F^2`` in reduced coordinates.
    n_units, n_trials : int
    """

    def __init__(
        self, n_delays: int = 1, delay_interval: int = 1, rank: int | None = None,
        rank_thresh: float | None = None, rank_explained_variance: float | None = None,
        lamb: float = 0.0, reduced_rank_reg: bool = False, steps_ahead: int = 1,
    ) -> None:
        check_dmd_params(n_delays, delay_interval, rank, rank_thresh, rank_explained_variance,
                         lamb, reduced_rank_reg, steps_ahead)
        self.n_delays, self.delay_interval = int(n_delays), int(delay_interval)
        self.rank_param, self.rank_thresh = rank, rank_thresh
        self.rank_explained_variance = rank_explained_variance
        self.lamb, self.reduced_rank_reg = float(lamb), bool(reduced_rank_reg)
        self.steps_ahead = int(steps_ahead)
        self.A_v: np.ndarray | None = None

    # ------------------------------------------------------------------ fitting
    def _embed_all(self, trials: list[np.ndarray], name: str) -> list[np.ndarray]:
        need = min_length(self.n_delays, self.delay_interval) + self.steps_ahead
        out = []
        for t, nm in zip(trials, trial_names(len(trials), name)):
            if t.shape[0] < need:
                raise ValueError(
                    f"{nm} has {t.shape[0]} time points; n_delays={self.n_delays}, delay_interval="
                    f"{self.delay_interval} and steps_ahead={self.steps_ahead} need at least {need}"
                )
            out.append(embed_trial(t, self.n_delays, self.delay_interval, nm))
        return out

    def _pairs(self, V: np.ndarray, lengths: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """(current, future) rows of V, paired within each trial only."""
        s = self.steps_ahead
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        cur = np.concatenate([np.arange(a, a + n - s) for a, n in zip(starts, lengths)])
        return V[cur], V[cur + s]

    def fit(self, X: Any) -> "DMD":
        """Fit to ``X``: ``(time, units)``, ``(trials, time, units)`` or a list of trials."""
        trials = as_trials(X, "X")
        H_list = self._embed_all(trials, "X")
        self.n_units, self.n_trials = trials[0].shape[1], len(trials)
        self._fit_features(self._lift_fit(np.concatenate(H_list, axis=0)), [h.shape[0] for h in H_list])
        return self

    def _lift_fit(self, H: np.ndarray) -> np.ndarray:
        """Features of the stacked embedding that the regression runs on (``H`` itself for
        linear DMD; kernel features in :class:`repalign.dynamics.kernel_dmd.KernelDMD`)."""
        return H

    def _lift(self, H: np.ndarray) -> np.ndarray:
        """Features of new embedded rows, in the fitted feature space."""
        return H

    def _fit_features(self, Psi: np.ndarray, lengths: list[int]) -> None:
        """SVD of the ``(N, f)`` features, rank choice and regression (module docstring 2-4)."""
        Vfull, s, Ut = np.linalg.svd(Psi, full_matrices=False)
        if s[0] == 0.0:
            raise ValueError("X is identically zero; DMD is undefined")
        Vfull, U = _fix_signs(Vfull, Ut.T, self._sign_reference(Vfull, Ut.T))
        n_num = int(np.sum(s > s[0] * max(Psi.shape) * np.finfo(float).eps))
        Vm, Vp = self._pairs(Vfull[:, :n_num], lengths)
        if self.reduced_rank_reg:
            A_v, r = self._fit_rrr(Vm, Vp, n_num)
        else:
            r = _rank_from_values(s, n_num, self.rank_param, self.rank_thresh,
                                  self.rank_explained_variance, "number of non-zero singular values")
            A_v = self._ridge(Vm[:, :r], Vp[:, :r]).T
        m = A_v.shape[0]
        self.A_v, self.rank = A_v, r
        self.singular_values = s
        self.explained_variance = np.cumsum(s**2) / np.sum(s**2)
        self.U, self._s = U[:, :m], s[:m]
        self.eigenvalues, W = np.linalg.eig(A_v)
        self.modes = (self.U * self._s) @ W
        resid = Vp[:, :m] - Vm[:, :m] @ A_v.T
        self.fit_error = float(np.sum(resid**2) / max(np.sum(Vp[:, :m] ** 2), np.finfo(float).tiny))
        self._decoder = self._make_decoder(Vfull[:, :m])  # (m, units): reduced coordinates -> state

    def _sign_reference(self, V: np.ndarray, U: np.ndarray) -> np.ndarray:
        """Columns whose largest-magnitude entry decides each singular pair's sign (here U)."""
        return U

    def _make_decoder(self, V: np.ndarray) -> np.ndarray:
        """``(m, units)`` map from reduced coordinates to the current state: ``diag(s) U^T``'s
        first ``units`` columns (the newest block of the embedding)."""
        return (self.U[: self.n_units] * self._s).T

    def encode(self, H: np.ndarray) -> np.ndarray:
        """Reduced coordinates ``(n, m)`` of embedded rows ``H`` ``(n, n_delays * units)``."""
        self._check_fitted()
        return (self._lift(H) @ self.U) / self._s

    def decode(self, V: np.ndarray) -> np.ndarray:
        """States ``(n, units)`` (the newest block of the embedding) of reduced coordinates ``V``."""
        self._check_fitted()
        return V @ self._decoder

    def _ridge(self, Vm: np.ndarray, Vp: np.ndarray) -> np.ndarray:
        """B = (Vm^T Vm + lamb I)^{-1} Vm^T Vp (row-vector convention: Vp ~ Vm B)."""
        G = Vm.T @ Vm + self.lamb * np.eye(Vm.shape[1])
        try:
            return solve(G, Vm.T @ Vp, assume_a="pos")
        except LinAlgError:
            raise ValueError(
                "the DMD regression is singular (the current-state coordinates are linearly "
                "dependent); lower the rank or use a ridge penalty lamb > 0"
            ) from None

    def _fit_rrr(self, Vm: np.ndarray, Vp: np.ndarray, n_num: int) -> tuple[np.ndarray, int]:
        B = self._ridge(Vm, Vp)
        M = (Vm.T @ Vp).T @ B
        evals, W = eigh((M + M.T) / 2)
        evals, W = evals[::-1], W[:, ::-1]
        values = np.sqrt(np.clip(evals, 0.0, None))
        r = _rank_from_values(values, n_num, self.rank_param, self.rank_thresh,
                              self.rank_explained_variance, "number of non-zero singular values")
        P = W[:, :r] @ W[:, :r].T
        return P @ B.T, r

    # ------------------------------------------------------------------ use
    def _check_fitted(self) -> None:
        if self.A_v is None:
            raise ValueError("this DMD is not fitted yet; call fit(X) first")

    @property
    def eigs(self) -> np.ndarray:
        """Eigenvalues of ``A_v`` (alias of ``eigenvalues``)."""
        self._check_fitted()
        return self.eigenvalues

    @property
    def A_havok_dmd(self) -> np.ndarray:
        """The ``(d, d)`` operator in embedding space, ``U diag(s) A_v diag(1/s) U^T``."""
        self._check_fitted()
        return (self.U * self._s) @ self.A_v @ (self.U / self._s).T

    @property
    def warmup(self) -> int:
        """Leading time points of a trial that ``predict`` cannot predict (left as NaN)."""
        return (self.n_delays - 1) * self.delay_interval + self.steps_ahead

    def predict(self, X: Any) -> np.ndarray | list[np.ndarray]:
        """``steps_ahead``-step predictions of (held-out) trials, in the original unit space.

        Each trial is delay-embedded, projected on the fitted coordinates
        (``v = diag(1/s) U^T h``), propagated once by ``A_v``, and mapped back
        (``h = U diag(s) v``); the first ``units`` entries of ``h`` are the predicted state.

        Returns arrays shaped like the input (``(time, units)``, ``(trials, time, units)`` or a
        list); row ``t`` is the prediction of ``x(t)`` from data up to ``t - steps_ahead``. The
        first :attr:`warmup` rows of each trial have no prediction and are NaN.
        """
        self._check_fitted()
        layout = input_layout(X)
        trials = as_trials(X, "X")
        if trials[0].shape[1] != self.n_units:
            raise ValueError(f"X has {trials[0].shape[1]} units; this DMD was fitted on {self.n_units}")
        H_list = self._embed_all(trials, "X")
        out = []
        for x, H in zip(trials, H_list):
            pred = np.full_like(x, np.nan)
            pred[self.warmup:] = self.decode(self.encode(H)[: -self.steps_ahead] @ self.A_v.T)
            out.append(pred)
        if layout == "list":
            return out
        return np.stack(out) if layout == "3d" else out[0]

    def prediction_error(self, X: Any, relative: bool = True) -> float:
        """Squared prediction error of ``predict(X)`` over all predicted time points.

        ``relative=True``: ``sum ||x_hat - x||^2 / sum ||x||^2`` (0 = perfect); else the mean
        squared error per entry. Use it on held-out trials to choose rank and delays.
        """
        trials = as_trials(X, "X")
        preds = self.predict(trials)
        err = sum(float(np.sum((p[self.warmup:] - x[self.warmup:]) ** 2)) for p, x in zip(preds, trials))
        if relative:
            return err / max(sum(float(np.sum(x[self.warmup:] ** 2)) for x in trials), np.finfo(float).tiny)
        return err / sum(x[self.warmup:].size for x in trials)

    def __repr__(self) -> str:
        return (f"DMD(n_delays={self.n_delays}, delay_interval={self.delay_interval}, rank={self.rank_param}, "
                f"rank_thresh={self.rank_thresh}, rank_explained_variance={self.rank_explained_variance}, "
                f"lamb={self.lamb}, reduced_rank_reg={self.reduced_rank_reg}, steps_ahead={self.steps_ahead})")
