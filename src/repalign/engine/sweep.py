"""Planning and running a sweep: many systems x measures x pairs into a results store.

Plan
----
1. Systems are hashed (content hash; unchanged files are looked up in the store instead of
   being re-read). Systems with identical content share results.
2. For each measure, the requested pairs are put in canonical form (for symmetric measures
   the system with the smaller hash first), de-duplicated, and those already in the store
   are dropped: re-running computes only what is missing.
3. The missing pairs are grouped into *tiles* (row block x column block of the system list,
   ``b = ceil(sqrt(chunk_size))`` systems per side) and tiles into chunks of at most
   ``chunk_size`` pairs. A chunk needs at most ``2 b`` systems, so a worker's memory is
   bounded whatever N is, and each system is prepared once per chunk and reused for all
   its pairs there.

Where prepare runs
------------------
* Cheap measures (the default, e.g. CKA): the worker receives the *sources* of its chunk's
  systems (a path for files, which it reads itself; the array for in-memory systems) and
  prepares them. Each process keeps an LRU memo of prepared states keyed by (content hash,
  measure key), bounded by ``memo_mb`` (default 512 MiB), so while the states fit a
  process prepares each system once (the serial backend: once in all; ``n_jobs`` workers:
  at most ``n_jobs`` times). Beyond the budget a system is prepared again in each chunk
  that needs it (at most ``2 N / b`` times), which costs about one compare per prepare;
  shipping raw data is no dearer than shipping prepared states (for CKA the state is the
  centred data), and nothing grows with N.
* Expensive measures (``cache_prepared="auto"``: a measure whose class sets
  ``expensive_prepare = True``, or any ``input == "trials"`` measure, i.e. the DMD-based
  ones): each needed system is prepared exactly once, in parallel on the backend, returned
  to the client and written to ``<store>.cache/<measure-key digest>/<content hash>.npz``
  (atomic rename; arrays field by field, no pickle: see :mod:`.statefile`; a damaged entry
  is recomputed). Chunks then carry prepared states, read from that cache by the client.
  Re-runs reuse the cache; the cache only ever holds results of deterministic prepares
  keyed by content and parameters, so deleting it is always safe.

Backends
--------
``"serial"`` (in this process), ``"processes"`` (joblib loky, default, ``n_jobs`` workers)
and ``"dask"`` (``scheduler="tcp://host:8786"`` or ``client=`` a ``distributed.Client``).
Chunks complete in any order; the client writes each chunk's rows in one transaction as it
arrives, and nothing else writes to the store. At most ``2 x workers`` chunks are in
flight, so the client's memory is bounded too.

A pair that raises is stored with ``status='failed'`` and the error message; the sweep
goes on. Failed pairs are not retried on re-runs unless ``retry_failed=True``.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections import OrderedDict
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import datetime, timezone
from fnmatch import fnmatchcase
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from ..registry import Comparison, Measure, Prepared, get_measure
from . import statefile
from .sources import Source, file_signature, hash_systems, resolve_systems
from .store import Store, canonical_json, measure_key, to_jsonable

BACKENDS = ("serial", "processes", "dask")


# --------------------------------------------------------------------------- public API
@dataclass
class SweepSummary:
    """What a sweep did. ``computed`` counts pairs computed in this run (ok + failed)."""

    store: str
    backend: str
    total: int = 0
    computed: int = 0
    cached: int = 0
    failed: int = 0
    previously_failed: int = 0
    prepared: int = 0
    prepared_cached: int = 0
    seconds: float = 0.0
    failures: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def __str__(self) -> str:
        lines = [
            f"sweep into {self.store} ({self.backend}): {self.total} pairs in {self.seconds:.1f} s",
            f"  computed now:        {self.computed} ({self.computed - self.failed} ok, {self.failed} failed)",
            f"  skipped (in store):  {self.cached}"
            + (f" (of which {self.previously_failed} failed before; retry_failed=True reruns them)"
               if self.previously_failed else ""),
        ]
        if self.prepared or self.prepared_cached:
            lines.append(f"  prepared states:     {self.prepared} computed, {self.prepared_cached} from cache")
        for f in self.failures[:20]:
            lines.append(f"  FAILED {f['measure']} ({f['system_a']}, {f['system_b']}): {f['error']}")
        if len(self.failures) > 20:
            lines.append(f"  ... and {len(self.failures) - 20} more failures (see the 'error' column)")
        return "\n".join(lines)


def sweep(
    systems: Any,
    measures: Any = ("cka",),
    store: str | os.PathLike = "repalign_results.db",
    *,
    pairs: Any = "all",
    backend: str = "processes",
    n_jobs: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
    chunk_size: int = 256,
    cache_prepared: bool | str = "auto",
    retry_failed: bool = False,
    memo_mb: float = 512.0,
    progress: bool = True,
    base_dir: str | os.PathLike | None = None,
) -> SweepSummary:
    """Compute every requested pair of ``systems`` under every measure into ``store``.

    Parameters
    ----------
    systems : mapping name -> array/path, list of arrays or paths, glob, HDF5/.npz file
        See :func:`repalign.engine.sources.resolve_systems`. Arrays are (samples, features)
        or (trials, time, units) as the measures expect.
    measures : str, Measure, or list of str / Measure / ``{"name": ..., "params": {...}}``
    store : path of the SQLite results file (created if missing).
    pairs : ``"all"`` (each unordered pair once, i < j; both orders for asymmetric
        measures), ``"all_with_self"`` (i <= j, self-pairs included),
        ``{"rows": sel, "cols": sel}`` (every row system against every column system;
        ``sel`` a list of names or fnmatch patterns such as ``"layer*"``), or a list of
        ``(name_a, name_b)``.
    backend : ``"serial"``, ``"processes"`` (joblib loky) or ``"dask"``.
    n_jobs : workers for ``"processes"`` (default: all cores).
    scheduler, client : for ``"dask"``: a scheduler address or a ``distributed.Client``.
    chunk_size : at most this many pairs per unit of work.
    cache_prepared : ``"auto"``, True or False: prepare each system once and cache the
        prepared state on disk (see module docstring for the ``"auto"`` rule).
    retry_failed : recompute pairs stored as failed.
    memo_mb : per-process budget (MiB) for prepared states kept between chunks, so that a
        process prepares each system once while they fit (0: prepare per chunk).
    progress : show tqdm progress bars.

    Returns
    -------
    SweepSummary (also printable). Read the results with :func:`repalign.engine.load`.
    """
    t0 = time.perf_counter()
    backend = _check_backend(backend, scheduler, client)
    if not (isinstance(chunk_size, (int, np.integer)) and chunk_size >= 1):
        raise ValueError(f"chunk_size must be a positive integer; got {chunk_size!r}")
    if not (isinstance(memo_mb, (int, float)) and memo_mb >= 0):
        raise ValueError(f"memo_mb must be a non-negative number; got {memo_mb!r}")
    if cache_prepared not in ("auto", True, False):
        raise ValueError(f"cache_prepared must be 'auto', True or False; got {cache_prepared!r}")
    systems = resolve_systems(systems, base_dir)
    measure_list = normalise_measures(measures)
    names = [s.name for s in systems]
    index_pairs = resolve_pairs(pairs, names)
    both_ways = isinstance(pairs, str)  # "all": asymmetric measures need (i, j) and (j, i)
    summary = SweepSummary(store=os.fspath(store), backend=backend)
    with Store.open(store) as st, _Executor(backend, n_jobs, scheduler, client) as ex:
        hashes = _hash_and_record(st, systems, progress)
        try:
            for m in measure_list:
                _run_measure(st, ex, m, systems, hashes, _directed(m, index_pairs, both_ways), summary,
                             chunk_size=int(chunk_size), cache_prepared=cache_prepared,
                             retry_failed=retry_failed, progress=progress, memo_bytes=int(memo_mb * 2**20))
        finally:
            _MEMO.clear()  # the serial backend's memo lives in this process
    summary.seconds = time.perf_counter() - t0
    return summary


def normalise_measures(spec: Any) -> list[Measure]:
    """Measure instances from a name, an instance, or a list of names/instances/dicts."""
    if isinstance(spec, (str, Measure, dict)):
        spec = [spec]
    if not isinstance(spec, (list, tuple)) or not spec:
        raise ValueError("measures must be a non-empty list of names, Measure instances or {'name', 'params'} dicts")
    out, keys = [], set()
    for i, item in enumerate(spec):
        if isinstance(item, dict):
            unknown = set(item) - {"name", "params"}
            if unknown or "name" not in item:
                raise ValueError(f"measures[{i}] must have 'name' and optionally 'params'; got keys {sorted(item)}")
            params = item.get("params") or {}
            if not isinstance(params, dict):
                raise ValueError(f"measures[{i}].params must be a mapping; got {type(params).__name__}")
            m = get_measure(item["name"], **params)
        else:
            m = get_measure(item)
        k = measure_key(m)
        if k not in keys:
            keys.add(k)
            out.append(m)
    return out


def resolve_pairs(spec: Any, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Index arrays (ia, ib) of the requested pairs (see :func:`sweep`)."""
    n = len(names)
    if isinstance(spec, str):
        if spec not in ("all", "all_with_self"):
            raise ValueError(f"pairs must be 'all', 'all_with_self', {{'rows', 'cols'}} or a list of pairs; got {spec!r}")
        ia, ib = np.triu_indices(n, 0 if spec == "all_with_self" else 1)
        return ia.astype(np.int64), ib.astype(np.int64)
    if isinstance(spec, dict):
        if set(spec) != {"rows", "cols"}:
            raise ValueError(f"pairs as a mapping needs exactly 'rows' and 'cols'; got keys {sorted(spec)}")
        rows = _select(spec["rows"], names, "pairs.rows")
        cols = _select(spec["cols"], names, "pairs.cols")
        ia, ib = np.meshgrid(rows, cols, indexing="ij")
        return ia.ravel().astype(np.int64), ib.ravel().astype(np.int64)
    if isinstance(spec, (list, tuple)):
        pos = {nm: i for i, nm in enumerate(names)}
        ia, ib = [], []
        for k, p in enumerate(spec):
            if not (isinstance(p, (list, tuple)) and len(p) == 2):
                raise ValueError(f"pairs[{k}] must be a pair of system names; got {p!r}")
            for nm in p:
                if nm not in pos:
                    raise ValueError(f"pairs[{k}]: unknown system {nm!r}")
            ia.append(pos[p[0]])
            ib.append(pos[p[1]])
        if not ia:
            raise ValueError("pairs: the list of pairs is empty")
        return np.array(ia, dtype=np.int64), np.array(ib, dtype=np.int64)
    raise ValueError(f"pairs must be 'all', 'all_with_self', {{'rows', 'cols'}} or a list of pairs; got {type(spec).__name__}")


def _directed(m: Measure, index_pairs, both_ways: bool):
    """Add the reversed pairs for an asymmetric measure when all pairs were asked for."""
    ia, ib = index_pairs
    if both_ways and not m.symmetric:
        off = ia != ib
        return np.r_[ia, ib[off]], np.r_[ib, ia[off]]
    return ia, ib


def _select(sel: Any, names: Sequence[str], field_name: str) -> np.ndarray:
    patterns = [sel] if isinstance(sel, str) else sel
    if not isinstance(patterns, (list, tuple)) or not all(isinstance(p, str) for p in patterns):
        raise ValueError(f"{field_name} must be a name/pattern or a list of them")
    idx = [i for i, n in enumerate(names) if any(fnmatchcase(n, p) for p in patterns)]
    if not idx:
        raise ValueError(f"{field_name}: {patterns} matches no system")
    return np.array(idx, dtype=np.int64)


def _check_backend(backend: str, scheduler, client) -> str:
    if (scheduler is not None or client is not None) and backend in ("processes", None):
        backend = "dask"
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}; got {backend!r}")
    if backend != "dask" and (scheduler is not None or client is not None):
        raise ValueError(f"scheduler/client are for backend='dask', not {backend!r}")
    return backend


def _hash_and_record(st: Store, systems: list[Source], progress: bool) -> list[str]:
    hashes = hash_systems(_bar(systems, progress, "hashing systems", len(systems) > 50), st.file_hash)
    sigs = [(file_signature(s), h) for s, h in zip(systems, hashes)]
    st.record_file_hashes([(*sig, h) for sig, h in sigs if sig is not None])
    st.record_systems([s.name for s in systems], hashes, [s.source for s in systems])
    return hashes


# --------------------------------------------------------------------------- one measure
def _run_measure(st, ex, m: Measure, systems, hashes, index_pairs, summary, *, chunk_size,
                 cache_prepared, retry_failed, progress, memo_bytes) -> None:
    mkey = measure_key(m)
    st.record_measure(m)
    ca, cb = _canonical_pairs(m, hashes, *index_pairs)
    done, prev_failed = _stored_mask(st, mkey, hashes, ca, cb, retry_failed)
    summary.total += len(ca)
    summary.cached += int(done.sum())
    summary.previously_failed += prev_failed
    ca, cb = ca[~done], cb[~done]
    if len(ca) == 0:
        return
    bar = _bar(None, progress, f"{m.name} pairs", True, total=len(ca))
    payload: Callable[[int], Any] = lambda i: systems[i]  # noqa: E731
    expensive = _expensive(m, cache_prepared)
    if expensive:
        payload = _prepare_cached(st, ex, m, mkey, systems, hashes, np.unique(np.r_[ca, cb]), summary, progress)
    context = _WriteContext(m, mkey, systems, hashes, summary)
    try:
        memo = 0 if expensive else memo_bytes
        for result in ex.map(_run_chunk, _chunks(m, ca, cb, chunk_size, payload, hashes, memo)):
            st.write_results(context.rows(result["records"]))
            summary.prepared += result["prepared"]
            bar.update(len(result["records"]))
    finally:
        bar.close()


def _canonical_pairs(m: Measure, hashes: list[str], ia: np.ndarray, ib: np.ndarray):
    """Map each index to the first system with the same content; order symmetric pairs by
    hash; drop duplicate pairs."""
    first: dict[str, int] = {}
    canon = np.array([first.setdefault(h, i) for i, h in enumerate(hashes)], dtype=np.int64)
    ca, cb = canon[ia], canon[ib]
    if m.symmetric:
        rank = np.argsort(np.argsort(np.array(hashes, dtype=object), kind="stable"), kind="stable")
        swap = rank[ca] > rank[cb]
        ca, cb = np.where(swap, cb, ca), np.where(swap, ca, cb)
    n = len(hashes)
    _, keep = np.unique(ca * n + cb, return_index=True)
    keep.sort()
    return ca[keep], cb[keep]


def _stored_mask(st: Store, mkey: str, hashes, ca, cb, retry_failed: bool):
    n = len(hashes)
    first: dict[str, int] = {}
    for i, h in enumerate(hashes):
        first.setdefault(h, i)
    done_keys, failed = [], 0
    for ha, hb, status in st.stored_pairs(mkey):
        if ha in first and hb in first:
            if status == "failed" and retry_failed:
                continue
            done_keys.append(first[ha] * n + first[hb])
    done = np.isin(ca * n + cb, np.array(done_keys, dtype=np.int64))
    if not retry_failed:
        failed_keys = [first[ha] * n + first[hb] for ha, hb, s in st.stored_pairs(mkey)
                       if s == "failed" and ha in first and hb in first]
        failed = int(np.isin(ca * n + cb, np.array(failed_keys, dtype=np.int64)).sum())
    return done, failed


def _expensive(m: Measure, cache_prepared) -> bool:
    if cache_prepared != "auto":
        return bool(cache_prepared)
    declared = getattr(m, "expensive_prepare", None)
    if declared is not None:
        return bool(declared)
    return m.input == "trials"


# --------------------------------------------------------------------------- chunks
@dataclass
class _Chunk:
    measure: Measure
    items: dict  # system index -> Source (to load + prepare) or Prepared or _PrepareError
    pairs: list  # [(ia, ib), ...]
    hashes: dict = field(default_factory=dict)  # system index -> content hash (memo key)
    memo_bytes: int = 0  # budget of the worker's memo of prepared states


@dataclass(frozen=True)
class _PrepareError:
    message: str


def _chunks(m: Measure, ca, cb, chunk_size: int, payload, hashes=None, memo_bytes: int = 0) -> Iterator[_Chunk]:
    """Tiles of the pair list, as chunks of at most ``chunk_size`` pairs, built lazily."""
    side = max(1, int(np.ceil(np.sqrt(chunk_size))))
    ta, tb = ca // side, cb // side
    order = np.lexsort((cb, ca, tb, ta))
    ca, cb, ta, tb = ca[order], cb[order], ta[order], tb[order]
    starts = np.flatnonzero(np.r_[True, (ta[1:] != ta[:-1]) | (tb[1:] != tb[:-1])])
    ends = np.r_[starts[1:], len(ca)]
    for s, e in zip(starts, ends):
        for k in range(s, e, chunk_size):
            sl = slice(k, min(k + chunk_size, e))
            pairs = list(zip(ca[sl].tolist(), cb[sl].tolist()))
            need = sorted({i for p in pairs for i in p})
            keys = {i: hashes[i] for i in need} if hashes is not None else {}
            yield _Chunk(m, {i: payload(i) for i in need}, pairs, keys, memo_bytes)


def _run_chunk(chunk: _Chunk) -> dict:
    """Worker side: prepare the chunk's systems (or take them from this process's memo),
    then compare every pair. Returns {"records": [...], "prepared": fresh prepares}."""
    m = chunk.measure
    host = socket.gethostname()
    before = _MEMO.misses
    prepared = {i: _prepare_item(m, item, chunk.hashes.get(i), chunk.memo_bytes) for i, item in chunk.items.items()}
    out = []
    block = _try_block(m, chunk.pairs, prepared)
    for (ia, ib) in chunk.pairs:
        rec = {"ia": ia, "ib": ib, "host": host, "score": None, "extras": {}, "error": None}
        pa, pb = prepared[ia], prepared[ib]
        bad = pa if isinstance(pa, _PrepareError) else pb if isinstance(pb, _PrepareError) else None
        if bad is not None:
            rec.update(status="failed", error=bad.message, seconds=0.0)
        elif block is not None:
            value = block[0][(ia, ib)]
            if isinstance(value, Comparison):  # from a measure's compare_pairs: with extras
                rec.update(status="ok", score=float(value.score), extras=value.extras, seconds=block[1])
            else:
                rec.update(status="ok", score=value, seconds=block[1])
        else:
            t = time.perf_counter()
            try:
                c = m.compare_detailed(pa, pb)
                rec.update(status="ok", score=float(c.score), extras=c.extras)
            except Exception as exc:  # a failing pair is recorded, not fatal
                rec.update(status="failed", error=f"{type(exc).__name__}: {exc}")
            rec["seconds"] = time.perf_counter() - t
        out.append(rec)
    return {"records": out, "prepared": _MEMO.misses - before}


def _prepare_item(m: Measure, item, content: str | None = None, memo_bytes: int = 0) -> Prepared | _PrepareError:
    if isinstance(item, (Prepared, _PrepareError)):
        return item
    key = (content, m.key)
    if content is not None and memo_bytes > 0:
        hit = _MEMO.get(key)
        if hit is not None:
            return hit
    _MEMO.misses += 1
    try:
        p = m.prepare(item.load(), item.name)
    except Exception as exc:
        return _PrepareError(f"preparing system '{item.name}' failed: {type(exc).__name__}: {exc}")
    if content is not None and memo_bytes > 0:
        _MEMO.put(key, p, _nbytes(p.state), memo_bytes)
    return p


class _Memo:
    """This process's LRU memo of prepared states, keyed by (content hash, measure key),
    bounded in bytes. It lets a worker reuse a system's state across the chunks it runs."""

    def __init__(self) -> None:
        self.states: OrderedDict = OrderedDict()
        self.bytes = 0
        self.misses = 0

    def get(self, key):
        if key in self.states:
            self.states.move_to_end(key)
            return self.states[key][0]
        return None

    def put(self, key, value, size: int, budget: int) -> None:
        if size > budget:
            return
        while self.states and self.bytes + size > budget:
            _, (_, old) = self.states.popitem(last=False)
            self.bytes -= old
        self.states[key] = (value, size)
        self.bytes += size

    def clear(self) -> None:
        self.states.clear()
        self.bytes = 0


_MEMO = _Memo()


def _nbytes(obj, depth: int = 0) -> int:
    """Approximate memory of a prepared state: the arrays it holds (dataclasses, tuples,
    lists, dicts walked a few levels deep)."""
    if isinstance(obj, np.ndarray):
        return obj.nbytes
    if depth > 3:
        return 0
    if is_dataclass(obj):
        return sum(_nbytes(getattr(obj, f.name), depth + 1) for f in fields(obj)) + 64
    if isinstance(obj, (tuple, list)):
        return sum(_nbytes(v, depth + 1) for v in obj) + 64
    if isinstance(obj, dict):
        return sum(_nbytes(v, depth + 1) for v in obj.values()) + 64
    if hasattr(obj, "__dict__"):
        return sum(_nbytes(v, depth + 1) for v in vars(obj).values()) + 64
    return 64


def _try_block(m: Measure, pairs: list, prepared: dict):
    """Scores of the chunk from one vectorised ``compare_many`` call, when the measure has
    one and every system prepared; None to compare pair by pair (which also pinpoints a
    failing pair). Extras are not available from a block, so they are empty. A measure with a
    ``compare_pairs(prepared, pairs)`` hook (DSA's amortised search: the chunk's pairs share their
    solutions) scores exactly the chunk's pairs, with extras."""
    if len(pairs) < 2 or any(isinstance(p, _PrepareError) for p in prepared.values()):
        return None
    hook = getattr(m, "compare_pairs", None)
    if callable(hook):
        t = time.perf_counter()
        try:
            found = hook(prepared, pairs)
        except Exception:
            found = None  # the per-pair path records the failing pair
        if found is not None and all(np.isfinite(c.score) for c in found.values()):
            return found, (time.perf_counter() - t) / len(pairs)
    if type(m)._compare_many is Measure._compare_many or len(pairs) < 4:
        return None
    rows = sorted({a for a, _ in pairs})
    cols = sorted({b for _, b in pairs})
    t = time.perf_counter()
    try:
        M = m.compare_many([prepared[i] for i in rows], [prepared[j] for j in cols])
    except Exception:
        return None
    if not np.all(np.isfinite(M)):
        return None  # let the per-pair path produce the exact per-pair outcome
    per_pair = (time.perf_counter() - t) / len(pairs)
    ri = {a: k for k, a in enumerate(rows)}
    cj = {b: k for k, b in enumerate(cols)}
    return {(a, b): float(M[ri[a], cj[b]]) for a, b in pairs}, per_pair


class _WriteContext:
    """Turns worker records into store rows (names, hashes, version, timestamp)."""

    def __init__(self, m: Measure, mkey: str, systems, hashes, summary: SweepSummary) -> None:
        from .. import __version__

        self.m, self.mkey, self.systems, self.hashes, self.summary = m, mkey, systems, hashes, summary
        self.params = canonical_json(m.params)
        self.version = __version__

    def rows(self, records: list[dict]) -> list[dict]:
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        rows = []
        for r in records:
            a, b = self.systems[r["ia"]].name, self.systems[r["ib"]].name
            self.summary.computed += 1
            if r["status"] == "failed":
                self.summary.failed += 1
                self.summary.failures.append({"measure": self.m.name, "system_a": a, "system_b": b, "error": r["error"]})
            rows.append({
                "hash_a": self.hashes[r["ia"]], "hash_b": self.hashes[r["ib"]], "measure_key": self.mkey,
                "measure": self.m.name, "params": self.params, "name_a": a, "name_b": b,
                "score": r["score"], "extras": canonical_json(to_jsonable(r["extras"])),
                "status": r["status"], "error": r["error"], "seconds": r["seconds"],
                "version": self.version, "host": r["host"], "timestamp": now,
            })
        return rows


# --------------------------------------------------------------------------- prepared cache
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
                _atomic_write(_cache_path(st.path, mkey, hashes[i]), state)
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
                _atomic_write(path, statefile.dumps(state))
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


def _atomic_write(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


# --------------------------------------------------------------------------- backends
class _Executor:
    """``map(fn, tasks)`` yielding results as tasks complete, on the chosen backend."""

    def __init__(self, backend: str, n_jobs: int | None, scheduler: str | None, client: Any) -> None:
        self.backend, self.n_jobs, self.scheduler = backend, n_jobs, scheduler
        self.client, self._own_client = client, False

    def __enter__(self) -> "_Executor":
        if self.backend == "dask" and self.client is None:
            self.client = _dask_client(self.scheduler)
            self._own_client = True
        return self

    def __exit__(self, *exc) -> None:
        if self._own_client:
            self.client.close()

    def map(self, fn: Callable, tasks: Iterable) -> Iterator:
        if self.backend == "serial":
            return (fn(t) for t in tasks)
        if self.backend == "processes":
            return self._loky(fn, tasks)
        return self._dask(fn, tasks)

    def _loky(self, fn, tasks):
        from joblib import Parallel, delayed

        n_jobs = self.n_jobs or os.cpu_count() or 1
        par = Parallel(n_jobs=n_jobs, backend="loky", return_as="generator_unordered", pre_dispatch="2*n_jobs")
        return par(delayed(fn)(t) for t in tasks)

    def _dask(self, fn, tasks):
        from distributed import as_completed

        workers = max(1, sum(self.client.nthreads().values()))
        it = iter(tasks)
        pending = as_completed()
        for t in _take(it, 2 * workers):
            pending.add(self.client.submit(fn, t, pure=False))
        for fut in pending:
            result = fut.result()
            fut.release()
            for t in _take(it, 1):
                pending.add(self.client.submit(fn, t, pure=False))
            yield result


def _take(it: Iterator, k: int) -> list:
    out = []
    for _ in range(k):
        try:
            out.append(next(it))
        except StopIteration:
            break
    return out


def _dask_client(scheduler: str | None):
    try:
        from distributed import Client
    except ImportError:
        raise ValueError("backend='dask' needs dask.distributed: pip install 'repalign[cluster]'") from None
    if scheduler is None:
        raise ValueError("backend='dask' needs scheduler='tcp://host:8786' or client=Client(...)")
    try:
        return Client(scheduler)  # connect timeout: dask config distributed.comm.timeouts.connect
    except (OSError, TimeoutError) as exc:
        raise ValueError(f"scheduler: cannot connect to the Dask scheduler at {scheduler} ({exc})") from None


def _bar(iterable, progress: bool, desc: str, show: bool, total: int | None = None):
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, disable=not (progress and show), leave=False)
