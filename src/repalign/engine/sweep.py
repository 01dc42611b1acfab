"""Running a sweep: many systems x measures x pairs into a results store.

The sweep is split by concern: planning (measures, pairs, chunks) in :mod:`.plan`, the worker
side in :mod:`.workers`, the backends in :mod:`.executor` and the prepared-state cache in
:mod:`.prepared_cache`; this module runs them and writes the results.

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
  :attr:`Measure.key`), bounded by ``memo_mb`` (default 512 MiB), so while the states fit a
  process prepares each system once (the serial backend: once in all; ``n_jobs`` workers:
  at most ``n_jobs`` times). Beyond the budget a system is prepared again in each chunk
  that needs it (at most ``2 N / b`` times), which costs about one compare per prepare;
  shipping raw data is no dearer than shipping prepared states (for CKA the state is the
  centred data), and nothing grows with N.
* Expensive measures (``cache_prepared="auto"``: a measure whose class sets
  ``expensive_prepare = True``, or, when it leaves it None, any ``input == "trials"`` measure, i.e. the DMD-based
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

import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

import numpy as np

from .. import __version__
from .._validation import check_choice, check_scalar
from ..registry import Measure
from .executor import BACKENDS, _bar, _check_backend, _dask_client, _Executor
from .plan import (_canonical_pairs, _chunks, _directed, _expensive, _stored_mask, normalise_measures,
                   resolve_pairs)
from .prepared_cache import _cache_path, _prepare_cached, cache_dir
from .sources import Source, file_signature, hash_systems, resolve_systems
from .store import Store, canonical_json
from .workers import _MEMO, _run_chunk

# Names kept importable from here (tests, studies and users import them from engine.sweep).
__all__ = ["BACKENDS", "SweepSummary", "sweep", "normalise_measures", "resolve_pairs", "cache_dir",
           "_cache_path", "_canonical_pairs", "_chunks", "_dask_client", "_Executor"]


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
    chunk_size = check_scalar(chunk_size, "chunk_size", int, min_val=1)
    memo_mb = check_scalar(memo_mb, "memo_mb", float, min_val=0)
    check_choice(cache_prepared, "cache_prepared", ("auto", True, False))
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



def _hash_and_record(st: Store, systems: list[Source], progress: bool) -> list[str]:
    hashes = hash_systems(_bar(systems, progress, "hashing systems", len(systems) > 50), st.file_hash)
    sigs = [(file_signature(s), h) for s, h in zip(systems, hashes)]
    st.record_file_hashes([(*sig, h) for sig, h in sigs if sig is not None])
    st.record_systems([s.name for s in systems], hashes, [s.source for s in systems])
    return hashes


# --------------------------------------------------------------------------- one measure
def _run_measure(st, ex, m: Measure, systems, hashes, index_pairs, summary, *, chunk_size,
                 cache_prepared, retry_failed, progress, memo_bytes) -> None:
    mkey = m.key
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



class _WriteContext:
    """Turns worker records into store rows (names, hashes, version, timestamp)."""

    def __init__(self, m: Measure, mkey: str, systems, hashes, summary: SweepSummary) -> None:
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
                "score": r["score"], "extras": canonical_json(r["extras"]),
                "status": r["status"], "error": r["error"], "seconds": r["seconds"],
                "version": self.version, "host": r["host"], "timestamp": now,
            })
        return rows

