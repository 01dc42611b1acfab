"""Bootstrap confidence intervals for any measure, and the paired bootstrap.

Resampling draws units *with replacement* and applies the same indices to every system
(rows jointly for X and Y, whole trials for trial data), so the sample correspondence is
kept and the interval reflects which stimuli/trials happened to be recorded.

Intervals
---------
* ``"percentile"``: the ``(1 - ci)/2`` and ``(1 + ci)/2`` quantiles ``q_lo, q_hi`` of the
  bootstrap values.
* ``"basic"``: ``[2 theta_hat - q_hi, 2 theta_hat - q_lo]``, which corrects a location bias of
  the estimator under resampling (first order).
* ``"bca"``: bias-corrected and accelerated (Efron & Tibshirani 1993, ch. 14):
  ``z0 = Phi^-1(#{theta* < theta_hat} / B)`` (ties count one half), acceleration
  ``a = sum(d^3) / (6 (sum(d^2))^1.5)`` with ``d = mean(theta_(i)) - theta_(i)`` from the
  leave-one-unit-out jackknife, and quantile levels
  ``Phi(z0 + (z0 + z_q) / (1 - a (z0 + z_q)))`` for ``z_q = Phi^-1((1 -+ ci)/2)``. The jackknife
  costs one extra prepare per unit and system.

Caveat: most similarity measures are biased in the number of samples, and a resample with
replacement holds only ~63 % distinct samples, some duplicated (a duplicate is at distance 0
from its twin). The bootstrap distribution is then shifted from the observed score: e.g.
linear CKA of 200 x 20 systems, observed 0.278, every bootstrap value above it (median 0.337).
The percentile interval doubles such a bias instead of correcting it. BCa corrects it via
``z0`` while some bootstrap values fall below the observed one; when none do, ``z0`` is
infinite and the basic interval is returned with a warning. A warning is also given when the
observed score lies outside a percentile interval. Prefer trial/condition-level resampling
and enough samples; read intervals of biased measures with this in mind.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
from scipy.special import ndtr, ndtri

from ..registry import Measure, get_measure
from .._memory import nbytes_of
from .._validation import check_scalar
from ._draws import check_n_jobs, run_draws
from .nulls import check_draws_memory
from ._units import Units
from .result import _f, _fmt, check_alternative

METHODS = ("percentile", "basic", "bca")


@dataclass
class BootstrapResult:
    """A statistic, its bootstrap distribution and a confidence interval.

    Attributes
    ----------
    observed : float
        The statistic on the full data.
    distribution : ndarray, (n,)
        The statistic on each resample (NaN where a resample was degenerate).
    interval : (float, float)
    ci : float
        Coverage of the interval, e.g. 0.95.
    method : {"percentile", "basic", "bca"}
        The method actually used (BCa falls back to basic when its bias correction is
        infinite, with a warning).
    """

    observed: float
    distribution: np.ndarray
    interval: tuple[float, float]
    ci: float
    method: str
    info: dict = field(default_factory=dict)

    def to_dict(self, include_distribution: bool = False) -> dict:
        out = {
            "observed": _f(self.observed),
            "interval": [_f(v) for v in self.interval],
            "ci": self.ci,
            "method": self.method,
            "n": int(self.distribution.size),
            "info": self.info,
        }
        if include_distribution:
            out["distribution"] = [_f(v) for v in self.distribution]
        return out

    def __str__(self) -> str:
        lo, hi = self.interval
        return (
            f"observed = {_fmt(self.observed)}   {100 * self.ci:g}% {self.method} interval "
            f"[{_fmt(lo)}, {_fmt(hi)}] (n={self.distribution.size} resamples)"
        )


@dataclass
class PairedBootstrapResult:
    """Is A closer to B than to C? The bootstrap distribution of the closeness difference.

    ``difference`` = closeness(A, B) - closeness(A, C), where closeness is the score for a
    similarity and minus the score for a distance; positive means A is closer to B.

    ``p_value`` (alternative "greater", H0: difference <= 0) is
    ``(1 + #{bootstrap differences <= 0}) / (1 + n)``; "less" mirrors it; "two-sided" is
    ``min(1, 2 min(p_greater, p_less))``. This is the bootstrap-percentile test: p is the
    smallest tail level at which the percentile interval excludes 0.
    """

    difference: float
    distribution: np.ndarray
    interval: tuple[float, float]
    ci: float
    p_value: float
    alternative: str
    scores: dict
    info: dict = field(default_factory=dict)

    def to_dict(self, include_distribution: bool = False) -> dict:
        out = {
            "difference": _f(self.difference),
            "interval": [_f(v) for v in self.interval],
            "ci": self.ci,
            "p_value": _f(self.p_value),
            "alternative": self.alternative,
            "scores": {k: _f(v) for k, v in self.scores.items()},
            "n": int(self.distribution.size),
            "info": self.info,
        }
        if include_distribution:
            out["distribution"] = [_f(v) for v in self.distribution]
        return out

    def __str__(self) -> str:
        lo, hi = self.interval
        return (
            f"closeness(A,B) - closeness(A,C) = {_fmt(self.difference)}   {100 * self.ci:g}% interval "
            f"[{_fmt(lo)}, {_fmt(hi)}]   p = {_fmt(self.p_value)} ({self.alternative}, n={self.distribution.size})"
        )


# ---------------------------------------------------------------------- intervals
def check_ci(ci: Any) -> float:
    """The coverage of an interval, strictly between 0 and 1 (e.g. 0.95)."""
    return check_scalar(ci, "ci", float, min_val=0, max_val=1, include_boundaries="neither")


def percentile_interval(boot: np.ndarray, ci: float = 0.95) -> tuple[float, float]:
    """Equal-tailed percentile interval of the finite bootstrap values."""
    ci = check_ci(ci)
    boot = _finite(boot)
    lo, hi = np.percentile(boot, [100 * (1 - ci) / 2, 100 * (1 + ci) / 2])
    return float(lo), float(hi)


def basic_interval(boot: np.ndarray, observed: float, ci: float = 0.95) -> tuple[float, float]:
    """Basic (reverse-percentile) interval ``[2 observed - q_hi, 2 observed - q_lo]``."""
    lo, hi = percentile_interval(boot, ci)
    return float(2 * observed - hi), float(2 * observed - lo)


def bca_interval(
    boot: np.ndarray, observed: float, jackknife: np.ndarray, ci: float = 0.95
) -> tuple[tuple[float, float], str]:
    """BCa interval (see module docstring) and the method used ("bca", or the "basic" fallback).

    Parameters
    ----------
    boot : array, (B,)
        Bootstrap values of the statistic.
    observed : float
        The statistic on the full data.
    jackknife : array, (m,)
        Leave-one-unit-out values of the statistic.
    """
    ci = check_ci(ci)
    boot, jack = _finite(boot), _finite(jackknife)
    frac_below = (np.count_nonzero(boot < observed) + 0.5 * np.count_nonzero(boot == observed)) / boot.size
    z0 = ndtri(frac_below)
    d = jack.mean() - jack
    denom = 6.0 * np.sum(d**2) ** 1.5
    a = float(np.sum(d**3) / denom) if denom > 0 else 0.0
    if not np.isfinite(z0):
        warnings.warn(
            "BCa bias correction is infinite: every bootstrap value lies on one side of the observed "
            "statistic (the statistic is biased under resampling, e.g. by duplicated samples); "
            "returning the bias-correcting basic interval instead",
            RuntimeWarning,
            stacklevel=2,
        )
        return basic_interval(boot, observed, ci), "basic"
    zq = ndtri(np.array([(1 - ci) / 2, (1 + ci) / 2]))
    levels = ndtr(z0 + (z0 + zq) / (1 - a * (z0 + zq)))
    lo, hi = np.percentile(boot, 100 * levels)
    return (float(lo), float(hi)), "bca"


def _finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError("no finite bootstrap values to build an interval from")
    return values


def _interval(boot, observed, jackknife_fn: Callable[[], np.ndarray], ci: float, method: str):
    if method == "basic":
        return basic_interval(boot, observed, ci), "basic"
    if method == "bca":
        return bca_interval(boot, observed, jackknife_fn(), ci)
    lo, hi = percentile_interval(boot, ci)
    if not lo <= observed <= hi:
        warnings.warn(
            f"the observed statistic {observed:.4g} lies outside its percentile interval [{lo:.4g}, {hi:.4g}]: "
            "the statistic is biased under resampling; prefer method='bca' or 'basic'",
            RuntimeWarning,
            stacklevel=3,
        )
    return (lo, hi), "percentile"


def _check_method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    return method


def _warn_nonfinite(values: np.ndarray, what: str) -> None:
    bad = int(np.sum(~np.isfinite(values)))
    if bad:
        warnings.warn(f"{bad} of {values.size} {what} were degenerate (NaN) and are left out", RuntimeWarning, 3)


# ---------------------------------------------------------------------- generic statistic
class _StatisticBatch:
    def __init__(self, data: np.ndarray, statistic: Callable) -> None:
        self.data, self.statistic = data, statistic

    def __call__(self, rngs):
        m = self.data.shape[0]
        return [float(self.statistic(self.data[rng.integers(0, m, m)])) for rng in rngs]


def bootstrap_statistic(
    data: Any,
    statistic: Callable[[np.ndarray], float],
    n: int = 1000,
    ci: float = 0.95,
    method: str = "bca",
    seed: Any = 0,
    *,
    n_jobs: int | None = 1,
    progress: bool = False,
) -> BootstrapResult:
    """Bootstrap interval of ``statistic(data)``, resampling the rows of ``data`` (axis 0).

    Parameters
    ----------
    data : array-like, (m, ...)
    statistic : callable
        Maps an array shaped like ``data`` to a float.
    n, ci, method, seed, n_jobs, progress
        As in :func:`bootstrap_ci`.
    """
    _check_method(method)
    ci = check_ci(ci)
    arr = np.array(data, dtype=np.float64, copy=True)
    if arr.ndim == 0 or arr.shape[0] < 2:
        raise ValueError(f"data must have at least 2 rows to resample; got shape {arr.shape}")
    observed = float(statistic(arr))
    boot = run_draws(_StatisticBatch(arr, statistic), n, seed, n_jobs=n_jobs, progress=progress, desc="bootstrap")

    def jackknife():
        return np.array([statistic(np.delete(arr, i, axis=0)) for i in range(arr.shape[0])], dtype=np.float64)

    interval, used = _interval(boot, observed, jackknife, ci, method)
    return BootstrapResult(observed, boot, interval, ci, used)


# ---------------------------------------------------------------------- measures
class _ScoreBatch:
    """Scores of resampled systems for a batch of draws (picklable for joblib).

    ``pairs`` lists (i, j) indices into ``systems``; each draw returns ``combine`` of the
    pair scores (e.g. the single score, or a closeness difference).
    """

    def __init__(self, measure: Measure, systems: list[Units], pairs, combine: Callable) -> None:
        self.measure, self.systems, self.pairs, self.combine = measure, systems, pairs, combine

    def __call__(self, rngs):
        m_units = len(self.systems[0])
        return [self.score(rng.integers(0, m_units, m_units)) for rng in rngs]

    def score(self, idx: np.ndarray) -> float:
        m = self.measure
        try:
            prepared = [m.prepare(S.take(idx), S.name) for S in self.systems]
            return float(self.combine([m.compare(prepared[i], prepared[j]) for i, j in self.pairs]))
        except ValueError:  # a degenerate resample (e.g. every row identical)
            return float("nan")

    def jackknife(self) -> np.ndarray:
        m_units = len(self.systems[0])
        return np.array([self.score(np.delete(np.arange(m_units), i)) for i in range(m_units)])


def _units_of(systems: Sequence[Any], names: Sequence[str], m: Measure) -> list[Units]:
    units = [Units(S, m, name) for S, name in zip(systems, names)]
    sizes = {len(u) for u in units}
    if len(sizes) != 1:
        desc = ", ".join(f"{u.name}: {len(u)} {u.unit}s" for u in units)
        raise ValueError(f"systems must have the same number of resampling units to resample jointly; got {desc}")
    if len(units[0]) < 3:
        raise ValueError(f"the bootstrap needs at least 3 {units[0].unit}s; got {len(units[0])}")
    return units


def bootstrap_ci(
    X: Any,
    Y: Any,
    measure: str | Measure = "cka",
    n: int = 1000,
    ci: float = 0.95,
    method: str = "bca",
    seed: Any = 0,
    *,
    n_jobs: int | None = 1,
    progress: bool = False,
    **params: Any,
) -> BootstrapResult:
    """Bootstrap confidence interval of ``measure(X, Y)``, resampling units jointly.

    Parameters
    ----------
    X, Y : array-like
        ``(samples, features)`` (rows resampled) or ``(trials, time, units)`` / trial lists
        (whole trials resampled); same number of units.
    measure : str or Measure
    n : int
        Number of bootstrap resamples.
    ci : float
        Coverage, e.g. 0.95.
    method : {"bca", "percentile", "basic"}
    seed : int, None, SeedSequence or Generator
        Resample ``i`` uses child ``i`` of ``SeedSequence(seed).spawn(n)``.
    n_jobs, progress
        joblib workers (results do not depend on it) and a tqdm bar.

    Returns
    -------
    BootstrapResult
    """
    _check_method(method)
    ci = check_ci(ci)
    m = get_measure(measure, **params)
    batch = _ScoreBatch(m, _units_of([X, Y], ["X", "Y"], m), [(0, 1)], _first)
    px, py = m.prepare(batch.systems[0].full(), "X"), m.prepare(batch.systems[1].full(), "Y")
    observed = m.compare(px, py)
    state_bytes = max(nbytes_of(px.state), nbytes_of(py.state))
    del px, py
    check_draws_memory(m, state_bytes, 2 * max(1, check_n_jobs(n_jobs)), "a bootstrap")  # 2 states per draw
    boot = run_draws(batch, n, seed, n_jobs=n_jobs, progress=progress, desc="bootstrap")
    _warn_nonfinite(boot, "bootstrap resamples")
    interval, used = _interval(boot, observed, batch.jackknife, ci, method)
    info = {"measure": m.name, "unit": batch.systems[0].unit, "n_units": len(batch.systems[0])}
    return BootstrapResult(float(observed), boot, interval, ci, used, info)


def paired_bootstrap(
    A: Any,
    B: Any,
    C: Any,
    measure: str | Measure = "cka",
    n: int = 1000,
    ci: float = 0.95,
    seed: Any = 0,
    *,
    alternative: str = "greater",
    n_jobs: int | None = 1,
    progress: bool = False,
    **params: Any,
) -> PairedBootstrapResult:
    """Is A closer to B than to C? Both comparisons on the same resampled units.

    Parameters
    ----------
    A, B, C : array-like
        Systems with the same resampling units (rows, or trials).
    measure : str or Measure
    n : int
        Number of bootstrap resamples; each uses one index set for A, B and C.
    ci : float
        Coverage of the percentile interval of the difference.
    alternative : {"greater", "less", "two-sided"}
        "greater": A is closer to B than to C (difference > 0).

    Returns
    -------
    PairedBootstrapResult
    """
    check_alternative(alternative)
    ci = check_ci(ci)
    m = get_measure(measure, **params)
    sign = 1.0 if m.kind == "similarity" else -1.0
    batch = _ScoreBatch(m, _units_of([A, B, C], ["A", "B", "C"], m), [(0, 1), (0, 2)], _Difference(sign))
    full = [m.prepare(S.full(), S.name) for S in batch.systems]
    s_ab, s_ac = m.compare(full[0], full[1]), m.compare(full[0], full[2])
    boot = run_draws(batch, n, seed, n_jobs=n_jobs, progress=progress, desc="paired bootstrap")
    _warn_nonfinite(boot, "bootstrap resamples")
    finite = _finite(boot)
    p_greater = (1 + np.count_nonzero(finite <= 0)) / (1 + finite.size)
    p_less = (1 + np.count_nonzero(finite >= 0)) / (1 + finite.size)
    p = {"greater": p_greater, "less": p_less, "two-sided": min(1.0, 2 * min(p_greater, p_less))}[alternative]
    info = {"measure": m.name, "kind": m.kind, "unit": batch.systems[0].unit}
    return PairedBootstrapResult(
        float(sign * (s_ab - s_ac)),
        boot,
        percentile_interval(boot, ci),
        ci,
        float(p),
        alternative,
        {"A_B": float(s_ab), "A_C": float(s_ac)},
        info,
    )


def _first(scores: list[float]) -> float:
    return scores[0]


class _Difference:
    def __init__(self, sign: float) -> None:
        self.sign = sign

    def __call__(self, scores: list[float]) -> float:
        return self.sign * (scores[0] - scores[1])
