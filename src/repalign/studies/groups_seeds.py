"""Several seeds of the group study with the paper's own analyses (seed 001: Chughtai et al. 2023, S5).

``run_seeds(cfg, seeds)`` trains one network per seed (in parallel processes with ``jobs``;
a finished seed's checkpoints, written to ``ckpt_dir``, are reused when the configuration
matches), scores every checkpoint with :class:`repalign.studies.groups.Analysis` plus the cheap
paper metrics of :class:`~repalign.studies.groups_analysis.SeedAnalysis`, and runs the paper's
end-of-training analyses. Curves are summarised across seeds by their **median**, as the
paper's grokking figure. ``save`` writes ``groups_<G>.json`` (``seeds``, per-seed results and
the named analyses), ``groups_<G>.md`` (numbers beside the paper's) and five PNGs.

Presets: :data:`PAPER` is the paper's S5 setting (40 % of pairs, embed 256, hidden 128, AdamW
lr 1e-3, weight decay 1, float64 here); it needs ~10^5 full-batch steps per seed (hours on a
CPU core, see docs/groups.md). :data:`S5_CPU` keeps the paper's group, split and width with
repalign's faster optimiser setting (lr 1e-2, weight decay 2, embed 64, embedding sd 0.3).
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from .._serialize import versions
from .._validation import check_scalar
from .finite_groups import get_group, real_irreps
from ..train.checkpoint import write_json
from .groups import GENERALISED_ACCURACY, Analysis, Config, set_threads, split_pairs, train
from .groups_analysis import SeedAnalysis
from .groups_report import PAPER_VALUES, markdown, plot_all

PAPER = Config(group="S5", steps=150_000, train_fraction=0.4, embed_dim=256, hidden=128, lr=1e-3,
                  weight_decay=1.0, beta2=0.98, n_checkpoints=40, embed_scale=1.0, dtype="float32")
S5_CPU = Config(group="S5", steps=2000, train_fraction=0.4, embed_dim=64, hidden=128, lr=1e-2,
                   weight_decay=2.0, n_checkpoints=20, embed_scale=0.3, dtype="float32")
PRESETS = {"paper": PAPER, "s5-cpu": S5_CPU}
CURVES = ("train_loss", "test_loss", "train_accuracy", "test_accuracy")

def parse_seeds(text: str) -> list[int]:
    """'0,1,2,3' -> [0, 1, 2, 3]; ValueError naming ``--seeds`` otherwise."""
    try:
        seeds = [int(s) for s in str(text).split(",") if s.strip() != ""]
    except ValueError:
        raise ValueError(f"--seeds must be comma-separated non-negative integers; got {text!r}") from None
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds must be distinct non-negative integers; got {text!r}")
    return seeds


# ---------------------------------------------------------------------- checkpoints on disk
def _ckpt_file(ckpt_dir: Path, cfg: Config) -> Path:
    return Path(ckpt_dir) / f"groups_{cfg.group}_seed{cfg.seed}_checkpoints.npz"


def save_checkpoints(path: Path, cfg: Config, ckpts: list[dict]) -> None:
    """``step<k>/<name>`` arrays plus the configuration as a JSON string (no pickle)."""
    arrays = {f"step{c['step']}/{k}": v for c in ckpts for k, v in c["params"].items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, config=np.array(json.dumps(asdict(cfg), sort_keys=True)), **arrays)
    tmp.replace(path)


def load_checkpoints(path: Path, cfg: Config) -> list[dict] | None:
    """The stored checkpoints if ``path`` holds this exact configuration, else None."""
    if not Path(path).exists():
        return None
    with np.load(path, allow_pickle=False) as z:
        if str(z["config"]) != json.dumps(asdict(cfg), sort_keys=True):
            return None
        by_step: dict[int, dict] = {}
        for name in z.files:
            if name == "config":
                continue
            step, param = name.split("/", 1)
            by_step.setdefault(int(step[4:]), {})[param] = z[name]
    return [{"step": s, "params": by_step[s]} for s in sorted(by_step)]


# ---------------------------------------------------------------------- one seed
def run_one(cfg: Config, ckpt_dir: str | Path | None = None, threads: int = 1) -> dict:
    """Train (or reload) one seed and run every analysis; JSON-ready dict plus ``_final`` params."""
    cfg.validate()
    set_threads(threads)
    t0 = time.perf_counter()
    group = get_group(cfg.group)
    mask = split_pairs(group.order, cfg.train_fraction, cfg.seed)
    path = _ckpt_file(Path(ckpt_dir), cfg) if ckpt_dir is not None else None
    ckpts = load_checkpoints(path, cfg) if path is not None else None
    reused = ckpts is not None
    if ckpts is None:
        ckpts = train(group, cfg)
        if path is not None:
            save_checkpoints(path, cfg, ckpts)
    t_train = time.perf_counter() - t0
    an = Analysis(group, mask)
    sa = SeedAnalysis(an)
    final = ckpts[-1]["params"]
    key = an.key_irreps(final, cfg.key_threshold)
    history = []
    for c in ckpts:
        h = {"step": c["step"], **an.metrics(c["params"], key or None), **sa.checkpoint_metrics(c["params"], key)}
        h["test_restricted_loss_ratio"] = h["test_loss"] / h["seed_restricted_loss"] if key else float("nan")
        history.append(h)
    end = history[-1]
    gen = next((h["step"] for h in history if h["test_accuracy"] >= GENERALISED_ACCURACY), None)
    result = {
        "seed": cfg.seed,
        "key_irreps": key,
        "paper_key_rule": [k for k, v in end["seed_logit_similarity"].items() if v > 0.005],
        "generalisation_step": gen,
        "logit_similarity": {k: v["logit_similarity"] for k, v in end["irreps"].items()},
        "seed_logit_similarity": end["seed_logit_similarity"],
        "key_logit_fraction": {"double_centred": an.key_logit_fraction(final, key),
                               "seed_formula_key": end["seed_logit_fraction_key"],
                               "seed_formula_all": end["seed_logit_fraction_all"]},
        **{k: end[k] for k in ("train_loss", "test_loss", "train_accuracy", "test_accuracy", "weight_norm_sq")},
        **sa.final(final, key),
        "history": history,
        "seconds": {"train": t_train, "total": time.perf_counter() - t0, "reused_checkpoints": reused},
        "_final": final,
        "_cube": sa.logit_cube_slice(final, key),
    }
    return result


def _worker(args) -> dict:
    cfg_dict, ckpt_dir = args
    return run_one(Config(**cfg_dict), ckpt_dir)


# ---------------------------------------------------------------------- several seeds
def run_seeds(cfg: Config, seeds: list[int], jobs: int = 1, ckpt_dir: str | Path | None = None,
              progress: bool = False) -> dict:
    """One :func:`run_one` per seed (``jobs`` processes), plus median curves across seeds."""
    if not seeds:
        raise ValueError("seeds must be a non-empty list of non-negative integers")
    check_scalar(jobs, "jobs", int, min_val=1)
    cfgs = [replace(cfg, seed=int(s)) for s in seeds]
    for c in cfgs:
        c.validate()
    t0 = time.perf_counter()
    tasks = [(asdict(c), None if ckpt_dir is None else str(ckpt_dir)) for c in cfgs]
    if jobs == 1:
        per_seed = []
        for t in tasks:
            per_seed.append(_worker(t))
            if progress:
                _report(per_seed[-1])
    else:
        with ProcessPoolExecutor(max_workers=min(jobs, len(tasks))) as pool:
            per_seed = []
            for r in pool.map(_worker, tasks):
                per_seed.append(r)
                if progress:
                    _report(r)
    group = get_group(cfg.group)
    return {
        "config": {**asdict(cfg), "seed": None},
        "seeds": [int(s) for s in seeds],
        "versions": versions(),
        "group": {"name": group.name, "order": group.order,
                  "n_train_pairs": int(round(cfg.train_fraction * group.order**2))},
        "irreps": _irreps(group),
        "median": median_curves(per_seed),
        "per_seed": per_seed,
        "seconds": time.perf_counter() - t0,
    }


def _irreps(group) -> list[dict]:
    return [{"name": r.name, "dim": r.dim} for r in real_irreps(group)]


def _report(r: dict) -> None:
    print(f"seed {r['seed']}: key {r['key_irreps']}, test acc {r['test_accuracy']:.3f}, "
          f"{r['seconds']['total']:.0f} s{' (reused checkpoints)' if r['seconds']['reused_checkpoints'] else ''}",
          flush=True)


def median_curves(per_seed: list[dict]) -> dict:
    """Per checkpoint step, the median across seeds of each of :data:`CURVES`."""
    steps = [h["step"] for h in per_seed[0]["history"]]
    if any([h["step"] for h in r["history"]] != steps for r in per_seed):
        raise ValueError("seeds have different checkpoint steps; cannot take medians")
    return {"step": steps, **{k: np.median([[h[k] for h in r["history"]] for r in per_seed], axis=0).tolist()
                              for k in CURVES}}


def json_body(res: dict) -> dict:
    """The JSON document: top-level analyses keyed by seed, then every per-seed result."""
    per = [{k: v for k, v in r.items() if not k.startswith("_")} for r in res["per_seed"]]
    named = ("key_irreps", "logit_similarity", "seed_logit_similarity", "key_logit_fraction", "x_embed_fractions",
             "y_embed_fractions", "unembed_fractions", "hidden_fractions", "neuron_clusters", "irrep_ablations")
    body = {k: v for k, v in res.items() if k != "per_seed"}
    for k in named:
        body[k] = {str(r["seed"]): r[k] for r in per}
    body["per_seed"] = per
    body["paper_values"] = PAPER_VALUES
    return body


def save(res: dict, out_dir: str | Path) -> dict[str, Path]:
    """Write ``groups_<G>.json``, ``groups_<G>.md`` and the figures of :mod:`groups_report`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = res["group"]["name"]
    paths = {"json": out_dir / f"groups_{name}.json", "table": out_dir / f"groups_{name}.md"}
    write_json(paths["json"], json_body(res))
    paths["table"].write_text(markdown(res))
    paths.update(plot_all(res, out_dir))
    return paths
