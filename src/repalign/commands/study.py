"""``repalign study <name>``: end-to-end studies, one sub-subcommand each.

Add a study by writing ``_register_<name>(studies)`` and listing it in ``STUDIES``.
"""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("study", help="run an end-to-end study (train networks, calibrate, save figure + JSON)")
    studies = p.add_subparsers(dest="study", required=True, metavar="STUDY")
    for add in STUDIES:
        add(studies)


def _register_feedback_alignment(studies) -> None:
    p = studies.add_parser(
        "feedback-alignment",
        help="is DFA's random feedback aligned with the true gradient beyond chance, per layer?",
        description=(
            "Train a residual MLP on sklearn's digits with direct feedback alignment and with backprop; "
            "per layer, calibrate the mean cosine between the feedback e B_l and the true gradient "
            "against fresh random B draws. Writes feedback_alignment.json and feedback_alignment.png."
        ),
    )
    p.add_argument("--out", required=True, help="output directory (created if missing)")
    p.add_argument("--epochs", type=int, default=20, help="training epochs for each network (default 20)")
    p.add_argument("--null-draws", type=int, default=200, help="random feedback draws per layer (default 200)")
    p.add_argument("--seed", type=int, default=0, help="seed for split, init, batches, B and null (default 0)")
    p.add_argument("--threads", type=int, default=1, help="torch/BLAS threads (default 1: faster for these small products; see docs/calibration.md)")
    p.set_defaults(func=_run_feedback_alignment)


def _run_feedback_alignment(args: argparse.Namespace) -> int:
    from ..studies import feedback_alignment as fa

    cfg = fa.Config(epochs=args.epochs, null_draws=args.null_draws, seed=args.seed)
    results = fa.run_study(cfg, progress=True, threads=args.threads)
    paths = fa.save(results, args.out)
    print(fa.summary_table(results))
    print(f"\nwrote {paths['json']} and {paths['figure']} ({results['seconds']:.1f} s)")
    return 0


def _register_groups(studies) -> None:
    p = studies.add_parser(
        "groups",
        help="how a one-hidden-layer MLP learns a group operation (Chughtai et al. 2023)",
        description=(
            "Train U relu(W [E_L a; E_R b]) to output a*b on a fraction of all pairs of a finite group; "
            "per log-spaced checkpoint, measure per-irrep fractions of embedding and hidden variance, logit "
            "similarity with tr rho(a b c^-1), restricted and excluded losses. Writes groups_<G>.json, "
            "groups_<G>.md and three PNGs."
        ),
    )
    p.add_argument("--group", default="S4", help="group, e.g. S4, C17, D5, A4 (default S4)")
    p.add_argument("--out", required=True, help="output directory (created if missing)")
    p.add_argument("--steps", type=int, default=None, help="full-batch AdamW steps (default: the study's Config)")
    p.add_argument("--train-fraction", type=float, default=None, help="fraction of all pairs trained on")
    p.add_argument("--seed", type=int, default=0, help="seed for split and init (default 0)")
    p.add_argument("--save-checkpoints", action="store_true", help="also write parameters per checkpoint (.npz)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.set_defaults(func=_run_groups)


def _run_groups(args: argparse.Namespace) -> int:
    from ..studies import groups as gs

    gs.set_threads(args.threads)
    given = {"steps": args.steps, "train_fraction": args.train_fraction}
    cfg = gs.Config(group=args.group, seed=args.seed, **{k: v for k, v in given.items() if v is not None})
    results = gs.run_study(cfg, progress=True)
    paths = gs.save(results, args.out, checkpoints=args.save_checkpoints)
    print(gs.summary_table(results))
    print(f"\nwrote {', '.join(str(p) for p in paths.values())} ({results['seconds']['total']:.1f} s)")
    return 0


def _register_compositional(studies) -> None:
    p = studies.add_parser(
        "compositional",
        help="compositional learning on perceptual-decision tasks: which measure separates pretraining groups?",
        description=(
            "Train ten groups of networks (untrained, master, master_frozen, pretrain_frozen/unfrozen, five partial "
            "pretrainings) on anti_pdm_delay; compare each to master with DSA, CKA and Procrustes on the same seeded "
            "test trials (t-tests + BH, label permutations, bootstrap CIs), over learning, and under the paper's "
            "pipeline. Writes compositional.json, compositional.md and PNGs."
        ),
    )
    p.add_argument("--out", required=True, help="output directory (created if missing; reruns resume)")
    p.add_argument("--model", default="leaky_rnn", help="leaky_rnn (default), gru (leaky GRU), mamba (state-space model) or a registered model type")
    grp = p.add_mutually_exclusive_group()
    grp.add_argument("--quick", action="store_true", help="small networks, short trials (minutes on 2 cores; the default)")
    grp.add_argument("--preset", choices=["quick", "paper", "tiny"], default=None, help="parameter preset")
    p.add_argument("--backend", choices=["serial", "processes", "dask"], default="processes",
                   help="where networks train and pairs are compared (default processes)")
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores)")
    p.add_argument("--scheduler", default=None, help="Dask scheduler address (default: a local cluster)")
    for name, typ in (("activations", str), ("hidden", int), ("lrs", float), ("batch-sizes", int), ("seeds", int)):
        p.add_argument(f"--{name}", type=typ, nargs="+", default=None, help=f"override the preset's {name}")
    p.add_argument("--epochs", type=float, default=None, help="override the preset's epochs")
    p.add_argument("--trials-per-epoch", type=int, default=None, help="override the preset's trials per epoch")
    p.add_argument("--eval-batch", type=int, default=None, help="override the preset's evaluation trials per task")
    p.add_argument("--device", default=None, help="where networks train: cpu (default), cuda or auto")
    p.add_argument("--no-paper-pipeline", action="store_true", help="skip the paper-pipeline comparison")
    p.add_argument("--compare-with", default=None, metavar="DIR",
                   help="with --model mamba: an RNN run's output directory, for the RNN-vs-Mamba section")
    p.set_defaults(func=_run_compositional)


def _run_compositional(args: argparse.Namespace) -> int:
    from ..studies import compositional as C

    params = C.default_params(args.preset or "quick", model=args.model)
    for key in ("activations", "hidden", "lrs", "batch_sizes", "seeds", "epochs", "trials_per_epoch", "eval_batch",
                "device"):
        if getattr(args, key) is not None:
            params[key] = getattr(args, key)
    if args.no_paper_pipeline:
        params["paper_pipeline"] = False
    if args.compare_with:
        params["compare_with"] = args.compare_with
    res = C.run_study(params, args.out, backend=args.backend, n_jobs=args.jobs, scheduler=args.scheduler)
    for m, d in res["dissimilarity"].items():
        print(m, {g: round(v["mean"], 3) for g, v in d.items()})
    print(f"wrote {args.out}/compositional.json and compositional.md ({res['seconds']['total']:.0f} s)")
    return 0


STUDIES = [_register_feedback_alignment, _register_groups, _register_compositional]
