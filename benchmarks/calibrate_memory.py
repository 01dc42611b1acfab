"""Peak memory of ``calibrate(X, Y, measure, n=1000)`` against one ``compare(X, Y, measure)``.

    python benchmarks/calibrate_memory.py              # cka, rsa, procrustes, dsa at n = 1000 draws
    python benchmarks/calibrate_memory.py --n 200      # quicker

Each (measure, call) runs in a fresh Python process; the peak is tracemalloc's (numpy reports
its array allocations to it), counted from just before the call, so the caller's own X and Y
are not included. The issue's target: calibrate's peak within 3x one compare's. Systems:

* cka, procrustes: 3000 samples x 100 features (a prepared state is ~2.4 MB);
* rsa: 1500 conditions x 100 channels (correlation RDM, Spearman; an RDM is ~9 MB);
* dsa: 20 trials x 100 steps x 6 units (n_delays=2, n_restarts=1). DSA does not match trials
  between systems, so it has no permutation null: its row is ``bootstrap_ci(n=...)`` (trials
  resampled), the resampling loop calibrate would run with ``bootstrap=n``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

MEASURES = {
    "cka": ((3000, 100), {}),
    "rsa": ((1500, 100), {}),
    "procrustes": ((3000, 100), {}),
    "dsa": ((20, 100, 6), {"n_delays": 2, "n_restarts": 1}),
}


def _data(shape, seed):
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.standard_normal(shape)
    Y = 0.5 * X + rng.standard_normal(shape)
    return X, Y


def child(measure: str, call: str, n: int) -> dict:
    import tracemalloc

    import numpy as np  # noqa: F401
    import repalign

    shape, params = MEASURES[measure]
    X, Y = _data(shape, 0)
    repalign.compare(X[:50] if len(shape) == 2 else X[:3], Y[:50] if len(shape) == 2 else Y[:3], measure,
                     **params)  # imports and warm-up outside the measurement
    tracemalloc.start()
    t = time.perf_counter()
    if call == "compare":
        repalign.compare(X, Y, measure, **params)
    elif measure == "dsa":  # DSA compares unmatched trials: no permutation null; resample trials instead
        from repalign.stats import bootstrap_ci

        bootstrap_ci(X, Y, measure, n=n, method="percentile", seed=0, **params)
    else:
        repalign.calibrate(X, Y, measure, n=n, seed=0, **params)
    seconds = time.perf_counter() - t
    _, peak = tracemalloc.get_traced_memory()
    return {"measure": measure, "call": call, "peak_mb": peak / 2**20, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="calibrate's number of null draws")
    parser.add_argument("--measures", nargs="+", default=list(MEASURES), choices=list(MEASURES))
    parser.add_argument("--child", nargs=2, metavar=("MEASURE", "CALL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], args.n)))
        return
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    print(f"{'measure':<12}{'compare MB':>12}{f'calibrate(n={args.n}) MB':>26}{'ratio':>8}{'calibrate s':>13}")
    worst = 0.0
    for m in args.measures:
        rows = {}
        for call in ("compare", "calibrate"):
            out = subprocess.run([sys.executable, __file__, "--n", str(args.n), "--child", m, call],
                                 capture_output=True, text=True, env=env, check=True)
            rows[call] = json.loads(out.stdout.strip().splitlines()[-1])
        ratio = rows["calibrate"]["peak_mb"] / rows["compare"]["peak_mb"]
        worst = max(worst, ratio)
        print(f"{m:<12}{rows['compare']['peak_mb']:>12.1f}{rows['calibrate']['peak_mb']:>26.1f}{ratio:>8.2f}"
              f"{rows['calibrate']['seconds']:>13.1f}")
    print(f"worst ratio {worst:.2f} (target: within 3x)")


if __name__ == "__main__":
    main()
