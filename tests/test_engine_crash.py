"""A sweep killed with SIGKILL part-way resumes to exactly the uninterrupted result."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from _helpers import toy_measures
from repalign.engine import load, sweep
from repalign.geometry.cka import CKA

N_SYSTEMS = 24
N_PAIRS = N_SYSTEMS * (N_SYSTEMS - 1) // 2

SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    from repalign.engine import sweep
    from repalign.geometry.cka import CKA
    from repalign.registry import register

    @register
    class SlowCKA(CKA):
        name = "_test_slow_cka"

        def _compare(self, a, b):
            time.sleep(float(sys.argv[3]))  # slow enough to be killed part-way
            return super()._compare(a, b)

        def _compare_many(self, A, B, symmetric=False):
            return None  # pair by pair, so that every pair sleeps

    rng = np.random.default_rng(0)
    S = {f"s{i:02d}": rng.standard_normal((12, 3)) for i in range(%d)}
    s = sweep(S, "_test_slow_cka", sys.argv[1], backend="serial", chunk_size=6, progress=False)
    with open(sys.argv[2], "w") as f:
        json.dump(s.to_dict(), f)
    """
    % N_SYSTEMS
)


class _SlowCKAHere(CKA):
    """Same name and parameters as the script's measure, so the measure keys agree."""

    name = "_test_slow_cka"


@pytest.fixture(scope="module", autouse=True)
def _registered_toys():
    with toy_measures(_SlowCKAHere):
        yield


def _rows(db) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as c:
            return c.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def _comparable(table):
    cols = ["system_a", "system_b", "measure", "params", "score", "status", "error", "hash_a", "hash_b", "measure_key"]
    return table.sort_values(["system_a", "system_b"])[cols].reset_index(drop=True)


def test_sigkill_then_restart_equals_uninterrupted_run(tmp_path):
    script = tmp_path / "run_sweep.py"
    script.write_text(SCRIPT)
    db = tmp_path / "killed.db"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, str(script), str(db), str(tmp_path / "first.json"), "0.01"], env=env)
    deadline = time.monotonic() + 60
    while _rows(db) < 30:
        assert proc.poll() is None, "the sweep finished before it could be killed"
        assert time.monotonic() < deadline, "no rows appeared in 60 s"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    stored = _rows(db)
    assert 30 <= stored < N_PAIRS

    done = subprocess.run([sys.executable, str(script), str(db), str(tmp_path / "second.json"), "0"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "second.json").read_text())
    assert summary["cached"] == stored  # nothing stored was recomputed
    assert summary["computed"] == N_PAIRS - stored and summary["failed"] == 0

    with sqlite3.connect(db) as c:
        n, distinct = c.execute(
            "SELECT COUNT(*), COUNT(DISTINCT hash_a || hash_b || measure_key) FROM results"
        ).fetchone()
        assert n == distinct == N_PAIRS
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    rng = np.random.default_rng(0)
    S = {f"s{i:02d}": rng.standard_normal((12, 3)) for i in range(N_SYSTEMS)}
    sweep(S, "_test_slow_cka", tmp_path / "reference.db", backend="serial", progress=False)
    killed, ref = _comparable(load(db).table), _comparable(load(tmp_path / "reference.db").table)
    assert killed.drop(columns="score").equals(ref.drop(columns="score"))
    np.testing.assert_allclose(killed.score.to_numpy(), ref.score.to_numpy(), rtol=1e-12)
