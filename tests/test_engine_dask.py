"""The Dask backend on a LocalCluster gives the serial backend's numbers."""

from __future__ import annotations

import numpy as np
import pytest

from repalign.engine import load, sweep

import distributed
import dask


def _systems(n=9, seed=3):
    rng = np.random.default_rng(seed)
    return {f"s{i}": rng.standard_normal((20, 4)) for i in range(n)}


def _scores(db):
    t = load(db).table.sort_values(["system_a", "system_b"]).reset_index(drop=True)
    return t[["system_a", "system_b", "status"]], t["score"].to_numpy()


def test_dask_local_cluster_matches_serial(tmp_path):
    S = _systems()
    files = tmp_path / "files"
    files.mkdir()
    for k, v in S.items():
        np.save(files / f"{k}.npy", v)
    sweep(S, ["cka", "cka_angular"], tmp_path / "serial.db", backend="serial", progress=False)
    ref_pairs, ref = _scores(tmp_path / "serial.db")

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as cluster, distributed.Client(cluster) as client:
        # a Client passed in, systems shipped from memory
        s = sweep(S, ["cka", "cka_angular"], tmp_path / "client.db", backend="dask", client=client, chunk_size=5,
                  progress=False)
        assert (s.computed, s.failed) == (72, 0)
        assert 18 <= s.prepared <= 36  # 9 systems x 2 measures, at most once per worker
        workers_hosts = {w["host"] for w in client.scheduler_info()["workers"].values()}
        assert workers_hosts  # the cluster really ran
        # a scheduler address, systems read from files by the workers
        s2 = sweep(str(files / "*.npy"), ["cka", "cka_angular"], tmp_path / "addr.db",
                   scheduler=cluster.scheduler_address, chunk_size=7, progress=False)
        assert s2.backend == "dask" and s2.computed == 72

    for db in ("client.db", "addr.db"):
        pairs, scores = _scores(tmp_path / db)
        assert pairs.equals(ref_pairs)
        np.testing.assert_allclose(scores, ref, rtol=1e-12, atol=1e-15)


def test_dask_needs_a_scheduler(tmp_path):
    with pytest.raises(ValueError, match="scheduler='tcp://host:8786' or client"):
        sweep(_systems(3), "cka", tmp_path / "r.db", backend="dask", progress=False)
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}), \
            pytest.raises(ValueError, match="cannot connect to the Dask scheduler"):
        sweep(_systems(3), "cka", tmp_path / "r.db", scheduler="tcp://127.0.0.1:1", progress=False)
