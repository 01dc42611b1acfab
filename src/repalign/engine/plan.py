"""Planning a sweep: which measures, which pairs, which of them are missing, and in which chunks.

1. Measures are normalised to instances, one per :attr:`Measure.key`.
2. For each measure, the requested pairs are put in canonical form (for symmetric measures the
   system with the smaller content hash first), de-duplicated, and those already in the store are
   dropped: re-running computes only what is missing.
3. The missing pairs are grouped into *tiles* (row block x column block of the system list,
   ``b = ceil(sqrt(chunk_size))`` systems per side) and tiles into chunks of at most ``chunk_size``
   pairs. A chunk needs at most ``2 b`` systems, so a worker's memory is bounded whatever N is.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any, Iterator, Sequence

import numpy as np

from ..registry import Measure, get_measure
from .store import Store
from .workers import _Chunk


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
        if m.key not in keys:
            keys.add(m.key)
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
    if m.expensive_prepare is not None:
        return bool(m.expensive_prepare)
    return m.input == "trials"


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

