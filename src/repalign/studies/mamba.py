"""Mamba side of the compositional-learning study: state reduction for DSA, and the RNN-vs-Mamba reading.

* :func:`reduce_states` — project ``(trials, time, units)`` states onto their top ``k`` uncentred
  principal axes (what DSA sees of a 512-dimensional SSM state; see docs/mamba.md for the cost
  and the sensitivity of the result to ``k``).
* :data:`PAPER_MAMBA` — the paper's mean dissimilarity to master for Mamba models.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from .._serialize import to_jsonable
from .._validation import check_random_state
from ..dynamics.dmd import DMD, DMD_PARAMS
from ..dynamics.dsa import _canonical_order
from ..dynamics.vector_fields import vector_field_distance
from ..stats import p_value
from . import compositional_analysis
from .compositional_analysis import reduce_states
from .compositional_report import markdown
from .compositional_setup import GROUPS, MAMBA_KWARGS, PAPER_TABLE, configurations, mamba_params
from .mamba_report import mamba_figure, mamba_markdown

__all__ = ["reduce_states", "PAPER_MAMBA", "separation", "compare_architectures", "pretrained_groups",
           "mamba_params", "MAMBA_KWARGS", "dsa_sensitivity", "finish_mamba_study", "add_rnn_comparison"]

# The paper's Mamba figures: mean dissimilarity to master (partial: the range over the five groups).
PAPER_MAMBA = {
    "dsa": {"untrained": 0.462, "master_frozen": 0.615, "pretrain_partial": (0.385, 0.462),
            "pretrain_frozen": 0.466, "pretrain_unfrozen": 0.451},
    "cka": {"untrained": 0.381, "master_frozen": 0.339, "pretrain_partial": (0.47, 0.59),
            "pretrain_frozen": 0.638, "pretrain_unfrozen": 0.667},
    "procrustes": {"untrained": 0.416, "master_frozen": 0.365, "pretrain_partial": (0.49, 0.55),
                   "pretrain_frozen": 0.586, "pretrain_unfrozen": 0.598},
}


NOT_PRETRAINED = ("untrained", "master", "master_frozen")


def pretrained_groups(groups) -> list[str]:
    """Every group except untrained / master / master_frozen: the pretrained ones (full and partial)."""
    return [g for g in groups if g not in NOT_PRETRAINED]


def _values(group_values: dict, names, what: str) -> np.ndarray:
    missing = [g for g in names if g not in group_values]
    if missing:
        raise ValueError(f"{what} names groups missing from the values: {missing}; have {sorted(group_values)}")
    vals = np.concatenate([np.asarray(group_values[g], dtype=np.float64).ravel() for g in names])
    vals = vals[np.isfinite(vals)]
    if vals.size < 2:
        raise ValueError(f"{what} needs at least 2 finite values; got {vals.size}")
    return vals


def separation(group_values: dict, *, reference: str = "untrained", others=None, n_boot: int = 2000,
               n_perm: int = 2000, ci: float = 0.95, seed: Any = 0, return_boot: bool = False) -> dict:
    """Does a measure separate the ``reference`` group from the ``others`` (default: pretrained groups)?

    group_values: group -> per-model dissimilarities to master. Statistic: ``mean(reference) -
    mean(others pooled)``. Returns ``{diff, ci (stratified bootstrap, percentile), p (two-sided
    permutation of the labels, +1 corrected), hedges_g, n_ref, n_other, separated}`` where
    ``separated`` means the permutation p < 0.05 and the interval excludes 0 (with a handful of
    models the percentile interval alone is too narrow); with ``return_boot`` also ``boot`` (the draws).
    """
    others = pretrained_groups(group_values) if others is None else list(others)
    a, b = _values(group_values, [reference], "reference"), _values(group_values, others, "others")
    rng = check_random_state(seed)
    diff = float(a.mean() - b.mean())
    boot = np.array([rng.choice(a, a.size).mean() - rng.choice(b, b.size).mean() for _ in range(n_boot)])
    lo, hi = np.quantile(boot, [(1 - ci) / 2, (1 + ci) / 2])
    pooled = np.concatenate([a, b])
    null = np.empty(n_perm)
    for i in range(n_perm):
        perm = rng.permutation(pooled)
        null[i] = perm[: a.size].mean() - perm[a.size:].mean()
    sd = np.sqrt(((a.size - 1) * a.var(ddof=1) + (b.size - 1) * b.var(ddof=1)) / (a.size + b.size - 2))
    g = diff / sd * (1 - 3 / (4 * (a.size + b.size) - 9)) if sd > 0 else float("nan")
    p = p_value(diff, null, "two-sided")
    out = {"diff": diff, "ci": [float(lo), float(hi)], "ci_level": ci, "p": p, "hedges_g": float(g),
           "n_ref": int(a.size), "n_other": int(b.size), "separated": bool(p < 0.05 and (lo > 0 or hi < 0))}
    if return_boot:
        out["boot"] = boot
    return out


def compare_architectures(rnn: dict, mamba: dict, *, seed: Any = 0, n_boot: int = 2000, n_perm: int = 2000) -> dict:
    """RNN vs Mamba, per measure: each one's separation of untrained from pretrained models
    (:func:`separation`) and the difference of the two separations (RNN - Mamba) with a bootstrap
    interval from the two independent bootstrap distributions.

    rnn, mamba: measure -> group -> per-model dissimilarities to master (measures in both are used).
    """
    out = {}
    for measure in [m for m in rnn if m in mamba]:
        try:
            out[measure] = _contrast(rnn[measure], mamba[measure], seed, n_boot, n_perm)
        except ValueError:  # a run with too few models for an interval
            out[measure] = {"rnn": None, "mamba": None, "rnn_minus_mamba": None}
    return out


def _contrast(rnn: dict, mamba: dict, seed: Any, n_boot: int, n_perm: int) -> dict:
    r = separation(rnn, seed=seed, n_boot=n_boot, n_perm=n_perm, return_boot=True)
    m = separation(mamba, seed=seed, n_boot=n_boot, n_perm=n_perm, return_boot=True)
    dd = r.pop("boot") - m.pop("boot")
    lo, hi = np.quantile(dd, [0.025, 0.975])
    return {"rnn": r, "mamba": m, "rnn_minus_mamba": {
        "diff": r["diff"] - m["diff"], "ci": [float(lo), float(hi)], "different": bool(lo > 0 or hi < 0)}}


def _paper_cells(table: dict) -> dict:
    return {m: {g: (f"{v[0]:g}-{v[1]:g}" if isinstance(v, tuple) else v) for g, v in d.items()}
            for m, d in table.items()}


def dsa_sensitivity(params: dict, out, *, log=print) -> dict:
    """DSA dissimilarity to master recomputed for every (state PCA k, DMD rank r) of
    ``params["sensitivity"]``, with the time spent in the DMD fits and in the Procrustes searches.

    Per setting: ``to_master`` (group -> values per configuration), ``separation`` (untrained vs
    pretrained), ``dmd_s`` / ``procrustes_s`` (totals), ``explained`` (mean share of the state kept)
    and the Spearman correlation of the per-model values with the study's setting.
    """
    runs, batch = Path(out) / "runs", compositional_analysis.test_batch(params)
    states = {}
    for cfg in configurations(params):
        for g in GROUPS:
            states[(cfg["id"], g)] = compositional_analysis.states(compositional_analysis._load_group_model(params, runs, cfg, g), batch)
    dsa = dict(params["dsa"])
    dmd_kw = {k: dsa[k] for k in DMD_PARAMS if k in dsa and k != "rank"}
    settings = [(k, r) for k in params["sensitivity"]["pcs"] for r in params["sensitivity"]["ranks"]]
    study = (params.get("state_pca"), dsa.get("rank"))
    if study not in settings:
        settings.append(study)
    res = {}
    for k, r in settings:
        ops, t_dmd, t_proc, expl = {}, 0.0, 0.0, []
        for key, X in states.items():
            Z, e = reduce_states(X, k)
            t0 = time.perf_counter()
            ops[key] = DMD(rank=r, **dmd_kw).fit(Z).A_v
            t_dmd += time.perf_counter() - t0
            expl.append(e)
        to_master = {g: [] for g in GROUPS if g != "master"}
        for cfg in configurations(params):
            for g in to_master:
                t0 = time.perf_counter()
                A, B = _canonical_order(ops[(cfg["id"], "master")], ops[(cfg["id"], g)])
                to_master[g].append(vector_field_distance(A, B, group=dsa.get("group", "O"),
                                                          n_restarts=dsa.get("n_restarts", 4), seed=0).score)
                t_proc += time.perf_counter() - t0
        name = f"k={k if k else 'all'},r={r}"
        res[name] = {"pcs": k, "rank": r, "to_master": to_master, "dmd_s": t_dmd, "procrustes_s": t_proc,
                     "n_fits": len(ops), "n_pairs": sum(len(v) for v in to_master.values()),
                     "explained": float(np.mean(expl)), "separation": _safe_separation(to_master, params)}
        log(f"DSA sensitivity {name}: DMD {t_dmd:.1f} s, Procrustes {t_proc:.1f} s")
    ref = res[f"k={study[0] if study[0] else 'all'},r={study[1]}"]
    flat_ref = np.concatenate([ref["to_master"][g] for g in sorted(ref["to_master"])])
    for v in res.values():
        flat = np.concatenate([v["to_master"][g] for g in sorted(v["to_master"])])
        v["spearman_vs_study"] = float(spearmanr(flat, flat_ref).statistic) if flat.size > 2 else float("nan")
        v["max_abs_diff_vs_study"] = float(np.max(np.abs(flat - flat_ref)))
    return {"study_setting": list(study), "settings": res}


def _safe_separation(to_master: dict, params: dict) -> dict | None:
    try:
        return separation(to_master, n_boot=params["n_boot"], n_perm=params["n_perm"], seed=0)
    except ValueError:  # too few models (e.g. one configuration)
        return None


def finish_mamba_study(result: dict, params: dict, out, *, log=print) -> dict:
    """Add the Mamba parts to a finished compositional run and rewrite its outputs.

    ``result["paper_table"]`` becomes the paper's Mamba figures (the RNN ones move to
    ``paper_table_rnn``); ``result["mamba"]`` holds, per measure, the separation of untrained from
    pretrained models (:func:`separation`), the DSA cost/sensitivity (:func:`dsa_sensitivity`) and,
    when ``params["compare_with"]`` names an RNN run's directory, the RNN-vs-Mamba contrast
    (:func:`compare_architectures`). compositional.md gets a "Mamba" section.
    """

    out = Path(out)
    result["paper_table"], result["paper_table_rnn"] = _paper_cells(PAPER_MAMBA), PAPER_TABLE
    block = {"separation": {m: _safe_separation(v, params) for m, v in result["to_master"].items()}}
    if params.get("sensitivity"):
        block["dsa_sensitivity"] = dsa_sensitivity(params, out, log=log)
    rnn_dir = params.get("compare_with")
    if rnn_dir:
        rnn = _floats(json.loads((Path(rnn_dir) / "compositional.json").read_text()))
        block["rnn_run"] = {"dir": str(rnn_dir), "model": rnn["model"], "preset": rnn["preset"],
                            "dissimilarity": rnn["dissimilarity"]}
        block["rnn_vs_mamba"] = compare_architectures(rnn["to_master"], result["to_master"], seed=0,
                                                      n_boot=params["n_boot"], n_perm=params["n_perm"])
    result["mamba"] = block

    # run_study wrote the figures already; JSON and markdown again, with the Mamba table and section
    result.setdefault("figures", {})["mamba"] = str(mamba_figure(result, out))  # a path string, as the others
    (out / "compositional.json").write_text(json.dumps(to_jsonable(result, lenient=True), indent=1, allow_nan=False))
    (out / "compositional.md").write_text(markdown(result) + mamba_markdown(result))
    return block


def add_rnn_comparison(mamba_dir, rnn_dir) -> dict:
    """Add (or replace) the RNN-vs-Mamba section of a finished Mamba run, from the two runs'
    compositional.json files (nothing is retrained or recomputed but the comparison statistics)."""

    mamba_dir = Path(mamba_dir)
    result = _floats(json.loads((mamba_dir / "compositional.json").read_text()))
    if result.get("model") != "mamba" or "mamba" not in result:
        raise ValueError(f"mamba_dir must hold a finished Mamba run (study compositional --model mamba); got {mamba_dir}")
    rnn = _floats(json.loads((Path(rnn_dir) / "compositional.json").read_text()))
    p = result["params"]
    block = result["mamba"]
    block["rnn_run"] = {"dir": str(rnn_dir), "model": rnn["model"], "preset": rnn["preset"],
                        "dissimilarity": rnn["dissimilarity"]}
    block["rnn_vs_mamba"] = compare_architectures(rnn["to_master"], result["to_master"], seed=0,
                                                  n_boot=p["n_boot"], n_perm=p["n_perm"])
    result["figures"]["mamba"] = str(mamba_figure(result, mamba_dir))
    (mamba_dir / "compositional.json").write_text(json.dumps(to_jsonable(result, lenient=True), indent=1, allow_nan=False))
    (mamba_dir / "compositional.md").write_text(markdown(result) + mamba_markdown(result))
    return block


def _floats(x):
    """JSON written by ``to_jsonable`` stores NaN/inf as the strings 'nan'/'inf'/'-inf': back to floats."""
    if isinstance(x, dict):
        return {k: _floats(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_floats(v) for v in x]
    if x in ("nan", "inf", "-inf"):
        return float(x)
    return x
