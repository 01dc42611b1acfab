"""The names people search for: other tools' measure ids mapped to repalign's measures and parameters.

Two sources are covered:

* nacloos/similarity-repository's *standardized ids* (e.g. ``cka-kernel=linear-hsic=gretton-score``,
  ``shape_metric-alpha={alpha}-distance=angular``), which name ~200 measures of 32 packages. A
  ``{placeholder}`` in an id is a parameter: ``shape_metric-alpha=0.5-distance=angular`` is
  ``get_measure("shape", alpha=0.5, score="angular")``. A backend prefix
  (``measure/netrep/...``) is ignored.
* ReSi's class names (Klabunde et al. 2024, e.g. ``HardCorrelationMatch``) and netrep's.

``repalign.get_measure(alias)`` (hence ``compare``/``pairwise`` with an alias as the measure)
resolves an alias; ``repalign.measures(search="procrustes")`` lists registered measures and
aliases whose name, id or summary contains the text, each with its convention. Where the other
tool's number is a transform of repalign's, or its definition differs, ``convention`` says so:
repalign always returns its own measure's value, never the other tool's transform.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

SIMREPO = "similarity-repository"
RESI = "ReSi"
NETREP = "netrep"


@dataclass(frozen=True)
class Alias:
    """An id of another tool and the repalign measure and parameters it corresponds to."""

    alias: str
    measure: str
    params: dict = field(default_factory=dict)
    source: str = SIMREPO
    convention: str = "same definition"


@dataclass(frozen=True)
class MeasureMatch:
    """One hit of ``repalign.measures(search=...)``: a measure, or an alias of one."""

    name: str  # what to pass to get_measure / compare (the alias itself for an alias)
    measure: str  # the repalign measure
    params: dict
    source: str  # "repalign" or the other tool
    convention: str
    summary: str


# placeholder -> (repalign parameter, type)
_PLACEHOLDERS = {"alpha": ("alpha", float), "sigma": ("sigma", float), "topk": ("k", int),
                 "k": ("k", int), "n_components": ("n_components", int), "lambda": ("lam", float)}

_SIGMA = ("sigma is taken as repalign's absolute RBF/Laplace bandwidth (thingsvision's convention); "
          "Kornblith et al.'s code calls the median-relative factor 'threshold'")
_NETREP_SHAPE = ("netrep's LinearMetric interpolates whitening matrices and rescales; repalign partially "
                 "whitens (see repalign.geometry.shape): equal at alpha = 1, and at alpha = 0 for the "
                 "angular score, different in between")

_SOC = ("ReSi's code indexes the condensed distance vector with sample indices and compares cosine "
        "distances; repalign follows the paper (Hamilton et al. 2016)")

_TABLE = [
    # ---- CKA
    Alias("cka-kernel=linear-hsic=gretton-score", "cka"),
    Alias("cka-kernel=linear-hsic=song-score", "cka", {"debiased": True}),
    Alias("cka-kernel=linear-hsic=lange-score", "cka", {"debiased": "lange"}),
    Alias("cka-kernel=(rbf-sigma={sigma})-hsic=gretton-score", "cka", {"kernel": "rbf"}, convention=_SIGMA),
    Alias("cka-kernel=(rbf-sigma={sigma})-hsic=song-score", "cka", {"kernel": "rbf", "debiased": True},
          convention=_SIGMA),
    Alias("cka-kernel=(laplace-sigma={sigma})-hsic=gretton-score", "cka", {"kernel": "laplace"}, convention=_SIGMA),
    Alias("cka-kernel=linear-hsic=gretton-distance=angular", "cka_angular"),
    Alias("cka-kernel=linear-hsic=lange-distance=angular", "cka_angular", {"debiased": "lange"}),
    Alias("cka-kernel=(laplace-sigma={sigma})-hsic=gretton-distance=angular", "cka_angular", {"kernel": "laplace"},
          convention=_SIGMA),
    Alias("cka-kernel=(rbf-sigma={sigma})-hsic=gretton-distance=angular", "cka_angular", {"kernel": "rbf"},
          convention=_SIGMA),
    Alias("cka-kernel=linear-hsic=gretton-distance=one_minus_score", "cka",
          convention="theirs is 1 - CKA (Ding et al. 2021); repalign returns CKA"),
    Alias("LinearCKA", "cka_angular", source=NETREP, convention="netrep's LinearCKA is arccos(CKA)"),
    Alias("CKA", "cka", source=RESI),
    # ---- shape metrics and Procrustes
    Alias("shape_metric-alpha={alpha}-distance=angular", "shape", {"score": "angular"}, convention=_NETREP_SHAPE),
    Alias("shape_metric-alpha={alpha}-distance=euclidean", "shape", {"score": "euclidean"},
          convention=_NETREP_SHAPE),
    Alias("LinearMetric", "shape", source=NETREP, convention=_NETREP_SHAPE),
    Alias("procrustes-distance=angular", "procrustes"),
    Alias("nbs-distance=angular", "procrustes", convention="arccos(NBS) is the Procrustes angle (Harvey et al. 2023)"),
    Alias("procrustes-score", "nbs", convention="cos of the Procrustes angle: the normalised Bures similarity"),
    Alias("nbs-score", "nbs"),
    Alias("procrustes-distance=euclidean", "procrustes_euclidean"),
    Alias("procrustes-distance=squared_euclidean", "procrustes_sq_euclidean",
          convention="similarity-repository's sim_metric backend (Ding et al. 2021) normalises each system "
                     "first: that is procrustes_normalized squared"),
    Alias("bures_distance", "procrustes_euclidean",
          convention="nn_similarity_index's bures_distance is the Bures distance between the (centred) Gram "
                     "matrices X X^T and Y Y^T, which equals the Euclidean Procrustes distance; it is NOT "
                     "repalign's 'bures' (2-Wasserstein between Gaussian fits of unmatched samples)"),
    Alias("permutation_metric-distance=angular", "permutation_procrustes", {"score": "angular"}),
    Alias("permutation_metric-distance=euclidean", "permutation_procrustes", {"score": "euclidean"}),
    Alias("PermutationMetric", "permutation_procrustes", source=NETREP),
    Alias("OrthogonalAngularShapeMetricCentered", "procrustes", source=RESI),
    Alias("OrthogonalProcrustesCenteredAndNormalized", "procrustes_normalized", source=RESI),
    Alias("ProcrustesSizeAndShapeDistance", "procrustes_euclidean", source=RESI),
    Alias("PermutationProcrustes", "permutation_procrustes", {"score": "euclidean"}, source=RESI,
          convention="ReSi does not centre the units first; repalign does (translation invariant)"),
    Alias("AlignedCosineSimilarity", "aligned_cosine", source=RESI),
    Alias("aligned_cosine_similarity", "aligned_cosine"),
    # ---- CCA family
    Alias("cca-score", "cca"),
    Alias("cca-squared_score", "cca", {"statistic": "mean_squared"}),
    Alias("svcca-var=0.99-score", "svcca", {"threshold": 0.99}),
    Alias("pwcca-score", "pwcca"),
    Alias("PWCCA", "pwcca", source=RESI),
    Alias("SVCCA", "svcca", {"threshold": 0.99}, source=RESI),
    # ---- stochastic shape metrics (netrep)
    Alias("GaussianStochasticMetric", "gaussian_stochastic_shape", source=NETREP,
          convention="netrep takes (means, covariances) per condition; repalign estimates them from "
                     "(trials, conditions, units) with divisor T"),
    Alias("EnergyStochasticMetric", "energy_stochastic_shape", source=NETREP),
    # ---- neighbourhoods
    Alias("mutual_knn-topk={topk}", "mutual_knn"),
    Alias("cknna-topk={topk}", "cknna"),
    Alias("jaccard_similarity", "jaccard_knn"),
    Alias("JaccardSimilarity", "jaccard_knn", source=RESI),
    Alias("rank_similarity", "rank_similarity"),
    Alias("RankSimilarity", "rank_similarity", source=RESI),
    Alias("second_order_cosine_similarity", "second_order_cosine", convention=_SOC),
    Alias("SecondOrderCosineSimilarity", "second_order_cosine", source=RESI, convention=_SOC),
    # ---- predictivity
    Alias("linear_regression-pearsonr-cv=5folds", "lstsq_predictivity", {"score": "pearson", "n_folds": 5}),
    Alias("ridge-lambda=1-pearsonr-cv=5folds", "linear_predictivity", {"alpha": 1.0, "score": "pearson", "n_folds": 5}),
    Alias("ridge-pearsonr-cv=5folds", "linear_predictivity", {"score": "pearson", "n_folds": 5},
          convention="neuroaimetrics' LinearPredictivity picks the ridge from logspace(-8, 8, 17); repalign's "
                     "alpha=None chooses it by its own inner cross-validation"),
    Alias("ridge-pearsonr-cv=5folds-reverse", "linear_predictivity",
          {"score": "pearson", "n_folds": 5, "direction": "reverse"}),
    Alias("pls-pearsonr-components={n_components}-cv=5folds", "pls_predictivity", {"score": "pearson", "n_folds": 5}),
    Alias("LinearRegression", "lstsq_predictivity", source=RESI,
          convention="whether ReSi cross-validates or scores in-sample was not verified; repalign's is "
                     "k-fold cross-validated R^2"),
    # ---- matching, GULP, distance matrices, overlaps, statistics (this module's families)
    Alias("hard_correlation_match", "hard_matching"),
    Alias("HardCorrelationMatch", "hard_matching", source=RESI),
    Alias("soft_correlation_match", "soft_matching", {"assignment": "max"},
          convention="similarity-repository gives this id both to ReSi's SoftCorrelationMatch (best partner "
                     "per unit, symmetrised: assignment='max', used here) and to neuroaimetrics' SoftMatching "
                     "(optimal transport: assignment='transport')"),
    Alias("SoftCorrelationMatch", "soft_matching", {"assignment": "max"}, source=RESI,
          convention="best-partner correlation, not optimal transport"),
    Alias("SoftMatching", "soft_matching", {"assignment": "transport"}, source="neuroaimetrics",
          convention="Khosla & Williams' soft matching; repalign scores 1 - d^2 / 2 on z-scored units"),
    Alias("gulp", "gulp", convention="ReSi and the GULP code return the squared distance; repalign the distance"),
    Alias("Gulp", "gulp", source=RESI, convention="ReSi returns the squared distance; repalign the distance"),
    Alias("rsm_norm_difference", "rsm_norm_difference"),
    Alias("RSMNormDifference", "rsm_norm_difference", {"norm": "spectral"}, source=RESI,
          convention="ReSi's code takes numpy's ord=2 norm of the full matrix difference, i.e. the spectral "
                     "norm (its comment says otherwise); norm='frobenius' is the survey's definition"),
    Alias("distance_correlation", "distance_correlation"),
    Alias("DistanceCorrelation", "distance_correlation", source=RESI),
    Alias("eigenspace_overlap_score", "eigenspace_overlap"),
    Alias("EigenspaceOverlapScore", "eigenspace_overlap", source=RESI),
    Alias("ensd", "ensd"),
    Alias("ensd-distance=angular_normalized", "cka_angular",
          convention="theirs is (2/pi) arccos(ENSD / sqrt(PR_x PR_y)) = (2/pi) arccos(CKA); repalign returns "
                     "arccos(CKA) in radians: multiply by 2/pi"),
    Alias("magnitude_difference", "magnitude_difference"),
    Alias("MagnitudeDifference", "magnitude_difference", source=RESI),
    Alias("concentricity_difference", "concentricity_difference"),
    Alias("ConcentricityDifference", "concentricity_difference", source=RESI),
    Alias("uniformity_difference", "uniformity_difference"),
    Alias("UniformityDifference", "uniformity_difference", source=RESI),
]

# RSA: every rdm x comparator spelling of similarity-repository and ReSi's four RSA names
_RDMS = {"correlation": "correlation", "euclidean": "euclidean", "squared_euclidean": "sqeuclidean",
         "cosine": "cosine", "poisson": "poisson"}
_COMPARES = {"spearman": "spearman", "pearson": "pearson", "cosine": "cosine", "rho_a": "rho_a",
             "tau_a": "tau_a", "kendall": "kendall_tau_b", "bures": "bures"}
_TABLE += [Alias(f"rsa-rdm={r}-compare={c}", "rsa", {"rdm": rdm, "compare": cmp})
           for r, rdm in _RDMS.items() for c, cmp in _COMPARES.items()]
_TABLE += [Alias(f"rsa-rdm={r}-compare={c}", "rsa_distance", {"rdm": rdm, "compare": c})
           for r, rdm in _RDMS.items() for c in ("euclidean", "bures_metric")]
_TABLE += [Alias(f"RSA_{r}_{c}", "rsa" if c == "spearman" else "rsa_distance", {"rdm": r, "compare": c}, source=RESI)
           for r in ("correlation", "euclidean") for c in ("spearman", "euclidean")]

ALIASES: dict[str, Alias] = {a.alias: a for a in _TABLE}
if len(ALIASES) != len(_TABLE):  # pragma: no cover - a typo in the table
    raise RuntimeError("duplicate alias in repalign.aliases")


def _template_regex(template: str) -> re.Pattern:
    parts = re.split(r"\{(\w+)\}", template)
    rx = "".join(re.escape(p) if i % 2 == 0 else rf"(?P<{p}>[-+0-9.eE]+?)" for i, p in enumerate(parts))
    return re.compile(rf"^{rx}$")


_TEMPLATES = [(_template_regex(a.alias), a) for a in _TABLE if "{" in a.alias]


def _strip_backend(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def resolve_alias(name: str) -> tuple[str, dict] | None:
    """``(measure, params)`` for an alias (placeholders filled), or None if ``name`` is no alias.

    Raises ValueError if a placeholder's value does not parse (e.g. ``alpha=abc``).
    """
    if not isinstance(name, str):
        return None
    key = _strip_backend(name)
    if key in ALIASES:
        a = ALIASES[key]
        if "{" not in key:
            return a.measure, dict(a.params)
    for rx, a in _TEMPLATES:
        m = rx.match(key)
        if m:
            params = dict(a.params)
            for ph, text in m.groupdict().items():
                param, kind = _PLACEHOLDERS[ph]
                try:
                    params[param] = kind(text)
                except ValueError:
                    raise ValueError(f"measure {name!r}: {ph}={text!r} is not a {kind.__name__}") from None
            return a.measure, params
    return None


def alias_of(name: str) -> Alias | None:
    """The table entry behind ``name`` (an exact id or a filled template), or None."""
    key = _strip_backend(name)
    if key in ALIASES:
        return ALIASES[key]
    return next((a for rx, a in _TEMPLATES if rx.match(key)), None)


def search_measures(text: str, infos: list) -> list[MeasureMatch]:
    """Registered measures and aliases whose name, id or summary contains ``text`` (case-insensitive).

    ``infos`` is :func:`repalign.registry.measures`'s list. Aliases of measures that are not
    registered are left out. Registered measures come first, then aliases, each sorted by name.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"search must be a non-empty string; got {text!r}")
    q = text.strip().lower()
    known = {m.name: m for m in infos}
    hits = [MeasureMatch(m.name, m.name, dict(m.preset), "repalign", "", m.summary)
            for m in infos if q in m.name.lower() or q in m.summary.lower()]
    for a in sorted(_TABLE, key=lambda a: a.alias.lower()):
        target = known.get(a.measure)
        if target is None:
            continue
        if q in a.alias.lower() or q in a.measure.lower() or q in a.convention.lower():
            hits.append(MeasureMatch(a.alias, a.measure, dict(a.params), a.source, a.convention, target.summary))
    return hits


def describe(hits: list[MeasureMatch]) -> str:
    """A plain-text table of search hits (name, measure and parameters, source, convention)."""
    rows = []
    for h in hits:
        args = ", ".join(f"{k}={v!r}" for k, v in h.params.items())
        target = f"{h.measure}({args})" if args else h.measure
        note = h.convention or h.summary
        rows.append(f"{h.name:<48} -> {target:<44} [{h.source}] {note}")
    return "\n".join(rows)
