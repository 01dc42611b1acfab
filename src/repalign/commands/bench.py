"""``repalign bench``: the metric report card (cases with known ground truth x measures)."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="run the metric report card: test cases with known ground truth on several measures",
        description="Run every report-card case on every measure; print the table and write it as "
        "JSON and CSV with figures (see docs/report_card.md). With --seeds: pass rates over the seeds "
        "with binomial intervals, parameters chosen on disjoint tuning seeds, and sensitivity heatmaps.",
    )
    p.add_argument("--measures", default=None,
                   help="comma-separated measure names, or 'all' (default: dsa,procrustes,cka,rsa, those "
                   "registered; with --cases resi: all)")
    p.add_argument("--cases", default=None,
                   help="comma-separated case names; 'resi' = ReSi's six tests on trained networks, "
                   "cached in OUT/resi_models (default: all but ReSi's)")
    p.add_argument("--quick", action="store_true", help="smaller systems, fewer realisations (< 2 min)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the single-seed card (default 0)")
    p.add_argument("--seeds", default=None,
                   help="evaluation seeds, e.g. 0-19 or 0,3,5-7: pass rates over these (multi-seed card)")
    p.add_argument("--tuning-seeds", default="1000-1004",
                   help="seeds on which tunable parameters are chosen, disjoint from --seeds (default "
                   "1000-1004; 'none': no tuning, DEFAULT_PARAMS)")
    p.add_argument("--sensitivity-seeds", default=None,
                   help="seeds of the sensitivity heatmaps (default: --seeds; 'none': no panel)")
    p.add_argument("--interval", choices=("wilson", "exact"), default="wilson",
                   help="binomial interval of a pass rate: Wilson score or exact Clopper-Pearson (default wilson)")
    p.add_argument("--jobs", type=int, default=1, help="local worker processes for the multi-seed card (default 1)")
    p.add_argument("--scheduler", default=None, help="Dask scheduler address (tcp://host:8786) for the cells")
    p.add_argument("--out", required=True, help="output folder for report_card.json/.csv and figures")
    p.add_argument("--no-figures", action="store_true", help="skip the figures")
    p.set_defaults(func=run)


def _split(value: str | None) -> list[str] | None:
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


def _seeds_or_none(value: str | None):
    return () if value is not None and value.strip().lower() == "none" else value


def _resi_hook(args: argparse.Namespace) -> tuple[list[str] | None, list[str] | None]:
    """Expand 'resi' into ReSi's six cases and 'all' into every measure; cache networks under --out."""
    import os

    from repalign.report_card.cases import CASE_GROUPS
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
        if getattr(args, "jobs", 1) > 1:  # each cell worker trains what it needs, one process each
            os.environ.setdefault("REPALIGN_RESI_JOBS", "1")
    return measures, cases


def run(args: argparse.Namespace) -> int:
    if args.seeds is not None:
        return _run_multiseed(args)
    from repalign.report_card import run_report_card

    measures, cases = _resi_hook(args)
    card = run_report_card(measures, cases, quick=args.quick, seed=args.seed, progress=print)
    for m, why in card.skipped.items():
        print(f"skipped {m}: {why}")
    print()
    print(card.format_table())
    paths = card.write(args.out, figures=not args.no_figures)
    print("\nwrote " + ", ".join(str(p) for p in paths))
    return 0


def _run_multiseed(args: argparse.Namespace) -> int:
    from repalign.report_card import run_multiseed_card

    measures, cases = _resi_hook(args)
    card = run_multiseed_card(measures, cases, seeds=args.seeds, quick=args.quick,
                              tuning_seeds=_seeds_or_none(args.tuning_seeds),
                              sensitivity_seeds=_seeds_or_none(args.sensitivity_seeds), out=args.out,
                              jobs=args.jobs, scheduler=args.scheduler, interval=args.interval, progress=print)
    for m, why in card.skipped.items():
        print(f"skipped {m}: {why}")
    print(f"\npass rates ({card.interval['method']} {card.interval['confidence']:.0%} intervals; "
          f"{card.verdict_rule}):\n")
    print(card.format_table())
    print("\nscore median [Q1, Q3]:\n")
    print(card.format_table(scores=True))
    paths = card.write(args.out, figures=not args.no_figures)
    run = card.run
    print(f"\n{run['seconds']:.1f} s; cells computed / reused: tuning {run['tuning']['computed']}/"
          f"{run['tuning']['reused']}, evaluation {run['evaluation']['computed']}/{run['evaluation']['reused']}, "
          f"sensitivity {run['sensitivity']['computed']}/{run['sensitivity']['reused']}")
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0
