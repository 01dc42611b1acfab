"""Dissimilarity over learning: how far apart are networks with different training
histories, checkpoint by checkpoint?

Groups of networks learn the same task with different histories, e.g.

* ``scratch``: a fresh network trained on the new task (all parameters);
* ``frozen``: a pretrained network that learns it through its rule column only (stage 2 of
  :mod:`repalign.studies.transfer_run`);
* ``finetune``: the same pretrained network with every parameter trainable.

Each network's checkpoints are matched by *fraction of training* (checkpoint step divided by
the network's last step; the checkpoint nearest each point of a common grid), recorded on
the same test trials, and compared under several measures through :mod:`repalign.engine`
(a crash-safe SQLite store: a second call computes nothing that is stored). Outputs: the
full matrices, the mean dissimilarity between (and within) groups at each stage, an MDS map
of all checkpoints per measure with each network's path, and accuracy curves.

Dissimilarity convention: distances (``dsa``, ``procrustes``) are used as they are;
similarities with maximum 1 (``cka``) become ``1 - score``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from .. import engine
from .._serialize import to_jsonable
from .._validation import as_trials, check_choice, check_finite
from ..engine.figures import mds_embedding
from ..registry import get_measure
from ..report.figstyle import save_figure
from . import transfer_run

__all__ = ["Series", "learning_dissimilarity", "match_fractions", "DEFAULT_MEASURES", "series_from_run",
           "train_learning_groups", "plot_dissimilarity", "plot_mds_paths", "plot_accuracy"]

DEFAULT_MEASURES = ("dsa", "procrustes", "cka")
DSA_PARAMS = {"n_delays": 2, "rank": 8, "n_restarts": 2}
DYN_PREFIX = "dyn|"


@dataclass
class Series:
    """One network's checkpoints.

    group : str
        The network's training history (e.g. ``"scratch"``).
    fractions : sequence of float, (n_checkpoints,)
        Fraction of training at each checkpoint, in [0, 1], increasing.
    states : sequence of arrays, each (trials, time, units)
        Hidden states on the *same* test trials at each checkpoint.
    accuracy : sequence of float, optional
        Task accuracy at each checkpoint (for the accuracy curves).
    """

    group: str
    fractions: Sequence[float]
    states: Sequence[Any]
    accuracy: Sequence[float] | None = None
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        f = np.asarray(self.fractions, dtype=np.float64)
        if f.ndim != 1 or f.size == 0 or len(self.states) != f.size:
            raise ValueError(f"fractions must be 1-D with one entry per checkpoint state ({len(self.states)}); "
                             f"got shape {f.shape}")
        check_finite(f, "fractions")
        if np.any(f < 0) or np.any(f > 1) or np.any(np.diff(f) < 0):
            raise ValueError("fractions must be increasing values in [0, 1]")
        if self.accuracy is not None and len(self.accuracy) != f.size:
            raise ValueError(f"accuracy must have one entry per checkpoint ({f.size}); got {len(self.accuracy)}")
        self.fractions = f


def match_fractions(fractions: Sequence[float], grid: Sequence[float]) -> list[int]:
    """Index of the checkpoint nearest each grid point (ties: the earlier checkpoint)."""
    f = np.asarray(fractions, dtype=np.float64)
    return [int(np.argmin(np.abs(f - g))) for g in grid]


# ----------------------------------------------------------------------------- systems
def _systems(series: Mapping[str, Series], grid: Sequence[float], pca: int | None):
    """Named geometry systems (samples = trials x time, units) and dynamics systems (trials)."""
    geo, dyn, meta = {}, {}, []
    for net, s in series.items():
        idx = match_fractions(s.fractions, grid)
        chosen = [np.stack(as_trials(s.states[i], f"series[{net!r}].states[{i}]")) for i in idx]
        if pca is not None:
            chosen = _shared_pca(chosen, pca)
        for g, i, X in zip(grid, idx, chosen):
            name = f"{net}@{g:.2f}"
            geo[name] = X.reshape(-1, X.shape[-1])
            dyn[DYN_PREFIX + name] = X
            meta.append({"system": name, "network": net, "group": s.group, "stage": float(g),
                         "fraction": float(s.fractions[i]), "checkpoint": i,
                         "accuracy": None if s.accuracy is None else float(s.accuracy[i])})
    return geo, dyn, meta


def _shared_pca(states: list[np.ndarray], k: int) -> list[np.ndarray]:
    """Project one network's checkpoints onto the top-k PCs of all its checkpoints pooled."""
    pooled = np.concatenate([X.reshape(-1, X.shape[-1]) for X in states])
    mean = pooled.mean(axis=0)
    _, _, Vt = np.linalg.svd(pooled - mean, full_matrices=False)
    V = Vt[: min(int(k), Vt.shape[0])].T
    return [(X - mean) @ V for X in states]


def _measure_specs(measures: Sequence[Any], dsa_params: Mapping[str, Any]) -> list[dict]:
    specs = []
    for m in measures:
        spec = {"name": m, "params": {}} if isinstance(m, str) else {"name": m["name"], "params": dict(m.get("params", {}))}
        if spec["name"] == "dsa":
            spec["params"] = {**dsa_params, **spec["params"]}
        specs.append(spec)
    return specs


# ----------------------------------------------------------------------------- analysis
def learning_dissimilarity(
    series: Mapping[str, Series],
    store: str | Path,
    *,
    measures: Sequence[Any] = DEFAULT_MEASURES,
    grid: Sequence[float] | None = None,
    pca: int | None = None,
    dsa_params: Mapping[str, Any] | None = None,
    out_dir: str | Path | None = None,
    backend: str = "serial",
    seed: int = 0,
) -> dict:
    """Compare every matched checkpoint of every network under every measure.

    Parameters
    ----------
    series : mapping network name -> :class:`Series`
        At least two networks; all states recorded on the same test trials, with the same
        number of units unless ``pca`` is given.
    store : path
        SQLite store of :mod:`repalign.engine` (created if missing; reused if present).
    measures : names or ``{"name", "params"}`` dicts
        ``dsa`` is computed on the trials ``(trials, time, units)``; the others on the states
        stacked over trials and time ``(trials * time, units)``.
    grid : sequence of float in [0, 1], optional
        Stages (fractions of training) at which networks are compared; default
        ``0, 1/4, 1/2, 3/4, 1``.
    pca : int, optional
        Project each network's checkpoints onto the top-``pca`` PCs of its own checkpoints
        pooled (one shared space per network, so its path is measured in fixed axes).
    dsa_params : mapping, optional
        DSA parameters (default :data:`DSA_PARAMS`).
    out_dir : path, optional
        Where to write the figures (``learning_dissimilarity.png``, ``learning_mds_<m>.png``,
        ``learning_accuracy.png``).
    backend : engine backend (``"serial"`` default: small sweeps do not pay for workers).
    seed : int
        Seed of the MDS embeddings.

    Returns
    -------
    dict: ``systems`` (names in order, with network, group, stage, matched fraction,
    accuracy), ``measures`` (per measure: ``matrix`` (N, N) raw scores with the ideal
    self-score on the diagonal, ``kind``, ``params``, ``between`` rows ``{stage, group_a,
    group_b, mean, sem, n_pairs}`` of dissimilarity, ``mds`` coordinates), ``sweeps``
    (engine summaries: ``computed``, ``cached``), ``figures``, ``seconds``.
    """
    t0 = time.perf_counter()
    if not isinstance(series, Mapping) or len(series) < 2:
        raise ValueError("series must map at least two network names to Series")
    for net, s in series.items():
        if not isinstance(s, Series):
            raise ValueError(f"series[{net!r}] must be a Series; got {type(s).__name__}")
    grid = [0.0, 0.25, 0.5, 0.75, 1.0] if grid is None else [float(g) for g in grid]
    if not grid or any(not 0.0 <= g <= 1.0 for g in grid):
        raise ValueError(f"grid must be fractions in [0, 1]; got {grid}")
    geo, dyn, meta = _systems(series, grid, pca)
    names = [m["system"] for m in meta]
    specs = _measure_specs(measures, DSA_PARAMS if dsa_params is None else dsa_params)
    store = str(store)
    sweeps, out = {}, {}
    for spec in specs:
        systems = dyn if spec["name"] == "dsa" else geo
        summary = engine.sweep(systems, [spec], store, pairs="all", backend=backend, progress=False)
        sweeps[spec["name"]] = {k: v for k, v in summary.to_dict().items() if k != "failures"}
        sweeps[spec["name"]]["failures"] = [str(f) for f in summary.failures]
    res = engine.load(store)
    for spec in specs:
        out[spec["name"]] = _measure_block(res, spec, names, meta, seed)
    result = {"systems": meta, "grid": grid, "pca": pca, "measures": out, "sweeps": sweeps,
              "computed": sum(s["computed"] for s in sweeps.values()),
              "cached": sum(s["cached"] for s in sweeps.values())}
    if out_dir is not None:
        result["figures"] = _write_figures(result, series, Path(out_dir))
    result["seconds"] = time.perf_counter() - t0
    return result


def _measure_block(res, spec: dict, names: list[str], meta: list[dict], seed: int) -> dict:
    m = get_measure(spec["name"], **spec["params"])
    prefix = DYN_PREFIX if spec["name"] == "dsa" else ""
    M = res.matrix(spec["name"], m.params, [prefix + n for n in names]).to_numpy().copy()
    ideal = 1.0 if m.kind == "similarity" else 0.0
    np.fill_diagonal(M, ideal)
    D = (1.0 - M) if m.kind == "similarity" else M.copy()
    D = 0.5 * (D + D.T)
    np.fill_diagonal(D, 0.0)
    block = {"kind": m.kind, "params": to_jsonable(m.params, "params", lenient=True), "matrix": M.tolist(), "dissimilarity": D.tolist(),
             "between": _between(D, meta)}
    if np.all(np.isfinite(D)) and len(names) >= 3:
        block["mds"] = mds_embedding(np.maximum(D, 0.0), seed=seed).tolist()
    return block


def _between(D: np.ndarray, meta: list[dict]) -> list[dict]:
    """Mean dissimilarity between distinct networks of two groups at each stage."""
    groups = list(dict.fromkeys(m["group"] for m in meta))
    rows = []
    for stage in dict.fromkeys(m["stage"] for m in meta):
        idx = [i for i, m in enumerate(meta) if m["stage"] == stage]
        for a, ga in enumerate(groups):
            for gb in groups[a:]:
                vals = [D[i, j] for i in idx for j in idx if i < j and meta[i]["network"] != meta[j]["network"]
                        and {meta[i]["group"], meta[j]["group"]} == {ga, gb}
                        and (ga != gb or meta[i]["group"] == ga)]
                vals = [v for v in vals if np.isfinite(v)]
                if vals:
                    sem = float(np.std(vals, ddof=1) / np.sqrt(len(vals))) if len(vals) > 1 else float("nan")
                    rows.append({"stage": stage, "group_a": ga, "group_b": gb, "mean": float(np.mean(vals)),
                                 "sem": sem, "n_pairs": len(vals)})
    return rows


# ----------------------------------------------------------------------------- figures
def _write_figures(result: dict, series: Mapping[str, Series], out_dir: Path) -> dict[str, str]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"dissimilarity": str(out_dir / "learning_dissimilarity.png"),
             "accuracy": str(out_dir / "learning_accuracy.png")}
    plot_dissimilarity(result, path=paths["dissimilarity"])
    plot_accuracy(series, path=paths["accuracy"])
    for name, block in result["measures"].items():
        if "mds" in block:
            paths[f"mds/{name}"] = str(out_dir / f"learning_mds_{name}.png")
            plot_mds_paths(result, name, path=paths[f"mds/{name}"])
    return paths


def _save(fig, path) -> None:
    if path is not None:
        save_figure(fig, path, dpi=110)


def plot_dissimilarity(result: dict, path: str | Path | None = None):
    """Dissimilarity vs training progress: one panel per measure, one line per group pair
    (mean ± s.e.m. over network pairs). Returns the matplotlib Figure."""
    names = list(result["measures"])
    fig = Figure(figsize=(4.2 * len(names), 3.4))
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for ax, name in zip(axes, names):
        rows = result["measures"][name]["between"]
        for k, pair in enumerate(dict.fromkeys((r["group_a"], r["group_b"]) for r in rows)):
            sel = [r for r in rows if (r["group_a"], r["group_b"]) == pair]
            x = np.array([r["stage"] for r in sel])
            y = np.array([r["mean"] for r in sel])
            e = np.nan_to_num(np.array([r["sem"] for r in sel]))
            ax.errorbar(x, y, yerr=e, marker="o", ms=3, capsize=2, color=f"C{k}", label=f"{pair[0]} vs {pair[1]}")
        kind = result["measures"][name]["kind"]
        ax.set(xlabel="fraction of training", ylabel=f"{name} " + ("(1 - similarity)" if kind == "similarity" else "(distance)"),
               title=name)
        ax.legend(fontsize=6)
    fig.tight_layout()
    _save(fig, path)
    return fig


def plot_mds_paths(result: dict, measure: str, path: str | Path | None = None):
    """MDS map of every checkpoint under ``measure``; each network's path drawn from its first
    to its last stage (open square: first stage), coloured by group. Returns the Figure."""
    xy = np.asarray(result["measures"][measure]["mds"])
    meta = result["systems"]
    groups = list(dict.fromkeys(m["group"] for m in meta))
    fig = Figure(figsize=(4.6, 4.2))
    ax = fig.subplots()
    for net in dict.fromkeys(m["network"] for m in meta):
        idx = [i for i, m in enumerate(meta) if m["network"] == net]
        color = f"C{groups.index(meta[idx[0]]['group'])}"
        ax.plot(xy[idx, 0], xy[idx, 1], "-o", ms=3, color=color, lw=1.2)
        ax.plot(xy[idx[0], 0], xy[idx[0], 1], "s", ms=6, mfc="none", color=color)  # first stage
        ax.annotate("", xy=xy[idx[-1]], xytext=xy[idx[-2]] if len(idx) > 1 else xy[idx[-1]],
                    arrowprops={"arrowstyle": "->", "color": color})
        ax.annotate(net, xy[idx[-1]], fontsize=6, xytext=(2, 2), textcoords="offset points")
    for k, g in enumerate(groups):
        ax.plot([], [], "-o", color=f"C{k}", label=g)
    ax.set(xlabel="MDS 1", ylabel="MDS 2", title=f"Checkpoints under {measure}")
    ax.legend(fontsize=7)
    _save(fig, path)
    return fig


def plot_accuracy(series: Mapping[str, Series], path: str | Path | None = None):
    """Accuracy against fraction of training, one line per network, coloured by group."""
    groups = list(dict.fromkeys(s.group for s in series.values()))
    fig = Figure(figsize=(4.4, 3.4))
    ax = fig.subplots()
    for net, s in series.items():
        if s.accuracy is not None:
            ax.plot(s.fractions, s.accuracy, "-o", ms=3, color=f"C{groups.index(s.group)}")
    for k, g in enumerate(groups):
        ax.plot([], [], "-o", color=f"C{k}", label=g)
    ax.set(xlabel="fraction of training", ylabel="accuracy", ylim=(-0.02, 1.02), title="New-task accuracy")
    ax.legend(fontsize=7)
    _save(fig, path)
    return fig


# ----------------------------------------------------------------------------- trained networks
def series_from_run(run_dir: str | Path, group: str, batch, info: dict | None = None) -> Series:
    """A :class:`Series` from a training run's checkpoints, recorded on ``batch``.

    Fraction of training = checkpoint step / last checkpoint's step; accuracy from each
    checkpoint's evaluation (the run's first task).
    """
    from ..train import list_checkpoints, load_model, record  # lazy: torch is optional; the rest works without it

    paths = list_checkpoints(run_dir)
    if not paths:
        raise ValueError(f"run_dir {run_dir} holds no checkpoints")
    steps, states, acc = [], [], []
    for p in paths:
        meta = json.loads(Path(p).with_suffix(".json").read_text())
        steps.append(int(meta["step"]))
        acc.append(float(next(iter(meta["accuracy"].values()))))
        states.append(record(load_model(p), batch).hidden)
    last = max(steps[-1], 1)
    return Series(group, [s / last for s in steps], states, acc, info=dict(info or {}, dir=str(run_dir)))


def train_learning_groups(transfer: dict, out_dir: str | Path, ruleset: str | None = None,
                          counters: dict | None = None) -> dict[str, Series]:
    """Networks of three training histories for one rule set of a :func:`run_transfer` result.

    ``frozen``: the transfer runs' stage 2 (rule column only); ``finetune``: from the same
    stage-1 network, every parameter trained on the new task; ``scratch``: a fresh network of
    the same size trained on the new task. Same steps, seed, checkpoints and learning rate as
    stage 2 except that ``scratch``/``finetune`` use the stage-1 rate. All are recorded on
    the new task's test grid. Trained runs found in ``out_dir`` are loaded.
    """
    from ..train import list_checkpoints, load_model  # lazy: torch is optional (see series_from_run)

    p = transfer["params"]
    rulesets = p["rulesets"]
    ruleset = ruleset if ruleset is not None else list(rulesets)[-1]
    check_choice(ruleset, "ruleset", list(rulesets))
    tasks, new = list(rulesets[ruleset]), p["new_task"]
    lay = transfer_run.network_layout(tasks, new, p["layout"], p["dt"])
    batch = transfer_run.test_batches([new], lay)[new]
    out: dict[str, Series] = {}
    for net in (n for n in transfer["networks"] if n["ruleset"] == ruleset):
        seed, net_dir = net["seed"], Path(net["dir"])
        out[f"frozen_s{seed}"] = series_from_run(net_dir / "stage2", "frozen", batch, {"seed": seed})
        for group in ("finetune", "scratch"):
            run_dir = Path(out_dir) / transfer_run._slug(ruleset) / f"seed{seed}" / group
            if group == "finetune":
                model = load_model(list_checkpoints(net_dir / "stage1")[-1])
            else:
                model = transfer_run._build_model(p["model"], tasks + [new], lay, p["hidden"], seed + 500)
            cfg = transfer_run._stage_config([new], lay, steps=p["steps2"], seed=seed + 1000, batch_size=p["batch_size"],
                                   lr=3e-3, n_checkpoints=p["n_checkpoints"])
            transfer_run.train_network(run_dir, cfg, model, counters)
            out[f"{group}_s{seed}"] = series_from_run(run_dir, group, batch, {"seed": seed})
    return out
