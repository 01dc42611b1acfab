"""Analysis of the compositional study (:mod:`.compositional`): the corrected pipeline.

* The test trials are ONE seeded batch of the final task (:func:`test_batch`), given to every
  model, so rows correspond across models (the paper's code draws them per model, unseeded).
* Hidden states are cut to the true stimulus window (``batch.epochs["stimulus"]``; the paper's
  code subtracts its 500 ms fixation from the epoch bounds, so its window starts at trial onset:
  25 fixation steps and the first 175 stimulus steps).
* DSA receives ``(trials, time, units)`` (the paper passes ``(time, trials, units)``, so its
  delay embedding runs over trials); CKA and Procrustes get the same states flattened.

``analyse`` computes, per measure, every pair of groups within each configuration (through the
engine's SQLite store), the dissimilarity to master by group with bootstrap intervals, t-tests
with Benjamini-Hochberg correction, a permutation test over group labels, the same numbers under
the paper's pipeline (``paper_pipeline``), and the dissimilarity over learning.
"""

from __future__ import annotations

import json
import time
import zlib
from pathlib import Path
from typing import Any, Callable

import numpy as np
from scipy import stats

from .. import engine
from .._serialize import to_jsonable
from .._validation import check_finite, check_scalar, to_numpy
from ..registry import get_measure
from ..stats import compare_groups, group_summary, permutation_anova
from ..tasks import generate
from .compositional_report import figures, markdown
from .compositional_setup import (
    GROUPS, PAPER_GROUPS, PAPER_TABLE, PARTIAL, SHARE, configurations, model_spec,
)
from .learning import match_fractions

# (a, b): a is expected further from master than b if the measure tracks what was learned
EXPECTED = (("untrained", "master_frozen"), ("untrained", "pretrain_partial"), ("untrained", "pretrain_frozen"),
            ("master_frozen", "pretrain_partial"), ("master_frozen", "pretrain_frozen"),
            ("pretrain_partial", "pretrain_frozen"))


def reduce_states(hidden: Any, n_components: int | None) -> tuple[np.ndarray, float]:
    """Project states onto their top ``n_components`` uncentred principal axes.

    hidden: ``(trials, time, units)``. Returns ``(reduced (trials, time, k), explained)`` where
    ``explained`` is the share of ``sum(hidden**2)`` kept. The axes are the top eigenvectors of
    ``X^T X`` for ``X`` the ``(trials * time, units)`` stack, not centred, as DMD does not centre:
    the projection is the best rank-k approximation of the data DMD would see, and an orthogonal
    change of the kept axes (the eigenvector signs) leaves DSA unchanged. ``None`` or
    ``k >= units``: no reduction (``explained = 1``). Memory: ``units^2`` floats besides the copy.
    """
    X = to_numpy(hidden, "hidden")
    if X.ndim != 3:
        raise ValueError(f"hidden must have shape (trials, time, units); got {X.shape}")
    check_finite(X, "hidden")
    check_scalar(n_components, "n_components", int, min_val=1, allow_none=True)
    n, T, p = X.shape
    if n_components is None or n_components >= p:
        return X, 1.0
    flat = X.reshape(n * T, p)
    evals, evecs = np.linalg.eigh(flat.T @ flat)
    top = evecs[:, ::-1][:, :n_components]
    total = float(evals.clip(min=0).sum())
    kept = float(evals[::-1][:n_components].clip(min=0).sum())
    return (flat @ top).reshape(n, T, n_components), kept / total if total > 0 else 1.0


# ----------------------------------------------------------------------------- inputs
def test_batch(params: dict, seed: int | None = None):
    """The seeded test trials of the final task shown to every model (test timings)."""
    return generate(params["final_task"], int(params["n_test"]), seed=params["test_seed"] if seed is None else seed,
                    mode="test", dt=params["dt"], timing=params.get("test_timing"))


def stimulus_window(batch, shift: int = 0) -> tuple[int, int]:
    """``(start, end)`` steps of the stimulus epoch (the same for every test trial), plus ``shift``."""
    s, e = batch.epochs["stimulus"]
    if np.ptp(s) or np.ptp(e):
        raise ValueError("batch: the stimulus epoch differs across trials; use mode='test' trials")
    return int(s[0]) + shift, int(e[0]) + shift


def states(model, batch, window: tuple[int, int] | None = None) -> np.ndarray:
    """Hidden states ``(trials, time, units)`` of ``model`` on ``batch`` (noise off), cut to
    ``window`` (default: the stimulus epoch)."""
    from ..train import record

    s, e = stimulus_window(batch) if window is None else window
    return record(model, batch).hidden[:, s:e]


def _load_group_model(params: dict, runs: Path, cfg: dict, group: str, checkpoint: int = -1):
    from ..models import build_model
    from ..train import list_checkpoints, load_model

    if group == "untrained":
        return build_model(model_spec(params["model"], cfg["hidden"], cfg["activation"], cfg["seed"],
                                      dt=params["dt"], **params.get("model_kwargs", {}),
                                      **cfg.get("model_kwargs", {}))).eval()
    found = list_checkpoints(runs / cfg["id"] / group)
    if not found:
        raise ValueError(f"no checkpoints for {cfg['id']}/{group} in {runs}; train first")
    return load_model(found[checkpoint])


def _final_accuracy(runs: Path, cfg: dict, group: str) -> float | None:
    path = runs / cfg["id"] / group / "result.json"
    if not path.exists():
        return None
    return float(next(iter(json.loads(path.read_text())["final"]["accuracy"].values())))


# ----------------------------------------------------------------------------- engine
def _measure_specs(params: dict) -> list[dict]:
    return [{"name": "dsa", "params": dict(params["dsa"])} if m == "dsa" else {"name": m, "params": {}}
            for m in params["measures"]]


def _pair_scores(systems: dict, pairs: list[tuple[str, str]], spec: dict, store: str, backend: str,
                 n_jobs: int | None) -> tuple[dict, list[dict]]:
    """Dissimilarity of each pair (``1 - score`` for similarities) via the engine's store, and the
    failed pairs (NaN score) with the engine's error message."""
    engine.sweep(systems, [spec], store, pairs=pairs, backend=backend, n_jobs=n_jobs, progress=False)
    m = get_measure(spec["name"], **spec["params"])
    t = engine.load(store).select(spec["name"], m.params)
    score, errors = {}, {}
    for a, b, s, status, err in zip(t["system_a"], t["system_b"], t["score"], t["status"], t["error"]):
        if status == "ok":
            d = 1.0 - s if m.kind == "similarity" else s
            score[(a, b)] = score[(b, a)] = float(d)
        else:
            errors[(a, b)] = errors[(b, a)] = str(err)
    failures = [{"a": a, "b": b, "error": errors.get((a, b), "not computed")} for a, b in pairs
                if (a, b) not in score]
    return {p: score.get(p, float("nan")) for p in pairs}, failures


# ----------------------------------------------------------------------------- between groups
def _recordings(params: dict, runs: Path, pipeline: str) -> tuple[dict, dict]:
    """name -> states for every (config, group), on the corrected or the paper's pipeline."""
    batch = test_batch(params)
    # the paper's code subtracts 500 ms (its test fixation) from the epoch bounds, so its "stimulus"
    # window starts at the trial's onset: shifted back by the fixation steps
    shift = -int(batch.epochs["fixation"][1][0]) if pipeline == "paper" else 0
    geo, dyn = {}, {}
    for cfg in configurations(params):
        for g in GROUPS:
            name = f"{cfg['id']}|{g}"
            b = batch
            if pipeline == "paper":  # a fresh draw of test trials per model, as the unseeded split
                b = test_batch(params, seed=zlib.crc32(f"{pipeline}|{name}".encode()))
            X = states(_load_group_model(params, runs, cfg, g), b, stimulus_window(b, shift))
            geo[name] = X
            if params.get("state_pca"):  # DSA on a PCA of wide states (Mamba's 512-dim SSM state)
                X = reduce_states(X, params["state_pca"])[0]
            dyn[name] = X.transpose(1, 0, 2).copy() if pipeline == "paper" else X
    return geo, dyn


def group_dissimilarities(params: dict, out: Path, *, pipeline: str = "corrected", all_pairs: bool = True,
                          backend: str = "processes", n_jobs: int | None = None) -> dict:
    """Per measure: ``pairs`` {config -> {"a|b": dissimilarity}} within each configuration
    (every pair of groups, or only to master with ``all_pairs=False``) and ``to_master``
    {group -> [one value per configuration]}."""
    geo, dyn = _recordings(params, out / "runs", pipeline)
    store = str(out / ("compositional.db" if pipeline == "corrected" else "compositional_paper_pipeline.db"))
    cfgs = configurations(params)
    pairs = []
    for cfg in cfgs:
        groups = GROUPS if all_pairs else ("master",)
        for i, a in enumerate(groups):
            for b in GROUPS[i + 1:] if all_pairs else [g for g in GROUPS if g != "master"]:
                pairs.append((f"{cfg['id']}|{a}", f"{cfg['id']}|{b}"))
    result = {}
    for spec in _measure_specs(params):
        systems = dyn if spec["name"] == "dsa" else geo
        scores, failures = _pair_scores(systems, pairs, spec, store, backend, n_jobs)
        by_cfg: dict = {c["id"]: {} for c in cfgs}
        for (a, b), v in scores.items():
            ca, ga = a.split("|")
            by_cfg[ca][f"{ga}|{b.split('|')[1]}"] = v
        to_master = {g: [] for g in GROUPS if g != "master"}
        for cfg in cfgs:
            for g in to_master:
                d = by_cfg[cfg["id"]]
                to_master[g].append(d.get(f"master|{g}", d.get(f"{g}|master", float("nan"))))
        result[spec["name"]] = {"params": spec["params"], "pairs": by_cfg, "to_master": to_master,
                                "failures": failures}
    return result


def _pooled(to_master: dict) -> dict:
    vals = {g: list(v) for g, v in to_master.items()}
    vals["pretrain_partial"] = [x for g in PARTIAL for x in to_master[g]]
    return vals


def group_statistics(block: dict, params: dict, seed: int = 0) -> dict:
    """Summary (mean, sem, n, bootstrap CI), pairwise tests (t + permutation, BH) over the
    paper's five groups, an omnibus permutation ANOVA and the expected-ordering count."""
    vals = _pooled(block["to_master"])
    summary = group_summary(vals, n_boot=params["n_boot"], seed=seed)
    five = {g: vals[g] for g in PAPER_GROUPS}
    tests = compare_groups(five, n_perm=params["n_perm"], seed=seed)
    omnibus = permutation_anova(five, n_perm=params["n_perm"], seed=seed)
    lookup = {(r["a"], r["b"]): r for r in tests}
    detected = []
    for a, b in EXPECTED:
        r = lookup.get((a, b)) or lookup.get((b, a))
        sign = 1 if (r["a"], r["b"]) == (a, b) else -1
        detected.append({"further": a, "closer": b, "diff": sign * r["diff"], "p_adj": r["p_adj"],
                         "detected": bool(np.isfinite(r["p_adj"]) and r["p_adj"] < 0.05 and sign * r["diff"] > 0)})
    return {"summary": summary, "tests": tests, "omnibus": omnibus, "expected": detected,
            "n_detected": int(sum(d["detected"] for d in detected))}


def group_matrix(block: dict) -> tuple[list[str], list[list[float]]]:
    """Mean (over configurations) dissimilarity between every two groups: (names, matrix)."""
    n = len(GROUPS)
    acc = np.zeros((n, n))
    cnt = np.zeros((n, n))
    for d in block["pairs"].values():
        for key, v in d.items():
            a, b = key.split("|")
            if np.isfinite(v):
                i, j = GROUPS.index(a), GROUPS.index(b)
                acc[i, j] += v
                acc[j, i] += v
                cnt[i, j] += 1
                cnt[j, i] += 1
    with np.errstate(invalid="ignore"):
        M = np.where(cnt > 0, acc / np.maximum(cnt, 1), np.nan)
    np.fill_diagonal(M, 0.0)
    return list(GROUPS), M.tolist()


# ----------------------------------------------------------------------------- over learning
def shared_pca(X: np.ndarray, Y: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Z-score every unit over the pooled samples of both models, fit one PCA on the pooled
    samples and project both onto its top ``k`` components: ``(trials, time, k)`` each."""
    if X.shape[-1] != Y.shape[-1]:
        raise ValueError(f"X and Y must have the same number of units; got {X.shape[-1]} and {Y.shape[-1]}")
    pooled = np.concatenate([X.reshape(-1, X.shape[-1]), Y.reshape(-1, Y.shape[-1])])
    mu, sd = pooled.mean(axis=0), pooled.std(axis=0)
    sd = np.where(sd > 1e-12, sd, 1.0)
    Z = (pooled - mu) / sd
    _, _, Vt = np.linalg.svd(Z, full_matrices=False)
    V = Vt[: min(int(k), Vt.shape[0])].T
    return ((X - mu) / sd) @ V, ((Y - mu) / sd) @ V


def _checkpoints(run_dir: Path) -> tuple[list, np.ndarray, list[float]]:
    from ..train import list_checkpoints

    paths = list_checkpoints(run_dir)
    steps, acc = [], []
    for p in paths:
        meta = json.loads(Path(p).with_suffix(".json").read_text())
        steps.append(int(meta["step"]))
        acc.append(float(next(iter(meta["accuracy"].values()))))
    return paths, np.asarray(steps, dtype=float) / max(steps[-1], 1), acc


def over_learning(params: dict, out: Path, *, backend: str = "processes", n_jobs: int | None = None) -> dict:
    """Each trained group against master at matched fractions of training (checkpoint nearest
    each grid point), after a shared z-scored PCA per pair; rows, binned means, regressions."""
    from ..train import load_model

    runs, batch, grid = out / "runs", test_batch(params), [float(g) for g in params["grid"]]
    window = stimulus_window(batch)
    geo, rows, pairs = {}, [], []
    groups = [g for g in GROUPS if g not in ("untrained", "master")]
    for cfg in configurations(params):
        m_paths, m_frac, m_acc = _checkpoints(runs / cfg["id"] / "master")
        m_idx = match_fractions(m_frac, grid)
        m_states = {i: states(load_model(m_paths[i]), batch, window) for i in set(m_idx)}
        for g in groups:
            paths, frac, acc = _checkpoints(runs / cfg["id"] / g)
            for f, i, j in zip(grid, match_fractions(frac, grid), m_idx):
                A, B = shared_pca(states(load_model(paths[i]), batch, window), m_states[j], params["pca"])
                a, b = f"{cfg['id']}|{g}@{f:.2f}", f"{cfg['id']}|{g}@{f:.2f}|master"
                geo[a], geo[b] = A, B
                pairs.append((a, b))
                rows.append({"config": cfg["id"], "group": g, "bin": f, "fraction": float(frac[i]),
                             "fraction_master": float(m_frac[j]), "accuracy": acc[i], "accuracy_master": m_acc[j]})
    failures = {}
    for spec in _measure_specs(params):
        scores, failures[spec["name"]] = _pair_scores(geo, pairs, spec, str(out / "compositional_learning.db"),
                                                      backend, n_jobs)
        for r, p in zip(rows, pairs):
            r[spec["name"]] = scores[p]
    return {"grid": grid, "pca": params["pca"], "rows": rows, "binned": _binned(rows, params, grid),
            "regressions": _regressions(rows, params, grid), "failures": failures}


def _binned(rows: list[dict], params: dict, grid: list[float]) -> dict:
    out: dict = {}
    for m in params["measures"] + ["accuracy"]:
        out[m] = {}
        for g in dict.fromkeys(r["group"] for r in rows):
            vals = [[r[m] for r in rows if r["group"] == g and r["bin"] == f and np.isfinite(r[m])] for f in grid]
            out[m][g] = {"mean": [float(np.mean(v)) if v else None for v in vals],
                         "sem": [float(np.std(v, ddof=1) / np.sqrt(len(v))) if len(v) > 1 else None for v in vals]}
    return out


def _linregress(x, y) -> dict:
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size < 3 or np.ptp(x) == 0:
        return {"n": int(x.size), "slope": None, "intercept": None, "t": None, "p": None, "r2": None}
    r = stats.linregress(x, y)
    t = float(r.slope / r.stderr) if r.stderr > 0 else float("inf")
    return {"n": int(x.size), "slope": float(r.slope), "intercept": float(r.intercept), "t": t,
            "p": float(r.pvalue), "r2": float(r.rvalue**2)}


def _regressions(rows: list[dict], params: dict, grid: list[float]) -> dict:
    """Dissimilarity on the pretrained share (frozen groups, per bin) and on |accuracy difference|
    (all groups and bins): slope, its t-test and R^2."""
    out = {}
    frozen = [r for r in rows if r["group"] in SHARE]
    for m in params["measures"]:
        per_bin = {}
        for f in grid:
            sel = [r for r in frozen if r["bin"] == f]
            per_bin[f"{f:.2f}"] = _linregress([SHARE[r["group"]] for r in sel], [r[m] for r in sel])
        acc = _linregress([abs(r["accuracy"] - r["accuracy_master"]) for r in rows], [r[m] for r in rows])
        out[m] = {"share": per_bin, "accuracy_difference": acc}
    return out


# ----------------------------------------------------------------------------- all of it
def analyse(params: dict, out: Path, *, backend: str = "processes", n_jobs: int | None = None,
            log: Callable[[str], None] = print) -> dict:
    """Every number of ``compositional.json`` (see :func:`write_outputs` for the files)."""
    t0 = time.perf_counter()
    cfgs = configurations(params)
    corrected = group_dissimilarities(params, out, all_pairs=params.get("all_pairs", True), backend=backend,
                                      n_jobs=n_jobs)
    log(f"dissimilarity between groups: {time.perf_counter() - t0:.1f} s")
    dissim, tests, stats_ = {}, {}, {}
    for m, block in corrected.items():
        st = group_statistics(block, params)
        stats_[m] = st
        dissim[m] = st["summary"]
        tests[m] = st["tests"]
    result = {"model": params["model"], "preset": params["preset"], "params": params,
              "configurations": cfgs, "groups": list(GROUPS), "paper_groups": list(PAPER_GROUPS),
              "dissimilarity": dissim, "tests": tests,
              "omnibus": {m: s["omnibus"] for m, s in stats_.items()},
              "expected_ordering": {m: {"pairs": s["expected"], "n_detected": s["n_detected"]} for m, s in stats_.items()},
              "group_matrix": {m: dict(zip(("groups", "matrix"), group_matrix(b))) for m, b in corrected.items()},
              "to_master": {m: b["to_master"] for m, b in corrected.items()},
              "failures": {m: b["failures"] for m, b in corrected.items()},
              "final_accuracy": {g: [_final_accuracy(out / "runs", c, g) for c in cfgs] for g in GROUPS},
              "paper_table": PAPER_TABLE}
    if params.get("paper_pipeline", True):
        t1 = time.perf_counter()
        paper = group_dissimilarities(params, out, pipeline="paper", all_pairs=False, backend=backend, n_jobs=n_jobs)
        result["paper_pipeline"] = {}
        for m, block in paper.items():
            st = group_statistics(block, params)
            result["paper_pipeline"][m] = {"dissimilarity": st["summary"], "tests": st["tests"],
                                           "n_detected": st["n_detected"], "to_master": block["to_master"]}
        log(f"paper pipeline: {time.perf_counter() - t1:.1f} s")
    t2 = time.perf_counter()
    result["over_learning"] = over_learning(params, out, backend=backend, n_jobs=n_jobs)
    log(f"over learning: {time.perf_counter() - t2:.1f} s")
    result["analysis_s"] = time.perf_counter() - t0
    return result


def write_outputs(result: dict, out: Path) -> dict:
    """``compositional.json`` (every number), ``compositional.md`` and the figures."""
    out = Path(out)
    result["figures"] = figures(result, out)
    (out / "compositional.json").write_text(json.dumps(to_jsonable(result, lenient=True), indent=1, allow_nan=False))
    (out / "compositional.md").write_text(markdown(result))
    return {"json": out / "compositional.json", "md": out / "compositional.md", **result["figures"]}

