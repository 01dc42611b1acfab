"""The outcome of a calibration: an observed statistic, its null, a p-value, a verdict.

Conventions (stated once; ``docs/calibration.md`` repeats them):

* **p-value**: ``(1 + #{null draws at least as extreme as observed}) / (1 + n)``. The +1
  counts the observed statistic as one draw from the null (it is, under the null), so the
  p-value is never 0 and its smallest value, ``1 / (1 + n)``, says how many draws were run.
* **"At least as extreme"** depends on ``alternative``:

  - ``"greater"``: ``null >= observed`` (similarities: larger means more alike);
  - ``"less"``: ``null <= observed`` (distances: smaller means more alike);
  - ``"two-sided"``: ``|null - mean(null)| >= |observed - mean(null)|``.

  Comparisons allow a relative slack of ``1e-12`` so that a draw that reproduces the
  observed value up to rounding (e.g. the identity permutation) counts as a tie.
* **z-score**: ``(observed - mean(null)) / sd(null)`` (sd with ``ddof=1``).
* **Verdict** (thresholds printed with every result):

  - ``"signal"``: ``p <= 0.01`` and ``|z| >= 3`` with z in the tested direction;
  - ``"indistinguishable from null"``: ``p > 0.05``;
  - ``"mixed"``: anything else (weak evidence; collect more data or draws).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

ALTERNATIVES = ("greater", "less", "two-sided")
SIGNAL_P = 0.01
SIGNAL_Z = 3.0
NULL_P = 0.05
TIE_RTOL = 1e-12

THRESHOLDS_TEXT = (
    f"signal: p <= {SIGNAL_P} and |z| >= {SIGNAL_Z:g} in the tested direction; "
    f"indistinguishable from null: p > {NULL_P}; mixed: otherwise"
)


def check_alternative(alternative: str) -> str:
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}; got {alternative!r}")
    return alternative


def p_value(observed: float, null: np.ndarray, alternative: str = "greater") -> float:
    """``(1 + #{null at least as extreme as observed}) / (1 + n)`` (see module docstring).

    Parameters
    ----------
    observed : float
    null : array, (n,)
        Draws of the statistic under the null.
    alternative : {"greater", "less", "two-sided"}
    """
    check_alternative(alternative)
    null = np.asarray(null, dtype=np.float64).ravel()
    if null.size == 0:
        raise ValueError("null must contain at least one draw")
    if not np.isfinite(observed):
        return float("nan")
    null = null[np.isfinite(null)]
    if alternative == "two-sided":
        centre = null.mean()
        dev_null, dev_obs = np.abs(null - centre), abs(observed - centre)
        hits = dev_null >= dev_obs - _slack(dev_obs, centre)
    elif alternative == "greater":
        hits = null >= observed - _slack(observed)
    else:
        hits = null <= observed + _slack(observed)
    return float((1 + np.count_nonzero(hits)) / (1 + null.size))


def _slack(*values: float) -> float:
    return TIE_RTOL * max(1.0, *(abs(v) for v in values))


def z_score(observed: float, null: np.ndarray) -> float:
    """``(observed - mean(null)) / sd(null)``; NaN when the null has no spread."""
    null = np.asarray(null, dtype=np.float64).ravel()
    null = null[np.isfinite(null)]
    if null.size < 2:
        return float("nan")
    sd = null.std(ddof=1)
    if not sd > _slack(null.mean()):  # no spread beyond rounding
        return float("nan")
    return float((observed - null.mean()) / sd)


def verdict(p: float, z: float, alternative: str) -> str:
    """Plain-language reading of a p-value and z-score (thresholds in the module docstring)."""
    if not np.isfinite(p):
        return "undefined"
    directed_z = {"greater": z, "less": -z, "two-sided": abs(z)}[alternative]
    if p <= SIGNAL_P and np.isfinite(z) and directed_z >= SIGNAL_Z:
        return "signal"
    if p > NULL_P:
        return "indistinguishable from null"
    return "mixed"


@dataclass
class CalibrationResult:
    """An observed statistic against its null distribution.

    Attributes
    ----------
    observed : float or None
        The statistic on the real data (None when only a null was drawn).
    null : ndarray, (n,)
        The statistic under the null, one value per draw.
    alternative : {"greater", "less", "two-sided"}
    p_value, z : float
        See the module docstring; NaN when ``observed`` is None.
    interval : (float, float) or None
        A bootstrap confidence interval for the statistic, when one was run.
    ci : float or None
        Its coverage (e.g. 0.95).
    method : str
        How the null was made (e.g. "permutation", "permutation within groups", "resampled").
    undefined : str or None
        When set, the reason the statistic is meaningless here; the verdict then says so.
    info : dict
        Anything else worth keeping (measure name, parameters, bootstrap method ...).
    """

    observed: float | None
    null: np.ndarray
    alternative: str = "greater"
    interval: tuple[float, float] | None = None
    ci: float | None = None
    method: str = ""
    undefined: str | None = None
    info: dict = field(default_factory=dict)
    p_value: float = field(init=False)
    z: float = field(init=False)

    def __post_init__(self) -> None:
        check_alternative(self.alternative)
        self.null = np.asarray(self.null, dtype=np.float64).ravel()
        if self.observed is None or self.n == 0:
            self.p_value, self.z = float("nan"), float("nan")
        else:
            self.observed = float(self.observed)
            self.p_value = p_value(self.observed, self.null, self.alternative)
            self.z = z_score(self.observed, self.null)

    @property
    def n(self) -> int:
        return int(self.null.size)

    @property
    def null_mean(self) -> float:
        return float(np.mean(self.null)) if self.n else float("nan")

    @property
    def null_sd(self) -> float:
        return float(np.std(self.null, ddof=1)) if self.n > 1 else float("nan")

    @property
    def verdict(self) -> str:
        if self.undefined:
            return f"undefined ({self.undefined})"
        if self.observed is None:
            return "no observed statistic (null only)"
        return verdict(self.p_value, self.z, self.alternative)

    def to_dict(self, include_null: bool = True) -> dict[str, Any]:
        """JSON-ready dictionary (plain floats and lists; NaN becomes None)."""
        out = {
            "observed": _f(self.observed),
            "p_value": _f(self.p_value),
            "z": _f(self.z),
            "null_mean": _f(self.null_mean),
            "null_sd": _f(self.null_sd),
            "n_null": self.n,
            "alternative": self.alternative,
            "interval": None if self.interval is None else [_f(v) for v in self.interval],
            "ci": self.ci,
            "method": self.method,
            "verdict": self.verdict,
            "thresholds": THRESHOLDS_TEXT,
            "undefined": self.undefined,
            "info": self.info,
        }
        if include_null:
            out["null"] = [_f(v) for v in self.null]
        return out

    def __str__(self) -> str:
        lines = [
            f"observed = {_fmt(self.observed)}   null ({self.method or 'null'}, n={self.n}): "
            f"mean {_fmt(self.null_mean)} +/- sd {_fmt(self.null_sd)}",
            f"p = {_fmt(self.p_value)} ({self.alternative}; (1 + #extreme) / (1 + n))   z = {_fmt(self.z)}",
        ]
        if self.interval is not None:
            how = self.info.get("bootstrap", {}).get("method", "bootstrap")
            lo, hi = self.interval
            lines.append(f"{100 * (self.ci or 0):g}% {how} interval: [{_fmt(lo)}, {_fmt(hi)}]")
        lines.append(f"verdict: {self.verdict}   [{THRESHOLDS_TEXT}]")
        return "\n".join(lines)


def _f(v: Any) -> float | None:
    if v is None:
        return None
    v = float(v)
    return v if np.isfinite(v) else None


def _fmt(v: Any) -> str:
    return "n/a" if v is None or not np.isfinite(v) else f"{v:.4g}"
