"""Delay (Hankel) embedding of time series, trial by trial.

For a trial ``x`` of shape ``(T, units)``, ``n_delays = D`` and ``delay_interval = tau`` the
embedding has ``T - (D - 1) * tau`` rows and ``D * units`` columns. Row ``j`` describes time
``s = j + (D - 1) * tau`` and is made of ``D`` blocks of ``units`` columns, newest first::

    [ x(s), x(s - tau), x(s - 2 tau), ..., x(s - (D - 1) tau) ]

so column ``d * units + i`` holds unit ``i`` delayed by ``d * tau`` steps, and the first
``units`` columns are the current state. This is the column order of dsa-metric's
``embed_signal_torch``, so operators fitted on either embedding are directly comparable.

Trials are embedded separately: no row ever mixes time points of two trials.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import as_trials, check_scalar, to_numpy

__all__ = ["delay_embed", "embed_trial", "check_delays", "input_layout"]


def check_delays(n_delays: Any, delay_interval: Any) -> tuple[int, int]:
    """Validate the embedding parameters; return them as ints."""
    return (check_scalar(n_delays, "n_delays (a positive integer)", int, min_val=1),
            check_scalar(delay_interval, "delay_interval (a positive integer)", int, min_val=1))


def min_length(n_delays: int, delay_interval: int) -> int:
    """Fewest time points a trial needs to give one embedded row."""
    return (n_delays - 1) * delay_interval + 1


def embed_trial(x: np.ndarray, n_delays: int, delay_interval: int = 1, name: str = "X") -> np.ndarray:
    """Delay embedding of one validated float ``(T, units)`` trial (see module docstring).

    Returns a new ``(T - (n_delays - 1) * delay_interval, n_delays * units)`` array.
    """
    T = x.shape[0]
    need = min_length(n_delays, delay_interval)
    if T < need:
        raise ValueError(
            f"{name} has {T} time points; n_delays={n_delays} with delay_interval={delay_interval} "
            f"needs at least {need}"
        )
    rows = T - (n_delays - 1) * delay_interval
    blocks = [x[(n_delays - 1 - d) * delay_interval:][:rows] for d in range(n_delays)]
    return np.concatenate(blocks, axis=1)


def input_layout(X: Any) -> str:
    """How a recording was given: "list" (of trials), "2d" (one trial) or "3d" (trials, time, units)."""
    if isinstance(X, (list, tuple)) and len(X) > 0 and _ndim(X[0]) == 2:
        return "list"
    return "3d" if _ndim(X) == 3 else "2d"


def _ndim(X: Any) -> int:
    ndim = getattr(X, "ndim", None)
    return int(ndim) if ndim is not None else np.ndim(to_numpy(X))


def trial_names(n: int, name: str = "X") -> list[str]:
    return [f"{name}[{i}]" for i in range(n)] if n > 1 else [name]


def delay_embed(X: Any, n_delays: int, delay_interval: int = 1) -> np.ndarray | list[np.ndarray]:
    """Delay-embed a recording trial by trial.

    Parameters
    ----------
    X : array-like
        ``(time, units)`` (one trial), ``(trials, time, units)``, or a list of ``(time_i, units)``
        trials of possibly different lengths.
    n_delays : int
        Number of delayed copies ``D`` (1 = no embedding).
    delay_interval : int
        Steps ``tau`` between consecutive copies.

    Returns
    -------
    The output mirrors the input: a ``(T - (D-1) tau, D * units)`` array for a 2-D input, a
    ``(trials, T - (D-1) tau, D * units)`` array for a 3-D input, and a list of
    ``(T_i - (D-1) tau, D * units)`` arrays for a list input. Column order: see the module
    docstring (newest block first, as dsa-metric).

    Raises
    ------
    ValueError
        For non-finite values, bad parameters, or a trial with fewer than
        ``(D - 1) * tau + 1`` time points (the message names the trial).
    """
    n_delays, delay_interval = check_delays(n_delays, delay_interval)
    layout = input_layout(X)
    trials = as_trials(X, "X")
    names = trial_names(len(trials))
    out = [embed_trial(t, n_delays, delay_interval, nm) for t, nm in zip(trials, names)]
    if layout == "list":
        return out
    if layout == "3d":
        return np.stack(out)
    return out[0]
