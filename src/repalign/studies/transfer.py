"""Transfer geometry: does a new task, learned through its rule input only, reuse the
pretrained network's activity subspace?

Setting (Driscoll, Shenoy & Sussillo 2024, Nat. Neurosci. 27:1349-1363): a network is
trained on some tasks, then frozen except for the input column of a new rule; the new task
must be solved with the pretrained dynamics. The functions here work on plain numpy arrays
(hidden states, modulation matrices, rule-input columns), so they apply to any recording:

* :func:`epoch_states` — stack one epoch's hidden states across trials, ``(samples, units)``.
* :func:`cross_task_variance` — the new task's variance captured by the pretraining task's
  top-k PCs (with the new task's own curve as the ceiling), optionally per stimulus
  direction; principal angles; participation ratios.
* :func:`modulation_states`, :func:`cross_task_modulation` — the same for the modulation
  matrices ``M`` of multi-plastic networks, raw or weighted by ``W``.
* :func:`rule_geometry` — cosines between learned rule-input columns and the fraction of the
  new one inside the span of the pretrained ones.
* :func:`random_basis_null` — is the new task more inside the pretraining basis than
  inside a random k-dimensional basis?
* :func:`backbone_probe` — does the trained rule column beat random columns of the same
  norm (or initial distribution) on the new task?
* :func:`aggregate` — mean +/- s.e.m. across seeds; ``plot_*`` — figures.

One concern a module, all re-exported here: the analyses in ``transfer_analysis``, the nulls in
``transfer_nulls``, the figures in ``transfer_figures``; :func:`aggregate` lives here.
Formulas and conventions: ``docs/transfer.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Sequence

import numpy as np

from .transfer_analysis import (
    cross_task_modulation,
    cross_task_variance,
    direction_bins,
    epoch_states,
    modulation_states,
    rule_geometry,
)
from .transfer_figures import plot_angle_spectrum, plot_seed_scatter, plot_variance_curves
from .transfer_nulls import BASIS_METHODS, PROBE_NULLS, backbone_probe, random_basis_null

__all__ = [
    "epoch_states",
    "direction_bins",
    "cross_task_variance",
    "modulation_states",
    "cross_task_modulation",
    "rule_geometry",
    "random_basis_null",
    "backbone_probe",
    "aggregate",
    "plot_variance_curves",
    "plot_angle_spectrum",
    "plot_seed_scatter",
    "BASIS_METHODS",
    "PROBE_NULLS",
]


# ---------------------------------------------------------------------------- aggregation
def aggregate(results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Mean +/- standard error across seeds, key by key.

    Parameters
    ----------
    results : sequence of dicts
        One dict per seed (e.g. :func:`cross_task_variance` outputs). Numbers and numeric
        arrays are aggregated; nested dicts recursively; other values are left out. Curves
        of different lengths are NaN-padded at the end, so each position averages the seeds
        that have it.

    Returns
    -------
    dict mapping each numeric key to ``{"mean", "sem", "n"}`` (arrays for curves; ``sem`` =
    sample sd (ddof=1) / sqrt(n), NaN where n < 2), and each nested dict to its aggregate.
    """
    if isinstance(results, Mapping) or not isinstance(results, Sequence) or not results:
        raise ValueError("results must be a non-empty list of dicts (one per seed)")
    for i, r in enumerate(results):
        if not isinstance(r, Mapping):
            raise ValueError(f"results[{i}] must be a dict; got {type(r).__name__}")
    out: dict[str, Any] = {}
    keys: list[str] = []
    for r in results:
        keys += [k for k in r if k not in keys]
    for key in keys:
        values = [r[key] for r in results if key in r]
        if all(isinstance(v, Mapping) for v in values):
            out[key] = aggregate(values)
        elif all(_numeric(v) for v in values):
            out[key] = _mean_sem(values)
    return out


def _numeric(v: Any) -> bool:
    if isinstance(v, (bool, np.bool_)):
        return False
    if isinstance(v, (int, float, np.number)):
        return True
    return isinstance(v, np.ndarray) and v.dtype.kind in "iuf"


def _mean_sem(values: list[Any]) -> dict[str, Any]:
    arrays = [np.asarray(v, dtype=np.float64) for v in values]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        if any(a.ndim != 1 for a in arrays):
            raise ValueError(f"cannot aggregate arrays of different shapes {sorted(shapes)} (only 1-D curves)")
        n = max(a.size for a in arrays)
        arrays = [np.concatenate([a, np.full(n - a.size, np.nan)]) for a in arrays]
    stack = np.stack(arrays)
    count = np.sum(np.isfinite(stack), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(stack, axis=0) / count
        dev = np.where(np.isfinite(stack), stack - mean, 0.0)
        sd = np.sqrt(np.sum(dev**2, axis=0) / (count - 1))
        sem = np.where(count >= 2, sd / np.sqrt(count), np.nan)
    mean = np.where(count > 0, mean, np.nan)
    if stack.ndim == 1:
        return {"mean": float(mean), "sem": float(sem), "n": int(count)}
    return {"mean": mean, "sem": sem, "n": count}
