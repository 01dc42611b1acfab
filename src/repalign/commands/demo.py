"""``repalign demo``: run every part of repalign on small problems and write one report."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="train small networks, compare them with every analysis, write report.html (+ JSON)",
        description="Quick report card, transfer experiment, dissimilarity over learning and feedback-alignment "
                    "calibration, written to DIR/report.html and DIR/report.json. A second run reuses what DIR "
                    "holds (checkpoints, analyses, the engine store).",
    )
    p.add_argument("--out", default="repalign-demo", help="output folder (default ./repalign-demo)")
    p.add_argument("--seed", type=int, default=0, help="base random seed (default 0)")
    p.add_argument("--quick", action="store_true", help="the reduced demo used by the tests (about a minute)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--figure-format", default="png", metavar="FORMATS",
                   help="figure files to write besides the embedded PNGs, e.g. png,svg,pdf (default png)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..studies.demo import run_demo  # trains torch networks: imported when the command runs, not for --help

    run_demo(args.out, quick=args.quick, seed=args.seed, progress=not args.no_progress,
             figure_formats=args.figure_format)
    return 0
