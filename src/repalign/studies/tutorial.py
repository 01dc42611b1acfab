"""Study ``tutorial``: the Neuromatch DSA tutorial (seed 003) end to end.

Part 1, dynamics (:func:`run_dynamics`): Circle / Oval / Walk
(:func:`repalign.dynamics.examples.circle_oval_walk`, T = 1000) at the tutorial's settings
(``n_delays=20, delay_interval=10``) for every rank of a grid and several noise seeds: DSA beside
the shape of the state distributions (``bures_spectral``: trace-normalised covariance spectra)
and beside Procrustes on the raw states (``procrustes``, time points matched). The sensitivity
curve (the three distances against rank), the rank at which DSA puts Circle and Oval closest,
held-out forecast error over a rank/delay grid (:func:`repalign.dynamics.forecast.select_dmd`),
what the tutorial printed next to what repalign and dsa-metric compute, and a calibration: the
per-seed margin ``d(Oval, Walk) - d(Circle, Oval)`` with a bootstrap interval over seeds and a
verdict, for each measure.

Part 2, representational paths (:func:`run_paths` in :mod:`repalign.studies.tutorial_bonus`).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .._serialize import to_jsonable, versions, write_json
from .._validation import check_scalar
from ..api import pairwise
from ..dynamics.examples import circle_oval_walk
from ..dynamics.forecast import select_dmd
from ..stats.multiple import group_summary

__all__ = ["Config", "quick_config", "tiny_config", "run_study", "run_dynamics", "TUTORIAL_PRINTED"]

NAMES = ("circle", "oval", "walk")
PAIRS = {"C-O": (0, 1), "C-W": (0, 2), "O-W": (1, 2)}

# What the tutorial's notebook printed (its DSA class, seed-less noise: one realisation).
TUTORIAL_PRINTED = {
    "oval_circle_n_delays_1": 0.0012,
    "matrix_n_delays_20_interval_10": [[0.0, 0.00133721, 0.08549269], [0.00133721, 0.0, 0.08439462],
                                       [0.08549269, 0.08439462, 0.0]],
}


@dataclass(frozen=True)
class Config:
    """Settings (defaults: the ``--preset paper`` run)."""

    T: int = 1000
    n_delays: int = 20
    delay_interval: int = 10
    ranks: tuple = (2, 3, 4, 6, 8, 10, 15, 20, 25, 30, 35, None)  # None = full rank (40)
    seeds: int = 20
    dsa_metric_ranks: tuple = (2, 10, None)  # ranks run with dsa-metric (seed 0); () = none
    dsa_metric_one_delay: bool = True  # also dsa-metric at n_delays 1 (the tutorial's first call)
    forecast_ranks: tuple = (2, 4, 10, 20, None)
    forecast_delays: tuple = (1, 5, 20)
    forecast_horizon: int = 10
    # part 2
    epochs: int = 30
    lr: float = 1e-3
    recurrent_lr: float = 1e-2
    batch_size: int = 64
    adv_epsilon: float = 0.1
    epsilons: tuple = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3)
    attack_epsilon: float = 0.1
    per_class: int = 20
    null_draws: int = 200
    n_boot: int = 2000
    workers: int = 2
    seed: int = 0
    parts: tuple = ("dynamics", "paths")
    extra: dict = field(default_factory=dict)

    def validate(self) -> None:
        for k in ("T", "n_delays", "delay_interval", "seeds", "epochs", "per_class", "null_draws", "n_boot", "workers",
                  "forecast_horizon", "batch_size"):
            check_scalar(getattr(self, k), k, int, min_val=1)
        if not self.ranks:
            raise ValueError("ranks must list at least one rank (None = full rank)")
        unknown = set(self.parts) - {"dynamics", "paths"}
        if unknown or not self.parts:
            raise ValueError(f"parts must be a non-empty subset of ('dynamics', 'paths'); got {self.parts!r}")


def quick_config(**over: Any) -> Config:
    """``--quick``: 3 seeds, 5 ranks, dsa-metric at full rank only, 8 epochs (minutes on 2 cores)."""
    base = dict(seeds=3, ranks=(2, 4, 10, 20, None), dsa_metric_ranks=(None,), dsa_metric_one_delay=False, forecast_ranks=(2, 10, None),
                forecast_delays=(1, 20), epochs=8, null_draws=50, n_boot=1000)
    return Config(**{**base, **over})


def tiny_config(**over: Any) -> Config:
    """For tests: a few seconds (short series, 2 ranks, no dsa-metric, 1 epoch, few stimuli)."""
    base = dict(T=300, n_delays=5, delay_interval=3, seeds=2, ranks=(2, None), dsa_metric_ranks=(),
                forecast_ranks=(2,), forecast_delays=(1, 5), forecast_horizon=5, epochs=1, per_class=4,
                epsilons=(0.0, 0.1), null_draws=5, n_boot=200, workers=1)
    return Config(**{**base, **over})


def _rank_label(r: int | None) -> str:
    return "full" if r is None else str(r)


def run_dynamics(cfg: Config, progress: Callable[[str], None] = print) -> dict:
    """Part 1 (module docstring)."""
    t0 = time.perf_counter()
    data = [circle_oval_walk(T=cfg.T, seed=cfg.seed + s) for s in range(cfg.seeds)]
    systems = [[d[k] for k in NAMES] for d in data]
    dsa_kw = {"n_delays": cfg.n_delays, "delay_interval": cfg.delay_interval}
    by_rank = {}
    for r in cfg.ranks:
        mats = np.stack([pairwise(x, "dsa", rank=r, **dsa_kw) for x in systems])
        by_rank[_rank_label(r)] = mats
        progress(f"  DSA rank {_rank_label(r)}: mean C-O {mats[:, 0, 1].mean():.4f}, C-W {mats[:, 0, 2].mean():.4f}, "
                 f"O-W {mats[:, 1, 2].mean():.4f}")
    geometry = {m: np.stack([pairwise(x, m) for x in systems]) for m in ("bures_spectral", "procrustes")}
    one_delay = np.stack([pairwise(x, "dsa", n_delays=1) for x in systems])
    curve = {lab: {p: [float(v) for v in m[:, i, j]] for p, (i, j) in PAIRS.items()} for lab, m in by_rank.items()}
    res = {"settings": dsa_kw, "ranks": [_rank_label(r) for r in cfg.ranks], "curve": curve,
           "closest": _closest(by_rank), "geometry": {m: _pairs_of(v) for m, v in geometry.items()},
           "n_delays_1": _pairs_of(one_delay)}
    res["calibration"] = _calibrate(by_rank, geometry, one_delay, cfg)
    res["forecast"] = _forecast_grid(cfg, data)
    res["printed"] = _printed_vs_computed(by_rank, one_delay, cfg, systems[0], progress)
    res["seconds"] = time.perf_counter() - t0
    return res


def _pairs_of(mats: np.ndarray) -> dict:
    return {p: [float(v) for v in mats[:, i, j]] for p, (i, j) in PAIRS.items()}


def _closest(by_rank: dict) -> dict:
    """Per rank: share of seeds where Circle-Oval is the closest pair; the relative margin
    ``(min(C-W, O-W) - C-O) / min(C-W, O-W)`` (mean over seeds); the best ranks."""
    rows = {}
    for lab, m in by_rank.items():
        co, other = m[:, 0, 1], np.minimum(m[:, 0, 2], m[:, 1, 2])
        rows[lab] = {"share_closest": float(np.mean(co < other)), "mean_C-O": float(co.mean()),
                     "relative_margin": float(np.mean((other - co) / other))}
    best_margin = max(rows, key=lambda k: rows[k]["relative_margin"])
    smallest = min(rows, key=lambda k: rows[k]["mean_C-O"])
    return {"by_rank": rows, "best_rank_margin": best_margin, "best_rank_smallest_C-O": smallest}


def _verdict(lo: float | None, hi: float | None, yes: str, no: str) -> str:
    if lo is None:
        return "undecided (no spread over seeds)"
    if lo > 0:
        return yes
    if hi < 0:
        return no
    return "undecided (the interval contains 0)"


def _calibrate(by_rank: dict, geometry: dict, one_delay: np.ndarray, cfg: Config) -> dict:
    """Per measure and noise seed, two margins with percentile bootstrap intervals over seeds:
    ``closest`` = min(d(C-W), d(O-W)) - d(C-O) (> 0: Circle-Oval is the closest pair, the
    dynamics view) and ``O-W minus C-O`` (< 0: Oval-Walk closer than Circle-Oval, the geometry view)."""
    mats = {f"dsa rank {lab}": m for lab, m in by_rank.items()}
    mats["dsa n_delays 1"] = one_delay
    mats.update(geometry)
    closest = {k: np.minimum(m[:, 0, 2], m[:, 1, 2]) - m[:, 0, 1] for k, m in mats.items()}
    ow_co = {k: m[:, 1, 2] - m[:, 0, 1] for k, m in mats.items()}
    out = {"closest": group_summary(closest, n_boot=cfg.n_boot, seed=cfg.seed),
           "O-W minus C-O": group_summary(ow_co, n_boot=cfg.n_boot, seed=cfg.seed + 1)}
    for row in out["closest"].values():
        row["verdict"] = _verdict(row["ci_low"], row["ci_high"], "Circle-Oval is the closest pair",
                                  "Circle-Oval is not the closest pair")
    for row in out["O-W minus C-O"].values():
        row["verdict"] = _verdict(row["ci_low"], row["ci_high"], "Circle-Oval closer than Oval-Walk",
                                  "Oval-Walk closer than Circle-Oval")
    return {"statistic": "margins per noise seed (see keys); mean with a 95% percentile bootstrap interval over seeds",
            "margins": out}


def _forecast_grid(cfg: Config, data: list) -> dict:
    """Held-out forecast error: fit on seed ``cfg.seed``'s series, test on windows of another
    realisation (the next seed), per system, over n_delays x ranks (delay_interval fixed)."""
    test_data = circle_oval_walk(T=cfg.T, seed=cfg.seed + 10_000)
    out = {}
    for name in NAMES:
        context = (max(cfg.forecast_delays) - 1) * cfg.delay_interval + 1
        width = context + cfg.forecast_horizon
        windows = [test_data[name][a:a + width] for a in range(0, cfg.T - width + 1, width)]
        out[name] = select_dmd(data[0][name], windows, cfg.forecast_delays, list(cfg.forecast_ranks),
                               context=context, horizon=cfg.forecast_horizon, delay_interval=cfg.delay_interval)
    return out


def _printed_vs_computed(by_rank: dict, one_delay: np.ndarray, cfg: Config, systems: list, progress) -> dict:
    first = {lab: m[0].tolist() for lab, m in by_rank.items()}
    out = {"tutorial": TUTORIAL_PRINTED, "repalign_seed0": first,
           "repalign_seed0_n_delays_1_C-O": float(one_delay[0, 0, 1]), "dsa_metric_seed0": {}}
    if cfg.dsa_metric_ranks:
        out["dsa_metric_seed0"] = _dsa_metric(systems, cfg, progress)
    return out


def _dsa_metric(systems: list, cfg: Config, progress) -> dict:
    """dsa-metric 2.0.2's ``DSA`` (angular score, its defaults otherwise) on seed 0."""
    try:
        import torch
        from DSA import DSA as TheirDSA
    except ImportError as exc:  # the test/bench extra
        return {"error": f"dsa-metric is not installed ({exc})"}
    torch.set_num_threads(1)
    out = {}
    runs = [("n_delays_1", {"n_delays": 1})] * bool(cfg.dsa_metric_one_delay) + [
        (_rank_label(r), {"n_delays": cfg.n_delays, "delay_interval": cfg.delay_interval,
                          **({} if r is None else {"rank": r})}) for r in cfg.dsa_metric_ranks]
    for lab, kw in runs:
        t = time.perf_counter()
        m = TheirDSA(list(systems), score_method="angular", **kw).fit_score()
        out[lab] = {"matrix": np.asarray(m, dtype=float).tolist(), "seconds": time.perf_counter() - t}
        progress(f"  dsa-metric {lab}: C-O {out[lab]['matrix'][0][1]:.4f} ({out[lab]['seconds']:.0f} s)")
    return out


PATH_FIELDS = ("epochs", "lr", "recurrent_lr", "batch_size", "adv_epsilon", "epsilons", "attack_epsilon", "per_class",
               "null_draws", "n_boot", "seed")


def part_key(cfg: Config, part: str) -> dict:
    """What a part's result depends on (a cached part with the same key is reused)."""
    d = asdict(cfg)
    if part == "paths":
        return {k: d[k] for k in PATH_FIELDS}
    return {k: v for k, v in d.items() if k not in PATH_FIELDS + ("workers", "parts", "extra") or k in ("n_boot", "seed")}


def _cached(folder: Path | None, name: str, key: dict, compute: Callable[[], dict], progress) -> dict:
    """``folder/<name>.json`` holds ``{"key", "result"}``; reuse it when the key matches."""
    want = json.loads(json.dumps(to_jsonable(key)))
    path = None if folder is None else folder / f"{name}.json"
    if path is not None and path.exists():
        try:
            stored = json.loads(path.read_text())
            if stored.get("key") == want:
                progress(f"  reusing {path}")
                return stored["result"]
        except ValueError:
            pass
    result = json.loads(json.dumps(to_jsonable(compute())))
    if path is not None:
        write_json(path, {"key": want, "result": result}, indent=None)
    return result


def run_study(cfg: Config, progress: Callable[[str], None] = print, ckpt: str | None = None,
              cache: str | Path | None = None) -> dict:
    """Both parts; ``ckpt``: folder for the networks' checkpoints (resume); ``cache``: folder
    where each finished part is kept (``dynamics.json``, ``paths.json``) and reused by a re-run
    with the same settings (parts can then run in separate processes: ``--parts``)."""
    cfg.validate()
    t0 = time.perf_counter()
    folder = None if cache is None else Path(cache)
    res: dict[str, Any] = {"config": asdict(cfg), "versions": versions()}
    if "dynamics" in cfg.parts:
        progress("part 1: Circle / Oval / Walk")
        res["dynamics"] = _cached(folder, "dynamics", part_key(cfg, "dynamics"), lambda: run_dynamics(cfg, progress),
                                  progress)
    if "paths" in cfg.parts:
        from .tutorial_bonus import run_paths

        progress("part 2: representational paths on sklearn digits")
        res["paths"] = _cached(folder, "paths", part_key(cfg, "paths"), lambda: run_paths(cfg, progress, ckpt), progress)
    res["seconds"] = time.perf_counter() - t0
    return res


def with_parts(cfg: Config, parts: tuple) -> Config:
    return replace(cfg, parts=tuple(parts))
