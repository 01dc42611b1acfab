"""Reading a results store back: a tidy table and labelled matrices."""

from __future__ import annotations

import json
import os
import sqlite3
from typing import Sequence

import numpy as np

from ..registry import get_measure
from .store import Store

TABLE_COLUMNS = [
    "system_a", "system_b", "measure", "params", "score", "status", "error", "extras",
    "seconds", "hash_a", "hash_b", "measure_key", "version", "host", "timestamp",
]


def load(db: str | os.PathLike) -> "Results":
    """Open a results database written by :func:`repalign.engine.sweep`.

    Raises ValueError if ``db`` does not exist or is not a repalign results database.
    """
    import pandas as pd  # lazy: 1.2 s, for reading results only

    with Store.open_existing(db) as store:
        try:
            raw = pd.read_sql_query("SELECT * FROM results ORDER BY id", store.conn)
            systems = pd.read_sql_query("SELECT name, hash, source, position FROM systems ORDER BY position",
                                        store.conn)
            measures = pd.read_sql_query("SELECT * FROM measures", store.conn)
        except (sqlite3.DatabaseError, pd.errors.DatabaseError) as exc:
            raise ValueError(f"store {os.fspath(db)} cannot be read ({exc})") from None
    return Results(raw, systems, os.fspath(db), measures)


class Results:
    """Results of one store.

    ``raw`` is the stored table (one row per pair of *contents* and measure, with the names
    the systems had when it was computed). ``table`` is the tidy view by *current* system
    names: every stored row joined with every name that now has each content hash (so two
    names with identical data both get their rows). Rows whose systems no longer have a name
    (a file that changed since) stay in ``raw`` only.
    """

    def __init__(self, raw, systems, path: str = "", measure_info=None) -> None:
        self.raw = raw
        self.systems = systems
        self.measure_info = measure_info
        self.path = path
        self.table = self._tidy()

    def _tidy(self):
        import pandas as pd

        names = self.systems[["name", "hash", "position"]]
        t = self.raw.merge(names.rename(columns={"name": "system_a", "hash": "hash_a", "position": "_pa"}), on="hash_a")
        t = t.merge(names.rename(columns={"name": "system_b", "hash": "hash_b", "position": "_pb"}), on="hash_b")
        t = t.sort_values(["measure_key", "_pa", "_pb"], kind="stable")
        t["score"] = pd.to_numeric(t["score"], errors="coerce").astype(float)
        return t[TABLE_COLUMNS].reset_index(drop=True)

    def __len__(self) -> int:
        return len(self.table)

    def __repr__(self) -> str:
        keys = self.table["measure_key"].nunique()
        return f"Results({self.path!r}: {len(self.table)} rows, {keys} measure setting(s))"

    @property
    def measures(self) -> list[str]:
        """The distinct measure keys (name + parameters as canonical JSON)."""
        return sorted(self.table["measure_key"].unique())

    def select(self, measure: str, params: dict | None = None):
        """Rows of one measure; ``params`` picks a setting when the store holds several."""
        t = self.table[self.table["measure"] == measure]
        if params:
            keep = t["params"].map(lambda s: all(json.loads(s).get(k) == v for k, v in params.items()))
            t = t[keep]
        keys = t["measure_key"].unique()
        if len(keys) == 0:
            raise ValueError(f"measure: no results for {measure!r}" + (f" with {params}" if params else "")
                             + f"; stored: {sorted(self.table['measure'].unique())}")
        if len(keys) > 1:
            raise ValueError(f"measure {measure!r} has {len(keys)} parameter settings in the store; "
                             f"pass params= to pick one of {[json.loads(k)['params'] for k in keys]}")
        return t

    def matrix(self, measure: str, params: dict | None = None, systems: Sequence[str] | None = None,
               symmetric: bool | None = None):
        """Labelled (systems x systems) DataFrame of scores of one measure.

        Rows are ``system_a`` and columns ``system_b``; for symmetric measures each score is
        mirrored. Missing and failed pairs are NaN. ``systems`` fixes the order (default:
        the order systems were first seen).
        """
        import pandas as pd

        t = self.select(measure, params)
        if symmetric is None:
            symmetric = bool(self.info(t["measure_key"].iloc[0]).get("symmetric", True))
        order = list(systems) if systems is not None else _seen_order(t, self.systems)
        unknown = sorted(set(order) - set(self.systems["name"]))
        if unknown:
            raise ValueError(f"systems: unknown system name(s) {unknown}")
        pos = {n: i for i, n in enumerate(order)}
        M = np.full((len(order), len(order)), np.nan)
        ok = t[t["status"] == "ok"]
        for a, b, s in zip(ok["system_a"], ok["system_b"], ok["score"]):
            if a in pos and b in pos:
                M[pos[a], pos[b]] = s
                if symmetric:
                    M[pos[b], pos[a]] = s
        return pd.DataFrame(M, index=pd.Index(order, name="system_a"), columns=pd.Index(order, name="system_b"))

    def info(self, mkey: str) -> dict:
        """Stored metadata of a measure key: kind, symmetric, range_low, range_high."""
        if self.measure_info is not None:
            rows = self.measure_info[self.measure_info["measure_key"] == mkey]
            if len(rows):
                return rows.iloc[0].to_dict()
        return _registry_info(mkey)

    def to_csv(self, path: str | os.PathLike, **kwargs) -> None:
        self.table.to_csv(path, index=False, **kwargs)

    def to_parquet(self, path: str | os.PathLike, **kwargs) -> None:
        try:
            self.table.to_parquet(path, index=False, **kwargs)
        except ImportError as exc:
            raise ValueError(f"writing parquet needs pyarrow: pip install 'repalign[parquet]' ({exc})") from None


def _seen_order(t, systems) -> list[str]:
    used = set(t["system_a"]) | set(t["system_b"])
    return [n for n in systems["name"] if n in used]


def _registry_info(mkey: str) -> dict:
    """Metadata from the registry, for stores written before the measures table existed."""
    spec = json.loads(mkey)
    try:
        m = get_measure(spec["measure"])
    except ValueError:
        return {"kind": "similarity", "symmetric": True, "range_low": None, "range_high": 1.0}
    return {"kind": m.kind, "symmetric": m.symmetric, "range_low": m.range[0], "range_high": m.range[1]}
