"""Serialisation, in one place: plain-JSON conversion, canonical JSON keys, atomic writes and the
software versions recorded beside results.

Two policies of one converter:

* ``to_jsonable(obj)`` (results, reports, study JSON): strict JSON; non-finite floats become
  ``None``; a value with no JSON form raises ``ValueError`` naming where it sits.
* ``canonical_json(obj)`` (keys of measures and sources in the store and the caches): never
  fails; non-finite floats and unknown objects become their ``repr``, keys are sorted, so the
  same parameters always give the same string (keys already in users' stores stay valid).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, IO

import numpy as np


def to_jsonable(obj: Any, name: str = "obj", *, lenient: bool = False) -> Any:
    """``obj`` in plain JSON types (dict, list, str, int, float, bool, None).

    numpy arrays and scalars become lists and numbers; tuples and lists become lists; objects with ``to_dict()`` (e.g. :class:`~repalign.stats.CalibrationResult`),
    dataclasses, pandas DataFrames (list of records) and paths are converted. Non-finite floats
    become ``None``. Anything else raises ``ValueError`` naming ``name``; with ``lenient=True``
    it becomes its ``repr``, non-finite floats their ``repr`` and sets sorted lists (the
    canonical-key policy).
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        if math.isfinite(obj):
            return float(obj)
        return repr(float(obj)) if lenient else None
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist(), name, lenient=lenient)
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v, f"{name}[{k!r}]", lenient=lenient) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v, f"{name}[{i}]", lenient=lenient) for i, v in enumerate(obj)]
    if lenient and isinstance(obj, (set, frozenset)):  # strict JSON has no sets: order is a choice
        return sorted(to_jsonable(v, name, lenient=lenient) for v in obj)
    if is_dataframe(obj):
        return to_jsonable(obj.to_dict(orient="records"), name, lenient=lenient)
    if hasattr(obj, "to_dict") and callable(obj.to_dict):
        return to_jsonable(obj.to_dict(), name, lenient=lenient)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj), name, lenient=lenient)
    if lenient:
        return repr(obj)
    raise ValueError(f"{name} holds a value of type {type(obj).__name__}, which has no JSON form")


def is_dataframe(obj: Any) -> bool:
    return all(hasattr(obj, a) for a in ("to_dict", "columns", "index", "iloc"))


def canonical_json(obj: Any) -> str:
    """One string per value, for keys: sorted keys, no spaces, the lenient policy."""
    return json.dumps(to_jsonable(obj, lenient=True), sort_keys=True, separators=(",", ":"))


def atomic_write(path: str | os.PathLike, data: bytes | Callable[[IO[bytes]], Any]) -> Path:
    """Write ``data`` (bytes, or a function writing to a binary file) to ``path`` atomically:
    into a temporary file in the same folder, flushed to disk, then renamed over ``path``. A
    crash leaves either the old file or the new one, never half of one. Creates the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            if isinstance(data, (bytes, bytearray, memoryview)):
                fh.write(data)
            else:
                data(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> Path:
    """Write ``to_jsonable(obj)`` as JSON, atomically; returns the path."""
    text = json.dumps(to_jsonable(obj, str(Path(path).name)), indent=indent)
    return atomic_write(path, text.encode())


def versions() -> dict[str, str]:
    """Versions of python, the platform, repalign, numpy, scipy, scikit-learn, and of torch and
    matplotlib when they are already imported (never imported here)."""
    from importlib import metadata

    import scipy

    def dist(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    out = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "repalign": dist("repalign"),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": dist("scikit-learn"),
    }
    for mod in ("torch", "matplotlib"):
        if mod in sys.modules:
            out[mod] = str(getattr(sys.modules[mod], "__version__", "unknown"))
    return out
