"""The container every generator returns, and small shared helpers."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .._validation import check_scalar


@dataclass(frozen=True)
class System:
    """A generated recording with its ground truth.

    Attributes
    ----------
    data : ndarray, (trials, time, units)
        float64 states or observations.
    labels : dict
        Ground truth (e.g. ``{"regime": "chaotic"}``, motif list and segment boundaries).
    meta : dict
        Parameters of the generator (seed, dt, noise levels ...).
    """

    data: np.ndarray
    labels: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if np.ndim(self.data) != 3:
            raise ValueError(f"data must be (trials, time, units); got shape {np.shape(self.data)}")

    @property
    def n_trials(self) -> int:
        return self.data.shape[0]

    @property
    def n_time(self) -> int:
        return self.data.shape[1]

    @property
    def n_units(self) -> int:
        return self.data.shape[2]

    def flat(self) -> np.ndarray:
        """Data as (trials * time, units), trial-major (the geometric measures' view)."""
        return self.data.reshape(-1, self.data.shape[2])

    def with_data(self, data: np.ndarray, **meta: Any) -> "System":
        """A copy with new data (same labels) and extra meta entries."""
        return replace(self, data=np.asarray(data, dtype=np.float64), meta={**self.meta, **meta})


def check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum`` (:func:`repalign._validation.check_scalar`)."""
    return check_scalar(value, name, int, min_val=minimum)


def check_nonnegative(value: Any, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a non-negative number; got {value!r}") from None
    if not np.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a non-negative finite number; got {value!r}")
    return v


def seed_meta(seed: Any) -> Any:
    """What to record of a seed in ``meta`` (an int, or a note that a Generator was passed)."""
    return int(seed) if isinstance(seed, (int, np.integer)) else ("Generator" if seed is not None else None)
