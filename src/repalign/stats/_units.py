"""A system seen as a sequence of resampling units: rows, or whole trials.

* ``(samples, features)`` arrays: a unit is a row (sample/condition).
* ``(trials, time, units)`` arrays: a unit is a whole trial, so that permuting or
  resampling keeps each trial's temporal structure intact (geometric measures then flatten
  the reordered trials trial-major, as ``as_system`` does).
* Measures with ``input="trials"``: a unit is one ``(time, units)`` trial of the list.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import as_system, as_trials, to_numpy
from ..registry import Measure


class Units:
    """Indexable view of one system's resampling units (validated float64 copy)."""

    def __init__(self, X: Any, measure: Measure, name: str = "X") -> None:
        self.name = name
        if measure.input == "trials":
            self._items = as_trials(X, name)
            self._arr = None
            self.unit = "trial"
            return
        arr = to_numpy(X, name)
        as_system(arr, name)  # validates shape and finiteness; the flattened copy is not kept
        self._arr, self._items = arr, None
        self.unit = "trial" if arr.ndim == 3 else "sample"

    def __len__(self) -> int:
        return len(self._items) if self._items is not None else self._arr.shape[0]

    def take(self, idx: np.ndarray) -> Any:
        """The system with its units reordered/resampled by the integer array ``idx``."""
        if self._items is not None:
            return [self._items[i] for i in idx]
        return self._arr[idx]

    def row_index(self, idx: np.ndarray) -> np.ndarray:
        """Rows of the flattened ``(samples, features)`` system that ``take(idx)`` yields."""
        if self._arr is None or self._arr.ndim == 2:
            return np.asarray(idx)
        T = self._arr.shape[1]
        return (np.asarray(idx)[:, None] * T + np.arange(T)).ravel()

    def full(self) -> Any:
        return self._items if self._items is not None else self._arr


def check_groups(groups: Any, n_units: int, unit: str) -> list[np.ndarray] | None:
    """Index arrays of each group's members, or None for no groups.

    ``groups`` is a label per unit (per sample for 2-D data, per trial for trial data).
    """
    if groups is None:
        return None
    labels = np.asarray(groups)
    if labels.ndim != 1 or labels.shape[0] != n_units:
        raise ValueError(
            f"groups must be a 1-D array with one label per {unit} ({n_units}); got shape {labels.shape}"
        )
    if labels.dtype.kind == "f" and not np.all(np.isfinite(labels)):
        raise ValueError("groups contains NaN or inf labels")
    _, inverse = np.unique(labels, return_inverse=True)
    members = [np.flatnonzero(inverse == g) for g in range(inverse.max() + 1)]
    if all(m.size == 1 for m in members):
        raise ValueError(f"every group in groups has a single {unit}: there is nothing to permute within groups")
    return members


def permutation(rng: np.random.Generator, n_units: int, members: list[np.ndarray] | None) -> np.ndarray:
    """A random permutation of ``range(n_units)``, within groups when ``members`` is given."""
    if members is None:
        return rng.permutation(n_units)
    perm = np.arange(n_units)
    for idx in members:
        perm[idx] = idx[rng.permutation(idx.size)]
    return perm
