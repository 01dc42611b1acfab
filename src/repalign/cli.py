"""Command-line interface. Each subcommand lives in ``repalign/commands/<name>.py`` and
defines ``register(subparsers)``, which adds its parser and sets ``func``."""

from __future__ import annotations

import argparse
import importlib
import sys

# Order is the order in `repalign --help`.
COMMAND_MODULES = ["demo", "example", "compare", "sweep", "results", "bench", "study", "train", "report"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="repalign",
        description="How alike are two neural systems, in geometry and dynamics, and is that likeness real?",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"repalign.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"repalign.commands.{name}":
                continue  # not built yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
