"""The sweep engine: serial vs local processes (joblib loky), pairs per second and speed-up.

    python benchmarks/engine.py                       # 200 systems x linear CKA, 50 systems x DSA
    python benchmarks/engine.py --n-cka 60 --n-dsa 16 # reduced, for a busy machine

Systems are written as .npy files to a temporary directory and swept from a glob, as a real
sweep would be (workers read their chunk's files). Each configuration runs into a fresh store,
so every pair is computed; wall time includes hashing the files, starting the worker pool and
writing the store. The script checks that both backends store the same scores.

* CKA: 200 systems of 500 samples x 50 units, linear CKA, 19,900 pairs.
* DSA: 50 systems of 4 trials x 60 time steps x 4 units (random linear dynamics plus noise),
  n_delays=3, 1,225 pairs. Skipped with a message if 'dsa' is not registered.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

import repalign
from repalign.engine import load, sweep


def cka_systems(n: int, samples: int, units: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((samples, units))
    return [base @ rng.standard_normal((units, units)) + rng.standard_normal((samples, units)) for _ in range(n)]


def dsa_systems(n: int, trials: int, steps: int, units: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        Q, _ = np.linalg.qr(rng.standard_normal((units, units)))
        A = 0.95 * Q
        X = np.empty((trials, steps, units))
        X[:, 0] = rng.standard_normal((trials, units))
        for t in range(1, steps):
            X[:, t] = X[:, t - 1] @ A.T + 0.1 * rng.standard_normal((trials, units))
        out.append(X)
    return out


def run(label: str, arrays: list, measure, n_jobs: int, chunk_size: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        for i, X in enumerate(arrays):
            np.save(os.path.join(d, f"sys{i:04d}.npy"), X)
        pattern = os.path.join(d, "*.npy")
        times, tables = {}, {}
        for backend in ("serial", "processes"):
            db = os.path.join(d, f"{backend}.db")
            t0 = time.perf_counter()
            s = sweep(pattern, [measure], db, backend=backend, n_jobs=n_jobs, chunk_size=chunk_size, progress=False)
            times[backend] = time.perf_counter() - t0
            assert s.failed == 0, s
            tables[backend] = load(db).table.sort_values(["system_a", "system_b"])
            print(f"  {label:<5} {backend:<10} {s.total:>7} pairs {times[backend]:8.2f} s "
                  f"{s.total / times[backend]:10.1f} pairs/s")
        np.testing.assert_allclose(tables["serial"].score.to_numpy(), tables["processes"].score.to_numpy(),
                                   rtol=1e-9, atol=1e-12)
        print(f"  {label:<5} speed-up of processes (n_jobs={n_jobs}) over serial: "
              f"{times['serial'] / times['processes']:.2f}x (scores agree)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-cka", type=int, default=200)
    p.add_argument("--cka-samples", type=int, default=500)
    p.add_argument("--cka-units", type=int, default=50)
    p.add_argument("--n-dsa", type=int, default=50)
    p.add_argument("--dsa-chunk-size", type=int, default=32, help="smaller chunks balance the slow DSA pairs")
    p.add_argument("--n-jobs", type=int, default=os.cpu_count())
    p.add_argument("--chunk-size", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    print(f"repalign {repalign.__version__}, {os.cpu_count()} cores, n_jobs={args.n_jobs}, chunk_size={args.chunk_size}")
    if args.n_cka > 1:
        run("cka", cka_systems(args.n_cka, args.cka_samples, args.cka_units, args.seed), "cka",
            args.n_jobs, args.chunk_size)
    if args.n_dsa > 1:
        if "dsa" not in repalign.registry.names():
            print("  dsa   skipped: measure 'dsa' is not registered in this build")
        else:
            run("dsa", dsa_systems(args.n_dsa, 4, 60, 4, args.seed), {"name": "dsa", "params": {"n_delays": 3}},
                args.n_jobs, args.dsa_chunk_size)


if __name__ == "__main__":
    main()
