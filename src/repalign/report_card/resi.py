"""ReSi's six tests (Klabunde et al. 2024) on small networks trained on digits, as report-card cases.

Every case is ``case(measure, params, quick, seed) -> CaseResult`` like the other cases of
:mod:`repalign.report_card.cases`; ``repalign bench --cases resi`` runs all six. Networks come from
:mod:`repalign.report_card.resi_models` (trained once, cached on disk, shared by every measure of a
run through an in-memory table). Scores are ReSi's, on distances (similarities converted by
:func:`repalign.report_card.cases.to_distance`; matrices symmetrised):

1. ``resi_accuracy``   -- networks of one architecture, different seeds and training lengths:
   Spearman(d(penultimate layers), |accuracy difference|); PASS if > 0 with Mantel p < 0.05.
2. ``resi_output``     -- the same networks: Spearman with the mean Jensen-Shannon divergence of
   their softmax outputs (base 2) and with their disagreement rate; PASS if both > 0 with
   Mantel p < 0.05. Score: the mean of the two.
3. ``resi_labels``     -- groups trained with 0 / 25 / 50 / 75 / 100 % random labels.
4. ``resi_shortcut``   -- groups trained with a label-leaking marker of reliability 0 / 0.25 /
   0.5 / 0.75 / 1, all represented on test images whose marker is random.
5. ``resi_augmentation`` -- groups trained with Gaussian input noise of SD 0 / 0.25 / 0.5 /
   0.75 / 1 (pixels in [0, 1]).
   Cases 3-5: group AUPRC (mean over groups; within-group pairs should rank as more similar
   than pairs across groups); PASS if AUPRC > 0.5 and above the null of randomly relabelled
   networks with p < 0.05. Chance AUPRC is the share of within-group pairs (in the JSON).
6. ``resi_layers``     -- every layer of several trained networks: the violation rate of ReSi's
   layer-monotonicity test (d(i, j) > d(i, k) with j strictly between i and k) and ReSi's
   Spearman; PASS if the mean violation rate < 0.1 and below the shuffled-layer null, p < 0.05.
   Score: the violation rate (lower is better).

Why these thresholds: Mantel / permutation p < 0.05 is the calibration (the measure's signal
is not an artefact of which networks happen to be compared); AUPRC > 0.5 asks that the
average precision of the within-group pairs be at least one half (chance is ~0.08 to 0.14
here), and a violation rate < 0.1 that nine in ten layer orderings be right (chance 0.5):
beating chance alone would pass measures too weak to use. ``quick`` uses MLPs only and fewer
networks; the full setting adds CNNs and needs every architecture to pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..api import pairwise
from ..registry import get_measure
from .common import CaseResult, _header, _seeds, to_distance
from .resi_scores import group_auprc, group_auprc_test, layer_order_test, mantel_spearman

ALPHA = 0.05
PASS_AUPRC = 0.5
PASS_VIOLATION = 0.1
LEVELS = (0.0, 0.25, 0.5, 0.75, 1.0)
NOT_STATIC = "needs (trials, time, units) input: ReSi's representations are static (inputs x units)"
NOT_SAME_WIDTH = "compares systems of equal width only; a network's layers differ in width"


@dataclass(frozen=True)
class Size:
    """Sizes of one setting: architectures, evaluation inputs, networks per test, permutations."""

    archs: tuple
    n_eval: int
    n_seeds: int  # networks of tests 1, 2
    per_group: int  # networks per group in tests 3-5
    n_layer_nets: int  # networks of test 6
    n_perm: int
    max_epochs: int = 12  # tests 1, 2, 6: epochs from 1 to this
    group_epochs: int = 10  # tests 3-5


SIZES = {True: Size(("mlp",), 200, 8, 3, 3, 199, max_epochs=10, group_epochs=8),
         False: Size(("mlp", "cnn"), 360, 12, 5, 5, 999)}


@dataclass
class Zoo:
    """Trained networks of one test: specs, group labels, layer activations, softmax outputs."""

    specs: list
    labels: list
    layers: list  # per network: list of (n_eval, units) arrays, logits last
    probs: np.ndarray  # (networks, n_eval, 10)
    accuracy: np.ndarray  # (networks,) on the evaluation inputs


# ---------------------------------------------------------------------------- networks
def _seed_specs(arch: str, size: Size, seed: int) -> tuple[list, list]:
    """Tests 1, 2, 6: one architecture, different seeds, epochs geometric from 1 to max_epochs."""
    ep = np.round(size.max_epochs ** (np.arange(size.n_seeds) / (size.n_seeds - 1))).astype(int)
    spec = _torch_models().NetSpec
    return [spec(arch=arch, epochs=int(e), seed=s) for e, s in zip(ep, _seeds(seed, size.n_seeds))], list(ep)


def _group_specs(test: str, arch: str, size: Size, seed: int) -> tuple[list, list]:
    """Tests 3-5: ``per_group`` networks (own seeds) at each level of LEVELS."""
    offset = {"labels": 101, "shortcut": 202, "augmentation": 303}[test]
    seeds = iter(_seeds(seed + offset, len(LEVELS) * size.per_group))
    field = {"labels": "label_noise", "shortcut": "shortcut", "augmentation": "noise"}[test]
    spec, specs, labels = _torch_models().NetSpec, [], []
    for level in LEVELS:
        for _ in range(size.per_group):
            specs.append(spec(arch=arch, epochs=size.group_epochs, seed=next(seeds), **{field: level}))
            labels.append(level)
    return specs, labels


_ZOOS: dict[tuple, Zoo] = {}
TESTS = ("seeds", "labels", "shortcut", "augmentation")


def _specs(test: str, arch: str, size: Size, seed: int) -> tuple[list, list]:
    return _seed_specs(arch, size, seed) if test == "seeds" else _group_specs(test, arch, size, seed)


def zoo(test: str, arch: str, quick: bool, seed: int) -> Zoo:
    """The trained networks of ``test`` ("seeds", "labels", "shortcut", "augmentation").

    The first call of a run trains (or loads) the networks of all four tests at once, so that
    one pool of processes serves them all.
    """
    size = SIZES[bool(quick)]
    key = (test, arch, size, int(seed))
    if key not in _ZOOS:
        _ZOOS[key] = _build_zoo(test, arch, size, seed)
    return _ZOOS[key]


def _torch_models():
    """repalign.report_card.resi_models, imported here: torch is an optional extra, and the rest of the
    card (``import repalign.report_card``) must work without it."""
    try:
        from . import resi_models
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("ReSi's cases train networks and need torch: pip install 'repalign[torch]'") from exc
    return resi_models


def _build_zoo(test: str, arch: str, size: Size, seed: int) -> Zoo:
    rm = _torch_models()
    rm.train_all([s for t in TESTS for s in _specs(t, arch, size, seed)[0]])
    specs, labels = _specs(test, arch, size, seed)
    nets = rm.train_all(specs)
    X, y = rm.eval_inputs(size.n_eval, shortcut=test == "shortcut", seed=seed)
    layers = [rm.representations(net, X) for net, _ in nets]
    logits = np.stack([L[-1] for L in layers])
    probs = np.exp(logits - logits.max(axis=2, keepdims=True))
    probs /= probs.sum(axis=2, keepdims=True)
    acc = (probs.argmax(axis=2) == y[None, :]).mean(axis=1)
    return Zoo(specs, labels, layers, probs, acc)


# ---------------------------------------------------------------------------- distances
def rep_distances(reps: list[np.ndarray], measure: str, params: dict) -> np.ndarray:
    """Symmetric (N, N) distances between (inputs, units) representations."""
    D = to_distance(pairwise(reps, measure, **params), measure)
    D = 0.5 * (D + D.T)
    np.fill_diagonal(D, 0.0)
    return np.maximum(D, 0.0)


def output_distances(probs: np.ndarray) -> dict[str, np.ndarray]:
    """Mean Jensen-Shannon divergence (bits) and disagreement rate between networks' outputs.

    probs: (networks, inputs, classes) softmax outputs. Returns {"jsd": (N, N), "disagreement": (N, N)}.
    """
    P = np.clip(probs, 1e-12, 1.0)
    M = 0.5 * (P[:, None] + P[None, :])
    kl = lambda a, m: np.sum(a * (np.log2(a) - np.log2(m)), axis=-1)  # noqa: E731
    jsd = (0.5 * kl(P[:, None], M) + 0.5 * kl(P[None, :], M)).mean(axis=-1)
    pred = probs.argmax(axis=2)
    dis = (pred[:, None] != pred[None, :]).mean(axis=-1)
    return {"jsd": np.maximum(jsd, 0.0), "disagreement": dis}


def _not_static(case: str, measure: str, criterion: str) -> CaseResult | None:
    if get_measure(measure).info().input == "trials":
        return CaseResult(case, measure, None, None, criterion, {"reason": NOT_STATIC})
    return None


def _penultimate(z: Zoo) -> list[np.ndarray]:
    return [L[-2] for L in z.layers]


# ---------------------------------------------------------------------------- tests 1, 2
def _functional_case(case: str, measure: str, params, quick: bool, seed: int,
                     targets: Callable[[Zoo], dict], criterion: str) -> CaseResult:
    if (na := _not_static(case, measure, criterion)) is not None:
        return na
    size = SIZES[bool(quick)]
    detail = _header(measure, case, params)
    per_arch, fig = {}, {}
    for arch in size.archs:
        z = zoo("seeds", arch, quick, seed)
        D = rep_distances(_penultimate(z), measure, detail["params"])
        tests = {k: mantel_spearman(D, F, size.n_perm, seed) for k, F in targets(z).items()}
        per_arch[arch] = {"tests": tests, "accuracy": z.accuracy.tolist(), "epochs": [s.epochs for s in z.specs],
                          "distance": D.tolist(),
                          "passed": all(t["spearman"] > 0 and t["p_value"] < ALPHA for t in tests.values())}
        if not fig:
            F = next(iter(targets(z).values()))
            iu = np.triu_indices(len(D), 1)
            fig = {"kind": "scatter", "x": F[iu].tolist(), "y": D[iu].tolist(), "xlabel": next(iter(tests)),
                   "jitter": False}
    score = float(np.mean([t["spearman"] for a in per_arch.values() for t in a["tests"].values()]))
    detail.update({"per_arch": per_arch, "n_eval": size.n_eval, "n_perm": size.n_perm})
    return CaseResult(case, measure, score, all(a["passed"] for a in per_arch.values()), criterion, detail, fig)


def case_resi_accuracy(measure: str, params: dict | None = None, quick: bool = False, seed: int = 0) -> CaseResult:
    """ReSi test 1: representational distance vs absolute accuracy difference (Spearman)."""
    criterion = f"Spearman(d, |accuracy difference|) > 0 with Mantel p < {ALPHA} (every architecture)"

    def targets(z: Zoo) -> dict:
        return {"abs_accuracy_difference": np.abs(z.accuracy[:, None] - z.accuracy[None, :])}

    return _functional_case("resi_accuracy", measure, params, quick, seed, targets, criterion)


def case_resi_output(measure: str, params: dict | None = None, quick: bool = False, seed: int = 0) -> CaseResult:
    """ReSi test 2: representational distance vs output difference (JSD and disagreement)."""
    criterion = f"Spearman(d, JSD) and Spearman(d, disagreement) > 0 with Mantel p < {ALPHA} (every architecture)"
    return _functional_case("resi_output", measure, params, quick, seed, lambda z: output_distances(z.probs),
                            criterion)


# ---------------------------------------------------------------------------- tests 3-5
def _group_case(case: str, test: str, measure: str, params, quick: bool, seed: int) -> CaseResult:
    criterion = (f"group AUPRC > {PASS_AUPRC} and above the relabelled-network null with p < {ALPHA} "
                 "(every architecture)")
    if (na := _not_static(case, measure, criterion)) is not None:
        return na
    size = SIZES[bool(quick)]
    detail = _header(measure, case, params)
    per_arch, fig = {}, {}
    for arch in size.archs:
        z = zoo(test, arch, quick, seed)
        D = rep_distances(_penultimate(z), measure, detail["params"])
        res = group_auprc_test(D, z.labels, size.n_perm, seed)
        # What the networks' outputs alone give (mean JSD between softmax outputs): a ceiling of sorts.
        res["output_jsd_auprc"] = group_auprc(output_distances(z.probs)["jsd"], z.labels)
        res.update({"levels": z.labels, "accuracy": z.accuracy.tolist(), "distance": D.tolist(),
                    "passed": bool(res["auprc"] > PASS_AUPRC and res["p_value"] < ALPHA)})
        per_arch[arch] = res
        fig = fig or {"kind": "matrix", "matrix": D.tolist(), "labels": [f"{v:g}" for v in z.labels]}
    score = float(np.mean([a["auprc"] for a in per_arch.values()]))
    detail.update({"per_arch": per_arch, "n_eval": size.n_eval, "levels": list(LEVELS), "per_group": size.per_group})
    return CaseResult(case, measure, score, all(a["passed"] for a in per_arch.values()), criterion, detail, fig)


def case_resi_labels(measure: str, params: dict | None = None, quick: bool = False, seed: int = 0) -> CaseResult:
    """ReSi test 3: groups trained with 0-100 % random labels separate (AUPRC)."""
    return _group_case("resi_labels", "labels", measure, params, quick, seed)


def case_resi_shortcut(measure: str, params: dict | None = None, quick: bool = False, seed: int = 0) -> CaseResult:
    """ReSi test 4: groups with a label-leaking marker of reliability 0-1 separate on random-marker inputs."""
    return _group_case("resi_shortcut", "shortcut", measure, params, quick, seed)


def case_resi_augmentation(measure: str, params: dict | None = None, quick: bool = False,
                           seed: int = 0) -> CaseResult:
    """ReSi test 5: groups trained with input noise of SD 0-1 separate (AUPRC)."""
    return _group_case("resi_augmentation", "augmentation", measure, params, quick, seed)


# ---------------------------------------------------------------------------- test 6
def case_resi_layers(measure: str, params: dict | None = None, quick: bool = False, seed: int = 0) -> CaseResult:
    """ReSi test 6: distance between layers of one network grows with their distance in depth."""
    case = "resi_layers"
    criterion = (f"mean violation rate < {PASS_VIOLATION} and below the shuffled-layer null with p < {ALPHA} "
                 "(every architecture)")
    if (na := _not_static(case, measure, criterion)) is not None:
        return na
    size = SIZES[bool(quick)]
    detail = _header(measure, case, params)
    per_arch, fig = {}, {}
    for arch in size.archs:
        z = zoo("seeds", arch, quick, seed)
        nets = z.layers[-size.n_layer_nets:]  # the longest-trained networks
        try:
            mats = [rep_distances(L, measure, detail["params"]) for L in nets]
        except ValueError as exc:  # e.g. subspace measures of one unit space: layers differ in width
            if "same number of features" not in str(exc):
                raise
            return CaseResult(case, measure, None, None, criterion, {"reason": f"{NOT_SAME_WIDTH}: {exc}"})
        res = layer_order_test(mats, size.n_perm, seed)
        res.update({"distance": [M.tolist() for M in mats], "units": [a.shape[1] for a in nets[0]],
                    "passed": bool(res["violation_rate"] < PASS_VIOLATION and res["p_value"] < ALPHA)})
        per_arch[arch] = res
        fig = fig or {"kind": "matrix", "matrix": mats[0].tolist(),
                      "labels": [f"L{i + 1}" for i in range(len(mats[0]) - 1)] + ["logits"]}
    score = float(np.mean([a["violation_rate"] for a in per_arch.values()]))
    detail.update({"per_arch": per_arch, "n_eval": size.n_eval, "n_networks": size.n_layer_nets})
    return CaseResult(case, measure, score, all(a["passed"] for a in per_arch.values()), criterion, detail, fig)


RESI_CASES: dict[str, Callable[..., CaseResult]] = {
    "resi_accuracy": case_resi_accuracy,
    "resi_output": case_resi_output,
    "resi_labels": case_resi_labels,
    "resi_shortcut": case_resi_shortcut,
    "resi_augmentation": case_resi_augmentation,
    "resi_layers": case_resi_layers,
}
