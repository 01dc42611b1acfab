"""Aggregation, calibration and the written outputs of ``repalign study transfer``.

:func:`summarise` turns the per-network results of :mod:`.transfer_study` into the content of
``transfer.json``: per rule set, mean +/- s.e.m. over seeds of every analysis
(``transfer.aggregate``), and ``findings``: each headline comparison with its estimate, a
bootstrap interval over seeds (percentile, :func:`repalign.stats.bootstrap_statistic`;
two-sample for rule-set differences) and whether it *survives* (the interval excludes 0 in the
claimed direction). :func:`write_outputs` writes ``transfer.json`` (strict JSON, NaN as null)
and ``transfer.md``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .._serialize import to_jsonable
from ..stats import bootstrap_statistic
from .transfer import aggregate
from .transfer_figures import cross_ruleset_figure, learning_curves_figure, spectrum_figure
from .transfer_markdown import markdown
from .transfer_probe import probe_summary
from .transfer_run import EPOCHS, _plain, _slug

__all__ = ["summarise", "write_outputs", "bootstrap_mean", "bootstrap_difference"]

ALPHA = 0.05
HEADLINE_K = "10"
SPECTRA = ("variance_spectrum", "modulation_raw", "modulation_weighted")


def _arr(v: Any) -> Any:
    return np.asarray(v, dtype=float) if isinstance(v, list) else v


def _spectrum_summary(s: Mapping[str, Any]) -> dict:
    at = {k: {m: v[m] for m in ("fraction", "area_ratio", "self")} for k, v in s["at_k"].items()}
    dm = s["direction_matched"]
    return {"cross": _arr(s["cross"]), "self": _arr(s["self"]), "at_k": at,
            "direction_matched": {"cross": _arr(dm["cross"]), "self": _arr(dm["self"]),
                                  "at_k": {k: {m: v[m] for m in ("fraction", "area_ratio")}
                                           for k, v in dm["at_k"].items()}}}


def network_summary(n: Mapping[str, Any]) -> dict:
    """The numbers of one network that are aggregated over seeds (arrays for curves)."""
    s: dict[str, Any] = {}
    for key in SPECTRA:
        if key in n:
            s[key] = {lab: _spectrum_summary(v) for lab, v in n[key].items()}
    if "mean_modulation" in n:
        s["mean_modulation"] = {lab: {m: v[m] for m in ("cos", "frobenius", "pooled_cos", "pooled_frobenius")}
                                for lab, v in n["mean_modulation"].items()}
    s["geometry"] = {lab: {"angles": _arr(g["angles"]), "pr_pre": g["pr_pre"], "pr_new": g["pr_new"],
                           "pr_new_in_pre": g["pr_new_in_pre"], "fraction": g["fraction"],
                           "null_uniform_mean": g["null"]["uniform"]["null_mean"],
                           "null_covariance_mean": g["null"]["covariance"]["null_mean"]}
                     for lab, g in n["geometry"].items()}
    r = n["rule"]
    s["rule"] = {"cos_new_pre": _arr(r["cos_new_pre"]), "span_fraction": r["span_fraction"], "norms": _arr(r["norms"])}
    fresh, norm = n["backbone_probe"]["fresh_columns"], n["backbone_probe"]["norm_matched"]
    s["backbone_probe"] = {
        "fresh_columns": {k: fresh[k] for k in ("stage2_start_loss", "stage2_start_loss_out", "stage2_start_accuracy")},
        "trained_column": dict(fresh["trained_column"]), **probe_summary(fresh),
        "norm_matched": {"observed": norm["observed"], "null_mean": norm["null_mean"]}}
    s["accuracy"] = {"stage1": dict(n["accuracy"]["stage1"]), "stage2": dict(n["accuracy"]["stage2"])}
    s["steps"] = dict(n["steps"])
    return s


def pad_curves(summaries: list[dict], keys: Sequence[str] = ("cross", "self")) -> list[dict]:
    """Extend the cumulative curves ``keys`` of every summary (in place) with their last value
    to the longest at the same place, so seeds whose spectra have different lengths (ranks)
    average position by position. Exact: a cumulative curve is flat once its basis runs out."""
    def walk(dicts: list[dict]) -> None:
        for key in dicts[0]:
            vals = [d.get(key) for d in dicts]
            if all(isinstance(v, Mapping) for v in vals):
                walk(vals)
            elif key in keys and all(isinstance(v, np.ndarray) and v.ndim == 1 and v.size for v in vals):
                n = max(v.size for v in vals)
                for d in dicts:
                    d[key] = np.concatenate([d[key], np.full(n - d[key].size, d[key][-1])])

    if summaries:
        walk(summaries)
    return summaries


# ----------------------------------------------------------------------------- bootstrap
def bootstrap_mean(values: Sequence[float], seed: int = 0, n: int = 2000) -> dict:
    """Mean over seeds with a 95% percentile bootstrap interval (None with fewer than 2 values)."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    out = {"estimate": float(v.mean()) if v.size else float("nan"), "n": int(v.size), "interval": None}
    if v.size >= 2 and np.ptp(v) > 0:
        r = bootstrap_statistic(v, np.mean, n=n, method="percentile", seed=seed)
        out["interval"] = [float(r.interval[0]), float(r.interval[1])]
    elif v.size >= 2:
        out["interval"] = [float(v[0]), float(v[0])]
    return out


def bootstrap_difference(a: Sequence[float], b: Sequence[float], seed: int = 0, n: int = 2000) -> dict:
    """mean(a) - mean(b), seeds resampled within each group; 95% percentile interval."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    out = {"estimate": float(a.mean() - b.mean()), "n": [int(a.size), int(b.size)], "interval": None}
    if a.size >= 2 and b.size >= 2:
        rng = np.random.default_rng([seed, 99])
        ma = a[rng.integers(0, a.size, (n, a.size))].mean(axis=1)
        d = ma - b[rng.integers(0, b.size, (n, b.size))].mean(axis=1)
        out["interval"] = [float(np.quantile(d, 0.025)), float(np.quantile(d, 0.975))]
    return out


def _verdict(est: dict, direction: str) -> str:
    iv = est["interval"]
    if iv is None:
        return "not calibrated (fewer than 2 seeds per group)"
    tol = 1e-9  # differences of rounding size (e.g. curves that all reach 1) are no effect
    if direction == "greater":
        return "survives" if iv[0] > tol else "does not survive"
    if direction == "less":
        return "survives" if iv[1] < -tol else "does not survive"
    return "survives" if iv[0] > tol or iv[1] < -tol else "does not survive"


# ----------------------------------------------------------------------------- findings
def findings(networks: Sequence[Mapping[str, Any]], seed: int = 0) -> list[dict]:
    """Every headline comparison with its bootstrap interval over seeds and a verdict."""
    rows: list[dict] = []
    rulesets = list(dict.fromkeys(n["ruleset"] for n in networks))
    cuts = list(networks[0]["variance_spectrum"]["stimulus"]["at_k"])
    hk = HEADLINE_K if HEADLINE_K in cuts else max(cuts, key=int)

    def add(claim, values, direction, **extra):
        est = bootstrap_mean(values, seed=seed)
        rows.append({"claim": claim, **est, "direction": direction, "verdict": _verdict(est, direction), **extra})

    for rs in rulesets:
        nets = [n for n in networks if n["ruleset"] == rs]
        for lab in EPOCHS:
            g = [n["geometry"][lab] for n in nets]
            for null in ("uniform", "covariance"):
                exc = [x["null"][null]["observed"] - x["null"][null]["null_mean"] for x in g]
                n_sig = sum(x["null"][null]["p_value"] <= ALPHA for x in g)
                add(f"{rs}, {lab}: new-task variance in the top-{g[0]['n_components']} pretraining PCs exceeds "
                    f"the {null} random-basis null (observed - null mean)", exc, "greater",
                    networks_p_below_alpha=f"{n_sig}/{len(g)}")
            dm = [n["variance_spectrum"][lab]["direction_matched"]["at_k"][hk]["fraction"] -
                  n["variance_spectrum"][lab]["at_k"][hk]["fraction"] for n in nets]
            add(f"{rs}, {lab}: direction matching changes the fraction at k = {hk} (matched - pooled)",
                dm, "two-sided")
        fresh = [n["backbone_probe"]["fresh_columns"] for n in nets]
        add(f"{rs}: the trained column beats fresh Kaiming columns on output loss (fresh mean - trained)",
            [f["stage2_start_loss_out"] - f["trained_column"]["loss_out"] for f in fresh], "greater")
        add(f"{rs}: the trained column beats fresh Kaiming columns on accuracy (trained - fresh mean)",
            [f["trained_column"]["accuracy"] - f["stage2_start_accuracy"] for f in fresh], "greater")
        norm = [n["backbone_probe"]["norm_matched"] for n in nets]
        add(f"{rs}: the trained column beats random columns of its norm on accuracy (observed - null mean)",
            [x["observed"] - x["null_mean"] for x in norm], "greater",
            networks_p_below_alpha=f"{sum(x['p_value'] <= ALPHA for x in norm)}/{len(norm)}")
    if len(rulesets) == 2:
        a, b = ([n for n in networks if n["ruleset"] == rs] for rs in rulesets)
        comps = [("stage-2 start output loss (fresh columns)",
                  lambda n: n["backbone_probe"]["fresh_columns"]["stage2_start_loss_out"]),
                 ("final new-task accuracy", lambda n: list(n["accuracy"]["stage2"].values())[0])]
        comps += [(f"{lab} fraction at k = {hk}",
                   (lambda lab: lambda n: n["variance_spectrum"][lab]["at_k"][hk]["fraction"])(lab))
                  for lab in EPOCHS]
        for name, f in comps:
            est = bootstrap_difference([f(n) for n in a], [f(n) for n in b], seed=seed)
            rows.append({"claim": f"{rulesets[0]} - {rulesets[1]}: {name}", **est, "direction": "two-sided",
                         "verdict": _verdict(est, "two-sided")})
    return rows


def summarise(p: Mapping[str, Any], networks: Sequence[Mapping[str, Any]], out_dir: str | Path) -> dict:
    """The content of ``transfer.json`` (and the figures, written under ``out_dir/figures``)."""
    out_dir = Path(out_dir)
    rulesets = list(dict.fromkeys(n["ruleset"] for n in networks))
    agg = {rs: aggregate(pad_curves([network_summary(n) for n in networks if n["ruleset"] == rs]))
           for rs in rulesets}
    fig_dir = out_dir / "figures"
    figures: dict[str, str] = {}
    for rs in rulesets:
        figures[f"learning_curves/{rs}"] = learning_curves_figure(networks, rs, fig_dir / f"learning_{_slug(rs)}.png")
        for key in SPECTRA:
            for lab in EPOCHS:
                if key in agg[rs]:
                    figures[f"{key}/{rs}/{lab}"] = spectrum_figure(
                        agg[rs][key][lab], fig_dir / f"{key}_{_slug(rs)}_{lab}.png", f"{rs}: {key}, {lab} epoch")
    figures["cross_ruleset"] = cross_ruleset_figure(networks, fig_dir / "cross_ruleset.png")
    for n in networks:
        figures[f"sanity/{n['ruleset']}/seed{n['seed']}"] = n["sanity_figure"]
    return {"params": dict(p), "networks": list(networks), "aggregate": _plain(agg),
            "findings": findings(networks, seed=0), "figures": figures}


# ----------------------------------------------------------------------------- outputs
def write_outputs(result: Mapping[str, Any], out_dir: str | Path) -> dict[str, str]:
    """``transfer.json`` (every number) and ``transfer.md`` (the findings in words and tables)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": str(out_dir / "transfer.json"), "md": str(out_dir / "transfer.md")}
    Path(paths["json"]).write_text(json.dumps(to_jsonable(result, "result"), indent=1, allow_nan=False))
    Path(paths["md"]).write_text(markdown(result))
    return paths
