"""Named systems for a sweep: arrays in memory or files loaded lazily.

A :class:`Source` is a system's name plus a way to get its data (the *system* itself is the
array, as everywhere in repalign). File-backed sources hold only a path (and a key inside a
container file); the data are read when a worker needs them, so a sweep over thousands of
files never has them all in memory. ``System`` is the old name of :class:`Source`, kept as a
deprecated alias (see docs/architecture.md, "Names").

Accepted specifications (see :func:`resolve_systems`):

* ``{"name": array, ...}`` or a list of arrays (named ``system_0``, ``system_1``, ...);
* a glob such as ``"data/*.npy"``, one path, or a list of paths/globs;
* ``{"name": "path.npy", ...}``: files with explicit names;
* an HDF5 file (``.h5``/``.hdf5``/``.hdf``): one system per dataset, named by the dataset's
  path inside the file without the leading ``/`` (needs ``h5py``);
* a ``.npz`` file: with one array, one system named by the file stem; with several, one
  system per array named ``stem/key``.

A ``.npy`` file is one system named by its stem. Arrays keep their stored dtype here;
measures convert to float64 when preparing.

The *content hash* of a system is a BLAKE2b digest of its dtype, shape and bytes (C order),
so two systems with identical data share results whatever they are called.
"""

from __future__ import annotations

import glob as _glob
import hashlib
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np

HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf")
ARRAY_SUFFIXES = (".npy", ".npz") + HDF5_SUFFIXES


@dataclass(frozen=True)
class Source:
    """Where one named system's data come from.

    Exactly one of ``array`` (in memory) or ``path`` (a file, with ``key`` naming an array
    inside ``.npz``/HDF5 containers) is set. Instances pickle cheaply when file-backed.
    """

    name: str
    array: Any = field(default=None, repr=False, compare=False)
    path: str | None = None
    key: str | None = None

    @property
    def source(self) -> str:
        if self.path is None:
            return "<memory>"
        return self.path if self.key is None else f"{self.path}:{self.key}"

    def load(self) -> Any:
        """The system's data: an ndarray, or a list of ``(time, units)`` trial arrays."""
        if self.path is None:
            return _memory_array(self.array)
        return _read_file(self.path, self.key, self.name)


def _memory_array(X: Any) -> Any:
    if isinstance(X, (list, tuple)) and X and all(np.ndim(t) == 2 for t in X) and not _is_rectangular(X):
        return [np.asarray(t) for t in X]  # ragged trials, as accepted by as_trials
    if hasattr(X, "detach") and hasattr(X, "cpu"):  # torch.Tensor
        return X.detach().cpu().numpy()
    if hasattr(X, "values") and hasattr(X, "dims"):  # xarray.DataArray
        return np.asarray(X.values)
    return np.asarray(X)


def _is_rectangular(trials: Iterable) -> bool:
    return len({np.shape(t) for t in trials}) == 1


def _read_file(path: str, key: str | None, name: str) -> np.ndarray:
    if not os.path.exists(path):
        raise ValueError(f"system '{name}': file not found: {path}")
    suffix = Path(path).suffix.lower()
    try:
        if suffix == ".npy" and key is not None:
            raise ValueError(f"{path} is a .npy file holding one array, without keys; drop ':{key}'")
        if suffix == ".npy":
            with open(path, "rb") as f:
                if f.read(6) != b"\x93NUMPY":
                    raise ValueError("not a .npy file (no NumPy header); corrupt or wrong extension")
            return np.load(path, allow_pickle=False)
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                return z[key if key is not None else z.files[0]]
        if suffix in HDF5_SUFFIXES:
            h5py = _import_h5py()
            with h5py.File(path, "r") as f:
                return f[key][()]
    except Exception as exc:  # corrupt/truncated files raise many different types
        raise ValueError(f"system '{name}': could not read {path}" + (f" [{key}]" if key else "")
                         + f" ({type(exc).__name__}: {exc})") from None
    raise ValueError(f"system '{name}': unsupported file type '{suffix}' ({path}); expected one of {ARRAY_SUFFIXES}")


def _import_h5py():
    try:
        import h5py
    except ImportError:
        raise ValueError("reading HDF5 files needs h5py: pip install 'repalign[hdf5]'") from None
    return h5py


def content_hash(data: Any) -> str:
    """Hex BLAKE2b digest of dtype, shape and bytes (a list of trials hashes each in turn)."""
    h = hashlib.blake2b(digest_size=20)
    arrays = data if isinstance(data, list) else [data]
    h.update(f"{len(arrays) if isinstance(data, list) else 'array'}|".encode())
    for a in arrays:
        a = np.ascontiguousarray(a)
        if a.dtype == object:
            raise ValueError("a system must be a numeric array; got an object array")
        h.update(f"{a.dtype.str}|{a.shape}|".encode())
        h.update(a.reshape(-1).view(np.uint8))
    return h.hexdigest()


# --------------------------------------------------------------------------- resolving specs
def resolve_systems(spec: Any, base_dir: str | os.PathLike | None = None) -> list[Source]:
    """Turn a systems specification (see module docstring) into a list of named systems.

    Relative paths are taken relative to ``base_dir`` (default: the working directory).
    Raises ValueError for missing files, globs matching nothing, unsupported file types and
    duplicate names.
    """
    if isinstance(spec, Source):
        systems = [spec]
    elif isinstance(spec, (str, os.PathLike)):
        systems = _from_path_spec(str(spec), base_dir)
    elif isinstance(spec, Mapping):
        systems = [_from_named(str(k), v, base_dir) for k, v in spec.items()]
        systems = [s for group in systems for s in group]
    elif isinstance(spec, (list, tuple)):
        systems = _from_sequence(spec, base_dir)
    else:
        raise ValueError(
            f"systems must be a glob/path, a list of paths or arrays, or a mapping name -> array/path; "
            f"got {type(spec).__name__}"
        )
    if not systems:
        raise ValueError("systems: no systems given")
    _check_unique([s.name for s in systems])
    return systems


def _from_sequence(items: list | tuple, base_dir) -> list[Source]:
    if all(isinstance(x, Source) for x in items):
        return list(items)
    if all(isinstance(x, (str, os.PathLike)) for x in items):
        return [s for x in items for s in _from_path_spec(str(x), base_dir)]
    if any(isinstance(x, (str, os.PathLike)) for x in items):
        raise ValueError("systems: a list must hold either paths or arrays, not both")
    return [Source(f"system_{i}", array=x) for i, x in enumerate(items)]


def _from_named(name: str, value: Any, base_dir) -> list[Source]:
    if isinstance(value, Source):
        return [Source(name, value.array, value.path, value.key)]
    if isinstance(value, (str, os.PathLike)):
        found = _from_path_spec(str(value), base_dir)
        if len(found) != 1:
            raise ValueError(f"systems['{name}']: {value} holds {len(found)} arrays; name one file or array")
        s = found[0]
        return [Source(name, path=s.path, key=s.key)]
    return [Source(name, array=value)]


def _from_path_spec(spec: str, base_dir) -> list[Source]:
    path = _absolute(spec, base_dir)
    if any(c in spec for c in "*?["):
        matches = sorted(_glob.glob(path, recursive=True))
        if not matches:
            raise ValueError(f"systems: the pattern {spec!r} matches no file")
        return [s for m in matches for s in _from_file(m)]
    if not os.path.exists(path):
        raise ValueError(f"systems: file not found: {path}")
    return _from_file(path)


def _absolute(spec: str, base_dir) -> str:
    p = os.path.expanduser(spec)
    if base_dir is not None and not os.path.isabs(p):
        p = os.path.join(str(base_dir), p)
    return os.path.abspath(p)


def _from_file(path: str) -> list[Source]:
    suffix = Path(path).suffix.lower()
    stem = Path(path).stem
    if suffix == ".npy":
        return [Source(stem, path=path)]
    if suffix == ".npz":
        keys = _npz_keys(path)
        if len(keys) == 1:
            return [Source(stem, path=path, key=keys[0])]
        return [Source(f"{stem}/{k}", path=path, key=k) for k in keys]
    if suffix in HDF5_SUFFIXES:
        return [Source(k, path=path, key=k) for k in _hdf5_datasets(path)]
    raise ValueError(f"systems: unsupported file type '{suffix}' ({path}); expected one of {ARRAY_SUFFIXES}")


def _npz_keys(path: str) -> list[str]:
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = list(z.files)
    except Exception as exc:
        raise ValueError(f"systems: could not read {path} ({type(exc).__name__}: {exc})") from None
    if not keys:
        raise ValueError(f"systems: {path} holds no arrays")
    return keys


def _hdf5_datasets(path: str) -> list[str]:
    h5py = _import_h5py()
    names: list[str] = []
    try:
        with h5py.File(path, "r") as f:
            f.visititems(lambda n, obj: names.append(n) if isinstance(obj, h5py.Dataset) else None)
    except Exception as exc:
        raise ValueError(f"systems: could not read HDF5 file {path} ({type(exc).__name__}: {exc})") from None
    if not names:
        raise ValueError(f"systems: HDF5 file {path} holds no datasets")
    return names


def _check_unique(names: list[str]) -> None:
    seen, dup = set(), []
    for n in names:
        if n in seen:
            dup.append(n)
        seen.add(n)
    if dup:
        raise ValueError(f"systems: duplicate system names {sorted(set(dup))}; give explicit names")


def file_signature(system: Source) -> tuple | None:
    """(path, key, size, mtime_ns) of a file-backed system, used to skip re-hashing it."""
    if system.path is None:
        return None
    try:
        st = os.stat(system.path)
    except OSError:
        return None
    return (system.path, system.key or "", st.st_size, st.st_mtime_ns)


def hash_systems(systems: Iterable[Source], lookup: Callable[[tuple], str | None] | None = None) -> list[str]:
    """Content hash of every system, loading one at a time; ``lookup`` may supply known hashes
    of unchanged files (by :func:`file_signature`)."""
    out = []
    for s in systems:
        sig = file_signature(s)
        known = lookup(sig) if (lookup is not None and sig is not None) else None
        out.append(known if known is not None else content_hash(s.load()))
    return out


def __getattr__(name: str) -> Any:
    if name == "System":  # renamed in issue 18: "system" means the data, a Source says where they come from
        warnings.warn("repalign.engine.sources.System is deprecated; use Source (same class)",
                      DeprecationWarning, stacklevel=2)
        return Source
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
