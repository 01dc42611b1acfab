"""Command-line interface. Each subcommand lives in ``repalign/commands/<name>.py`` and
defines ``register(subparsers)``, which adds its parser and sets ``func``.

The command modules are imported here by name, so that the dependency is visible to readers,
linters and ``python -X importtime`` (``importlib.import_module`` hid it from all three). At
module top they import the standard library, yaml and what ``import repalign`` has already
loaded; each heavier layer is imported inside the ``run`` that needs it, with its cost beside it
(the engine ~0.09 s, the report package ~0.1 s; studies, training, the demo and the report card
pull torch or pandas, seconds), so that ``repalign --help`` pays for none of them
(tests/test_architecture.py checks that building the parser imports no torch, pandas or engine).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys

import yaml

from .commands import bench, compare, demo, example, report, results, study, sweep, train

# Order is the order in `repalign --help`.
COMMANDS = (demo, example, compare, sweep, results, bench, study, train, report)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="repalign",
        description="How alike are two neural systems, in geometry and dynamics, and is that likeness real?",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    return parser


# commands whose --out names a file, not a folder
FILE_OUT_COMMANDS = ("results", "report")


def main(argv: list[str] | None = None) -> int:
    """Run a command. Errors caused by the user's input or files (bad values, unreadable or
    damaged files, YAML, memory over budget) end with one line on stderr and exit status 2."""
    args = build_parser().parse_args(argv)
    out = getattr(args, "out", None)
    if args.command not in FILE_OUT_COMMANDS and isinstance(out, str) and os.path.isfile(out):
        print(f"repalign {args.command}: error: --out {out} is an existing file; give a folder", file=sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except Exception as exc:  # noqa: BLE001 - filtered below; anything else keeps its traceback
        if not _user_error(exc):
            raise
        print(f"repalign {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2


def _user_error(exc: BaseException) -> bool:
    return isinstance(exc, (ValueError, OSError, sqlite3.DatabaseError, MemoryError, yaml.YAMLError))


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, sqlite3.DatabaseError):
        return f"a results database is damaged or unreadable ({text})"
    if isinstance(exc, OSError) and getattr(exc, "filename", None):
        return f"{exc.strerror or text}: {exc.filename}"
    return text


if __name__ == "__main__":
    sys.exit(main())
