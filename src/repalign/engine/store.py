"""The results store: one SQLite file in WAL mode.

Tables
------
``meta``         format marker and schema version (how a repalign store is recognised).
``results``      one row per (hash_a, hash_b, measure_key), UNIQUE: the content hashes of the
                 two systems and the canonical JSON of the measure and its parameters. For
                 symmetric measures ``hash_a <= hash_b`` (canonical order). Columns: system
                 names when computed, score, extras (JSON), status ('ok' / 'failed'), error,
                 seconds (compare time of the pair), library version, host, UTC timestamp.
``systems``      current name -> content hash (and source) of every system a sweep has seen.
``measures``     measure_key -> name, parameters, kind, symmetric, range (so results can be
                 read without the measure being registered).
``file_hashes``  (path, key, size, mtime_ns) -> content hash, so unchanged files are not
                 re-read to be hashed on a re-run.

Crash safety: each completed chunk of pairs is written in one short transaction by the
client process only. With WAL and ``synchronous=NORMAL`` a committed transaction survives
the writing process being killed (SIGKILL); a power loss can lose the last few commits
but never corrupts the file. Rows are inserted with ``ON CONFLICT DO NOTHING`` for 'ok'
rows, so replays never duplicate; a 'failed' row is replaced only by a retry.
"""

from __future__ import annotations

import math
import os
import sqlite3
from typing import Iterable


from .._serialize import canonical_json

FORMAT = "repalign-results"
SCHEMA_VERSION = 1
_SQLITE_MAGIC = b"SQLite format 3\x00"

RESULT_COLUMNS = (
    "hash_a", "hash_b", "measure_key", "measure", "params", "name_a", "name_b", "score",
    "extras", "status", "error", "seconds", "version", "host", "timestamp",
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY,
    hash_a TEXT NOT NULL, hash_b TEXT NOT NULL, measure_key TEXT NOT NULL,
    measure TEXT NOT NULL, params TEXT NOT NULL,
    name_a TEXT, name_b TEXT,
    score REAL, extras TEXT,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed')), error TEXT,
    seconds REAL, version TEXT, host TEXT, timestamp TEXT,
    UNIQUE (hash_a, hash_b, measure_key)
);
CREATE TABLE IF NOT EXISTS systems (
    name TEXT PRIMARY KEY, hash TEXT NOT NULL, source TEXT, position INTEGER
);
CREATE TABLE IF NOT EXISTS measures (
    measure_key TEXT PRIMARY KEY, measure TEXT NOT NULL, params TEXT NOT NULL, kind TEXT,
    symmetric INTEGER, range_low REAL, range_high REAL
);
CREATE TABLE IF NOT EXISTS file_hashes (
    path TEXT NOT NULL, key TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    hash TEXT NOT NULL, PRIMARY KEY (path, key)
);
"""


# --------------------------------------------------------------------------- canonical JSON
def measure_key(measure) -> str:
    """Canonical form of a measure and all its parameters (defaults included): its
    :attr:`~repalign.registry.Measure.key`, ``{"measure": name, "params": {...}}`` as canonical JSON."""
    return measure.key


# --------------------------------------------------------------------------- the store
class Store:
    """An open results database. Use :meth:`open` (creates) or :meth:`open_existing`."""

    def __init__(self, path: str, conn: sqlite3.Connection) -> None:
        self.path = path
        self.conn = conn

    @classmethod
    def open(cls, path: str | os.PathLike, create: bool = True) -> "Store":
        path = os.fspath(path)
        if os.path.isdir(path):
            raise ValueError(f"store {path} is a directory; give a file path such as {os.path.join(path, 'results.db')}")
        exists = os.path.exists(path) and os.path.getsize(path) > 0
        if not exists and not create:
            raise ValueError(f"no results database at {path}")
        if exists:
            _check_sqlite_file(path)
        if not exists:
            parent = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(parent):
                raise ValueError(f"store: directory {parent} does not exist")
        conn = sqlite3.connect(path, timeout=60.0, isolation_level=None)
        try:
            _init(conn, path, create)
        except BaseException:
            conn.close()
            raise
        return cls(path, conn)

    @classmethod
    def open_existing(cls, path: str | os.PathLike) -> "Store":
        return cls.open(path, create=False)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ writes
    def write_results(self, rows: Iterable[dict]) -> int:
        """Insert result rows in one transaction; returns how many were written."""
        cols = ", ".join(RESULT_COLUMNS)
        marks = ", ".join("?" for _ in RESULT_COLUMNS)
        updates = ", ".join(f"{c} = excluded.{c}" for c in RESULT_COLUMNS[3:])
        sql = (
            f"INSERT INTO results ({cols}) VALUES ({marks}) "
            f"ON CONFLICT (hash_a, hash_b, measure_key) DO UPDATE SET {updates} "
            "WHERE results.status = 'failed'"
        )
        values = [tuple(r[c] for c in RESULT_COLUMNS) for r in rows]
        with self._transaction():
            self.conn.executemany(sql, values)
        return len(values)

    def record_systems(self, names: list[str], hashes: list[str], sources: list[str]) -> None:
        with self._transaction():
            start = self.conn.execute("SELECT COALESCE(MAX(position), -1) + 1 FROM systems").fetchone()[0]
            self.conn.executemany(
                "INSERT INTO systems (name, hash, source, position) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET hash = excluded.hash, source = excluded.source",
                [(n, h, s, start + i) for i, (n, h, s) in enumerate(zip(names, hashes, sources))],
            )

    def record_measure(self, measure) -> None:
        lo, hi = (float(v) for v in measure.range)
        with self._transaction():
            self.conn.execute(
                "INSERT OR REPLACE INTO measures (measure_key, measure, params, kind, symmetric, range_low, range_high) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (measure_key(measure), measure.name, canonical_json(measure.params), measure.kind,
                 int(bool(measure.symmetric)), lo if math.isfinite(lo) else None, hi if math.isfinite(hi) else None),
            )

    def record_file_hashes(self, entries: list[tuple]) -> None:
        """entries: (path, key, size, mtime_ns, hash)."""
        with self._transaction():
            self.conn.executemany(
                "INSERT OR REPLACE INTO file_hashes (path, key, size, mtime_ns, hash) VALUES (?, ?, ?, ?, ?)",
                entries,
            )

    def _transaction(self):
        return _Transaction(self.conn)

    # ------------------------------------------------------------------ reads
    def file_hash(self, signature: tuple) -> str | None:
        path, key, size, mtime = signature
        row = self.conn.execute(
            "SELECT hash FROM file_hashes WHERE path = ? AND key = ? AND size = ? AND mtime_ns = ?",
            (path, key, size, mtime),
        ).fetchone()
        return row[0] if row else None

    def stored_pairs(self, mkey: str, include_failed: bool = True) -> Iterable[tuple[str, str, str]]:
        """(hash_a, hash_b, status) of the stored rows of one measure key, streamed."""
        sql = "SELECT hash_a, hash_b, status FROM results WHERE measure_key = ?"
        if not include_failed:
            sql += " AND status = 'ok'"
        return self.conn.execute(sql, (mkey,))

    def count(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM results").fetchone()[0]


class _Transaction:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self):
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")


def _check_sqlite_file(path: str) -> None:
    with open(path, "rb") as f:
        head = f.read(len(_SQLITE_MAGIC))
    if head != _SQLITE_MAGIC:
        raise ValueError(
            f"store {path} is not a repalign results database (not an SQLite file); "
            "choose another path or remove it"
        )


def _init(conn: sqlite3.Connection, path: str, create: bool) -> None:
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables:
            _check_meta(conn, path, tables)
    except sqlite3.DatabaseError as exc:
        raise ValueError(f"store {path} is not a readable repalign results database ({exc})") from None
    if tables:
        _check_integrity(conn, path)
    elif not create:
        raise ValueError(f"store {path} is an empty database, not a repalign results database")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.executescript(_SCHEMA)  # idempotent; adds tables missing from older stores
    if not tables:
        with _Transaction(conn):
            conn.executemany(
                "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
                [("format", FORMAT), ("schema_version", str(SCHEMA_VERSION))],
            )


def _check_integrity(conn: sqlite3.Connection, path: str) -> None:
    """``PRAGMA quick_check`` (reads every page once): a store whose header is intact but whose
    pages are damaged is refused here, with its name, rather than failing midway through a sweep."""
    try:
        problems = [r[0] for r in conn.execute("PRAGMA quick_check(3)")]
    except sqlite3.DatabaseError as exc:
        problems = [str(exc)]
    if problems != ["ok"]:
        detail = " ".join("; ".join(problems).split())[:200]
        raise ValueError(f"store {path} is damaged ({detail}); restore it from a backup, "
                         "or move it away and re-run (results are recomputed)")


def _check_meta(conn: sqlite3.Connection, path: str, tables: set) -> None:
    fmt = None
    if "meta" in tables:
        row = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        fmt = row[0] if row else None
    if fmt != FORMAT:
        raise ValueError(
            f"store {path} is an SQLite database but not a repalign results database "
            f"(tables: {', '.join(sorted(tables))}); choose another path"
        )
    version = int(conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise ValueError(
            f"store {path} has schema version {version}; this repalign reads up to {SCHEMA_VERSION}: upgrade repalign"
        )
