"""A memory budget: estimate a computation's peak memory before allocating it.

The budget, in bytes, comes from (first that is set):

1. ``repalign.set_options(max_memory="8GB")`` (a size string or a number of bytes;
   ``None`` goes back to the default);
2. the environment variable ``REPALIGN_MAX_MEMORY`` (same syntax), read at each check;
3. :data:`DEFAULT_FRACTION` of the memory available on this machine when the check runs
   (``MemAvailable`` of ``/proc/meminfo``, psutil or ``sysconf`` elsewhere).

Every measure whose work grows as n_samples^2 (RDMs, Gram-matrix CKA, kernel CKA, kNN on
dense distances, ...) and ``calibrate``/bootstrap call :func:`check_memory` with their
estimate; past the budget it raises :class:`MemoryBudgetError` (a ``MemoryError`` and a
``ValueError``) naming the estimate in GiB, the arrays involved and the ways out.
"""

from __future__ import annotations

import os
import re
from typing import Any

ENV = "REPALIGN_MAX_MEMORY"
DEFAULT_FRACTION = 0.5  # of available memory: room for the caller's own arrays and copies
_OPTIONS: dict[str, Any] = {"max_memory": None}
_UNITS = {"": 1, "B": 1, "K": 1000, "KB": 1000, "M": 1000**2, "MB": 1000**2, "G": 1000**3, "GB": 1000**3,
          "T": 1000**4, "TB": 1000**4, "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3, "TIB": 1024**4}
_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*$")
GIB = 1024**3


class MemoryBudgetError(MemoryError, ValueError):
    """A computation's estimated peak memory is over the budget (raised before allocating)."""


def parse_size(value: Any, name: str = "max_memory") -> int:
    """Bytes from ``"8GB"``, ``"512MiB"``, ``"2.5G"``, ``"1e9"`` or a positive number."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a size such as '8GB' or a number of bytes; got {value!r}")
    if isinstance(value, (int, float)):
        size = float(value)
    elif isinstance(value, str):
        match = _SIZE.match(value)
        unit = match.group(2).upper() if match else None
        if match is None or unit not in _UNITS:
            raise ValueError(f"{name} must be a size such as '8GB', '512MiB' or a number of bytes; got {value!r}")
        size = float(match.group(1)) * _UNITS[unit]
    else:
        raise ValueError(f"{name} must be a size such as '8GB' or a number of bytes; got {type(value).__name__}")
    if not size > 0 or size == float("inf"):
        raise ValueError(f"{name} must be positive and finite; got {value!r}")
    return int(size)


def set_options(*, max_memory: Any = ...) -> dict:
    """Set library-wide options; returns the previous values (pass them back to restore).

    max_memory : size string ("8GB", "512MiB"), bytes, or None (default: the environment
        variable ``REPALIGN_MAX_MEMORY``, else half of the memory available when a check runs).
    """
    previous = dict(_OPTIONS)
    if max_memory is not ...:
        _OPTIONS["max_memory"] = None if max_memory is None else parse_size(max_memory)
    return previous


def get_options() -> dict:
    """The current options (``max_memory`` in bytes, or None for the default)."""
    return dict(_OPTIONS)


def available_memory() -> int:
    """Bytes of memory available to new allocations on this machine (best effort)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 8 * GIB  # unknown platform: assume a modest machine


def memory_budget() -> tuple[int, str]:
    """The budget in bytes and where it came from (for messages)."""
    if _OPTIONS["max_memory"] is not None:
        return _OPTIONS["max_memory"], "repalign.set_options(max_memory=...)"
    env = os.environ.get(ENV)
    if env:
        return parse_size(env, ENV), f"the environment variable {ENV}={env}"
    avail = available_memory()
    return int(DEFAULT_FRACTION * avail), f"the default ({DEFAULT_FRACTION:.0%} of the {avail / GIB:.1f} GiB available)"


def gib(nbytes: float) -> str:
    return f"{nbytes / GIB:.3g} GiB"


def check_memory(nbytes: float, what: str, arrays: str, way_out: str = "") -> None:
    """Raise :class:`MemoryBudgetError` if ``nbytes`` (an estimated peak) is over the budget.

    what: the computation ("RSA on X"); arrays: the big arrays and their shapes
    ("2 condensed RDMs of 1,799,970,000 float64"); way_out: measure-specific advice.
    """
    budget, source = memory_budget()
    if nbytes <= budget:
        return
    advice = way_out or "use fewer samples/conditions or a linear measure"
    raise MemoryBudgetError(
        f"{what} needs about {gib(nbytes)} ({arrays}), over the memory budget of {gib(budget)} set by {source}. "
        f"Way out: {advice}; or raise the budget with repalign.set_options(max_memory='64GB') "
        f"or the environment variable {ENV}."
    )


def nbytes_of(obj: Any, _depth: int = 0) -> int:
    """Bytes held by the numpy arrays inside ``obj`` (arrays, dataclasses, dicts, lists, tuples)."""
    import dataclasses

    import numpy as np

    if _depth > 6:
        return 0
    if isinstance(obj, np.ndarray):
        return int(obj.nbytes)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return sum(nbytes_of(getattr(obj, f.name), _depth + 1) for f in dataclasses.fields(obj))
    if isinstance(obj, dict):
        return sum(nbytes_of(v, _depth + 1) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(nbytes_of(v, _depth + 1) for v in obj)
    return 0
