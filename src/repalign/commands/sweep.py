"""``repalign sweep CONFIG.yaml``: run a sweep described by a YAML file into its store."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub) -> None:
    p = sub.add_parser(
        "sweep",
        help="compute many systems x measures into a SQLite store (resumable)",
        description="Run the sweep described by CONFIG (YAML: store, systems, measures, pairs, backend, ...; "
        "see docs/engine.md). Re-running computes only the pairs missing from the store.",
    )
    p.add_argument("config", help="YAML configuration file")
    p.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://host:8786 (implies --backend dask)")
    p.add_argument("--backend", choices=["serial", "processes", "dask"], help="override the config's backend")
    p.add_argument("--n-jobs", type=int, help="worker processes for the processes backend")
    p.add_argument("--store", help="override the config's store path")
    p.add_argument("--chunk-size", type=int, help="pairs per unit of work")
    p.add_argument("--retry-failed", action="store_true", default=None, help="recompute pairs stored as failed")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..engine.config import run_config  # the engine: ~0.09 s that --help need not pay

    try:
        summary = run_config(
            args.config, scheduler=args.scheduler, backend=args.backend, n_jobs=args.n_jobs, store=args.store,
            chunk_size=args.chunk_size, retry_failed=args.retry_failed, progress=not args.no_progress,
        )
    except ValueError as exc:
        print(f"repalign sweep: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary.to_dict()) if args.json else summary)
    return 0
