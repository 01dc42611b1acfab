"""Worker side of the sweep engine: prepare a chunk's systems (or take them from this
process's memo of prepared states), then score every pair of the chunk.

A chunk carries the sources of its systems (a path, which the worker reads itself, or the array)
or, for measures whose prepare is cached on disk, their prepared states. Each process keeps an
LRU memo of prepared states keyed by (content hash, :attr:`Measure.key`), bounded in bytes, so
while the states fit a process prepares each system once.
"""

from __future__ import annotations

import socket
import time
from collections import OrderedDict
from dataclasses import dataclass, field, fields, is_dataclass

import numpy as np

from ..registry import Comparison, Measure, Prepared


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
    one (:attr:`Measure.has_block`) and every system prepared; None to compare pair by pair
    (which also pinpoints a failing pair). Extras are not available from a block, so they are
    empty. A measure whose ``compare_pairs(prepared, pairs)`` hook answers (DSA's amortised
    search: the chunk's pairs share their solutions) scores exactly the chunk's pairs, with extras."""
    if len(pairs) < 2 or any(isinstance(p, _PrepareError) for p in prepared.values()):
        return None
    t = time.perf_counter()
    try:
        found = m.compare_pairs(prepared, pairs)
    except Exception:
        found = None  # the per-pair path records the failing pair
    if found is not None and all(np.isfinite(c.score) for c in found.values()):
        return found, (time.perf_counter() - t) / len(pairs)
    if not m.has_block or len(pairs) < 4:
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
