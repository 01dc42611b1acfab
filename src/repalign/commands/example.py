"""``repalign example``: compare generated systems and print the scores."""

from __future__ import annotations

import argparse

import numpy as np

from ..api import compare
from ..registry import get_measure


def register(sub) -> None:
    p = sub.add_parser("example", help="compare generated systems with several measures and print the scores")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    rng = np.random.default_rng(args.seed)
    X = rng.standard_normal((500, 50))
    Q, _ = np.linalg.qr(rng.standard_normal((50, 50)))
    Y = 3.0 * X @ Q + 0.5 * rng.standard_normal((500, 50))  # a noisy, rotated, scaled copy of X
    Z = rng.standard_normal((500, 50))  # an unrelated system
    print("X: 500 samples x 50 units; Y = 3 X Q + noise (Q a rotation); Z independent of X\n")
    print(f"  {'measure':<16} {'kind':<11} {'X vs Y':>9} {'X vs Z':>9}")
    for name in ("cka", "debiased_cka", "procrustes", "cca_r2", "rsa"):
        try:
            m = get_measure(name)
        except ValueError:
            continue
        xy = compare(X, Y, m)
        xz = compare(X, Z, m)
        print(f"  {name:<16} {m.kind:<11} {xy:9.4f} {xz:9.4f}")
    return 0
