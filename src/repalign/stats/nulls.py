"""Null distributions for any measure: sample/trial permutation and resampled randomness.

* :func:`permutation_null` asks "is the *correspondence* between X's and Y's samples
  informative?". It breaks the pairing by permuting Y's units (rows, or whole trials for
  ``(trials, time, units)`` data), optionally only within groups (e.g. within a condition or
  a time bin, so that what the groups share is kept in the null). X is prepared once; each
  draw prepares the permuted Y (or, for a measure whose ``can_permute_state`` is true, permutes
  Y's prepared state with its ``_permute_state`` hook) and all draws of a batch are scored by
  one ``compare_many`` call, so measures with a vectorised block (e.g. linear CKA) are fast.
* :func:`resampled_null` asks "is the statistic beyond what its random ingredient alone
  produces?": the user's ``draw(rng)`` recomputes the statistic with a fresh random
  component (a new random feedback matrix, a new random network, ...).

Both return a :class:`~repalign.stats.result.CalibrationResult`.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, Sequence

import numpy as np

from .._memory import check_memory, gib, nbytes_of
from .._serialize import to_jsonable
from ..registry import Measure, Prepared, get_measure
from ._draws import check_n_jobs, run_draws
from ._units import Units, check_groups, permutation
from .result import CalibrationResult, check_alternative


class _PermutationBatch:
    """Scores X against a batch of permuted copies of Y (picklable for joblib).

    If the measure can permute a prepared state (:attr:`Measure.can_permute_state`: its
    ``_permute_state(state, rows)`` gives the state of the row-permuted system, e.g. an RDM with
    rows and columns permuted), Y is prepared once and its state permuted per draw; otherwise
    each permuted Y is prepared afresh.
    """

    def __init__(self, measure: Measure, px: Prepared, Y: Units, members, py: Prepared) -> None:
        self.measure, self.px, self.Y, self.members = measure, px, Y, members
        self.py = py if measure.can_permute_state else None

    def __call__(self, rngs: Sequence[np.random.Generator]) -> np.ndarray:
        m = self.measure
        perms = [permutation(rng, len(self.Y), self.members) for rng in rngs]
        if self.py is not None:
            prepared = [_permuted_prepared(m, self.py, self.Y.row_index(p)) for p in perms]
        else:
            prepared = [m.prepare(self.Y.take(p), "Y") for p in perms]
        return m.compare_many([self.px], prepared)[0]


# The batch of draws follows the size of a prepared state: as many as fit in BATCH_BYTES, but at
# least MIN_BATCH (a batch of 3 already gets most of the speed of vectorised scoring; each draw
# holds a permuted state and its stacked copy, so 3 draws hold about what one compare holds) and
# at most MAX_BATCH. calibrate's peak memory then stays within ~3x that of one compare.
BATCH_BYTES = 4 * 2**20
MIN_BATCH, MAX_BATCH = 3, 50


def batch_size_for(state_bytes: int) -> int:
    """Draws per batch for prepared states of ``state_bytes`` bytes (MIN_BATCH .. MAX_BATCH)."""
    return int(min(MAX_BATCH, max(MIN_BATCH, BATCH_BYTES // max(int(state_bytes), 1))))


def check_draws_memory(m: Measure, state_bytes: int, held: int, what: str) -> None:
    """Guard a resampling loop that holds ``held`` prepared states of ``state_bytes`` at once."""
    check_memory(held * state_bytes, f"{what} with '{m.name}'",
                 f"{held} prepared states of ~{gib(state_bytes)} each",
                 f"use fewer samples/conditions; {m.memory_way_out}")


def _permuted_prepared(m: Measure, py: Prepared, rows: np.ndarray) -> Prepared:
    return Prepared(m._permute_state(py.state, rows), py.n_samples, py.n_features, py.measure_key)


def permutation_null(
    X: Any,
    Y: Any,
    measure: str | Measure = "cka",
    n: int = 1000,
    seed: Any = 0,
    *,
    groups: Any = None,
    alternative: str | None = None,
    n_jobs: int | None = 1,
    progress: bool = False,
    **params: Any,
) -> CalibrationResult:
    """Permutation test of ``measure(X, Y)`` against shuffled sample correspondence.

    Parameters
    ----------
    X, Y : array-like
        ``(samples, features)``: rows of Y are permuted. ``(trials, time, units)`` (or a list of
        ``(time, units)`` trials for ``input="trials"`` measures): whole trials of Y are permuted.
    measure : str or Measure
        Needs matched samples (``measure.matched_samples``).
    n : int
        Number of permutations.
    seed : int, None, SeedSequence or Generator
        Permutation ``i`` uses child ``i`` of ``SeedSequence(seed).spawn(n)``.
    groups : array-like, optional
        One label per row (2-D data) or per trial (3-D data / trial lists); permute only among
        units with the same label.
    alternative : {"greater", "less", "two-sided"}, optional
        Default: "greater" for similarities, "less" for distances.
    n_jobs, progress
        joblib workers (results do not depend on it) and a tqdm bar.
    **params
        Parameters of the measure.

    Returns
    -------
    CalibrationResult
    """
    m = get_measure(measure, **params)
    if not m.matched_samples:
        raise ValueError(
            f"measure '{m.name}' does not use sample correspondence (matched_samples=False); "
            "a permutation null of the correspondence is meaningless for it"
        )
    alternative = check_alternative(alternative or m.default_alternative)
    Yu = Units(Y, m, "Y")
    members = check_groups(groups, len(Yu), Yu.unit)
    if len(Yu) < 2:
        raise ValueError(f"Y has a single {Yu.unit}; a permutation null needs at least 2")
    px = m.prepare(X, "X")
    py = m.prepare(Yu.full(), "Y")
    observed = m.compare(px, py)
    state_bytes = nbytes_of(py.state)
    bs = batch_size_for(state_bytes)
    # X's and Y's states, a batch of permuted states and their stacked copy in compare_many, per worker.
    check_draws_memory(m, state_bytes, 2 + 2 * bs * max(1, check_n_jobs(n_jobs)), "a permutation null")
    null = run_draws(
        _PermutationBatch(m, px, Yu, members, py), n, seed, n_jobs=n_jobs, progress=progress, desc="permutations",
        batch_size=bs,
    )
    _warn_if_degenerate(observed, null, m.name)
    method = f"permutation of {Yu.unit}s" + (" within groups" if members is not None else "")
    info = {"measure": m.name, "params": to_jsonable(m.params, "params", lenient=True), "unit": Yu.unit, "n_units": len(Yu)}
    return CalibrationResult(observed, null, alternative, method=method, info=info)


class _EachDraw:
    def __init__(self, draw: Callable[[np.random.Generator], float]) -> None:
        self.draw = draw

    def __call__(self, rngs: Sequence[np.random.Generator]) -> list[float]:
        return [float(self.draw(rng)) for rng in rngs]


def resampled_null(
    draw: Callable[[np.random.Generator], float],
    n: int = 1000,
    seed: Any = 0,
    observed: float | None = None,
    *,
    alternative: str = "greater",
    n_jobs: int | None = 1,
    progress: bool = False,
    info: dict | None = None,
) -> CalibrationResult:
    """Null of a statistic whose randomness is redrawn: ``draw(rng) -> float``, ``n`` times.

    Parameters
    ----------
    draw : callable
        Recomputes the statistic with a fresh random component taken from ``rng`` (a numpy
        Generator; use only it, so that results are reproducible). Must be picklable when
        ``n_jobs > 1`` (closures and lambdas are, via joblib's cloudpickle).
    n : int
        Number of draws.
    seed : int, None, SeedSequence or Generator
        Draw ``i`` gets ``np.random.default_rng(SeedSequence(seed).spawn(n)[i])``.
    observed : float, optional
        The statistic with the real random component; without it only the null is returned.
    alternative : {"greater", "less", "two-sided"}

    Returns
    -------
    CalibrationResult
    """
    if not callable(draw):
        raise ValueError(f"draw must be a callable draw(rng) -> float; got {type(draw).__name__}")
    check_alternative(alternative)
    if observed is not None and not np.isfinite(observed):
        raise ValueError(f"observed must be a finite number; got {observed!r}")
    null = run_draws(_EachDraw(draw), n, seed, n_jobs=n_jobs, progress=progress, batch_size=50, desc="null draws")
    if not np.all(np.isfinite(null)):
        raise ValueError(f"draw returned {int(np.sum(~np.isfinite(null)))} non-finite values out of {n}")
    return CalibrationResult(observed, null, alternative, method="resampled", info=dict(info or {}))


def _warn_if_degenerate(observed: float, null: np.ndarray, name: str) -> None:
    if np.all(np.abs(null - observed) <= 1e-12 * max(1.0, abs(observed))):
        warnings.warn(
            f"every permuted score equals the observed one: '{name}' ignores the correspondence being "
            "permuted here (e.g. a per-system model fitted on trials in any order), so this null says nothing",
            RuntimeWarning,
            stacklevel=3,
        )

