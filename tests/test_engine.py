"""The pairwise engine: sources, store, sweep planning/backends, results, config."""

from __future__ import annotations

import os
import sqlite3

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import repalign
from repalign.engine import Store, content_hash, load, resolve_systems, sweep
from repalign.engine.config import ConfigError, run_config, validate_config
from repalign.engine.sweep import _canonical_pairs, _chunks, cache_dir, resolve_pairs
from repalign.geometry.cka import CKA
from _helpers import toy_measures


# --------------------------------------------------------------------------- test measures
class _FailOnPair(CKA):
    """CKA that raises on the one pair whose systems are tagged 1.5 and 2.5 at X[0, 0]."""

    name = "_test_fail_on_pair"

    def _prepare(self, X):
        return (float(X[0, 0]), super()._prepare(X))

    def _compare(self, a, b):
        if sorted((a[0], b[0])) == [1.5, 2.5]:
            raise RuntimeError("boom on the tagged pair")
        return super()._compare(a[1], b[1])


class _AsymCKA(CKA):
    """An asymmetric test measure: CKA plus the first entry of the first system."""

    name = "_test_asym_cka"
    symmetric = False

    def _prepare(self, X):
        return (float(X[0, 0]), super()._prepare(X))

    def _compare(self, a, b):
        return super()._compare(a[1], b[1]) + a[0]

    def _compare_many(self, A, B, symmetric=False):
        return None


PREPARE_CALLS: list = []


class _CountingCKA(CKA):
    """CKA that records every prepare in this process and declares itself expensive."""

    name = "_test_counting_cka"
    expensive_prepare = True

    def _prepare(self, X):
        PREPARE_CALLS.append(X.shape)
        return super()._prepare(X)


@pytest.fixture(scope="module", autouse=True)
def _registered_toys():
    """The toy measures above, registered for this module's tests only (tests/conftest.py checks)."""
    with toy_measures(_FailOnPair, _AsymCKA, _CountingCKA):
        yield


def _systems(n=6, samples=15, features=4, seed=0):
    rng = np.random.default_rng(seed)
    return {f"s{i}": rng.standard_normal((samples, features)) for i in range(n)}


def _scores(table):
    t = table.sort_values(["system_a", "system_b"]).reset_index(drop=True)
    return t[["system_a", "system_b", "status", "score"]]


def _assert_same_scores(t1, t2):
    a, b = _scores(t1), _scores(t2)
    assert a[["system_a", "system_b", "status"]].equals(b[["system_a", "system_b", "status"]])
    np.testing.assert_allclose(a["score"].to_numpy(), b["score"].to_numpy(), rtol=1e-12, atol=1e-15)


# --------------------------------------------------------------------------- core behaviour
def test_serial_sweep_matches_pairwise_and_rerun_computes_nothing(tmp_path):
    S = _systems(7)
    db = tmp_path / "r.db"
    s1 = sweep(S, "cka", db, backend="serial", chunk_size=4, progress=False)
    assert (s1.total, s1.computed, s1.cached, s1.failed) == (21, 21, 0, 0)
    res = load(db)
    M = res.matrix("cka")
    assert list(M.index) == list(S) == list(M.columns)
    ref = repalign.pairwise(list(S.values()), "cka")
    off = ~np.eye(7, dtype=bool)
    np.testing.assert_allclose(M.to_numpy()[off], ref[off], rtol=1e-12)
    assert np.isnan(np.diag(M.to_numpy())).all()  # "all" excludes self-pairs

    s2 = sweep(S, "cka", db, backend="serial", progress=False)
    assert (s2.computed, s2.cached) == (0, 21)
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 21
        assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_processes_backend_equals_serial_and_records_failing_pair(tmp_path):
    S = _systems(6)
    S["s1"][0, 0], S["s4"][0, 0] = 1.5, 2.5
    ser = sweep(S, [{"name": "_test_fail_on_pair"}], tmp_path / "a.db", backend="serial", progress=False)
    par = sweep(S, [{"name": "_test_fail_on_pair"}], tmp_path / "b.db", backend="processes", n_jobs=2,
                chunk_size=4, progress=False)
    assert ser.prepared == 6 and 6 <= par.prepared <= 12  # once per system per worker (memo)
    for s in (ser, par):
        assert (s.computed, s.failed) == (15, 1)
        (f,) = s.failures
        assert {f["system_a"], f["system_b"]} == {"s1", "s4"}
        assert "RuntimeError: boom on the tagged pair" in f["error"]
        assert "boom" in str(s)
    _assert_same_scores(load(tmp_path / "a.db").table, load(tmp_path / "b.db").table)
    t = load(tmp_path / "b.db").table
    bad = t[t.status == "failed"]
    assert len(bad) == 1 and np.isnan(bad.score.iloc[0]) and "boom" in bad.error.iloc[0]
    assert t[t.status == "ok"].error.isna().all()
    M = load(tmp_path / "b.db").matrix("_test_fail_on_pair")
    assert np.isnan(M.loc["s1", "s4"]) and np.isnan(M.loc["s4", "s1"]) and np.isfinite(M.loc["s1", "s2"])

    again = sweep(S, "_test_fail_on_pair", tmp_path / "b.db", backend="serial", progress=False)
    assert (again.computed, again.cached, again.previously_failed) == (0, 15, 1)
    retry = sweep(S, "_test_fail_on_pair", tmp_path / "b.db", backend="serial", retry_failed=True, progress=False)
    assert (retry.computed, retry.failed) == (1, 1)
    assert len(load(tmp_path / "b.db").table) == 15


def test_caller_arrays_not_mutated(tmp_path):
    S = _systems(4)
    S["t"] = np.asfortranarray(np.random.default_rng(1).standard_normal((15, 4)).astype(np.float32))
    before = {k: v.copy() for k, v in S.items()}
    sweep(S, ["cka", "cka_angular"], tmp_path / "r.db", backend="serial", progress=False)
    for k in S:
        assert S[k].dtype == before[k].dtype
        np.testing.assert_array_equal(S[k], before[k])


def test_identical_content_computed_once_and_named_twice(tmp_path):
    S = _systems(3)
    S["copy_of_s0"] = S["s0"].copy()
    s = sweep(S, "cka", tmp_path / "r.db", backend="serial", progress=False)
    # pairs: 6 requested; (s0, copy) is a self-pair of one content; (s1, copy) == (s0, s1) ...
    assert s.total == 4 and s.computed == 4
    M = load(tmp_path / "r.db").matrix("cka")
    assert M.loc["copy_of_s0", "s2"] == M.loc["s0", "s2"]
    assert M.loc["s0", "copy_of_s0"] == pytest.approx(1.0, abs=1e-12)


def test_pairs_rows_cols_and_explicit_list(tmp_path):
    S = _systems(5)
    names = list(S)
    ia, ib = resolve_pairs({"rows": ["s0", "s1"], "cols": "s[34]"}, names)
    assert sorted(zip(ia.tolist(), ib.tolist())) == [(0, 3), (0, 4), (1, 3), (1, 4)]
    sweep(S, "cka", tmp_path / "r.db", pairs=[("s2", "s0"), ("s0", "s2"), ("s1", "s1")], backend="serial",
          progress=False)
    t = load(tmp_path / "r.db").table
    assert len(t) == 2  # the symmetric duplicate is stored once
    self_row = t[(t.system_a == "s1") & (t.system_b == "s1")]
    assert self_row.score.iloc[0] == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ValueError, match=r"pairs\[0\]: unknown system 'nope'"):
        resolve_pairs([("nope", "s0")], names)
    with pytest.raises(ValueError, match="pairs.rows"):
        resolve_pairs({"rows": "zz*", "cols": "s0"}, names)


def test_asymmetric_measure_gets_both_orders(tmp_path):
    S = _systems(4)
    s = sweep(S, "_test_asym_cka", tmp_path / "r.db", backend="serial", progress=False)
    assert s.total == 12  # every ordered pair i != j
    res = load(tmp_path / "r.db")
    info = res.measure_info.set_index("measure").loc["_test_asym_cka"]
    assert info.symmetric == 0 and info.kind == "similarity"  # stored: readable without the registry
    M = res.matrix("_test_asym_cka")
    for a in S:
        for b in S:
            if a != b:
                ref = repalign.compare(S[a], S[b], "cka") + S[a][0, 0]
                assert M.loc[a, b] == pytest.approx(ref, rel=1e-12)


def test_asymmetric_measure_keeps_order(tmp_path):
    class _Asym(CKA):
        name = "_asym_local"
        symmetric = False

    m = _Asym()
    hashes = ["b", "a", "c"]
    ca, cb = _canonical_pairs(m, hashes, np.array([0, 1]), np.array([1, 0]))
    assert sorted(zip(ca.tolist(), cb.tolist())) == [(0, 1), (1, 0)]
    ca, cb = _canonical_pairs(CKA(), hashes, np.array([0, 1]), np.array([1, 0]))
    assert list(zip(ca.tolist(), cb.tolist())) == [(1, 0)]  # hash 'a' first


# --------------------------------------------------------------------------- chunking property
@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 25), chunk=st.integers(1, 40), self_pairs=st.booleans())
def test_chunks_cover_every_pair_once_with_bounded_systems(n, chunk, self_pairs):
    ia, ib = np.triu_indices(n, 0 if self_pairs else 1)
    expected = set(zip(ia.tolist(), ib.tolist()))
    seen = []
    side = int(np.ceil(np.sqrt(chunk)))
    for c in _chunks(CKA(), ia.astype(np.int64), ib.astype(np.int64), chunk, lambda i: i):
        assert 1 <= len(c.pairs) <= chunk
        assert len(c.items) <= 2 * side  # memory bound: a chunk needs at most 2 sqrt(chunk) systems
        assert set(c.items) == {i for p in c.pairs for i in p}
        seen.extend(c.pairs)
    assert len(seen) == len(expected) and set(seen) == expected


@settings(max_examples=25, deadline=None)
@given(shape=st.tuples(st.integers(1, 4), st.integers(1, 4)), seed=st.integers(0, 2**16))
def test_content_hash_depends_on_dtype_shape_and_bytes(shape, seed):
    x = np.random.default_rng(seed).standard_normal(shape)
    assert content_hash(x) == content_hash(x.copy()) == content_hash(np.asfortranarray(x))
    assert content_hash(x) != content_hash(x.astype(np.float32))
    assert content_hash(x) != content_hash(x.reshape(1, -1)) or shape[0] == 1
    y = x.copy()
    y.flat[0] += 1.0
    assert content_hash(x) != content_hash(y)


# --------------------------------------------------------------------------- files
def test_file_sources_hash_like_memory_and_reuse_results(tmp_path):
    import h5py
    S = _systems(4)
    d = tmp_path / "data"
    d.mkdir()
    np.save(d / "s0.npy", S["s0"])
    np.savez(d / "s1.npz", S["s1"])
    with h5py.File(d / "more.h5", "w") as f:
        f["s2"] = S["s2"]
        f["group/s3"] = S["s3"]
    found = resolve_systems([str(d / "*.npy"), str(d / "*.npz"), str(d / "more.h5")])
    assert [s.name for s in found] == ["s0", "s1", "group/s3", "s2"]
    assert all(s.array is None for s in found)  # lazy: only paths are held
    for s in found:
        np.testing.assert_array_equal(s.load(), S[s.name.split("/")[-1]])

    db = tmp_path / "r.db"
    sweep(S, "cka", db, backend="serial", progress=False)
    again = sweep(found, "cka", db, backend="serial", progress=False)
    assert (again.computed, again.cached) == (0, 6)  # same contents -> same keys
    names = set(load(db).table.system_a) | set(load(db).table.system_b)
    assert "group/s3" in names and "s3" in names

    multi = tmp_path / "multi.npz"
    np.savez(multi, a=S["s0"], b=S["s1"])
    assert [s.name for s in resolve_systems(str(multi))] == ["multi/a", "multi/b"]


def test_bad_inputs_give_clear_messages(tmp_path):
    S = _systems(3)
    np.save(tmp_path / "good.npy", S["s0"])
    (tmp_path / "corrupt.npy").write_bytes(b"this is not an array")
    np.save(tmp_path / "trunc.npy", S["s1"])
    raw = (tmp_path / "trunc.npy").read_bytes()
    (tmp_path / "trunc.npy").write_bytes(raw[: len(raw) - 40])
    db = tmp_path / "r.db"
    with pytest.raises(ValueError, match=r"system 'corrupt': could not read .*corrupt\.npy.*no NumPy header"):
        sweep([str(tmp_path / "good.npy"), str(tmp_path / "corrupt.npy")], "cka", db, backend="serial", progress=False)
    with pytest.raises(ValueError, match=r"system 'trunc': could not read .*trunc\.npy"):
        sweep(str(tmp_path / "*.npy").replace("*", "[gt]*"), "cka", db, backend="serial", progress=False)
    with pytest.raises(ValueError, match=r"file not found: .*missing\.npy"):
        sweep([str(tmp_path / "missing.npy")], "cka", db, backend="serial", progress=False)
    with pytest.raises(ValueError, match="matches no file"):
        sweep(str(tmp_path / "*.nothing"), "cka", db, backend="serial", progress=False)
    with pytest.raises(ValueError, match="unknown measure 'nope'"):
        sweep(S, "nope", db, backend="serial", progress=False)
    with pytest.raises(ValueError, match="backend must be one of"):
        sweep(S, "cka", db, backend="threads", progress=False)

    # non-finite data: the pairs of that system fail with the validation message, others succeed
    S["s2"] = S["s2"].copy()
    S["s2"][3, 1] = np.nan
    s = sweep(S, "cka", db, backend="serial", progress=False)
    assert (s.computed, s.failed) == (3, 2)
    assert all("preparing system 's2' failed" in f["error"] and "NaN" in f["error"] for f in s.failures)


def test_store_that_is_not_a_repalign_database(tmp_path):
    S = _systems(2)
    text = tmp_path / "notes.db"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not a repalign results database \\(not an SQLite file\\)"):
        sweep(S, "cka", text, backend="serial", progress=False)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as c:
        c.execute("CREATE TABLE customers (id INTEGER)")
    with pytest.raises(ValueError, match="SQLite database but not a repalign results database"):
        sweep(S, "cka", other, backend="serial", progress=False)
    with pytest.raises(ValueError, match="SQLite database but not a repalign"):
        load(other)
    with pytest.raises(ValueError, match="no results database at"):
        load(tmp_path / "absent.db")
    assert text.read_text() == "hello"  # never overwritten


# --------------------------------------------------------------------------- prepared cache
def test_expensive_prepare_done_once_per_system_and_cached_on_disk(tmp_path):
    S = _systems(5)
    db = tmp_path / "r.db"
    PREPARE_CALLS.clear()
    s1 = sweep(S, "_test_counting_cka", db, backend="serial", chunk_size=2, progress=False)
    assert len(PREPARE_CALLS) == 5 and s1.prepared == 5  # once each, though 10 pairs in 5 chunks
    files = [f for _, _, fs in os.walk(cache_dir(str(db))) for f in fs]
    assert len(files) == 5 and all(f.endswith(".npz") for f in files)
    s2 = sweep(S, "_test_counting_cka", db, pairs="all_with_self", backend="serial", progress=False)
    assert len(PREPARE_CALLS) == 5 and s2.prepared_cached == 5 and s2.computed == 5
    M = load(db).matrix("_test_counting_cka")
    ref = repalign.pairwise(list(S.values()), "cka")
    np.testing.assert_allclose(M.to_numpy(), ref, rtol=1e-12)


def test_each_system_prepared_once_per_process_with_the_memo(tmp_path):
    class _Counting(CKA):
        name = "_counting_local"

        def _prepare(self, X):
            PREPARE_CALLS.append(X.shape)
            return super()._prepare(X)

    S = _systems(9)
    PREPARE_CALLS.clear()
    s = sweep(S, _Counting(), tmp_path / "a.db", backend="serial", chunk_size=4, progress=False)
    assert len(PREPARE_CALLS) == 9 and s.prepared == 9  # 36 pairs in >= 9 chunks, 9 prepares
    PREPARE_CALLS.clear()
    s0 = sweep(S, _Counting(), tmp_path / "b.db", backend="serial", chunk_size=4, memo_mb=0, progress=False)
    assert len(PREPARE_CALLS) == s0.prepared > 9  # without the memo: once per chunk that needs it
    _assert_same_scores(load(tmp_path / "a.db").table, load(tmp_path / "b.db").table)


# --------------------------------------------------------------------------- results
def test_results_exports_and_measure_selection(tmp_path):
    import pandas as pd
    S = _systems(4)
    db = tmp_path / "r.db"
    sweep(S, ["cka", {"name": "cka", "params": {"kernel": "rbf"}}], db, backend="serial", progress=False)
    res = load(db)
    assert len(res.table) == 12 and len(res.measures) == 2
    with pytest.raises(ValueError, match="2 parameter settings"):
        res.matrix("cka")
    rbf = res.matrix("cka", params={"kernel": "rbf"})
    assert rbf.loc["s0", "s1"] == pytest.approx(repalign.compare(S["s0"], S["s1"], "cka", kernel="rbf"), rel=1e-12)
    with pytest.raises(ValueError, match="no results for 'procrustes_xyz'"):
        res.matrix("procrustes_xyz")
    res.to_csv(tmp_path / "r.csv")
    back = pd.read_csv(tmp_path / "r.csv")
    np.testing.assert_allclose(back.score.to_numpy(), res.table.score.to_numpy(), rtol=1e-15)
    import pyarrow  # noqa: F401  (the [test] extra installs it)
    res.to_parquet(tmp_path / "r.parquet")
    pq = pd.read_parquet(tmp_path / "r.parquet")
    assert list(pq.columns) == list(res.table.columns) and len(pq) == 12


# --------------------------------------------------------------------------- config
@pytest.mark.parametrize(
    "patch, field",
    [
        ({"sytems": "x"}, "sytems"),
        ({"measures": [{"name": "cka"}, {"name": "cka", "params": {"kernal": "rbf"}}]}, "measures[1].params"),
        ({"measures": [{"name": "no_such_measure"}]}, "measures[0].name"),
        ({"measures": [{"name": "cka", "parms": {}}]}, "measures[0].parms"),
        ({"measures": [{"name": "cka", "params": [1, 2]}]}, "measures[0].params"),
        ({"backend": "threads"}, "backend"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"pairs": "some"}, "pairs"),
        ({"pairs": [["a", "b"], ["c"]]}, "pairs[1]"),
        ({"systems": ["a.npy", 3]}, "systems[1]"),
        ({"backend": "serial", "scheduler": "tcp://h:8786"}, "scheduler"),
        ({"backend": "dask"}, "scheduler"),
        ({"retry_failed": "yes"}, "retry_failed"),
        ({"n_jobs": 0}, "n_jobs"),
        ({"memo_mb": -1}, "memo_mb"),
    ],
)
def test_config_errors_name_the_field(patch, field):
    cfg = {"systems": "data/*.npy", "measures": [{"name": "cka"}], **patch}
    cfg = {k: v for k, v in cfg.items() if not (k == "systems" and "sytems" in patch)}
    with pytest.raises(ConfigError) as info:
        validate_config(cfg, "/tmp")
    assert info.value.field == field
    assert f"config field '{field}'" in str(info.value)


def test_config_missing_required_field():
    with pytest.raises(ConfigError, match="config field 'measures': missing"):
        validate_config({"systems": "x.npy"})


def test_run_config_relative_paths(tmp_path):
    S = _systems(3)
    (tmp_path / "data").mkdir()
    for k, v in S.items():
        np.save(tmp_path / "data" / f"{k}.npy", v)
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text("store: out/r.db\nsystems: data/*.npy\nmeasures:\n  - name: cka\nbackend: serial\n")
    with pytest.raises(ValueError, match="directory .*out does not exist"):
        run_config(cfg, progress=False)
    (tmp_path / "out").mkdir()
    s = run_config(cfg, progress=False)
    assert s.computed == 3
    assert load(tmp_path / "out" / "r.db").matrix("cka").shape == (3, 3)
    cfg.write_text("systems: data/*.npz\nmeasures: [cka]\nbackend: serial\n")
    with pytest.raises(ConfigError, match="config field 'systems': the pattern 'data/\\*.npz' matches no file"):
        run_config(cfg, progress=False)


def test_store_write_is_idempotent(tmp_path):
    with Store.open(tmp_path / "s.db") as st:
        row = dict(hash_a="a", hash_b="b", measure_key="k", measure="m", params="{}", name_a="A", name_b="B",
                   score=0.5, extras="{}", status="ok", error=None, seconds=0.1, version="0", host="h", timestamp="t")
        st.write_results([row])
        st.write_results([{**row, "score": 0.9}])  # replay of an ok row: ignored
        failed = {**row, "hash_b": "c", "status": "failed", "score": None, "error": "x"}
        st.write_results([failed])
        st.write_results([{**failed, "status": "ok", "score": 0.7, "error": None}])  # retry replaces failed
        rows = st.conn.execute("SELECT hash_b, score, status FROM results ORDER BY hash_b").fetchall()
    assert rows == [("b", 0.5, "ok"), ("c", 0.7, "ok")]
