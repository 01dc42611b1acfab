"""Cost of issue 25b's measures: one compare, and pairwise (batched) vs a per-pair loop.

    python benchmarks/measures_25b.py            # 12 systems of 500 x 50 (docs/measures.md numbers)
    python benchmarks/measures_25b.py --quick    # 6 systems of 200 x 20

Stochastic shape metrics get 6 systems of (trials, conditions, units) = (20, 10, 10) (their
optimisation runs many p x p SVDs per pair: see docs/measures.md). Prints, per
measure, seconds for one compare, for pairwise over all systems, and for the loop of compares
(the ratio shows what batching buys), and checks that pairwise equals the loop.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import repalign

MEASURES = ["hard_matching", "soft_matching", "gulp", "rsm_norm_difference", "distance_correlation",
            "eigenspace_overlap", "ensd", "magnitude_difference", "concentricity_difference",
            "uniformity_difference", "gaussian_stochastic_shape", "energy_stochastic_shape"]


def _systems(count: int, n: int, p: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n, 5))
    return [latent @ rng.standard_normal((5, p)) + 0.5 * rng.standard_normal((n, p)) for _ in range(count)]


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--measures", default=",".join(MEASURES), help="comma-separated subset")
    args = ap.parse_args()
    count, n, p = (6, 200, 20) if args.quick else (12, 500, 50)
    flat = _systems(count, n, p)
    trials = [s.reshape(20, 10, 10) for s in _systems(6, 200, 10, seed=1)]
    print(f"{count} systems of {n} x {p} (stochastic: 6 of {trials[0].shape})")
    print(f"{'measure':<28}{'compare s':>11}{'pairwise s':>12}{'loop s':>10}{'loop/pairwise':>15}")
    for name in args.measures.split(","):
        S = trials if repalign.get_measure(name).input == "trials" else flat
        _, one = _timed(lambda: repalign.compare(S[0], S[1], name))
        M, t_pair = _timed(lambda: repalign.pairwise(S, name))
        loop, t_loop = _timed(lambda: np.array([[repalign.compare(a, b, name) for b in S] for a in S]))
        assert np.allclose(M, loop, atol=1e-7), name
        print(f"{name:<28}{one:>11.3f}{t_pair:>12.3f}{t_loop:>10.3f}{t_loop / t_pair:>15.1f}")


if __name__ == "__main__":
    main()
