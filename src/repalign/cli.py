"""Command-line interface: ``repalign example`` (and more subcommands as they land)."""

from __future__ import annotations

import argparse
import sys


def _example(args: argparse.Namespace) -> int:
    import numpy as np

    import repalign

    rng = np.random.default_rng(args.seed)
    X = rng.standard_normal((500, 50))
    Q, _ = np.linalg.qr(rng.standard_normal((50, 50)))
    Y = 3.0 * X @ Q + 0.5 * rng.standard_normal((500, 50))  # a noisy rotated, scaled copy
    Z = rng.standard_normal((500, 50))  # an unrelated system
    print("Two generated systems: X (500 samples x 50 units), Y = 3 X Q + noise, Z independent\n")
    for name in ("cka", "debiased_cka", "procrustes", "rsa"):
        try:
            m = repalign.get_measure(name)
        except ValueError:
            continue
        print(f"  {name:<14} ({m.kind:<10}) X-Y: {repalign.compare(X, Y, name): .4f}   X-Z: {repalign.compare(X, Z, name): .4f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="repalign", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("example", help="compare two generated systems and print the result")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_example)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
