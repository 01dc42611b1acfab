"""Other tools' names (similarity-repository ids, ReSi, netrep) resolve to repalign measures, search
finds them, and the conventions the table states are checked numerically."""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy.linalg import sqrtm

import repalign
from repalign import aliases
from repalign.aliases import ALIASES, alias_of, describe, resolve_alias


def check_table(registered) -> list[str]:
    """Aliases whose measure is not registered or whose parameters it refuses."""
    bad = []
    for a in aliases._TABLE:
        if a.measure not in registered:
            bad.append(f"{a.alias}: no measure {a.measure!r}")
            continue
        filled = {ph: ("1" if aliases._PLACEHOLDERS[ph][1] is int else "0.5") for ph in re.findall(r"\{(\w+)\}", a.alias)}
        try:
            repalign.get_measure(a.alias.format(**filled))
        except (ValueError, TypeError) as exc:
            bad.append(f"{a.alias}: {exc}")
    return bad


def _pair(seed=0, n=30, p=4, q=5):
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n, 3))
    return (latent @ rng.standard_normal((3, p)) + 0.4 * rng.standard_normal((n, p)),
            latent @ rng.standard_normal((3, q)) + 0.4 * rng.standard_normal((n, q)))


def test_every_alias_names_a_registered_measure_that_accepts_its_parameters():
    assert check_table({m.name for m in repalign.measures()}) == []
    assert len(ALIASES) > 80


@pytest.mark.parametrize("alias,name,params", [
    ("cka-kernel=linear-hsic=gretton-score", "cka", {}),
    ("cka-kernel=linear-hsic=song-score", "cka", {"debiased": True}),
    ("measure/netrep/shape_metric-alpha=0.5-distance=angular", "shape", {"alpha": 0.5}),
    ("shape_metric-alpha=1e-1-distance=euclidean", "shape", {"alpha": 0.1, "score": "euclidean"}),
    ("cka-kernel=(rbf-sigma=2.0)-hsic=gretton-score", "cka", {"kernel": "rbf", "sigma": 2.0}),
    ("rsa-rdm=correlation-compare=spearman", "rsa", {}),
    ("rsa-rdm=squared_euclidean-compare=tau_a", "rsa", {"rdm": "sqeuclidean", "compare": "tau_a"}),
    ("procrustes-distance=angular", "procrustes", {}),
    ("mutual_knn-topk=5", "mutual_knn", {"k": 5}),
    ("HardCorrelationMatch", "hard_matching", {}),
    ("SoftCorrelationMatch", "soft_matching", {"assignment": "max"}),
    ("SoftMatching", "soft_matching", {"assignment": "transport"}),
    ("RSMNormDifference", "rsm_norm_difference", {"norm": "spectral"}),
])
def test_alias_scores_equal_the_measure_with_its_parameters(alias, name, params):
    X, Y = _pair(1)
    assert repalign.compare(X, Y, alias) == repalign.compare(X, Y, name, **params)
    m = repalign.get_measure(alias)
    assert type(m) is type(repalign.get_measure(name)) and m.params == repalign.get_measure(name, **params).params


def test_parameters_override_an_alias_and_bad_values_are_named():
    assert repalign.get_measure("cka-kernel=linear-hsic=gretton-score", debiased=True).params["debiased"] is True
    with pytest.raises(ValueError, match="alpha"):
        repalign.get_measure("shape_metric-alpha=2.5-distance=angular")
    with pytest.raises(ValueError, match="unknown measure .*measures\\(search="):
        repalign.get_measure("shape_metric-alpha=abc-distance=angular")
    assert resolve_alias("not-a-known-id") is None and resolve_alias(3) is None
    assert alias_of("measure/x/mutual_knn-topk=7").alias == "mutual_knn-topk={topk}"


def test_search_lists_measures_and_aliases_with_conventions():
    hits = repalign.measures(search="Procrustes")
    names = [h.name for h in hits]
    assert {"procrustes", "procrustes_euclidean", "procrustes-distance=angular", "bures_distance"} <= set(names)
    assert all(h.source == "repalign" for h in hits[:names.index("bures_distance")] if h.name in
               {m.name for m in repalign.measures()})
    bures = next(h for h in hits if h.name == "bures_distance")
    assert bures.measure == "procrustes_euclidean" and "NOT repalign's 'bures'" in bures.convention
    assert "bures_distance" in describe(hits)
    assert [h.name for h in repalign.measures(search="gulp")][:1] == ["gulp"]
    with pytest.raises(ValueError, match="search"):
        repalign.measures(search="  ")


def test_bures_distance_convention_holds_numerically():
    """Bures distance between centred Gram matrices == Euclidean Procrustes, != repalign's 'bures'."""
    X, Y = _pair(2, n=12, p=3, q=4)
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    K, L = Xc @ Xc.T, Yc @ Yc.T
    rk = sqrtm(K)
    b2 = np.trace(K) + np.trace(L) - 2 * np.trace(np.real(sqrtm(rk @ L @ rk)))
    d = repalign.compare(X, Y, "bures_distance")
    assert d == pytest.approx(np.sqrt(b2), rel=1e-5)
    assert abs(repalign.compare(X, Y, "bures") - d) > 0.1


def test_stated_transforms_hold_numerically():
    X, Y = _pair(3)
    angle = repalign.compare(X, Y, "procrustes")
    assert repalign.compare(X, Y, "procrustes-score") == pytest.approx(np.cos(angle), rel=1e-9)  # NBS
    assert repalign.compare(X, Y, "nbs-distance=angular") == angle
    # ENSD's normalised angular distance is (2/pi) arccos(CKA): the tutorial's formula, written out
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    pr = lambda A: np.trace(A.T @ A) ** 2 / np.trace(A.T @ A @ A.T @ A)  # noqa: E731
    ensd = repalign.compare(X, Y, "ensd")
    theirs = 2 / np.pi * np.arccos(ensd / np.sqrt(pr(Xc) * pr(Yc)))
    assert repalign.compare(X, Y, "ensd-distance=angular_normalized") * 2 / np.pi == pytest.approx(theirs, rel=1e-9)


def test_docs_table_has_a_row_for_every_measure_and_lists_every_alias():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "measures.md").read_text(encoding="utf-8")
    rows = {line.split("|")[1].strip().strip("`") for line in text.splitlines() if line.startswith("| `")}
    # names starting with "_" are toy measures that other test modules register
    assert {m.name for m in repalign.measures() if not m.name.startswith("_")} <= rows
    missing = [a for a in ALIASES if f"`{a}`" not in text]
    assert missing == []
