"""Plain-JSON conversion of results (numpy, dataclasses, DataFrames, paths)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np


def to_jsonable(obj: Any, name: str = "obj") -> Any:
    """Convert ``obj`` to plain JSON types (dict, list, str, int, float, bool, None).

    numpy arrays and scalars become lists and numbers; non-finite floats become ``None``
    (strict JSON has no NaN); objects with ``to_dict()`` (e.g.
    :class:`~repalign.stats.CalibrationResult`), dataclasses, pandas DataFrames (list of
    records) and paths are converted. Anything else raises ``ValueError``.
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, np.integer)) and not isinstance(obj, np.bool_):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist(), name)
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v, f"{name}[{k!r}]") for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v, f"{name}[{i}]") for i, v in enumerate(obj)]
    if _is_dataframe(obj):
        return to_jsonable(obj.to_dict(orient="records"), name)
    if hasattr(obj, "to_dict") and callable(obj.to_dict):
        return to_jsonable(obj.to_dict(), name)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj), name)
    raise ValueError(f"{name} holds a value of type {type(obj).__name__}, which has no JSON form")


def _is_dataframe(obj: Any) -> bool:
    return all(hasattr(obj, a) for a in ("to_dict", "columns", "index", "iloc"))


