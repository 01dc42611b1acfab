"""The transfer experiment, end to end: train, record, analyse, aggregate (issue 8).

For each pretraining rule set (two tasks) and seed, a network is trained in two stages
("expand and freeze", Driscoll, Shenoy & Sussillo 2024): stage 1 trains every parameter on
the two pretraining tasks, with three rule slots so that the new task owns a column that is
silent during stage 1; stage 2 learns the new task through that rule column only. The
networks are then recorded on the fixed test grid of every task and analysed with
:mod:`repalign.studies.transfer`:

* cross-task variance explained, stimulus epoch (``stim1``: pretraining task 1 vs the new
  task) and response epoch (``go1``: pretraining task 2 vs the new task), with the new
  task's own curve, the direction-matched variant, principal angles and participation
  ratios (for multi-plastic networks also on the modulation matrices ``W * M``);
* the random-basis null: are the new task's states more inside the top-k pretraining PCs
  than inside random k-dimensional subspaces ("uniform") or random high-variance
  subspaces of the same network ("covariance", stricter)? Calibrated p-values;
* rule-vector geometry (cosines of the learned rule columns);
* the backbone probe: does the trained rule column beat fresh random columns of the same
  norm on the new task (calibrated)?

Trained networks are kept under ``out_dir`` (checkpoints per stage); running again with
the same arguments loads them instead of retraining. ``train_network`` is reused by
:mod:`repalign.studies.learning` for the from-scratch and fine-tune-all groups.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .._serialize import to_jsonable
from .._validation import check_choice
from ..tasks import accuracy as task_accuracy
from ..tasks import generate as generate_trials
from .transfer import aggregate
from .transfer_analysis import cross_task_variance, epoch_states, rule_geometry
from .transfer_figures import plot_angle_spectrum, plot_seed_scatter, plot_variance_curves
from .transfer_nulls import backbone_probe, random_basis_null
from .transfer_probe import reinit_rule_column

# torch (an optional dependency) and what imports it (..models, ..train) are imported inside the
# functions that build, train or run networks: the analyses work without torch.
DEFAULT_RULESETS = {"go+dlygo": ["fdgo", "delaygo"], "anti+dlygo": ["fdanti", "delaygo"]}
EPOCHS = {"stimulus": ("stim1", 0), "response": ("go1", 1)}  # epoch name, index of the pretraining task
MODELS = ("leaky_rnn", "plastic", "mpn", "gru")  # "mpn" is "plastic" under the model registry's name

__all__ = ["run_transfer", "train_network", "network_layout", "test_batches", "DEFAULT_RULESETS",
           "default_params"]


def default_params(quick: bool = False) -> dict[str, Any]:
    """Network and training sizes of the demo (``quick``: the reduced version used by tests)."""
    if quick:
        return dict(hidden=32, steps1=120, steps2=120, batch_size=32, n_components=8, null_draws=300,
                    probe_draws=15, n_checkpoints=4)
    return dict(hidden=48, steps1=300, steps2=400, batch_size=32, n_components=10, null_draws=1000,
                probe_draws=100, n_checkpoints=6)


# ----------------------------------------------------------------------------- networks
def network_layout(tasks: Sequence[str], new_task: str, layout: str = "compact", dt: float = 40.0) -> dict:
    """Task-generator keywords shared by both stages: three rule slots, the new task last."""
    rule_index = {t: i for i, t in enumerate(list(tasks) + [new_task])}
    return {"layout": layout, "rule_slots": len(rule_index), "rule_index": rule_index, "task_kwargs": {"dt": float(dt)}}


def _build_model(model: str, tasks: Sequence[str], lay: Mapping[str, Any], hidden: int, seed: int):
    from ..models import LeakyRNN, MultiPlasticNet
    from ..train.data import io_sizes

    n_in, n_out = io_sizes(list(tasks), layout=lay["layout"], rule_slots=lay["rule_slots"],
                           rule_index=lay["rule_index"], **lay["task_kwargs"])
    if model == "leaky_rnn":
        return LeakyRNN(n_in, hidden, n_out, dt=lay["task_kwargs"]["dt"], activation="tanh", rec_gain=1.0, seed=seed)
    if model in ("plastic", "mpn"):
        return MultiPlasticNet(n_in, hidden, n_out, seed=seed)
    if model == "gru":
        from ..models import GRUModel

        return GRUModel(n_in, hidden, n_out, seed=seed)
    raise ValueError(f"model must be one of {MODELS}; got {model!r}")


def _stage_config(tasks, lay, *, steps, seed, batch_size, lr, trainable="all", stop_accuracy=None,
                  n_checkpoints=None, **extra):
    from ..train import TrainConfig

    # Evenly spaced checkpoints (matched by fraction of training in the learning analysis).
    ckpts = (sorted({int(round(s)) for s in np.linspace(0, steps, n_checkpoints + 1)})
             if n_checkpoints else "log")
    every = max(1, steps // n_checkpoints) if n_checkpoints else max(1, steps // 8)
    return TrainConfig(tasks=list(tasks), steps=int(steps), batch_size=batch_size, lr=lr, seed=seed,
                       checkpoints=ckpts, eval_every=every, eval_batch=128, stop_accuracy=stop_accuracy,
                       trainable=trainable, **lay, **extra)


def train_network(out_dir: str | Path, config, model, counters: dict | None = None):
    """Train ``model`` with ``config`` into ``out_dir``, or load it when ``out_dir`` holds the
    finished run. ``counters["trained"|"loaded"]`` is incremented accordingly.

    Returns ``repalign.train.TrainResult``.
    """
    from ..train import train

    out_dir = Path(out_dir)
    key = "loaded" if (out_dir / "result.json").exists() else "trained"
    if counters is not None:
        counters[key] = counters.get(key, 0) + 1
    return train(model, config, out_dir)


def pretrain_and_transfer(tasks, new_task, seed, out_dir, *, model="leaky_rnn", hidden=48, steps1=300,
                          steps2=400, batch_size=32, n_checkpoints=6, layout="compact", dt=40.0,
                          lr1=3e-3, lr2=0.05, counters=None, l2_weight=0.0, rule_init=None, save_every=None,
                          stop_accuracy=0.95, **_ignored):
    """Stage 1 (all parameters, ``tasks``) then stage 2 (``new_task``'s rule column only).

    ``l2_weight``: L2 on weight matrices in both stages. ``rule_init="kaiming"``: the new
    rule's column is re-drawn Kaiming-uniform (a = sqrt 5, :mod:`.transfer_probe`) before stage 2,
    as the seed's expand-and-freeze does (None: it keeps its stage-1 value). ``save_every``:
    extra checkpoints for crash recovery. ``stop_accuracy``: stage 1's criterion.

    Returns ``(stage1_result, stage2_result, layout_kwargs)``; the model of stage 2 is
    ``stage2_result.model``. Checkpoints: ``out_dir/stage1``, ``out_dir/stage2``.
    """
    from ..train.data import rule_column

    lay = network_layout(tasks, new_task, layout, dt)
    net = _build_model(model, list(tasks) + [new_task], lay, hidden, seed)
    extra = {k: v for k, v in dict(l2_weight=l2_weight, save_every=save_every).items() if v}
    s1 = _stage_config(tasks, lay, steps=steps1, seed=seed, batch_size=batch_size, lr=lr1,
                       stop_accuracy=stop_accuracy, **extra)
    s2 = _stage_config([new_task], lay, steps=steps2, seed=seed + 1000, batch_size=batch_size, lr=lr2,
                       trainable="rule_column", n_checkpoints=n_checkpoints, **extra)
    s2.rule_column = rule_column(new_task, layout=lay["layout"], rule_slots=lay["rule_slots"],
                                 rule_index=lay["rule_index"], **lay["task_kwargs"])
    r1 = train_network(Path(out_dir) / "stage1", s1, net, counters)
    if rule_init == "kaiming":  # overwritten again by stage 2's checkpoint when stage 2 resumes
        reinit_rule_column(r1.model, s2.rule_column, seed + 2000)
    elif rule_init is not None:
        raise ValueError(f"rule_init must be None or 'kaiming'; got {rule_init!r}")
    r2 = train_network(Path(out_dir) / "stage2", s2, r1.model, counters)
    return r1, r2, lay


# ----------------------------------------------------------------------------- recordings
def test_batches(tasks: Sequence[str], lay: Mapping[str, Any]) -> dict:
    """The fixed test grid (``mode="test"``) of every task, in the network's input layout."""
    return {t: generate_trials(t, mode="test", layout=lay["layout"], rule_slots=lay["rule_slots"],
                                 rule_index=lay["rule_index"], **lay["task_kwargs"]) for t in tasks}


def _modulation_weight(net) -> np.ndarray | None:
    return net.w.detach().double().numpy() if getattr(net, "model_type", "") == "mpn" else None


def analyse_network(net, tasks, new_task, lay, *, n_components=10, null_draws=1000, probe_draws=40,
                    seed=0) -> dict:
    """Every transfer analysis of one trained network (see the module docstring).

    Returns a JSON-ready dict: ``epochs`` (per epoch: the cross-task variance result, the
    nulls ``uniform`` and ``covariance`` as dicts), ``modulation`` (plastic networks only),
    ``rule`` (rule geometry), ``probe`` (backbone probe).
    """
    from ..train import record

    batches = test_batches(list(tasks) + [new_task], lay)
    recs = {t: record(net, b) for t, b in batches.items()}
    W = _modulation_weight(net)
    out: dict[str, Any] = {"epochs": {}}
    for label, (epoch, which) in EPOCHS.items():
        pre_task = tasks[which]
        out["epochs"][label] = _epoch_analysis(recs[pre_task], batches[pre_task], recs[new_task], batches[new_task],
                                               epoch, pre_task, n_components, null_draws, seed)
        if W is not None:
            out.setdefault("modulation", {})[label] = _modulation_analysis(
                recs[pre_task], recs[new_task], W, epoch, n_components)
    n_rules = lay["rule_slots"]
    w_in = net.input_weight().detach().double().numpy()
    rule_start = batches[new_task].rule_start
    out["rule"] = _plain(rule_geometry(w_in[:, rule_start:rule_start + n_rules], list(range(n_rules - 1)), n_rules - 1))
    out["probe"] = _probe(net, new_task, lay, rule_start + n_rules - 1, probe_draws, seed)
    return out


def _epoch_analysis(rec_pre, b_pre, rec_new, b_new, epoch, pre_task, k, null_draws, seed) -> dict:
    pre, i_pre = epoch_states(rec_pre.hidden, b_pre, epoch, return_trials=True)
    new, i_new = epoch_states(rec_new.hidden, b_new, epoch, return_trials=True)
    r = cross_task_variance(pre, new, k, direction_matched=True, pre_dirs=b_pre.stim_dirs[i_pre, 0],
                              new_dirs=b_new.stim_dirs[i_new, 0])
    K = r["n_components"]
    nulls = {m: random_basis_null(pre, new, K, n_draws=null_draws, seed=np.random.default_rng([seed, j, 11]), method=m).to_dict(False)
             for j, m in enumerate(("uniform", "covariance"))}
    dm = r.pop("direction_matched")
    r["direction_matched"] = {key: dm[key] for key in ("cross", "self", "fraction", "area_ratio")}
    r["direction_matched"]["skipped_bins"] = dm["skipped_bins"]
    return {"pretraining_task": pre_task, "epoch": epoch, "samples": [len(pre), len(new)], **_plain(r),
            "null": nulls}


def _modulation_analysis(rec_pre, rec_new, W, epoch, k) -> dict:
    pre = epoch_states(rec_pre.M * W, rec_pre, epoch)
    new = epoch_states(rec_new.M * W, rec_new, epoch)
    return _plain(cross_task_variance(pre, new, k))


def _probe(net, new_task, lay, column: int, n_draws: int, seed: int) -> dict:
    import torch

    from ..train import task_loss

    batch = generate_trials(new_task, 128, seed=np.random.default_rng([seed, 7]), layout=lay["layout"], rule_slots=lay["rule_slots"],
                              rule_index=lay["rule_index"], **lay["task_kwargs"])
    data = batch.to_torch()
    weight = net.input_weight()
    trained = weight.detach()[:, column].clone()

    def evaluate(col: np.ndarray) -> tuple[float, float]:
        with torch.no_grad():
            weight[:, column] = torch.as_tensor(col, dtype=weight.dtype)
            net.eval()
            y = net(data["inputs"], noise=False).outputs
            loss = float(task_loss(y, data["targets"], data["mask"], "mse"))
            weight[:, column] = trained
        return loss, float(np.mean(task_accuracy(batch, y.double().numpy())))

    res = backbone_probe(evaluate, tuple(trained.shape), n_draws, np.random.default_rng([seed, 13]), trained.double().numpy())
    return res.to_dict(False)


def _plain(obj: Any) -> Any:
    """numpy arrays and scalars to lists and floats (recursively); NaN stays a float."""
    return to_jsonable(obj, "transfer result", keep_nonfinite=True)


# ----------------------------------------------------------------------------- summary
def _summary(res: dict) -> dict:
    """Numbers of one network that are aggregated across seeds."""
    s: dict[str, Any] = {}
    for label, e in res["epochs"].items():
        s[label] = {
            "cross": np.asarray(e["cross"]), "self": np.asarray(e["self"]), "fraction": e["fraction"],
            "area_ratio": e["area_ratio"], "angles": np.asarray(e["angles"]), "pr_pre": e["pr_pre"],
            "pr_new": e["pr_new"], "pr_new_in_pre": e["pr_new_in_pre"],
            "direction_matched": {k: np.asarray(e["direction_matched"][k]) for k in ("cross", "self", "fraction")},
            "null_uniform_mean": e["null"]["uniform"]["null_mean"], "null_uniform_p": e["null"]["uniform"]["p_value"],
            "null_covariance_mean": e["null"]["covariance"]["null_mean"],
            "null_covariance_p": e["null"]["covariance"]["p_value"],
        }
    for label, m in res.get("modulation", {}).items():
        s[f"modulation_{label}"] = {"cross": np.asarray(m["cross"]), "self": np.asarray(m["self"]),
                                    "fraction": m["fraction"]}
    s["rule"] = {"cos_new_pre": np.asarray(res["rule"]["cos_new_pre"]), "span_fraction": res["rule"]["span_fraction"]}
    s["probe"] = {"observed": res["probe"]["observed"], "null_mean": res["probe"]["null_mean"],
                  "p_value": res["probe"]["p_value"]}
    s["accuracy"] = dict(res["accuracy"])
    return s


def basis_statement(networks: Sequence[dict], alpha: float = 0.05) -> dict:
    """Per rule set and epoch: in how many networks is the new task's variance more inside
    the pretraining basis than in random bases (uniform and covariance nulls, p <= alpha)?

    Returns ``{"rows": [...], "text": str}`` (the text says it plainly either way).
    """
    rows, lines = [], []
    for rs in dict.fromkeys(n["ruleset"] for n in networks):
        nets = [n for n in networks if n["ruleset"] == rs]
        for label in EPOCHS:
            ps = {m: [n["epochs"][label]["null"][m]["p_value"] for n in nets] for m in ("uniform", "covariance")}
            obs = [n["epochs"][label]["null"]["uniform"]["observed"] for n in nets]
            row = {"ruleset": rs, "epoch": label, "networks": len(nets), "fraction_mean": float(np.mean(obs)),
                   "uniform_null_mean": float(np.mean([n["epochs"][label]["null"]["uniform"]["null_mean"] for n in nets])),
                   "n_above_uniform": int(sum(p <= alpha for p in ps["uniform"])),
                   "covariance_null_mean": float(np.mean([n["epochs"][label]["null"]["covariance"]["null_mean"] for n in nets])),
                   "n_above_covariance": int(sum(p <= alpha for p in ps["covariance"])),
                   "max_p_uniform": float(np.max(ps["uniform"])), "max_p_covariance": float(np.max(ps["covariance"]))}
            rows.append(row)
            lines.append(_sentence(row, alpha))
    return {"rows": rows, "alpha": alpha, "text": "\n\n".join(lines)}


def _sentence(r: dict, alpha: float) -> str:
    n = r["networks"]
    head = (f"**{r['ruleset']}, {r['epoch']} epoch**: the new task's hidden states put on average "
            f"{r['fraction_mean']:.2f} of their variance inside the top pretraining PCs "
            f"(random-basis null mean {r['uniform_null_mean']:.2f}; covariance-matched null mean "
            f"{r['covariance_null_mean']:.2f}).")
    if r["n_above_uniform"] == n:
        verdict = f" In all {n} networks this is more than in random bases (p <= {alpha:g})"
    elif r["n_above_uniform"] == 0:
        verdict = f" In none of the {n} networks is it more than in random bases (all p > {alpha:g}): they do not"
    else:
        verdict = f" Only {r['n_above_uniform']} of {n} networks exceed random bases (p <= {alpha:g})"
    strict = (f"; against the stricter covariance-matched null, {r['n_above_covariance']} of {n} do.")
    return head + verdict + strict


# ----------------------------------------------------------------------------- figures
def _figures(by_ruleset: dict, networks: list, out_dir: Path) -> dict[str, str]:
    fig_dir = out_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, str] = {}
    for rs, agg in by_ruleset.items():
        for label in EPOCHS:
            p = fig_dir / f"variance_{_slug(rs)}_{label}.png"
            plot_variance_curves(agg[label], path=p, title=f"{rs}: {label} epoch (mean ± s.e.m.)")
            paths[f"variance/{rs}/{label}"] = str(p)
        p = fig_dir / f"angles_{_slug(rs)}.png"
        plot_angle_spectrum([np.asarray(agg[lab]["angles"]["mean"]) for lab in EPOCHS], labels=list(EPOCHS),
                              path=p, title=f"{rs}: principal angles (mean over seeds)")
        paths[f"angles/{rs}"] = str(p)
    obs = [n["epochs"][lab]["null"]["uniform"]["observed"] for n in networks for lab in EPOCHS]
    null = [n["epochs"][lab]["null"]["covariance"]["null_mean"] for n in networks for lab in EPOCHS]
    labels = [f"{n['ruleset']} s{n['seed']} {lab[:4]}" for n in networks for lab in EPOCHS]
    p = fig_dir / "basis_vs_null.png"
    plot_seed_scatter(null, obs, labels=labels, xlabel="covariance-null mean fraction",
                        ylabel="observed fraction in pretraining basis", path=p,
                        title="New-task variance in the pretraining basis")
    paths["basis_vs_null"] = str(p)
    return paths


def _slug(s: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in s)


def _cached_analysis(path: Path, key: dict, compute, counters: dict) -> dict:
    """The analysis stored at ``path`` when it was made with ``key``, else computed and stored.

    The analysis is a deterministic function of the trained network (its final stage-2
    step identifies the checkpoint) and ``key``'s parameters.
    """
    key = json.loads(json.dumps(key))
    if path.exists():
        try:
            stored = json.loads(path.read_text())
        except ValueError:
            stored = {}
        if stored.get("key") == key:
            counters["analysis_reused"] += 1
            return stored["result"]
    res = compute()
    counters["analysed"] += 1
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"key": key, "result": res}, allow_nan=True))
    tmp.replace(path)
    return res


# ----------------------------------------------------------------------------- runner
def run_transfer(rulesets: Mapping[str, Sequence[str]] | None = None, new_task: str = "delayanti",
                 seeds: Sequence[int] = (0, 1), model: str = "leaky_rnn", hidden: int | None = None,
                 steps1: int | None = None, steps2: int | None = None, out_dir: str | Path = "transfer",
                 quick: bool = False, layout: str = "compact", dt: float = 40.0, progress=None,
                 **overrides: Any) -> dict:
    """Train (or load) every rule set x seed network and run every transfer analysis.

    Parameters
    ----------
    rulesets : mapping name -> two pretraining task names
        Default :data:`DEFAULT_RULESETS`. Task 1 is compared with the new task in the
        stimulus epoch, task 2 in the response epoch.
    new_task : str
        Learned in stage 2 through its rule column only.
    seeds : sequence of int
        One network per seed and rule set (weights, data and noise).
    model : ``"leaky_rnn"`` or ``"plastic"`` (multi-plastic network; adds the analysis on M).
    hidden, steps1, steps2 : int, optional
        Units and updates of stage 1 / stage 2 (defaults: :func:`default_params`).
    out_dir : path
        Checkpoints go to ``out_dir/<ruleset>/seed<k>/stage{1,2}``, figures to ``out_dir/figures``.
    quick : bool
        The reduced sizes of :func:`default_params`.
    layout, dt : task input layout (``"compact"`` trains fastest) and time step (ms).
    progress : callable(str), optional
        Called with a message after each network.
    **overrides
        Any other key of :func:`default_params` (``n_components``, ``null_draws``, ...).

    Returns
    -------
    dict (JSON-ready apart from nothing): ``params``, ``networks`` (one per rule set x seed:
    accuracies, every analysis), ``aggregate`` (per rule set, mean ± s.e.m. over seeds),
    ``basis_statement``, ``figures`` (name -> PNG path), ``counters`` (networks trained /
    loaded), ``seconds``.
    """
    t0 = time.perf_counter()
    rulesets = dict(rulesets or DEFAULT_RULESETS)
    check_choice(model, "model", MODELS)
    for name, tasks in rulesets.items():
        if len(tasks) != 2:
            raise ValueError(f"rulesets[{name!r}] must name two pretraining tasks; got {tasks!r}")
    unknown = sorted(set(overrides) - set(default_params()))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown}; valid: {sorted(default_params())}")
    p = {**default_params(quick), **{k: v for k, v in dict(hidden=hidden, steps1=steps1, steps2=steps2).items()
                                     if v is not None}, **overrides}
    out_dir = Path(out_dir)
    counters: dict[str, int] = {"trained": 0, "loaded": 0, "analysed": 0, "analysis_reused": 0}
    networks = []
    for rs, tasks in rulesets.items():
        for seed in seeds:
            net_dir = out_dir / _slug(rs) / f"seed{seed}"
            r1, r2, lay = pretrain_and_transfer(tasks, new_task, int(seed), net_dir, model=model, layout=layout,
                                                dt=dt, counters=counters, **p)
            akw = dict(n_components=p["n_components"], null_draws=p["null_draws"], probe_draws=p["probe_draws"],
                       seed=int(seed))
            res = _cached_analysis(net_dir / "analysis.json", {**akw, "stage2_step": r2.steps_done,
                                                              "tasks": list(tasks), "new_task": new_task},
                                   lambda: analyse_network(r2.model, list(tasks), new_task, lay, **akw), counters)
            res.update(ruleset=rs, tasks=list(tasks), seed=int(seed), dir=str(net_dir),
                       accuracy={"stage1": r1.final_accuracy(), "stage2": r2.final_accuracy()},
                       steps={"stage1": r1.steps_done, "stage2": r2.steps_done})
            networks.append(res)
            if progress is not None:
                progress(f"transfer {rs} seed {seed}: stage-2 accuracy {r2.final_accuracy()}")
    by_ruleset = {rs: aggregate([_summary(n) for n in networks if n["ruleset"] == rs]) for rs in rulesets}
    figures = _figures(by_ruleset, networks, out_dir)
    return {
        "params": {"rulesets": rulesets, "new_task": new_task, "seeds": list(seeds), "model": model,
                   "layout": layout, "dt": dt, **p},
        "networks": networks,
        "aggregate": _plain(by_ruleset),
        "basis_statement": basis_statement(networks),
        "figures": figures,
        "counters": counters,
        "seconds": time.perf_counter() - t0,
    }
