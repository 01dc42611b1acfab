"""The sweep's prepared-state cache: for measures with an expensive prepare, each needed system is
prepared exactly once, in parallel on the backend, and the state written to
``<store>.cache/<digest of Measure.key>/<content hash>.npz`` (atomic rename; arrays field by field,
no pickle: see :mod:`.statefile`; a damaged entry is recomputed). Chunks then carry prepared
states read from that cache. The cache only ever holds results of deterministic prepares keyed by
content and parameters, so deleting it is always safe.
"""

from __future__ import annotations

import hashlib
import os

from .._serialize import atomic_write
from ..registry import Measure, Prepared
from . import statefile
from .executor import _bar
from .store import Store
from .workers import _Chunk, _PrepareError, _prepare_item


def cache_dir(store_path: str) -> str:
    return os.fspath(store_path) + ".cache"


def _cache_path(store_path: str, mkey: str, h: str) -> str:
    digest = hashlib.blake2b(mkey.encode(), digest_size=10).hexdigest()
    return os.path.join(cache_dir(store_path), digest, f"{h}.npz")


def _prepare_cached(st: Store, ex, m: Measure, mkey: str, systems, hashes, needed, summary, progress):
    """Prepare each needed system once (in parallel), caching states on disk; returns the
    payload function that chunks use (reads a state back from the cache).

    Cache files are ``.npz`` written field by field (:mod:`.statefile`) and read with
    ``allow_pickle=False``: a planted or damaged entry cannot run code; it fails to decode and
    the state is recomputed (and rewritten). A state that cannot be stored without pickle is
    kept in memory instead."""
    errors: dict[int, str] = {}
    in_memory: dict[int, Prepared] = {}
    todo = [int(i) for i in needed if not os.path.exists(_cache_path(st.path, mkey, hashes[i]))]
    summary.prepared_cached += len(needed) - len(todo)
    bar = _bar(None, progress, f"{m.name} prepare", True, total=len(todo))
    tasks = (_Chunk(m, {i: systems[i]}, []) for i in todo)
    try:
        for i, state in ex.map(_prepare_task, tasks):
            if isinstance(state, _PrepareError):
                errors[i] = state.message
            elif isinstance(state, Prepared):
                in_memory[i] = state
                summary.prepared += 1
            else:
                atomic_write(_cache_path(st.path, mkey, hashes[i]), state)
                summary.prepared += 1
            bar.update(1)
    finally:
        bar.close()

    def payload(i: int):
        if i in errors:
            return _PrepareError(errors[i])
        if i in in_memory:
            return in_memory[i]
        path = _cache_path(st.path, mkey, hashes[i])
        try:
            state = statefile.load_file(path)
            if isinstance(state, Prepared) and state.measure_key == m.key:
                return state
        except (OSError, statefile.StateFileError):
            pass
        state = _prepare_item(m, systems[i])  # damaged, truncated or foreign entry: recompute
        if isinstance(state, Prepared):
            try:
                atomic_write(path, statefile.dumps(state))
            except statefile.StateFileError:
                pass
        return state

    return payload


def _prepare_task(chunk: _Chunk):
    (i, item), = chunk.items.items()
    state = _prepare_item(chunk.measure, item)  # once per system: no memo needed
    if isinstance(state, _PrepareError):
        return i, state
    try:
        return i, statefile.dumps(state)
    except statefile.StateFileError:
        return i, state  # not storable without pickle: the client keeps it in memory

