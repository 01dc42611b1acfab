"""``repalign bench``: the metric report card (cases with known ground truth x measures)."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="run the metric report card: test cases with known ground truth on several measures",
        description="Run every report-card case on every measure; print the table and write it as "
        "JSON and CSV with one figure per case (see docs/report_card.md).",
    )
    p.add_argument("--measures", default=None,
                   help="comma-separated measure names (default: dsa,procrustes,cka,rsa, those registered)")
    p.add_argument("--cases", default=None, help="comma-separated case names (default: all)")
    p.add_argument("--quick", action="store_true", help="smaller systems, fewer realisations (< 2 min)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", required=True, help="output folder for report_card.json/.csv and figures")
    p.add_argument("--no-figures", action="store_true", help="skip the figures")
    p.set_defaults(func=run)


def _split(value: str | None) -> list[str] | None:
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


def run(args: argparse.Namespace) -> int:
    from repalign.bench import run_report_card

    card = run_report_card(_split(args.measures), _split(args.cases), quick=args.quick, seed=args.seed,
                           progress=print)
    for m, why in card.skipped.items():
        print(f"skipped {m}: {why}")
    print()
    print(card.format_table())
    paths = card.write(args.out, figures=not args.no_figures)
    print("\nwrote " + ", ".join(str(p) for p in paths))
    return 0
