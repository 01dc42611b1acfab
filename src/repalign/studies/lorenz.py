"""The attractor test cases of Guilhot et al. (arXiv 2410.24070): DSA, CKA and Procrustes head to head.

Data (the paper's code, qglht/RepAL): Lorenz, sigma = 10, beta = 2.667, forward Euler,
dt = 0.01, ``T`` = 200 steps, ``trials`` = 200 trajectories from initial points uniform in
[0, 1)^3, each trajectory min-max scaled into [0, 1] (:func:`repalign.systems.paper_lorenz`).

* **regimes** -- nine systems, rho in {0.25, 0.5, 0.75}, {5, 10, 15}, {30, 40, 50}; a 9 x 9
  distance matrix per measure, within- vs across-regime distances. ``ic="paper"``: each system
  has its own initial points (as in the paper); ``"matched"``: all share them.
* **noise** / **ratio** -- seven patterns (rho in :data:`PATTERN_RHOS`, shared initial points),
  all ordered pairs (p1, p2), p1 != p2. Epoch e has noise s_e in :data:`NOISE_S` and weight m_e
  in :data:`RATIO_M`; noise ``x' = sqrt(1 - s^2) x + s N(0, 1)`` after scaling. Noise test:
  d(noisy p1, independent noisy p1). Ratio test: d(noisy p1, noisy p1 + m_e (p2(t) - p2(0))).
* **motifs** -- line, curve (rho 0.5), pattern1 (rho 5), pattern2 (rho 15) and
  line-curve-line-curve; all 60 ordered sequences of three distinct motifs
  (:func:`repalign.systems.attach_motifs`); distance against the number of shared motifs
  (set intersection: 1, 2 or 3). ``motif_pairs`` caps the number of pairs (stratified sample).

Measures. Every score is a distance in **radians**: DSA's angular score (in [0, pi]); CKA as
arccos(linear CKA) (in [0, pi / 2]); angular Procrustes (in [0, pi / 2]); other measures via
:func:`repalign.report_card.cases.to_distance`. Matched-sample measures see the flattened
(trials x time, 3) arrays, whose rows correspond within every pair here. DSA: HAVOK DMD with
``n_delays`` = 33, ``delay_interval`` = 6, rank 20 (regimes) or 50 (the rest), capped at each
system's numerical rank (repalign does not fit exactly rank-deficient directions; the noise-free
low-rho and line systems have fewer than 50), then Procrustes over vector fields (group O).

Effect sizes (scale-free; :mod:`repalign.studies.lorenz_stats`) get bootstrap intervals over
the 42 pairs (regimes: over the nine systems) and paired differences between measures.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable

import numpy as np

from ..api import pairwise
from ..report_card.cases import to_distance
from ..dynamics.dmd import DMD
from ..dynamics.dsa import dsa_from_operators
from ..dynamics.embedding import delay_embed
from ..registry import get_measure
from ..systems.lorenz import add_pattern, paper_lorenz, perturb
from ..systems.motifs import attach_motifs, line_motif
from .lorenz_stats import summarise

REGIME_RHOS = {"one_point": (0.25, 0.5, 0.75), "two_points": (5.0, 10.0, 15.0), "chaotic": (30.0, 40.0, 50.0)}
PATTERN_RHOS = (0.5, 5.0, 10.0, 15.0, 30.0, 40.0, 50.0)
NOISE_S = (0.004, 0.002, 0.001)
RATIO_M = (1.0, 0.5, 0.25)
MOTIF_NAMES = ("line", "curve", "pattern1", "pattern2", "line-curve-line-curve")
MOTIF_RHOS = {"curve": 0.5, "pattern1": 5.0, "pattern2": 15.0}
TESTS = ("regimes", "noise", "ratio", "motifs")



@dataclass(frozen=True)
class Config:
    """Parameters of one run (all stored in the JSON). Defaults: the paper's setting."""

    trials: int = 200
    T: int = 200
    dt: float = 0.01
    n_delays: int = 33
    delay_interval: int = 6
    rank_regimes: int = 20
    rank: int = 50
    n_restarts: int = 4
    patterns: tuple = PATTERN_RHOS
    motif_pairs: int | None = None  # None: all 1770 pairs
    ic: str = "both"  # "paper", "matched" or "both" (regime test)
    measures: tuple = ("dsa", "cka", "procrustes")
    tests: tuple = TESTS
    n_boot: int = 2000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.ic not in ("paper", "matched", "both"):
            raise ValueError(f"ic must be 'paper', 'matched' or 'both'; got {self.ic!r}")
        bad = [t for t in self.tests if t not in TESTS]
        if bad or not self.tests:
            raise ValueError(f"tests must be a non-empty subset of {TESTS}; got {self.tests!r}")
        if len(self.patterns) < 2:
            raise ValueError(f"patterns must hold at least two rho values; got {self.patterns!r}")
        if self.motif_pairs is not None and self.motif_pairs < 3:
            raise ValueError(f"motif_pairs must be None or >= 3; got {self.motif_pairs!r}")
        for m in self.measures:
            get_measure(m)  # unknown names fail here, listing the registered ones


def quick_config(**over: Any) -> Config:
    """The ``--quick`` setting: 40 trajectories, patterns rho 0.5, 15, 40 (6 pairs), 15 motif
    pairs, 500 bootstrap draws; the paper's DSA parameters. ~4 min of one core (estimated)."""
    base = Config(trials=40, patterns=(0.5, 15.0, 40.0), motif_pairs=15, n_boot=500)
    return replace(base, **over)


def tiny_config(**over: Any) -> Config:
    """A seconds-scale setting for tests and the demo: 30 trajectories, 10 delays every 4 steps,
    rank 8, three patterns, matched initial points, 12 motif pairs."""
    base = Config(trials=30, n_delays=10, delay_interval=4, rank_regimes=8, rank=8, patterns=(0.5, 15.0, 40.0),
                  motif_pairs=12, ic="matched", n_boot=300)
    return replace(base, **over)


# ---------------------------------------------------------------------------- distances
def numerical_rank(X: np.ndarray, n_delays: int, delay_interval: int) -> int:
    """Number of singular values of the stacked delay embedding of the trials of ``X``
    (trials, time, units) above ``s_max * max(N, d) * eps`` (the DMD's default rank)."""
    H = np.vstack(delay_embed(list(X), n_delays, delay_interval))
    s = np.linalg.svd(H, compute_uv=False)
    return int(np.sum(s > s[0] * max(H.shape) * np.finfo(np.float64).eps))


@dataclass
class Distances:
    """Distances between (trials, time, 3) systems for one measure, in radians."""

    measure: str
    cfg: Config
    ranks: list = field(default_factory=list)  # DSA: rank used per fitted system

    def _operator(self, X: np.ndarray, rank: int) -> np.ndarray:
        """A_v at ``min(rank, numerical rank)``; where that regression is singular (exactly
        repeating noise-free trajectories), with dsa-metric's default ridge lamb = 1e-8."""
        kw = {"n_delays": self.cfg.n_delays, "delay_interval": self.cfg.delay_interval}
        r = min(rank, numerical_rank(X, **kw))
        self.ranks.append(r)
        try:
            return DMD(rank=r, **kw).fit(list(X)).A_v
        except ValueError:
            self.ranks[-1] = f"{r} (lamb 1e-8)"
            return DMD(rank=r, lamb=1e-8, **kw).fit(list(X)).A_v

    def _dsa(self, As: list, Bs: list | None) -> np.ndarray:
        return dsa_from_operators(As, Bs, n_restarts=self.cfg.n_restarts, seed=self.cfg.seed)

    def _inputs(self, systems: list) -> list:
        if get_measure(self.measure).info().matched_samples:
            return [X.reshape(-1, X.shape[-1]) for X in systems]
        return list(systems)

    def matrix(self, systems: list, rank: int) -> np.ndarray:
        """Symmetric (N, N) distances, zero diagonal."""
        if self.measure == "dsa":
            D = self._dsa([self._operator(X, rank) for X in systems], None)
        else:
            D = to_distance(pairwise(self._inputs(systems), self.measure), self.measure)
        D = 0.5 * (D + D.T)
        np.fill_diagonal(D, 0.0)
        return np.maximum(D, 0.0)

    def pairs(self, pairs: list, rank: int, progress: Callable | None = None) -> np.ndarray:
        """d(X_k, Y_k) for each (X, Y) in ``pairs``, shape (len(pairs),)."""
        out = np.empty(len(pairs))
        for k, (X, Y) in enumerate(pairs):
            if self.measure == "dsa":
                out[k] = self._dsa([self._operator(X, rank)], [self._operator(Y, rank)])[0, 0]
            else:
                A, B = self._inputs([X, Y])
                out[k] = to_distance(pairwise([A], self.measure, others=[B]), self.measure)[0, 0]
            if progress:
                progress()
        return np.maximum(out, 0.0)


def cache_key(cfg: Config, part: str = "") -> dict:
    """What a stored part depends on: the config without ``tests``, ``n_boot`` and
    ``motif_pairs`` (the motif part's name carries it); the regime and motif parts not on ``patterns``."""
    skip = ("tests", "n_boot", "motif_pairs") + (("patterns",) if part.startswith(("regimes", "motifs")) else ())
    return {k: v for k, v in asdict(cfg).items() if k not in skip}


# ---------------------------------------------------------------------------- data
def _child_seeds(seed: int, key: str, n: int) -> list[int]:
    ss = np.random.SeedSequence([seed, int.from_bytes(key.encode(), "little") % (2**32)])
    return [int(c.generate_state(1)[0]) for c in ss.spawn(n)]


def regime_systems(cfg: Config, matched: bool) -> tuple[list[np.ndarray], list[str], list[float]]:
    """The nine regime-test systems, their regime labels and rho values."""
    rhos = [(reg, r) for reg, rs in REGIME_RHOS.items() for r in rs]
    seeds = _child_seeds(cfg.seed, "regimes-matched" if matched else "regimes-paper", len(rhos))
    x0 = np.random.default_rng(seeds[0]).random((cfg.trials, 3)) if matched else None
    data = [paper_lorenz(r, cfg.trials, cfg.T, cfg.dt, x0=x0, seed=s).data for (_, r), s in zip(rhos, seeds)]
    return data, [reg for reg, _ in rhos], [r for _, r in rhos]


def pattern_pairs(cfg: Config) -> list[tuple[int, int]]:
    """All ordered pairs (i, j), i != j, of indices into ``cfg.patterns``."""
    n = len(cfg.patterns)
    return [(i, j) for i in range(n) for j in range(n) if i != j]


def noise_ratio_data(cfg: Config, test: str, epoch: int, patterns: list[np.ndarray]) -> list[tuple]:
    """(X, Y) per ordered pattern pair for ``test`` in {"noise", "ratio"} at ``epoch`` (0-based)."""
    s, m = NOISE_S[epoch], RATIO_M[epoch]
    pairs = pattern_pairs(cfg)
    seeds = _child_seeds(cfg.seed, f"{test}-{epoch}", 2 * len(pairs))
    out = []
    for k, (i, j) in enumerate(pairs):
        X = perturb(patterns[i], s, seeds[2 * k])
        Y = perturb(patterns[i], s, seeds[2 * k + 1])
        out.append((X, Y) if test == "noise" else (X, add_pattern(Y, patterns[j], m)))
    return out


def motif_bases(cfg: Config) -> dict[str, np.ndarray]:
    """The five motif sets (trials, T, 3), sharing initial points."""
    s_x0, s_line = _child_seeds(cfg.seed, "motifs", 2)
    x0 = np.random.default_rng(s_x0).random((cfg.trials, 3))
    out = {"line": line_motif(cfg.trials, cfg.T, x0=x0, seed=s_line)}
    for name, rho in MOTIF_RHOS.items():
        out[name] = paper_lorenz(rho, cfg.trials, cfg.T, cfg.dt, x0=x0).data
    # The paper's fourth motif: line, curve, then both with the trajectory order reversed.
    out["line-curve-line-curve"] = attach_motifs([out["line"], out["curve"], out["line"][::-1], out["curve"][::-1]])
    return out


def motif_pair_list(cfg: Config) -> list[tuple[tuple, tuple, int]]:
    """(sequence a, sequence b, shared motifs) for the pairs of distinct 3-sequences; with
    ``motif_pairs``, a seeded sample stratified equally over 1, 2, 3 shared."""
    seqs = list(itertools.permutations(MOTIF_NAMES, 3))
    allp = [(a, b, len(set(a) & set(b))) for a, b in itertools.combinations(seqs, 2)]
    if cfg.motif_pairs is None:
        return allp
    rng = np.random.default_rng(_child_seeds(cfg.seed, "motif-pairs", 1)[0])
    out = []
    for k in (1, 2, 3):
        group = [p for p in allp if p[2] == k]
        take = min(len(group), cfg.motif_pairs // 3)
        out += [group[i] for i in sorted(rng.choice(len(group), take, replace=False))]
    return out


# ---------------------------------------------------------------------------- tests
def run_regimes(cfg: Config, matched: bool, progress: Callable | None = None) -> dict:
    data, labels, rhos = regime_systems(cfg, matched)
    out = {"labels": labels, "rho": rhos, "ic": "matched" if matched else "paper", "measures": {}}
    for m in cfg.measures:
        dist = Distances(m, cfg)
        t0 = time.perf_counter()
        D = dist.matrix(data, cfg.rank_regimes)
        out["measures"][m] = {"matrix": D, "seconds": time.perf_counter() - t0, "dsa_ranks": dist.ranks or None}
        if progress:
            progress(f"regimes ({out['ic']} ic) {m}: {time.perf_counter() - t0:.1f} s")
    return out


def run_noise_ratio(cfg: Config, test: str, progress: Callable | None = None) -> dict:
    """Per measure, the (n_pairs, 3 epochs) distances of ``test``."""
    x0 = np.random.default_rng(_child_seeds(cfg.seed, "patterns", 1)[0]).random((cfg.trials, 3))
    patterns = [paper_lorenz(r, cfg.trials, cfg.T, cfg.dt, x0=x0).data for r in cfg.patterns]
    pairs = pattern_pairs(cfg)
    out = {"pairs": [(cfg.patterns[i], cfg.patterns[j]) for i, j in pairs], "measures": {}}
    data = [noise_ratio_data(cfg, test, e, patterns) for e in range(len(NOISE_S))]
    for m in cfg.measures:
        dist = Distances(m, cfg)
        t0 = time.perf_counter()
        d = np.stack([dist.pairs(data[e], cfg.rank) for e in range(len(NOISE_S))], axis=1)
        out["measures"][m] = {"distances": d, "seconds": time.perf_counter() - t0, "dsa_ranks": dist.ranks or None}
        if progress:
            progress(f"{test} {m}: {time.perf_counter() - t0:.1f} s for {d.size} pairs")
    return out


def run_motifs(cfg: Config, progress: Callable | None = None) -> dict:
    bases = motif_bases(cfg)
    plist = motif_pair_list(cfg)
    seqs = sorted({p[0] for p in plist} | {p[1] for p in plist})
    data = {s: attach_motifs([bases[n] for n in s]) for s in seqs}
    out = {"pairs": [[list(a), list(b)] for a, b, _ in plist], "shared": [k for _, _, k in plist], "measures": {}}
    for m in cfg.measures:
        dist = Distances(m, cfg)
        t0 = time.perf_counter()
        if m == "dsa":  # one DMD fit per sequence, then the pairs
            ops = {s: dist._operator(data[s], cfg.rank) for s in seqs}
            d = np.array([dist._dsa([ops[a]], [ops[b]])[0, 0] for a, b, _ in plist])
        else:
            d = dist.pairs([(data[a], data[b]) for a, b, _ in plist], cfg.rank)
        out["measures"][m] = {"distances": np.maximum(d, 0.0), "seconds": time.perf_counter() - t0,
                              "dsa_ranks": dist.ranks or None}
        if progress:
            progress(f"motifs {m}: {time.perf_counter() - t0:.1f} s for {len(plist)} pairs")
    return out


def run_study(cfg: Config, progress: Callable[[str], None] | None = None,
              cache: Callable[[str, Callable[[], dict]], dict] | None = None) -> dict:
    """Run ``cfg.tests``; returns the raw distances and the summary (:func:`summarise`).

    ``cache(name, compute)``: optional store of finished parts (the command line keeps them
    under the output folder, so an interrupted run resumes); see :func:`cache_key`.
    """
    cache = cache or (lambda name, compute: compute())
    t0 = time.perf_counter()
    raw: dict[str, Any] = {}
    if "regimes" in cfg.tests:
        ics = ["paper", "matched"] if cfg.ic == "both" else [cfg.ic]
        raw["regimes"] = {ic: cache(f"regimes_{ic}", lambda ic=ic: run_regimes(cfg, ic == "matched", progress))
                          for ic in ics}
    for test in ("noise", "ratio"):
        if test in cfg.tests:
            raw[test] = cache(test, lambda test=test: run_noise_ratio(cfg, test, progress))
    if "motifs" in cfg.tests:
        raw["motifs"] = cache(f"motifs_{cfg.motif_pairs or 'all'}", lambda: run_motifs(cfg, progress))
    results = summarise(raw, cfg)
    results["config"] = {**asdict(cfg), "units": "radians"}
    results["seconds"] = time.perf_counter() - t0
    return results
