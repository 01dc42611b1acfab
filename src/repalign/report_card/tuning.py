"""Held-out parameter selection for the report card, and the grids of the sensitivity panel.

Rule (:data:`RULE`): for each (measure, case), every point of the measure's grid is run on the
*tuning* seeds (disjoint from the evaluation seeds); the chosen point has the highest pass rate;
ties go to the point whose grid neighbours (one step along one axis) pass most often on
average (a plateau rather than a knife edge), then to the smaller values, axis by axis in the
grid's order (for DSA: the smaller rank, then the fewer delays).  Grid points the measure
rejects (e.g. a rank above the embedding dimension) are never chosen.  Measures without a grid
keep their defaults and :data:`repalign.report_card.cases.DEFAULT_PARAMS` (a rule that needs no
tuning).
"""

from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np

from .cases import DEFAULT_PARAMS

RULE = ("on the tuning seeds: highest pass rate; ties -> highest mean pass rate of the grid neighbours (one step on "
        "one axis); then the smaller value on each axis in order (rank, then n_delays); grid points the measure "
        "rejects are never chosen. Measures without a grid: their defaults, no tuning.")

# Grids of tunable parameters: {measure: {case or "*": {param: values}}}, axes in tie-break order.
# DSA's delay interval stays at the case's default (1; 4 for the paper-style Lorenz sets).
_DMD_GRID = {"rank": (2, 3, 4, 6), "n_delays": (1, 2, 4, 8)}
_DMD_LORENZ = {"rank": (4, 8, 12), "n_delays": (5, 10, 15)}
# Cases not listed (e.g. ones registered later) are not tuned unless a grid is added here ("*": any case).
_SMALL_CASES = ("circle_oval_walk", "lorenz_regimes", "deformation", "noise_robustness", "motifs",
                "fixed_point_topology")
_LORENZ_CASES = ("lorenz_regimes_matched", "lorenz_noise_matched", "lorenz_ratio_matched")
TUNING_GRIDS: dict[str, dict[str, dict[str, tuple]]] = {
    "dsa": {**{c: _DMD_GRID for c in _SMALL_CASES}, **{c: _DMD_LORENZ for c in _LORENZ_CASES}},
}
TUNING_GRIDS["spectral_wasserstein"] = TUNING_GRIDS["dsa"]


def grid_for(measure: str, case: str) -> dict[str, tuple] | None:
    """The grid of ``measure`` on ``case`` (None: the measure is not tuned)."""
    grids = TUNING_GRIDS.get(measure)
    if grids is None:
        return None
    return grids.get(case, grids.get("*"))


def grid_points(grid: dict[str, Sequence]) -> list[dict]:
    """Every combination of the grid's values, as dicts (first axis slowest)."""
    axes = list(grid)
    return [dict(zip(axes, values)) for values in itertools.product(*(grid[a] for a in axes))]


def cell_params(measure: str, case: str, point: dict | None) -> dict:
    """The overrides passed to ``run_case``: the case's defaults updated by a grid point."""
    params = dict(DEFAULT_PARAMS.get(measure, {}).get(case, {}))
    params.update(point or {})
    return params


def rate_table(grid: dict[str, Sequence], counts: dict[tuple, tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """(passes, judged) arrays of shape (len(axis 0), len(axis 1), ...) from ``counts``.

    ``counts[tuple(point values)] = (k, n)``; a point with ``n == 0`` (every seed rejected
    or not applicable) has k = n = 0.
    """
    shape = tuple(len(v) for v in grid.values())
    k, n = np.zeros(shape, dtype=int), np.zeros(shape, dtype=int)
    for idx in itertools.product(*(range(s) for s in shape)):
        values = tuple(axis[i] for axis, i in zip(grid.values(), idx))
        k[idx], n[idx] = counts.get(values, (0, 0))
    return k, n


def choose(grid: dict[str, Sequence], counts: dict[tuple, tuple[int, int]]) -> dict | None:
    """The grid point chosen by :data:`RULE`; None if no point gave a verdict."""
    k, n = rate_table(grid, counts)
    valid = n > 0
    if not valid.any():
        return None
    rate = np.where(valid, k / np.maximum(n, 1), -1.0)
    best = []
    for idx in zip(*np.nonzero(valid & (rate == rate[valid].max()))):
        neigh = []
        for axis in range(k.ndim):
            for step in (-1, 1):
                j = list(idx)
                j[axis] += step
                if 0 <= j[axis] < k.shape[axis] and valid[tuple(j)]:
                    neigh.append(rate[tuple(j)])
        best.append((-(np.mean(neigh) if neigh else 0.0), tuple(int(i) for i in idx)))
    _, idx = min(best)
    return {a: vals[i] for (a, vals), i in zip(grid.items(), idx)}
