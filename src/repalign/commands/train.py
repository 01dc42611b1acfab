"""``repalign train CONFIG.yaml --out DIR``: train a model on cognitive tasks, with checkpoints."""

from __future__ import annotations

import argparse
import sys


def register(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a recurrent model on cognitive tasks (checkpoints, resume, two-stage curriculum)",
        description="Train the model described by CONFIG (YAML: model, tasks, steps, batch_size, lr, seed, "
        "checkpoints, optional stage2; see docs/training.md) into DIR, with a progress bar and "
        "DIR/learning_curve.png. Re-running with the same DIR resumes from the last checkpoint.",
    )
    p.add_argument("config", help="YAML configuration file")
    p.add_argument("--out", required=True, help="output folder (checkpoints, curve.json, learning_curve.png)")
    p.add_argument("--no-resume", action="store_true", help="start over even if DIR holds checkpoints")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..train.runconfig import run_config  # imports torch: when the command runs, not for --help

    try:
        results = run_config(args.config, args.out, progress=not args.no_progress, resume=not args.no_resume)
    except (ValueError, OSError) as exc:
        print(f"repalign train: error: {exc}", file=sys.stderr)
        return 2
    for stage in ("stage1", "stage2"):
        r = results.get(stage)
        if r is not None:
            acc = ", ".join(f"{t} {a:.3f}" for t, a in r.final_accuracy().items())
            print(f"{stage}: {r.steps_done} steps, accuracy {acc}, {r.elapsed_s:.1f} s")
    print(f"wrote {args.out} (learning curve: {results['figure']})")
    return 0
