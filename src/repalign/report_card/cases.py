"""Report-card cases: systems with known ground truth, and what a good measure should say.

Every case is ``case(measure, params, quick, seed) -> CaseResult``.  Scores of similarity
measures are turned into distances before any criterion is applied, by the measure's own
:meth:`~repalign.registry.Measure.to_distance` (one convention for the report card, figures and
studies): the CKA family declares ``distance_form = "angle"``, d = arccos(clip(s, -1, 1)), the
angle between the centred Gram matrices; any other similarity with range (lo, hi) gives
d = hi - s (e.g. 1 - s for scores in [0, 1]).

Each system is centred (:func:`centre`) before it is compared.  Distance matrices are
symmetrised ((D + D^T) / 2), their diagonal set to 0 and negative
round-off clipped to 0.

Cases whose systems are independent realisations (no row of one system corresponds to a
row of another) return "needs matched samples — not applicable" for measures with
``matched_samples=True`` instead of a number.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.stats import spearmanr

from .._validation import check_random_state
from ..registry import get_measure
from ..systems import (
    LORENZ_REGIMES,
    MOTIFS,
    RandomDiffeomorphism,
    arc_attractor,
    attractor_system,
    circle_oval_walk,
    compose_motifs,
    linear_process,
    lorenz,
    observe,
    random_observation,
    sigmoid_warp,
)
from ..systems.linear import rotation
from .common import (DEFAULT_PARAMS, NOT_APPLICABLE, CaseResult, _header, _not_applicable, _seeds, centre,
                     distance_matrix, distances_to, needs_matched, resolve_params, silhouette, to_distance)
from .lorenz_cases import MATCHED_CASES
from .resi import RESI_CASES

# the shared helpers of .common stay importable from here, where they lived before
__all__ = ["CASES", "CASE_GROUPS", "DEFAULT_CASES", "DEFAULT_PARAMS", "NOT_APPLICABLE", "CaseResult", "centre",
           "distance_matrix", "distances_to", "needs_matched", "resolve_params", "run_case", "silhouette",
           "to_distance"]

# ---------------------------------------------------------------------------- case 1
def case_circle_oval_walk(measure: str, params: dict | None = None, quick: bool = False, seed: int = 0) -> CaseResult:
    """Circle and Oval share dynamics, Oval and Walk share geometry: is Circle-Oval closest?

    Score: d(Circle, Oval) / min(d(Circle, Walk), d(Oval, Walk)) on the distance matrix
    averaged over ``reps`` independent realisations; PASS if < 1.
    """
    case = "circle_oval_walk"
    criterion = "d(circle, oval) < min(d(circle, walk), d(oval, walk)), averaged over realisations"
    if needs_matched(measure):
        return _not_applicable(case, measure, criterion)
    detail = _header(measure, case, params)
    reps, T = (2, 500) if quick else (10, 1000)
    names = ["circle", "oval", "walk"]
    mats = []
    for s in _seeds(seed, reps):
        trio = circle_oval_walk(T=T, seed=s)
        mats.append(distance_matrix([trio[n].data for n in names], measure, detail["params"]))
    D = np.mean(mats, axis=0)
    ratio = float(D[0, 1] / min(D[0, 2], D[1, 2]))
    closest = [int(np.argmin([m[0, 1], m[0, 2], m[1, 2]]) == 0) for m in mats]
    detail.update({"T": T, "reps": reps, "names": names, "distance": D.tolist(), "ratio": ratio,
                   "circle_oval_closest_per_rep": closest})
    return CaseResult(case, measure, ratio, bool(ratio < 1), criterion, detail,
                      {"kind": "matrix", "matrix": D.tolist(), "labels": names})


# ---------------------------------------------------------------------------- case 2
def case_lorenz_regimes(measure: str, params: dict | None = None, quick: bool = False, seed: int = 0) -> CaseResult:
    """Lorenz at rho = 0.5 (one stable point), 15 (two stable points), 28 (chaos).

    Several realisations (random initial conditions) per regime; score: silhouette of the
    distance matrix with regimes as labels; PASS if > 0.  Stable regimes are recorded from
    their initial conditions (the transient is the dynamics); the chaotic one after a
    burn-in of 500 steps, on the attractor.
    """
    case = "lorenz_regimes"
    criterion = "silhouette(D, regime) > 0"
    if needs_matched(measure):
        return _not_applicable(case, measure, criterion)
    detail = _header(measure, case, params)
    n_per, T, trials = (3, 300, 4) if quick else (6, 500, 8)
    data, labels = [], []
    seeds = iter(_seeds(seed, n_per * len(LORENZ_REGIMES)))
    for regime, rho in LORENZ_REGIMES.items():
        for _ in range(n_per):
            sys_ = lorenz(rho=rho, T=T, trials=trials, dt=0.01, burn_in=500 if regime == "chaotic" else 0,
                          seed=next(seeds))
            data.append(sys_.data)
            labels.append(regime)
    D = distance_matrix(data, measure, detail["params"])
    sil = silhouette(D, labels)
    detail.update({"n_per_regime": n_per, "T": T, "trials": trials, "dt": 0.01, "labels": labels,
                   "distance": D.tolist()})
    return CaseResult(case, measure, sil, bool(sil > 0), criterion, detail,
                      {"kind": "matrix", "matrix": D.tolist(), "labels": labels})


# ---------------------------------------------------------------------------- case 3
DEFORMATION_THRESHOLD = 0.5


def case_deformation(measure: str, params: dict | None = None, quick: bool = False, seed: int = 0) -> CaseResult:
    """Smooth deformations of a ring attractor vs a change of topology (ring -> line).

    Two criteria, both needed to PASS:

    * invariance: every d(ring, deformed ring) < 0.5 * d(ring, line attractor), for sigmoid
      warps (gain 0.5, 1) and random diffeomorphisms (eps 0.3, 0.6; scale = data SD);
    * sensitivity: along ``arc_attractor(lam)``, lam from 0 (ring) to 1 (line), d(ring,
      arc(lam)) grows monotonically: Spearman(lam, d) > 0.8.  Score: that Spearman rho.

    All systems share the ring's noise paths (common random numbers), so samples correspond
    and matched-sample measures apply.
    """
    case = "deformation"
    criterion = f"max d(ring, deformed) < {DEFORMATION_THRESHOLD} d(ring, line) and Spearman(lam, d) > 0.8"
    detail = _header(measure, case, params)
    trials, T, n_lam = (10, 150, 5) if quick else (20, 200, 11)
    ring = arc_attractor(0.0, trials=trials, T=T, seed=seed)
    scale = float(ring.data.std())
    s1, s2 = _seeds(seed + 1, 2)
    deformed = {
        "sigmoid gain 0.5": sigmoid_warp(ring.data, 0.5),
        "sigmoid gain 1": sigmoid_warp(ring.data, 1.0),
        "diffeo eps 0.3": RandomDiffeomorphism(2, 3, 0.3, scale, seed=s1)(ring.data),
        "diffeo eps 0.6": RandomDiffeomorphism(2, 3, 0.6, scale, seed=s2)(ring.data),
    }
    lams = np.linspace(0.0, 1.0, n_lam)
    arcs = [arc_attractor(float(l), trials=trials, T=T, seed=seed).data for l in lams]
    d_def = distances_to(ring.data, list(deformed.values()), measure, detail["params"])
    d_arc = distances_to(ring.data, arcs, measure, detail["params"])
    d_between = float(d_arc[-1])
    rho = float(spearmanr(lams, d_arc)[0]) if np.ptp(d_arc) > 0 else 0.0
    invariant = bool(np.max(d_def) < DEFORMATION_THRESHOLD * d_between)
    detail.update({"trials": trials, "T": T, "deformations": dict(zip(deformed, d_def.tolist())),
                   "ring_line_distance": d_between, "deformation_ratio": float(np.max(d_def) / d_between)
                   if d_between > 0 else float("nan"), "lam": lams.tolist(), "d_interp": d_arc.tolist(),
                   "spearman": rho, "invariance_pass": invariant, "monotone_pass": bool(rho > 0.8)})
    fig = {"kind": "deformation", "lam": lams.tolist(), "d_interp": d_arc.tolist(),
           "deformations": dict(zip(deformed, d_def.tolist())), "threshold": DEFORMATION_THRESHOLD * d_between}
    return CaseResult(case, measure, rho, bool(invariant and rho > 0.8), criterion, detail, fig)


# ---------------------------------------------------------------------------- case 4
PASS_NOISE = 0.5
NOISE_PAIR = {
    # Same stationary covariance (isotropic, 1 / (1 - 0.95^2)), different dynamics.
    "rotation": (0.95 * rotation(2 * np.pi / 10), np.eye(2)),
    "walk": (0.95 * np.eye(2), np.eye(2)),
}


def case_noise_robustness(measure: str, params: dict | None = None, quick: bool = False, seed: int = 0) -> CaseResult:
    """A damped rotation vs a leaky random walk with the same isotropic stationary cloud.

    x(t+1) = A x(t) + eps, A = 0.95 R(2 pi / 10) or 0.95 I: identical geometry (stationary
    covariance I / (1 - 0.95^2)), different dynamics.  Both are observed through one random
    linear map into 10 neurons, with observation noise of relative SD ``sigma`` (x the SD
    of the clean observations).  At each sigma, ``n_seeds`` independent realisations per
    system; *separated* means every between-system distance exceeds every within-system
    one.  Score: the smallest sigma at which separation is lost (None: never, up to the
    largest tested).  PASS if separated at every sigma <= 0.5.
    """
    case = "noise_robustness"
    criterion = f"rotation/walk separated (min between > max within) at every noise SD <= {PASS_NOISE}"
    if needs_matched(measure):
        return _not_applicable(case, measure, criterion)
    detail = _header(measure, case, params)
    levels = [0.0, 0.5, 1.0, 2.0, 4.0] if quick else [0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0]
    n_seeds, T = (3, 400) if quick else (5, 800)
    seeds = _seeds(seed, 2 * n_seeds * len(levels) + 1)
    C = random_observation(2, 10, seeds.pop())
    within, between, separated = [], [], []
    k = 0
    for sigma in levels:
        data = []
        for A, B in NOISE_PAIR.values():
            for _ in range(n_seeds):
                latent = linear_process(A, B, T, trials=1, seed=seeds[k], burn_in=100)
                data.append(observe(latent, noise=sigma, seed=seeds[k] + 1, C=C).data)
                k += 1
        D = distance_matrix(data, measure, detail["params"])
        same = np.equal.outer(np.arange(2 * n_seeds) // n_seeds, np.arange(2 * n_seeds) // n_seeds)
        iu = np.triu_indices(2 * n_seeds, 1)
        w, b = D[iu][same[iu]], D[iu][~same[iu]]
        within.append(float(w.max()))
        between.append(float(b.min()))
        separated.append(bool(b.min() > w.max()))
    lost = next((lv for lv, s in zip(levels, separated) if not s), None)
    passed = all(s for lv, s in zip(levels, separated) if lv <= PASS_NOISE)
    detail.update({"levels": levels, "n_seeds": n_seeds, "T": T, "max_within": within, "min_between": between,
                   "separated": separated, "lost_at": lost, "max_tested": levels[-1]})
    fig = {"kind": "noise", "levels": levels, "max_within": within, "min_between": between}
    return CaseResult(case, measure, lost, passed, criterion, detail, fig)


# ---------------------------------------------------------------------------- case 5
def _motif_pairs(rng: np.random.Generator, n_bases: int, n_slots: int = 3) -> list[tuple[list, list, int]]:
    """(base, variant, shared) triples: variant keeps ``shared`` of base's slots."""
    names = sorted(MOTIFS)
    pairs = []
    for _ in range(n_bases):
        perm = list(rng.permutation(names))
        base, pool = perm[:n_slots], perm[n_slots:]
        for shared in range(n_slots + 1):
            for _ in range(1 if shared in (0, n_slots) else 2):
                keep = set(rng.choice(n_slots, shared, replace=False).tolist())
                repl = iter(rng.permutation(pool).tolist())
                variant = [base[i] if i in keep else next(repl) for i in range(n_slots)]
                pairs.append((base, variant, shared))
    return pairs


def case_motifs(measure: str, params: dict | None = None, quick: bool = False, seed: int = 0) -> CaseResult:
    """Trajectories of three motifs each; pairs share 0-3 motifs (same slot).

    All trajectories start from the same initial states and use the same process-noise
    draws (common random numbers), so samples correspond.  Score: Spearman correlation of
    distance with the number of shared motifs; PASS if rho < 0 with p < 0.05.
    """
    case = "motifs"
    criterion = "Spearman(shared motifs, distance) < 0 with p < 0.05"
    detail = _header(measure, case, params)
    n_bases, L = (3, 30) if quick else (8, 40)
    pairs = _motif_pairs(check_random_state(seed), n_bases)
    cache: dict[tuple, np.ndarray] = {}

    def traj(motifs: list) -> np.ndarray:
        key = tuple(motifs)
        if key not in cache:
            cache[key] = compose_motifs(motifs, segment_length=L, trials=4, noise=0.01, seed=seed).data
        return cache[key]

    shared, dist = [], []
    for base in {tuple(p[0]) for p in pairs}:
        mine = [p for p in pairs if tuple(p[0]) == base]
        d = distances_to(traj(list(base)), [traj(p[1]) for p in mine], measure, detail["params"])
        shared += [p[2] for p in mine]
        dist += d.tolist()
    rho, p = spearmanr(shared, dist) if np.ptp(dist) > 0 else (0.0, 1.0)
    rho, p = float(rho), float(p)
    detail.update({"n_bases": n_bases, "segment_length": L, "shared": shared, "distance": dist, "spearman": rho,
                   "p_value": p, "pairs": [(list(b), list(v)) for b, v, _ in pairs]})
    return CaseResult(case, measure, rho, bool(rho < 0 and p < 0.05), criterion, detail,
                      {"kind": "scatter", "x": shared, "y": dist})


# ---------------------------------------------------------------------------- case 6
FIXED_POINT_KINDS = ("line", "point", "bistable")


def case_fixed_point_topology(measure: str, params: dict | None = None, quick: bool = False,
                              seed: int = 0) -> CaseResult:
    """Line, point and bistable attractors with identical condition averages.

    Several realisations per kind (``attractor_system``: the condition averages coincide
    exactly, only single-trial residual dynamics differ); score: silhouette of the
    distance matrix with kinds as labels; PASS if > 0.
    """
    case = "fixed_point_topology"
    criterion = "silhouette(D, attractor kind) > 0"
    if needs_matched(measure):
        return _not_applicable(case, measure, criterion)
    detail = _header(measure, case, params)
    n_per, tpc, T = (3, 6, 60) if quick else (6, 10, 100)
    seeds = iter(_seeds(seed, n_per * len(FIXED_POINT_KINDS)))
    data, labels, means = [], [], []
    for kind in FIXED_POINT_KINDS:
        for _ in range(n_per):
            sys_ = attractor_system(kind, trials_per_condition=tpc, T=T, seed=next(seeds))
            data.append(sys_.data)
            labels.append(kind)
            c = sys_.labels["condition"]
            means.append(np.stack([sys_.data[c == k].mean(axis=0) for k in np.unique(c)]))
    D = distance_matrix(data, measure, detail["params"])
    sil = silhouette(D, labels)
    gap = float(max(np.abs(m - means[0]).max() for m in means))
    detail.update({"n_per_kind": n_per, "trials_per_condition": tpc, "T": T, "labels": labels,
                   "distance": D.tolist(), "condition_average_max_difference": gap})
    return CaseResult(case, measure, sil, bool(sil > 0), criterion, detail,
                      {"kind": "matrix", "matrix": D.tolist(), "labels": labels})


CASES: dict[str, Callable[..., CaseResult]] = {
    "circle_oval_walk": case_circle_oval_walk,
    "lorenz_regimes": case_lorenz_regimes,
    "deformation": case_deformation,
    "noise_robustness": case_noise_robustness,
    "motifs": case_motifs,
    "fixed_point_topology": case_fixed_point_topology,
}

# The matched-sample Lorenz cases of Guilhot et al. (their own module).
CASES.update(MATCHED_CASES)

# ReSi's six tests on small trained networks (issue 25; repalign/report_card/resi.py): registered, but
# run only when named (`--cases resi`): they train networks, so the default card leaves them out.
CASES.update(RESI_CASES)
CASE_GROUPS = {"resi": tuple(RESI_CASES)}
DEFAULT_CASES = tuple(c for c in CASES if c not in RESI_CASES)


def run_case(case: str, measure: str, params: dict | None = None, quick: bool = False, seed: int = 0) -> CaseResult:
    """Run one case by name (see :data:`CASES`)."""
    if case not in CASES:
        raise ValueError(f"case must be one of {sorted(CASES)}; got {case!r}")
    get_measure(measure)  # unknown names fail here, with the list of measures
    return CASES[case](measure, params, quick, seed)
