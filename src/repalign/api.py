"""The functional entry points: ``compare`` one pair, ``pairwise`` a list of systems."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ._memory import check_memory, gib, nbytes_of
from ._validation import InputError
from .registry import Comparison, Measure, get_measure


def compare(X: Any, Y: Any, measure: str | Measure = "cka", **params: Any) -> float:
    """Score of ``measure`` between systems ``X`` and ``Y``.

    Parameters
    ----------
    X, Y : array-like, (samples, features) or (trials, time, units)
        numpy arrays, torch tensors or xarray DataArrays. For matched-sample measures row
        ``i`` of X and row ``i`` of Y must be responses to the same stimulus/condition.
    measure : str or Measure
        A registered name (see ``repalign.measures()``) or a measure instance.
    **params
        Parameters of the measure (e.g. ``alpha=0.5`` for 'shape').

    Returns
    -------
    float
        A similarity or a distance, as the measure's ``kind`` says.
    """
    return compare_detailed(X, Y, measure, **params).score


def compare_detailed(X: Any, Y: Any, measure: str | Measure = "cka", **params: Any) -> Comparison:
    """Like :func:`compare` but returns the score with its extra outputs."""
    m = get_measure(measure, **params)
    return m.compare_detailed(m.prepare(X, "X"), m.prepare(Y, "Y"))


def pairwise(
    systems: Sequence[Any],
    measure: str | Measure = "cka",
    others: Sequence[Any] | None = None,
    *,
    n_jobs: int | None = None,
    **params: Any,
) -> np.ndarray:
    """All pairwise scores, preparing each system exactly once.

    Parameters
    ----------
    systems : sequence of array-like
        N systems.
    others : sequence of array-like, optional
        M further systems; if given, the (N, M) matrix of ``systems`` against ``others`` is
        returned instead of the symmetric (N, N) matrix.
    n_jobs : int, optional
        Prepare systems in parallel with joblib (useful for expensive prepares such as DMD fits).

    Returns
    -------
    ndarray, (N, N) symmetric or (N, M)

    Raises
    ------
    ValueError
        For every measure, if ``systems`` is empty, or ``others`` is given but empty (``others=None``
        is the way to ask for the symmetric matrix); an empty matrix is never returned silently.
    """
    m = get_measure(measure, **params)
    _check_list(systems, "systems")
    if others is not None:
        _check_list(others, "others", " (others=None gives the symmetric systems x systems matrix)")
    A = _prepare_all(m, systems, "systems", n_jobs)
    if others is not None:
        B = _prepare_all(m, others, "others", n_jobs)
        return m.compare_many(A, B)
    if not m.symmetric:  # e.g. cross-variance explained: row i is the basis system
        return m.compare_many(A, A)
    n = len(A)
    out = m.compare_many(A, A, symmetric=True) if m.has_block else _symmetric_loop(m, A)
    # A symmetric measure's matrix is symmetric exactly, not just to rounding.
    iu = np.triu_indices(n, 1)
    out[(iu[1], iu[0])] = out[iu]
    return out


def _symmetric_loop(m: Measure, A: list) -> np.ndarray:
    n = len(A)
    out = np.empty((n, n))
    for i in range(n):
        for j in range(i, n):
            out[i, j] = m.compare(A[i], A[j])
    return out


def _check_list(systems: Any, label: str, hint: str = "") -> None:
    if not hasattr(systems, "__len__") or not hasattr(systems, "__getitem__") or isinstance(systems, (str, dict)):
        raise InputError(f"{label} must be a list of systems (arrays); got {type(systems).__name__}")
    if len(systems) == 0:
        raise ValueError(f"{label} must contain at least one system; got an empty {type(systems).__name__}{hint}")


def _prepare_all(m: Measure, systems: Sequence[Any], label: str, n_jobs: int | None) -> list:
    """Prepared states of all systems; after the first, the memory of all N states is checked."""
    first = m.prepare(systems[0], f"{label}[0]")
    _check_states_memory(m, first, len(systems), label)
    rest = systems[1:]
    if n_jobs in (None, 1) or len(rest) < 2:
        return [first] + [m.prepare(X, f"{label}[{i}]") for i, X in enumerate(rest, 1)]
    from joblib import Parallel, delayed  # lazy: 0.26 s that `import repalign` need not pay

    return [first] + Parallel(n_jobs=n_jobs)(delayed(m.prepare)(X, f"{label}[{i}]") for i, X in enumerate(rest, 1))


def _check_states_memory(m: Measure, first, count: int, label: str) -> None:
    """N prepared states are held at once (and block comparisons may stack a copy of them)."""
    per_state = nbytes_of(first.state)
    check_memory(2.0 * count * per_state, f"pairwise '{m.name}' over {count} {label}",
                 f"{count} prepared states of ~{gib(per_state)} each, and a stacked copy",
                 f"compare fewer systems at once, or use the sweep engine (repalign sweep), which bounds memory; "
                 f"{m.memory_way_out}")
