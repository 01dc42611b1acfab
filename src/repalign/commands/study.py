"""``repalign study <name>``: end-to-end studies, one sub-subcommand each.

Add a study by writing ``_register_<name>(studies)`` and listing it in ``STUDIES``. Each study's
module is imported inside its ``_run_<name>``: studies train torch networks and load pandas, which
``repalign --help`` must not pay for (see ``repalign.cli``).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("study", help="run an end-to-end study (train networks, calibrate, save figure + JSON)")
    studies = p.add_subparsers(dest="study", required=True, metavar="STUDY")
    for add in STUDIES:
        add(studies)
    for q in studies.choices.values():  # every study: figure style and formats (repalign.report.figstyle)
        q.add_argument("--figure-format", default="png", metavar="FORMATS",
                       help="figure files to write, e.g. png,svg,pdf (default png)")
        q.set_defaults(func=_styled(q.get_default("func")))


def _styled(func):
    def run(args: argparse.Namespace) -> int:
        from ..report.figstyle import paper_style  # the report package: ~0.05 s that --help need not pay

        with paper_style(args.figure_format):
            return func(args)

    return run


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
    p.add_argument("--penalty", type=float, default=0.01, help="alignment penalty lambda of the penalised-DFA network (default 0.01)")
    p.add_argument("--no-penalised", action="store_true", help="skip seed 004's output-LayerNorm networks (penalised DFA, DFA, backprop)")
    p.set_defaults(func=_run_feedback_alignment)


def _run_feedback_alignment(args: argparse.Namespace) -> int:
    from ..studies import feedback_alignment as fa

    cfg = fa.Config(epochs=args.epochs, null_draws=args.null_draws, seed=args.seed,
                    penalised=not args.no_penalised, penalty=args.penalty)
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
    p.add_argument("--group", default=None, help="group, e.g. S4, C17, D5, A4 (default S4, or the preset's)")
    p.add_argument("--out", required=True, help="output directory (created if missing)")
    p.add_argument("--steps", type=int, default=None, help="full-batch AdamW steps (default: the study's Config)")
    p.add_argument("--train-fraction", type=float, default=None, help="fraction of all pairs trained on")
    p.add_argument("--seed", type=int, default=0, help="seed for split and init (default 0)")
    p.add_argument("--save-checkpoints", action="store_true", help="also write parameters per checkpoint (.npz)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--seeds", default=None, help="several seeds, e.g. 0,1,2,3: median curves and the paper's analyses")
    p.add_argument("--preset", choices=("paper", "s5-cpu"), default=None,
                   help="with --seeds: the paper's S5 setting, or S5 at repalign's faster optimiser setting "
                        "(the default for --group S5 --seeds)")
    p.add_argument("--jobs", type=int, default=1, help="with --seeds: seeds trained in parallel processes (default 1)")
    p.add_argument("--checkpoint-dir", default=None, help="with --seeds: store / reuse each seed's checkpoints here")
    p.set_defaults(func=_run_groups)


def _run_groups(args: argparse.Namespace) -> int:
    from ..studies import groups as gs

    if args.seeds is not None or args.preset is not None:
        return _run_groups_seeds(args)
    gs.set_threads(args.threads)
    given = {"steps": args.steps, "train_fraction": args.train_fraction}
    cfg = gs.Config(group=args.group or "S4", seed=args.seed, **{k: v for k, v in given.items() if v is not None})
    results = gs.run_study(cfg, progress=True)
    paths = gs.save(results, args.out, checkpoints=args.save_checkpoints)
    print(gs.summary_table(results))
    print(f"\nwrote {', '.join(str(p) for p in paths.values())} ({results['seconds']['total']:.1f} s)")
    return 0


def _run_groups_seeds(args: argparse.Namespace) -> int:
    from ..studies import groups as gs
    from ..studies import groups_seeds as gss

    seeds = gss.parse_seeds(args.seeds if args.seeds is not None else "0,1,2,3")
    group = args.group or (gss.PRESETS[args.preset].group if args.preset else "S4")
    preset = args.preset or ("s5-cpu" if group == "S5" else None)  # S5 defaults to the CPU-sized seed-001 setting
    base = replace(gss.PRESETS[preset], group=group) if preset else gs.Config(group=group)
    given = {"steps": args.steps, "train_fraction": args.train_fraction}
    cfg = replace(base, **{k: v for k, v in given.items() if v is not None})
    res = gss.run_seeds(cfg, seeds, jobs=args.jobs, ckpt_dir=args.checkpoint_dir, progress=True)
    paths = gss.save(res, args.out)
    print(f"wrote {', '.join(str(p) for p in paths.values())} ({res['seconds']:.1f} s)")
    return 0


def _register_lorenz(studies) -> None:
    p = studies.add_parser(
        "lorenz",
        help="the attractor test cases of Guilhot et al. 2024: DSA, CKA, Procrustes on Lorenz regimes, noise, motifs",
        description=(
            "Lorenz regimes (9 x 9 distances), noise and ratio tests over 42 pattern pairs and 3 epochs, and motif "
            "composition, at the paper's settings; scale-free effect sizes with bootstrap intervals and a verdict "
            "on 'DSA is more noise robust'. Writes lorenz.json, lorenz.md and PNGs; finished parts are kept in "
            "OUT/parts and reused by a re-run with the same settings. See docs/lorenz.md."
        ),
    )
    p.add_argument("--out", required=True, help="output directory (created if missing)")
    p.add_argument("--quick", action="store_true", help="40 trajectories, 3 patterns (6 pairs), 15 motif pairs")
    ic = p.add_mutually_exclusive_group()
    ic.add_argument("--matched", action="store_const", const="matched", dest="ic",
                    help="regime test with shared initial points only")
    ic.add_argument("--paper-ic", action="store_const", const="paper", dest="ic",
                    help="regime test with each system's own initial points only (default: both)")
    p.add_argument("--measures", nargs="+", default=None, help="measures (default: dsa cka procrustes)")
    p.add_argument("--tests", nargs="+", default=None, help="subset of: regimes noise ratio motifs")
    p.add_argument("--motif-pairs", type=int, default=None, help="stratified sample of motif pairs (default: all)")
    p.add_argument("--patterns", type=float, nargs="+", default=None,
                   help="rho of the noise/ratio patterns (default: the paper's 0.5 5 10 15 30 40 50)")
    p.add_argument("--seed", type=int, default=0, help="seed of every draw (default 0)")
    p.set_defaults(func=_run_lorenz, ic=None)


def _run_lorenz(args: argparse.Namespace) -> int:
    from ..studies import lorenz as lz
    from ..studies.lorenz_report import cache_in, save

    over = {k: v for k, v in {"ic": args.ic, "seed": args.seed, "motif_pairs": args.motif_pairs,
                              "patterns": tuple(args.patterns) if args.patterns else None,
                              "measures": tuple(args.measures) if args.measures else None,
                              "tests": tuple(args.tests) if args.tests else None}.items() if v is not None}
    cfg = lz.quick_config(**over) if args.quick else lz.Config(**over)
    res = lz.run_study(cfg, progress=lambda msg: print(msg, flush=True),
                       cache=cache_in(Path(args.out) / "parts", lambda part: lz.cache_key(cfg, part)))
    paths = save(res, args.out)
    print(res.get("verdict", {}).get("headline", ""))
    print(f"wrote {', '.join(str(p) for p in paths.values())} ({res['seconds']:.1f} s)")
    return 0


def _register_transfer(studies) -> None:
    p = studies.add_parser(
        "transfer",
        help="does a new task learned through its rule column reuse the pretrained geometry? (seed 000)",
        description=(
            "Pretrain networks (multi-plastic by default) on fdgo+delaygo and fdanti+delaygo, teach delayanti "
            "through a Kaiming-initialised rule column only, and run every transfer analysis (full variance "
            "spectra of hidden states and modulation, mean modulation, angles, participation ratios, rule "
            "vectors, backbone probes), calibrated over seeds. Writes transfer.json, transfer.md and figures/."
        ),
    )
    p.add_argument("--out", required=True, help="output directory (created if missing; a rerun resumes)")
    p.add_argument("--model", choices=["mpn", "leaky_rnn", "gru"], default=None, help="network (default mpn)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="small networks, minutes on 2 cores (the default)")
    g.add_argument("--preset", choices=["quick", "paper"], default=None, help="paper: the seed's setting")
    p.add_argument("--seeds", type=int, default=None, help="networks per rule set (default: the preset's)")
    p.add_argument("--hidden", type=int, default=None, help="units (default: the preset's)")
    p.add_argument("--steps1", type=int, default=None, help="maximum stage-1 updates (stops at criterion)")
    p.add_argument("--steps2", type=int, default=None, help="stage-2 updates")
    p.add_argument("--batch-size", type=int, default=None, help="trials per update")
    p.add_argument("--backend", choices=["processes", "dask"], default="processes")
    p.add_argument("--workers", type=int, default=2, help="local processes (default 2)")
    p.add_argument("--scheduler", default=None, help="Dask scheduler address, e.g. tcp://host:8786")
    p.set_defaults(func=_run_transfer)


def _run_transfer(args: argparse.Namespace) -> int:
    from ..studies.transfer_study import run_study

    preset = args.preset or "quick"
    res = run_study(args.out, preset, backend=args.backend, workers=args.workers, scheduler=args.scheduler,
                    progress=print, model=args.model, seeds=args.seeds, hidden=args.hidden, steps1=args.steps1,
                    steps2=args.steps2, batch_size=args.batch_size)
    for f in res["findings"]:
        print(f"{f['verdict']:>40}  {f['claim']}")
    print(f"\nwrote {args.out}/transfer.json, transfer.md and figures/ ({res['seconds']:.1f} s)")
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
    from ..studies import compositional

    params = compositional.default_params(args.preset or "quick", model=args.model)
    for key in ("activations", "hidden", "lrs", "batch_sizes", "seeds", "epochs", "trials_per_epoch", "eval_batch",
                "device"):
        if getattr(args, key) is not None:
            params[key] = getattr(args, key)
    if args.no_paper_pipeline:
        params["paper_pipeline"] = False
    if args.compare_with:
        params["compare_with"] = args.compare_with
    res = compositional.run_study(params, args.out, backend=args.backend, n_jobs=args.jobs, scheduler=args.scheduler)
    for m, d in res["dissimilarity"].items():
        print(m, {g: round(v["mean"], 3) for g, v in d.items()})
    print(f"wrote {args.out}/compositional.json and compositional.md ({res['seconds']['total']:.0f} s)")
    return 0


def _register_tutorial(studies) -> None:
    p = studies.add_parser(
        "tutorial", help="the Neuromatch DSA tutorial: Circle/Oval/Walk across ranks, and representational paths",
        description=("Circle/Oval/Walk at n_delays 20, delay_interval 10 across ranks (DSA beside state-distribution "
                     "shape and Procrustes, calibrated over noise seeds, against the tutorial's and dsa-metric's "
                     "numbers), then standard, FGSM-trained and recurrent CNNs on sklearn digits: RDM paths, FGSM "
                     "accuracy, DSA across recurrent steps. Writes study_tutorial.json/.md and PNGs. See docs/tutorial.md."))
    p.add_argument("--out", required=True, help="output directory (created if missing)")
    p.add_argument("--quick", action="store_true", help="3 seeds, 5 ranks, 8 epochs (a few minutes on 2 cores)")
    p.add_argument("--preset", choices=["paper"], default="paper", help="the tutorial's setting (default)")
    p.add_argument("--parts", nargs="+", choices=["dynamics", "paths"], default=None, help="run only these parts")
    p.add_argument("--workers", type=int, default=None, help="processes training the three networks (default 2)")
    p.add_argument("--seed", type=int, default=0, help="seed of every draw (default 0)")
    p.set_defaults(func=_run_tutorial)


def _run_tutorial(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..studies import tutorial as tu
    from ..studies.tutorial_report import save

    over = {k: v for k, v in {"seed": args.seed, "workers": args.workers,
                              "parts": tuple(args.parts) if args.parts else None}.items() if v is not None}
    cfg = tu.quick_config(**over) if args.quick else tu.Config(**over)
    res = tu.run_study(cfg, progress=lambda msg: print(msg, flush=True), ckpt=str(Path(args.out) / "checkpoints"),
                       cache=Path(args.out) / "parts")
    paths = save(res, args.out)
    print(f"wrote {', '.join(str(p) for p in paths.values())} ({res['seconds']:.1f} s)")
    return 0


STUDIES = [_register_feedback_alignment, _register_groups, _register_transfer, _register_lorenz,
           _register_compositional, _register_tutorial]
