"""Prepared states on disk without pickle: ``.npz`` files read with ``allow_pickle=False``.

A prepared state (:class:`~repalign.registry.Prepared` holding arrays, numbers, strings,
tuples, lists, dicts and repalign's own state dataclasses such as a DMD fit) is written field
by field: every numpy array becomes one entry of the ``.npz`` (numeric dtypes only, never
``object``), and the structure around them becomes a JSON document stored as a ``uint8``
entry ``__schema__``. Reading back rebuilds only:

* plain JSON values, tuples, complex numbers and numpy arrays, and
* frozen dataclasses *defined in repalign* (``module`` under ``repalign.``; every prepared
  state and :class:`~repalign.registry.Prepared` itself), built with their own ``__init__``
  from the decoded fields,

so a planted or damaged file can at worst fail to decode (:class:`StateFileError`, a
ValueError), never run code. Nothing is imported that repalign has not imported already.
"""

from __future__ import annotations

import dataclasses
import io
import json
import sys
from typing import Any

import numpy as np

FORMAT = "repalign-state/1"
_SCHEMA = "__schema__"


class StateFileError(ValueError):
    """A state that cannot be written without pickle, or a file that does not decode."""


def dumps(obj: Any) -> bytes:
    """``obj`` as the bytes of an ``.npz`` (see module docstring); StateFileError if it holds
    something that cannot be stored without pickle (it is then simply not cached)."""
    arrays: dict[str, np.ndarray] = {}
    schema = {"format": FORMAT, "root": _encode(obj, arrays)}
    arrays[_SCHEMA] = np.frombuffer(json.dumps(schema, allow_nan=True).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, allow_pickle=False, **arrays)
    return buf.getvalue()


def loads(data: bytes) -> Any:
    """Inverse of :func:`dumps`; StateFileError for anything it did not write."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            schema = json.loads(bytes(z[_SCHEMA]).decode())
            if not isinstance(schema, dict) or schema.get("format") != FORMAT:
                raise StateFileError("not a repalign state file")
            arrays = {k: z[k] for k in z.files if k != _SCHEMA}
        return _decode(schema["root"], arrays)
    except StateFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - zipfile.BadZipFile, ValueError (object arrays), KeyError ...
        raise StateFileError(f"damaged or foreign state file ({type(exc).__name__}: {exc})") from None


def load_file(path: str) -> Any:
    with open(path, "rb") as f:
        return loads(f.read())


# --------------------------------------------------------------------------- encoding
def _encode(x: Any, arrays: dict) -> Any:
    if x is None or isinstance(x, (bool, str)):
        return x
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        return {"int": int(x)}
    if isinstance(x, (float, np.floating)):
        return {"float": float(x)}
    if isinstance(x, (complex, np.complexfloating)):
        return {"complex": [float(x.real), float(x.imag)]}
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, np.ndarray):
        if x.dtype.hasobject or x.dtype.kind not in "biufcU":
            raise StateFileError(f"cannot store an array of dtype {x.dtype} without pickle")
        key = f"a{len(arrays)}"
        arrays[key] = x
        return {"array": key}
    if isinstance(x, (list, tuple)):
        return {"tuple" if isinstance(x, tuple) else "list": [_encode(v, arrays) for v in x]}
    if isinstance(x, dict):
        if not all(isinstance(k, str) for k in x):
            raise StateFileError("cannot store a dict with non-string keys")
        return {"dict": {k: _encode(v, arrays) for k, v in x.items()}}
    if (dataclasses.is_dataclass(x) and not isinstance(x, type) and _allowed(type(x))
            and type(x).__dataclass_params__.frozen):
        cls = type(x)
        fields = {f.name: _encode(getattr(x, f.name), arrays) for f in dataclasses.fields(x) if f.init}
        return {"dataclass": f"{cls.__module__}:{cls.__qualname__}", "fields": fields}
    raise StateFileError(f"cannot store a {type(x).__name__} without pickle")


def _allowed(cls: type) -> bool:
    return cls.__module__ == "repalign" or cls.__module__.startswith("repalign.")


# --------------------------------------------------------------------------- decoding
def _decode(x: Any, arrays: dict) -> Any:
    if x is None or isinstance(x, (bool, str)):
        return x
    if not isinstance(x, dict) or len(x) not in (1, 2):
        raise StateFileError(f"unexpected entry {str(x)[:80]!r}")
    if "int" in x:
        return int(x["int"])
    if "float" in x:
        return float(x["float"])
    if "complex" in x:
        re, im = x["complex"]
        return complex(float(re), float(im))
    if "array" in x:
        return arrays[x["array"]]
    if "list" in x:
        return [_decode(v, arrays) for v in x["list"]]
    if "tuple" in x:
        return tuple(_decode(v, arrays) for v in x["tuple"])
    if "dict" in x:
        return {str(k): _decode(v, arrays) for k, v in x["dict"].items()}
    if "dataclass" in x:
        cls = _find_class(x["dataclass"])
        return cls(**{str(k): _decode(v, arrays) for k, v in x["fields"].items()})
    raise StateFileError(f"unexpected entry {str(x)[:80]!r}")


def _find_class(name: Any) -> type:
    """A dataclass defined in an already imported repalign module (nothing is imported here)."""
    module, _, qualname = str(name).partition(":")
    mod = sys.modules.get(module)
    if mod is None or not (module == "repalign" or module.startswith("repalign.")):
        raise StateFileError(f"state file names a class outside repalign's loaded modules: {name!r}")
    obj: Any = mod
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    if not (isinstance(obj, type) and dataclasses.is_dataclass(obj) and _allowed(obj)
            and obj.__dataclass_params__.frozen):
        raise StateFileError(f"state file names {name!r}, which is not one of repalign's state classes")
    return obj
