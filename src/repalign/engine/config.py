"""Sweep configuration files (YAML), validated with errors that name the bad field.

Example::

    store: results.db            # SQLite results file (default: repalign_results.db)
    systems: data/*.npy          # glob | path | list of paths | {name: path} | an HDF5/.npz file
    measures:
      - name: cka
      - name: dsa
        params: {n_delays: 10}
    pairs: all                   # all | all_with_self | {rows: [...], cols: [...]} | [[a, b], ...]
    backend: processes           # serial | processes | dask
    n_jobs: 4                    # processes backend
    scheduler: tcp://host:8786   # dask backend
    chunk_size: 256
    cache_prepared: auto         # auto | true | false
    retry_failed: false
    memo_mb: 512                 # per-process memory for prepared states reused across chunks

Relative paths (systems, store) are relative to the config file's directory.
"""

from __future__ import annotations

import difflib
import os
from typing import Any

from .._validation import check_choice, check_scalar
from ..registry import get_measure
from .executor import BACKENDS
from .sources import resolve_systems
from .sweep import sweep

FIELDS = {
    "store", "systems", "measures", "pairs", "backend", "n_jobs", "scheduler", "chunk_size",
    "cache_prepared", "retry_failed", "memo_mb",
}


class ConfigError(ValueError):
    """A configuration problem; the message starts with the bad field."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"config field '{field}': {message}")


def load_config(path: str | os.PathLike) -> dict:
    """Read and validate a YAML config; returns keyword arguments for :func:`sweep`."""
    try:
        import yaml
    except ImportError:
        raise ValueError("reading YAML configs needs pyyaml: pip install pyyaml") from None
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ValueError(f"config file not found: {path}")
    with open(path) as f:
        try:
            raw = yaml.safe_load(f)
        except yaml.YAMLError as exc:
            raise ValueError(f"config file {path} is not valid YAML: {exc}") from None
    return validate_config(raw, base_dir=os.path.dirname(os.path.abspath(path)))


def validate_config(raw: Any, base_dir: str | None = None) -> dict:
    """Check a config mapping field by field; returns keyword arguments for :func:`sweep`."""
    if not isinstance(raw, dict):
        raise ConfigError("<top level>", f"expected a mapping of fields; got {type(raw).__name__}")
    unknown = sorted(set(map(str, raw)) - FIELDS)
    if unknown:
        hint = difflib.get_close_matches(unknown[0], FIELDS, n=1)
        raise ConfigError(unknown[0], "unknown field" + (f"; did you mean '{hint[0]}'?" if hint else "")
                          + f" (valid fields: {', '.join(sorted(FIELDS))})")
    for required in ("systems", "measures"):
        if required not in raw:
            raise ConfigError(required, "missing (required)")
    base = base_dir or os.getcwd()
    out = {
        "systems": _systems(raw["systems"]),
        "measures": _measures(raw["measures"]),
        "pairs": _pairs(raw.get("pairs", "all")),
        "store": _store(raw.get("store", "repalign_results.db"), base),
        "backend": _choice("backend", raw.get("backend", "processes"), BACKENDS),
        "chunk_size": _scalar("chunk_size", raw.get("chunk_size", 256), int, min_val=1),
        "cache_prepared": _cache(raw.get("cache_prepared", "auto")),
        "retry_failed": _bool("retry_failed", raw.get("retry_failed", False)),
        "memo_mb": _scalar("memo_mb", raw.get("memo_mb", 512), float, min_val=0),
        "base_dir": base,
    }
    if raw.get("n_jobs") is not None:
        n = raw["n_jobs"]
        out["n_jobs"] = -1 if n == -1 and not isinstance(n, bool) else _scalar("n_jobs", n, int, min_val=1)
    if raw.get("scheduler") is not None:
        s = raw["scheduler"]
        if not isinstance(s, str) or "://" not in s:
            raise ConfigError("scheduler", f"expected an address such as 'tcp://host:8786'; got {s!r}")
        out["scheduler"] = s
        if "backend" not in raw:
            out["backend"] = "dask"
    if out["backend"] == "dask" and "scheduler" not in out:
        raise ConfigError("scheduler", "backend 'dask' needs a scheduler address such as 'tcp://host:8786'")
    if out["backend"] != "dask" and "scheduler" in out:
        raise ConfigError("scheduler", f"only used with backend 'dask' (backend is {out['backend']!r})")
    return out


def _systems(v: Any):
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        if not v:
            raise ConfigError("systems", "the list is empty")
        for i, p in enumerate(v):
            if not isinstance(p, str):
                raise ConfigError(f"systems[{i}]", f"expected a path or glob; got {type(p).__name__}")
        return v
    if isinstance(v, dict):
        if not v:
            raise ConfigError("systems", "the mapping is empty")
        for k, p in v.items():
            if not isinstance(p, str):
                raise ConfigError(f"systems.{k}", f"expected a path; got {type(p).__name__}")
        return {str(k): p for k, p in v.items()}
    raise ConfigError("systems", f"expected a glob/path, a list of paths or a mapping name -> path; got {type(v).__name__}")


def _measures(v: Any) -> list:
    if isinstance(v, (str, dict)):
        v = [v]
    if not isinstance(v, list) or not v:
        raise ConfigError("measures", "expected a non-empty list of measure names or {name, params} mappings")
    out = []
    for i, item in enumerate(v):
        field = f"measures[{i}]"
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict):
            raise ConfigError(field, f"expected a name or a mapping with 'name' and 'params'; got {type(item).__name__}")
        extra = sorted(set(item) - {"name", "params"})
        if extra:
            raise ConfigError(f"{field}.{extra[0]}", "unknown field (a measure has 'name' and 'params')")
        if not isinstance(item.get("name"), str):
            raise ConfigError(f"{field}.name", "missing or not a string")
        params = item.get("params") or {}
        if not isinstance(params, dict):
            raise ConfigError(f"{field}.params", f"expected a mapping; got {type(params).__name__}")
        try:
            get_measure(item["name"])
        except ValueError as exc:
            raise ConfigError(f"{field}.name", str(exc)) from None
        try:
            get_measure(item["name"], **params)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{field}.params", str(exc)) from None
        out.append({"name": item["name"], "params": params})
    return out


def _pairs(v: Any):
    if isinstance(v, str):
        if v not in ("all", "all_with_self"):
            raise ConfigError("pairs", f"expected 'all', 'all_with_self', {{rows, cols}} or a list of pairs; got {v!r}")
        return v
    if isinstance(v, dict):
        if set(v) != {"rows", "cols"}:
            raise ConfigError("pairs", f"a mapping needs exactly 'rows' and 'cols'; got {sorted(v)}")
        for k in ("rows", "cols"):
            sel = v[k]
            if not (isinstance(sel, str) or (isinstance(sel, list) and sel and all(isinstance(s, str) for s in sel))):
                raise ConfigError(f"pairs.{k}", "expected a name/pattern or a non-empty list of them")
        return v
    if isinstance(v, list) and v:
        for i, p in enumerate(v):
            if not (isinstance(p, list) and len(p) == 2 and all(isinstance(s, str) for s in p)):
                raise ConfigError(f"pairs[{i}]", f"expected [name_a, name_b]; got {p!r}")
        return [tuple(p) for p in v]
    raise ConfigError("pairs", f"expected 'all', 'all_with_self', {{rows, cols}} or a list of pairs; got {v!r}")


def _store(v: Any, base: str) -> str:
    if not isinstance(v, str) or not v:
        raise ConfigError("store", f"expected a file path; got {v!r}")
    p = os.path.expanduser(v)
    return p if os.path.isabs(p) else os.path.join(base, p)


def _choice(field: str, v: Any, choices) -> str:
    try:
        return check_choice(v, field, choices)
    except ValueError as exc:
        raise ConfigError(field, str(exc)) from None


def _scalar(field: str, v: Any, target_type: type, **bounds: Any):
    try:
        return check_scalar(v, field, target_type, **bounds)
    except ValueError as exc:
        raise ConfigError(field, str(exc)) from None


def _bool(field: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise ConfigError(field, f"expected true or false; got {v!r}")
    return v


def _cache(v: Any):
    if v not in ("auto", True, False):
        raise ConfigError("cache_prepared", f"expected auto, true or false; got {v!r}")
    return v


def run_config(path: str | os.PathLike, **overrides: Any):
    """Validate a config file and run its sweep; ``overrides`` replace config fields
    (e.g. ``scheduler=...``, ``backend=...``, ``progress=False``)."""
    kwargs = load_config(path)
    for k, v in overrides.items():
        if v is not None:
            kwargs[k] = v
    if overrides.get("scheduler") and not overrides.get("backend"):
        kwargs["backend"] = "dask"
    try:
        systems = resolve_systems(kwargs.pop("systems"), kwargs["base_dir"])
    except ValueError as exc:
        msg = str(exc)
        raise ConfigError("systems", msg[len("systems: "):] if msg.startswith("systems: ") else msg) from None
    return sweep(systems, **kwargs)
