"""``repalign results DB``: export or show a results store."""

from __future__ import annotations

import argparse
import os
import sys

from .compare import parse_params


def register(sub) -> None:
    p = sub.add_parser(
        "results",
        help="show or export the results of a sweep store",
        description="Print or write the tidy results table of a store (one row per pair and measure), "
        "or with --matrix the square matrix of one measure.",
    )
    p.add_argument("db", help="results database written by `repalign sweep`")
    p.add_argument("--measure", "-m", help="only this measure")
    p.add_argument("--param", "-p", action="append", default=[], metavar="K=V",
                   help="pick the parameter setting when the store holds several for the measure")
    p.add_argument("--format", "-f", choices=["table", "csv", "parquet"], default="table")
    p.add_argument("--matrix", action="store_true", help="the square system x system matrix (needs --measure)")
    p.add_argument("--all-columns", action="store_true",
                   help="with --format table: every column (default: names, measure, params, score, status, error)")
    p.add_argument("--out", "-o", help="output file (required for parquet; default stdout)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        frame = _frame(args)
        _write(frame, args)
    except ValueError as exc:
        print(f"repalign results: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `repalign results db | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _frame(args):
    from ..engine import load  # the engine: ~0.09 s that --help need not pay

    res = load(args.db)
    params = parse_params(args.param) or None
    if args.matrix:
        if not args.measure:
            raise ValueError("--matrix needs --measure")
        return res.matrix(args.measure, params)
    if args.measure:
        return res.select(args.measure, params).reset_index(drop=True)
    return res.table


def _write(frame, args) -> None:
    index = bool(args.matrix)
    if args.format == "parquet":
        if not args.out:
            raise ValueError("--format parquet needs --out FILE")
        try:
            frame.to_parquet(args.out, index=index)
        except ImportError as exc:
            raise ValueError(f"parquet needs pyarrow: pip install 'repalign[parquet]' ({exc})") from None
    elif args.format == "csv":
        frame.to_csv(args.out if args.out else sys.stdout, index=index)
    else:
        import pandas as pd  # already loaded by the results here; kept off module top, as --help must not pay 1.2 s

        if not (index or args.all_columns):
            frame = frame[["system_a", "system_b", "measure", "params", "score", "status", "error"]]
        with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 200):
            text = frame.to_string(index=index)
        if args.out:
            with open(args.out, "w") as f:
                f.write(text + "\n")
        else:
            print(text)
