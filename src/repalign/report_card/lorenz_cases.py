"""Report-card cases on the attractor test sets of Guilhot et al. with matched samples.

Every system here is generated from the same initial points and (where noise is added) the
same time grid, so row i of one system corresponds to row i of another and matched-sample
measures (Procrustes, CKA, ...) get a verdict too. Data: :func:`repalign.systems.paper_lorenz`
(forward Euler, each trajectory min-max scaled into [0, 1]); the study with the paper's full
settings is :mod:`repalign.studies.lorenz`.

* ``lorenz_regimes_matched`` -- the nine systems rho in {0.25, 0.5, 0.75 | 5, 10, 15 | 30, 40,
  50}; score: silhouette of the distance matrix with the three regimes as labels; PASS if > 0.
* ``lorenz_noise_matched`` -- for ordered pairs of patterns (p1, p2), noisy copies at s = 0.004:
  d(noisy p1, other noisy p1) (noise) and d(noisy p1, noisy p1 + (p2(t) - p2(0))) (signal);
  score: mean noise distance / mean signal distance; PASS if < 0.5.
* ``lorenz_ratio_matched`` -- at fixed noise s = 0.002, d(noisy p1, noisy p1 + m (p2(t) -
  p2(0))) for m = 1, 0.5, 0.25; score: the fraction of pattern pairs whose distance falls
  strictly with m; PASS if >= 0.8 and the mean distance falls strictly too.

Matched-sample measures see every ``TIME_STRIDE``-th time step (rows still correspond; RSA's
RDM over all 200 steps x trajectories would cost minutes); DSA sees every step.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr

from ..systems.lorenz import add_pattern, paper_lorenz, perturb
from . import common as _cases
from .common import CaseResult, _header, _seeds, needs_matched, silhouette


def _view(data: np.ndarray, measure: str) -> np.ndarray:
    return data[:, ::TIME_STRIDE] if needs_matched(measure) else data


def distance_matrix(data: list, measure: str, params: dict) -> np.ndarray:
    return _cases.distance_matrix([_view(x, measure) for x in data], measure, params)


def distances_to(ref: np.ndarray, others: list, measure: str, params: dict) -> np.ndarray:
    return _cases.distances_to(_view(ref, measure), [_view(x, measure) for x in others], measure, params)

PASS_NOISE_TO_SIGNAL = 0.5
PASS_FALLS = 0.8
TIME_STRIDE = 4
REGIME_RHOS = {"one_point": (0.25, 0.5, 0.75), "two_points": (5.0, 10.0, 15.0), "chaotic": (30.0, 40.0, 50.0)}


def _size(quick: bool) -> tuple[int, tuple]:
    """(trajectories, pattern rhos)."""
    return (10, (0.5, 15.0, 40.0)) if quick else (20, (0.5, 5.0, 15.0, 30.0, 50.0))


def _patterns(trials: int, rhos: tuple, seed: int) -> list[np.ndarray]:
    x0 = np.random.default_rng(seed).random((trials, 3))
    return [paper_lorenz(r, trials, 200, 0.01, x0=x0).data for r in rhos]


def _ordered(n: int) -> list[tuple[int, int]]:
    return [(i, j) for i in range(n) for j in range(n) if i != j]


def case_lorenz_regimes_matched(measure: str, params: dict | None = None, quick: bool = False,
                                seed: int = 0) -> CaseResult:
    """Nine Lorenz systems (three per regime) from shared initial points; silhouette > 0."""
    case = "lorenz_regimes_matched"
    criterion = "silhouette(D, regime) > 0 (shared initial points)"
    detail = _header(measure, case, params)
    trials = _size(quick)[0]
    labels = [reg for reg, rs in REGIME_RHOS.items() for _ in rs]
    rhos = [r for rs in REGIME_RHOS.values() for r in rs]
    data = _patterns(trials, tuple(rhos), seed)
    D = distance_matrix(data, measure, detail["params"])
    sil = silhouette(D, labels)
    detail.update({"trials": trials, "rho": rhos, "labels": labels, "distance": D.tolist()})
    return CaseResult(case, measure, sil, bool(sil > 0), criterion, detail,
                      {"kind": "matrix", "matrix": D.tolist(), "labels": [f"{r:g}" for r in rhos]})


def _pair_distances(measure: str, params: dict, pairs: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    return np.array([distances_to(X, [Y], measure, params)[0] for X, Y in pairs])


def case_lorenz_noise_matched(measure: str, params: dict | None = None, quick: bool = False,
                              seed: int = 0) -> CaseResult:
    """Two noisy copies of a pattern vs a copy with another pattern added; ratio < 0.5."""
    case = "lorenz_noise_matched"
    criterion = f"mean d(noise copies) / mean d(pattern added) < {PASS_NOISE_TO_SIGNAL}"
    detail = _header(measure, case, params)
    trials, rhos = _size(quick)
    pats = _patterns(trials, rhos, seed)
    order = _ordered(len(rhos))
    s = _seeds(seed + 1, 3 * len(order))
    noise, signal = [], []
    for k, (i, j) in enumerate(order):
        X = perturb(pats[i], 0.004, s[3 * k])
        noise.append((X, perturb(pats[i], 0.004, s[3 * k + 1])))
        signal.append((X, add_pattern(perturb(pats[i], 0.004, s[3 * k + 2]), pats[j], 1.0)))
    dn = _pair_distances(measure, detail["params"], noise)
    ds = _pair_distances(measure, detail["params"], signal)
    ratio = float(dn.mean() / ds.mean()) if ds.mean() > 0 else float("inf")
    detail.update({"trials": trials, "patterns": list(rhos), "noise_s": 0.004, "noise": dn.tolist(),
                   "signal": ds.tolist(), "noise_to_signal": ratio})
    labels = ["noise", "signal"]
    return CaseResult(case, measure, ratio, bool(ratio < PASS_NOISE_TO_SIGNAL), criterion, detail,
                      {"kind": "scatter", "x": [0] * len(dn) + [1] * len(ds), "y": dn.tolist() + ds.tolist(),
                       "xlabel": " / ".join(labels)})


def case_lorenz_ratio_matched(measure: str, params: dict | None = None, quick: bool = False,
                              seed: int = 0) -> CaseResult:
    """d(noisy p1, noisy p1 + m (p2 - p2(0))) for m = 1, 0.5, 0.25 at fixed noise: falls with m?"""
    case = "lorenz_ratio_matched"
    criterion = f"d falls strictly as m = 1 -> 0.5 -> 0.25 in >= {PASS_FALLS:g} of pairs and on average"
    detail = _header(measure, case, params)
    trials, rhos = _size(quick)
    pats = _patterns(trials, rhos, seed)
    order = _ordered(len(rhos))
    ms = (1.0, 0.5, 0.25)
    s = _seeds(seed + 2, 2 * len(order))
    d = np.empty((len(order), len(ms)))
    for k, (i, j) in enumerate(order):
        X, Y = perturb(pats[i], 0.002, s[2 * k]), perturb(pats[i], 0.002, s[2 * k + 1])
        d[k] = distances_to(X, [add_pattern(Y, pats[j], m) for m in ms], measure, detail["params"])
    means = d.mean(axis=0)
    x = np.repeat(np.array(ms)[None, :], len(order), axis=0).ravel()
    rho = float(spearmanr(x, d.ravel())[0]) if np.ptp(d) > 0 else 0.0
    frac = float(np.mean(np.all(np.diff(d, axis=1) < 0, axis=1)))
    falls = bool(np.all(np.diff(means) < 0))
    detail.update({"trials": trials, "patterns": list(rhos), "m": list(ms), "noise_s": 0.002,
                   "distance": d.tolist(), "means": means.tolist(), "spearman": rho, "falls": falls,
                   "fraction_falling": frac})
    return CaseResult(case, measure, frac, bool(falls and frac >= PASS_FALLS), criterion, detail,
                      {"kind": "scatter", "x": x.tolist(), "y": d.ravel().tolist(), "xlabel": "m"})


MATCHED_CASES = {
    "lorenz_regimes_matched": case_lorenz_regimes_matched,
    "lorenz_noise_matched": case_lorenz_noise_matched,
    "lorenz_ratio_matched": case_lorenz_ratio_matched,
}
