"""``calibrate``: one call from two systems to a score with a p-value, z-score and verdict."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .._validation import check_scalar
from ..registry import Measure, get_measure
from ._draws import check_n, seed_from_child
from .bootstrap import bootstrap_ci, check_ci
from .nulls import permutation_null, resampled_null
from .result import CalibrationResult, check_alternative

NULLS = ("permutation",)


def calibrate(
    X: Any,
    Y: Any,
    measure: str | Measure = "cka",
    null: str | Callable[[np.random.Generator], float] = "permutation",
    n: int = 1000,
    seed: Any = 0,
    groups: Any = None,
    alternative: str | None = None,
    bootstrap: int = 0,
    ci: float = 0.95,
    n_jobs: int | None = 1,
    progress: bool = False,
    **params: Any,
) -> CalibrationResult:
    """Score ``measure(X, Y)`` and calibrate it against a null distribution.

    Parameters
    ----------
    X, Y : array-like
        ``(samples, features)`` or ``(trials, time, units)`` (trial lists for dynamical
        measures); row/trial ``i`` of X corresponds to row/trial ``i`` of Y.
    measure : str or Measure
        A registered name or an instance; ``**params`` are its parameters.
    null : "permutation" or callable
        "permutation": shuffle Y's rows (whole trials for trial data), within ``groups`` if
        given. A callable ``draw(rng) -> float`` is used as a resampled null instead (the
        statistic recomputed with a fresh random component).
    n : int
        Number of null draws.
    seed : int, None, SeedSequence or Generator
        One SeedSequence is made from it: null draw ``i`` uses its child ``i`` and bootstrap
        resample ``j`` its child ``n + j`` (children counted from the next one a given
        SeedSequence would spawn; it is read, never advanced). Same seed, same result, for any
        ``n_jobs``.
    groups : array-like, optional
        Exchangeability blocks: one label per row (or per trial); permutations stay within a
        block (as scikit-learn's ``permutation_test_score(groups=)``). Not a finite group
        (:mod:`repalign.studies.finite_groups`) nor DSA's ``group``; see docs/architecture.md, "Names".
    alternative : {"greater", "less", "two-sided"}, optional
        Default from the measure: "greater" for similarities, "less" for distances.
    bootstrap : int
        Number of bootstrap resamples for a BCa interval of the score (0: no interval).
    ci : float
        Coverage of that interval.
    n_jobs, progress
        joblib workers and a tqdm progress bar.

    Returns
    -------
    CalibrationResult
        ``observed``, ``null``, ``p_value``, ``z``, ``interval`` and ``verdict``.
    """
    m = get_measure(measure, **params)
    n = check_n(n)
    bootstrap = check_scalar(bootstrap, "bootstrap", int, min_val=0)  # resamples; 0: none
    if bootstrap:
        check_ci(ci)
    if alternative is not None:
        check_alternative(alternative)
    null_seed = seed_from_child(seed, 0)  # null draw i: child i (a copy: the caller's seed is not advanced)
    boot_seed = seed_from_child(null_seed, n)  # bootstrap resample j: child n + j, whatever the null spawned
    if callable(null):
        observed = m.compare(m.prepare(X, "X"), m.prepare(Y, "Y"))
        result = resampled_null(
            null, n, null_seed, observed, alternative=alternative or m.default_alternative, n_jobs=n_jobs,
            progress=progress,
        )
        result.info.update(measure=m.name)
    elif null == "permutation":
        result = permutation_null(
            X, Y, m, n, null_seed, groups=groups, alternative=alternative, n_jobs=n_jobs, progress=progress
        )
    else:
        raise ValueError(f"null must be one of {NULLS} or a callable draw(rng) -> float; got {null!r}")
    if bootstrap:
        boot = bootstrap_ci(X, Y, m, bootstrap, ci, "bca", boot_seed, n_jobs=n_jobs, progress=progress)
        result.interval, result.ci = boot.interval, ci
        result.info["bootstrap"] = {"n": bootstrap, "method": boot.method}
    return result
