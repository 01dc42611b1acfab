"""DSA with DMD parameters per system: ``dsa_pairwise(systems, others, n_delays=[...], rank=[...])``.

The registered measure ``"dsa"`` fits every system with the same DMD parameters. Systems with
different time scales or dimensions may need different delays or ranks (as dsa-metric's ``DSA``
class allows); :func:`dsa_pairwise` fits each system's DMD with its own parameters and compares
the operators with one DSA measure (the non-DMD options: group, score, seed, effort, ...).

Broadcasting of each per-system parameter (:data:`PER_SYSTEM`), for N ``systems`` and M ``others``:

* a scalar (or None) applies to every system (and every other);
* without ``others``: a list/tuple/array of length N, one value per system;
* with ``others``: a pair ``(for_systems, for_others)``, each a scalar or a sequence of length
  N (resp. M). A length-2 sequence of scalars with N = M = 1 is read as that pair, which is the
  same thing as one value per system.

Anything else raises ValueError naming the parameter. Operators of different sizes (different
ranks) are zero-padded to the larger size by the Procrustes step (as in the registered measure);
with ``wasserstein_compare`` ("eig" or "sv") such pairs are compared by their spectra instead (as
the tutorial's class does), and pairs of equal sizes still use Procrustes over vector fields
unless ``score="wasserstein"``.
With one parameter set for every system the result equals ``pairwise(systems, "dsa", ...)``.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..registry import Measure
from .dsa import DSA

__all__ = ["dsa_pairwise", "broadcast_system_params", "PER_SYSTEM"]

PER_SYSTEM = ("n_delays", "delay_interval", "rank", "rank_thresh", "rank_explained_variance", "lamb")


def _is_seq(v: Any) -> bool:
    return isinstance(v, (list, tuple, np.ndarray))


def _scalar(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _spread(value: Any, n: int, name: str, where: str) -> list:
    if not _is_seq(value):
        return [_scalar(value)] * n
    if len(value) != n:
        raise ValueError(f"{name}: {where} needs a scalar or {n} values (one per system); got {len(value)}")
    if any(_is_seq(v) for v in value):
        raise ValueError(f"{name}: {where} values must be scalars; got a nested sequence")
    return [_scalar(v) for v in value]


def broadcast_system_params(value: Any, n: int, m: int | None, name: str) -> tuple[list, list | None]:
    """One value per system (and per other) from a scalar, a per-system list or a pair (module docstring)."""
    if m is None:
        return _spread(value, n, name, "systems"), None
    if not _is_seq(value):
        return [_scalar(value)] * n, [_scalar(value)] * m
    if len(value) != 2:
        raise ValueError(f"{name}: with others, give a scalar or a pair (for_systems, for_others); got {len(value)} values")
    return _spread(value[0], n, name, "for_systems"), _spread(value[1], m, name, "for_others")


def dsa_pairwise(systems: Sequence[Any], others: Sequence[Any] | None = None, **params: Any) -> np.ndarray:
    """DSA scores with per-system DMD parameters.

    Parameters
    ----------
    systems : N recordings (each ``(time, units)``, ``(trials, time, units)`` or a list of trials)
    others : M further recordings or None
    **params : the parameters of the ``"dsa"`` measure; those in :data:`PER_SYSTEM` broadcast as
        the module docstring says.

    Returns the symmetric ``(N, N)`` matrix (``others=None``) or the ``(N, M)`` matrix.
    """
    for label, group in (("systems", systems), ("others", others)):
        if group is not None and (isinstance(group, (str, dict)) or not hasattr(group, "__len__") or len(group) == 0):
            raise ValueError(f"{label} must be a non-empty list of recordings")
    n, m = len(systems), None if others is None else len(others)
    per = {k: broadcast_system_params(params.pop(k), n, m, k) for k in PER_SYSTEM if k in params}
    shared = DSA(**params)
    states_a = _prepare(shared, systems, per, 0, "systems")
    if others is None:
        out = _block(shared, states_a, states_a, symmetric=True)
        iu = np.triu_indices(n, 1)
        out[(iu[1], iu[0])] = out[iu]
        return out
    return _block(shared, states_a, _prepare(shared, others, per, 1, "others"), symmetric=False)


def _prepare(shared: DSA, recordings: Sequence[Any], per: dict, side: int, label: str) -> list:
    out = []
    for i, X in enumerate(recordings):
        own = {k: v[side][i] for k, v in per.items()}
        measure = DSA(**{**shared.params, **own}) if own else shared
        out.append(measure.prepare(X, f"{label}[{i}]").state)
    return out


def _block(shared: Measure, A: list, B: list, symmetric: bool) -> np.ndarray:
    block = shared._compare_many(A, B, symmetric)
    if block is not None:
        return np.asarray(block, dtype=np.float64)
    out = np.zeros((len(A), len(B)))
    for i, a in enumerate(A):
        for j in range(i if symmetric else 0, len(B)):
            out[i, j] = shared._compare(a, B[j]).score
    return out
