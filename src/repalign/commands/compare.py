"""``repalign compare A B --measure NAME [--param k=v ...]``: score one pair of files."""

from __future__ import annotations

import argparse
import json
import os
import sys

import yaml

from .._serialize import to_jsonable
from ..registry import get_measure


def register(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="compare two systems stored in files (.npy, .npz, HDF5)",
        description="Print the score of a measure between two systems. A and B are .npy/.npz/HDF5 files "
        "holding one array each, or FILE:KEY for one array of a container file.",
    )
    p.add_argument("a", help="first system (file or FILE:KEY)")
    p.add_argument("b", help="second system (file or FILE:KEY)")
    p.add_argument("--measure", "-m", default="cka", help="registered measure name (default cka)")
    p.add_argument("--param", "-p", action="append", default=[], metavar="K=V",
                   help="measure parameter (repeatable); V is read as YAML: 0.5, true, none, [1, 2]")
    p.add_argument("--json", action="store_true", help="print score and extras as JSON")
    p.set_defaults(func=run)


def parse_params(items: list[str]) -> dict:
    """``["k=v", ...]`` -> dict, values parsed as YAML scalars (``none`` -> None)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--param expects K=V; got {item!r}")
        try:
            out[key.strip()] = None if value.strip().lower() in ("none", "null") else yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise ValueError(f"--param {key.strip()}: value {value!r} is not valid YAML "
                             f"({' '.join(str(exc).split())})") from None
    return out


def load_one(spec: str, label: str):
    """Data of one system from 'file' or 'file:key'."""
    from ..engine.sources import Source, resolve_systems  # the engine: ~0.09 s that --help need not pay

    path, key = spec, None
    if not os.path.exists(spec) and ":" in spec:
        path, key = spec.rsplit(":", 1)
    if key is not None:
        return Source(label, path=os.path.abspath(path), key=key).load()
    systems = resolve_systems(path)
    if len(systems) != 1:
        raise ValueError(f"{label}: {path} holds {len(systems)} arrays ({[s.name for s in systems][:5]}...); "
                         f"pick one with {path}:KEY")
    return systems[0].load()


def run(args: argparse.Namespace) -> int:
    try:
        params = parse_params(args.param)
        m = get_measure(args.measure, **params)
        X, Y = load_one(args.a, "A"), load_one(args.b, "B")
        a, b = m.prepare(X, "A"), m.prepare(Y, "B")
        if m.matched_samples and a.n_samples != b.n_samples:
            raise ValueError(f"A ({args.a}) has {a.n_samples} samples and B ({args.b}) has {b.n_samples}; "
                             f"'{m.name}' needs the same samples (rows) in both")
        c = m.compare_detailed(a, b)
    except ValueError as exc:
        print(f"repalign compare: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"measure": m.name, "params": to_jsonable(m.params, lenient=True), "kind": m.kind,
                          "score": c.score, "extras": to_jsonable(c.extras, lenient=True)}))
    else:
        print(f"{m.name} ({m.kind}): {c.score:.10g}")
        for k, v in c.extras.items():
            print(f"  {k}: {v}")
    return 0
