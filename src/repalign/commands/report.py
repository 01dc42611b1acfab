"""``repalign report DIR [--out FILE]``: rebuild one report.html from saved outputs."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "report",
        help="rebuild report.html (+ .json) from a demo's or studies' output folder, without recomputing",
        description="Reads what `repalign demo` (demo_results.json) and `repalign study ...` (NAME.json and "
                    "their PNG figures) saved under DIR and writes one report: each section headed by its "
                    "finding. Nothing is recomputed.",
    )
    p.add_argument("dir", help="output folder of `repalign demo` or of one or more `repalign study` runs")
    p.add_argument("--out", default=None, help="HTML file to write (default DIR/report.html; JSON beside it)")
    p.add_argument("--title", default=None, help="report title")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..report.studies import build_report  # the report package: ~0.1 s that --help need not pay

    rep = build_report(args.dir, title=args.title)
    out = Path(args.out) if args.out else Path(args.dir) / "report.html"
    if out.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"--out must be an .html file; got {str(out)!r}")
    path = rep.save(out)
    print(f"report: {path}  ({len(rep.to_dict()['sections'])} sections)")
    return 0
