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
                   help="comma-separated measure names, or 'all' (default: dsa,procrustes,cka,rsa, those "
                   "registered; with --cases resi: all)")
    p.add_argument("--cases", default=None,
                   help="comma-separated case names; 'resi' = ReSi's six tests on trained networks, "
                   "cached in OUT/resi_models (default: all but ReSi's)")
    p.add_argument("--quick", action="store_true", help="smaller systems, fewer realisations (< 2 min)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", required=True, help="output folder for report_card.json/.csv and figures")
    p.add_argument("--no-figures", action="store_true", help="skip the figures")
    p.set_defaults(func=run)


def _split(value: str | None) -> list[str] | None:
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


def _resi_hook(args: argparse.Namespace) -> tuple[list[str] | None, list[str] | None]:
    """Expand 'resi' into ReSi's six cases and 'all' into every measure; cache networks under --out."""
    import os

    from repalign.bench.cases import CASE_GROUPS
    from repalign.registry import names

    cases = _split(args.cases)
    if cases is not None:
        cases = [c for name in cases for c in CASE_GROUPS.get(name, (name,))]
    measures = _split(args.measures)
    resi = cases is not None and any(c in CASE_GROUPS["resi"] for c in cases)
    if measures == ["all"] or (measures is None and resi and all(c in CASE_GROUPS["resi"] for c in cases)):
        measures = [m for m in names() if not m.startswith("_")]
    if resi:
        os.environ.setdefault("REPALIGN_RESI_CACHE", os.path.join(args.out, "resi_models"))
    return measures, cases


def run(args: argparse.Namespace) -> int:
    from repalign.bench import run_report_card

    measures, cases = _resi_hook(args)
    card = run_report_card(measures, cases, quick=args.quick, seed=args.seed, progress=print)
    for m, why in card.skipped.items():
        print(f"skipped {m}: {why}")
    print()
    print(card.format_table())
    paths = card.write(args.out, figures=not args.no_figures)
    print("\nwrote " + ", ".join(str(p) for p in paths))
    return 0
