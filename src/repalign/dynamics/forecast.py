"""Multi-step prediction of held-out trials with a fitted (kernel) DMD, and a rank/delay grid.

A DMD fitted with ``steps_ahead = 1`` is a one-step model ``x(t+1) = decode(A_v encode(h(t)))``
(``h(t)`` the delay vector ``[x(t), x(t - tau), ..., x(t - (D-1) tau)]``). :func:`forecast`
iterates it from the first ``context`` true states of a trial for ``horizon`` steps:

* ``mode="reencode"`` (default): each predicted state is appended to the history and the next
  delay vector is built from it (closed loop in state space; true states only in the context).
* ``mode="koopman"``: the reduced coordinates of the last context delay vector are propagated
  linearly, ``v(t+k) = A_v^k v(t)``, and decoded (the Koopman/DMD view; for linear DMD and
  ``n_delays = 1`` at full rank the two modes agree).

:func:`forecast_error` compares the forecast with the true continuation (relative squared error
overall and per step). :func:`select_dmd` fits one DMD per (n_delays, rank) of a grid on training
trials and reports the forecast error on held-out trials: a check that the chosen rank and
delays describe the dynamics, not just the one-step map.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .._validation import as_trials, check_choice, check_scalar
from .dmd import DMD
from .kernel_dmd import KernelDMD

__all__ = ["forecast", "forecast_error", "select_dmd", "make_dmd"]

MODES = ("reencode", "koopman")


def _check_ints(context: Any, horizon: Any) -> tuple[int, int]:
    return check_scalar(context, "context", int, min_val=1), check_scalar(horizon, "horizon", int, min_val=1)


def _delay_row(hist: np.ndarray, t: int, D: int, tau: int) -> np.ndarray:
    """The delay vector of time ``t`` (newest block first), shape ``(1, D * units)``."""
    return np.concatenate([hist[t - d * tau] for d in range(D)])[None, :]


def forecast(dmd: DMD, X: Any, context: int, horizon: int, mode: str = "reencode") -> np.ndarray | list:
    """Predict ``X[context : context + horizon]`` of each trial from ``X[:context]``.

    Parameters
    ----------
    dmd : a fitted :class:`DMD` or :class:`KernelDMD` with ``steps_ahead = 1``
    X : ``(time, units)``, ``(trials, time, units)`` or a list of trials (time >= context)
    context : int
        True states given; at least ``(n_delays - 1) * delay_interval + 1``.
    horizon : int
        Steps predicted.
    mode : "reencode" or "koopman" (module docstring)

    Returns ``(horizon, units)`` per trial: one array for a 2-D input, ``(trials, horizon, units)``
    for 3-D, a list for a list. The input is not modified.
    """
    dmd._check_fitted()
    if dmd.steps_ahead != 1:
        raise ValueError(f"forecast needs a DMD fitted with steps_ahead=1; got steps_ahead={dmd.steps_ahead}")
    check_choice(mode, "mode", MODES)
    context, horizon = _check_ints(context, horizon)
    D, tau = dmd.n_delays, dmd.delay_interval
    need = (D - 1) * tau + 1
    if context < need:
        raise ValueError(f"context must be at least (n_delays - 1) * delay_interval + 1 = {need}; got {context}")
    is_list = isinstance(X, (list, tuple))
    trials = as_trials(X, "X")
    if trials[0].shape[1] != dmd.n_units:
        raise ValueError(f"X has {trials[0].shape[1]} units; this DMD was fitted on {dmd.n_units}")
    out = []
    for i, x in enumerate(trials):
        if x.shape[0] < context:
            raise ValueError(f"X[{i}] has {x.shape[0]} time points; context={context} needs at least that many")
        out.append(_forecast_one(dmd, x[:context], horizon, mode))
    if is_list:
        return out
    return out[0] if np.ndim(X) == 2 else np.stack(out)


def _forecast_one(dmd: DMD, past: np.ndarray, horizon: int, mode: str) -> np.ndarray:
    D, tau = dmd.n_delays, dmd.delay_interval
    hist = np.concatenate([past, np.zeros((horizon, past.shape[1]))])
    t0 = past.shape[0] - 1
    if mode == "koopman":
        v = dmd.encode(_delay_row(hist, t0, D, tau))
        steps = []
        for _ in range(horizon):
            v = v @ dmd.A_v.T
            steps.append(v[0])
        return dmd.decode(np.array(steps))
    for k in range(horizon):
        t = t0 + k
        hist[t + 1] = dmd.decode(dmd.encode(_delay_row(hist, t, D, tau)) @ dmd.A_v.T)[0]
    return hist[t0 + 1:]


def forecast_error(dmd: DMD, X: Any, context: int, horizon: int, mode: str = "reencode") -> dict:
    """Forecast error against the true continuation ``X[context : context + horizon]``.

    Returns ``{"relative": sum ||x_hat - x||^2 / sum ||x||^2`` over all trials and steps,
    ``"per_step"``: the same ratio at each of the ``horizon`` steps (a list), ``"mse"``: the mean
    squared error per entry}. Every trial needs at least ``context + horizon`` time points.
    """
    context, horizon = _check_ints(context, horizon)
    trials = as_trials(X, "X")
    for i, x in enumerate(trials):
        if x.shape[0] < context + horizon:
            raise ValueError(f"X[{i}] has {x.shape[0]} time points; context + horizon = {context + horizon}")
    preds = forecast(dmd, list(trials), context, horizon, mode)
    truth = np.stack([x[context:context + horizon] for x in trials])
    err = (np.stack(preds) - truth) ** 2
    tiny = np.finfo(float).tiny
    return {"relative": float(err.sum() / max(float((truth**2).sum()), tiny)),
            "per_step": (err.sum(axis=(0, 2)) / np.maximum((truth**2).sum(axis=(0, 2)), tiny)).tolist(),
            "mse": float(err.mean())}


def make_dmd(kernel: str | None = None, **params: Any) -> DMD:
    """A :class:`DMD` (``kernel=None``) or :class:`KernelDMD` with these parameters."""
    if kernel is None:
        extra = sorted(set(params) & {"num_centers", "kernel_width", "kernel_degree", "seed"})
        params = {k: v for k, v in params.items() if k not in extra}
        return DMD(**params)
    return KernelDMD(kernel=kernel, **params)


def select_dmd(train: Any, test: Any, n_delays: Sequence[int], ranks: Sequence[int | None], *,
               context: int, horizon: int, mode: str = "reencode", **params: Any) -> dict:
    """Held-out forecast error over a grid of ``n_delays`` x ``ranks``.

    Fits ``make_dmd(n_delays=D, rank=r, **params)`` on ``train`` for every grid point and scores
    :func:`forecast_error` on ``test``. Grid points where the rank exceeds what the embedding
    allows are NaN (with the reason). Returns ``{"n_delays", "ranks", "error"`` (a
    ``len(n_delays) x len(ranks)`` list of lists of relative errors), ``"fit_error"`` (one-step
    in-sample residuals, same layout), ``"best"``: ``{"n_delays", "rank", "error"}``, ``"skipped"``}.
    """
    if len(n_delays) == 0 or len(ranks) == 0:
        raise ValueError("n_delays and ranks must each list at least one value")
    err = np.full((len(n_delays), len(ranks)), np.nan)
    fit = np.full_like(err, np.nan)
    skipped = []
    for i, D in enumerate(n_delays):
        for j, r in enumerate(ranks):
            try:
                dmd = make_dmd(n_delays=D, rank=r, **params).fit(train)
            except ValueError as exc:
                if "rank=" not in str(exc):
                    raise
                skipped.append({"n_delays": D, "rank": r, "reason": str(exc)})
                continue
            err[i, j] = forecast_error(dmd, test, context, horizon, mode)["relative"]
            fit[i, j] = dmd.fit_error
    if np.all(np.isnan(err)):
        raise ValueError(f"no grid point could be fitted: {skipped[0]['reason']}")
    i, j = np.unravel_index(np.nanargmin(err), err.shape)
    return {"n_delays": [int(d) for d in n_delays], "ranks": list(ranks), "error": err.tolist(),
            "fit_error": fit.tolist(), "best": {"n_delays": int(n_delays[i]), "rank": ranks[j], "error": float(err[i, j])},
            "skipped": skipped}
