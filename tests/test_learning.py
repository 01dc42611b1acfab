"""Dissimilarity over learning on synthetic checkpoints (no training)."""

from __future__ import annotations

import numpy as np
import pytest

import repalign
from repalign.studies.learning import DSA_PARAMS, Series, learning_dissimilarity, match_fractions

GRID = [0.0, 0.5, 1.0]


def _series(seed: int, group: str, n_ckpt: int = 4, trials: int = 6, time: int = 15, units: int = 5) -> Series:
    """A network whose states drift from a random start towards a shared target with training."""
    rng = np.random.default_rng(seed)
    target = np.random.default_rng(99).standard_normal((trials, time, units))
    start = rng.standard_normal((trials, time, units))
    fr = np.linspace(0, 1, n_ckpt)
    states = [(1 - f) * start + f * target + 0.05 * rng.standard_normal(start.shape) for f in fr]
    return Series(group, fr, states, accuracy=list(fr))


@pytest.fixture(scope="module")
def series():
    return {"a0": _series(0, "A"), "a1": _series(1, "A"), "b0": _series(2, "B", n_ckpt=5)}


@pytest.fixture(scope="module")
def first(series, tmp_path_factory):
    out = tmp_path_factory.mktemp("learning")
    snapshot = {k: [s.copy() for s in v.states] for k, v in series.items()}
    res = learning_dissimilarity(series, out / "store.db", grid=GRID, out_dir=out)
    return res, out, snapshot


def _matched(series, net):
    s = series[net]
    return [np.asarray(s.states[i]) for i in match_fractions(s.fractions, GRID)]


def test_matrices_equal_direct_pairwise(series, first):
    res, _, _ = first
    names = [m["system"] for m in res["systems"]]
    assert len(names) == 9 and names[0] == "a0@0.00"
    trials = [X for net in series for X in _matched(series, net)]
    flat = [X.reshape(-1, X.shape[-1]) for X in trials]
    off = ~np.eye(len(names), dtype=bool)
    for name, systems, params in (("cka", flat, {}), ("procrustes", flat, {}), ("dsa", trials, DSA_PARAMS)):
        direct = repalign.pairwise(systems, name, **params)
        got = np.asarray(res["measures"][name]["matrix"])
        np.testing.assert_allclose(got[off], direct[off], rtol=1e-6, atol=1e-8, err_msg=name)


def test_between_groups_and_progress(first):
    res, _, _ = first
    rows = res["measures"]["procrustes"]["between"]
    D = np.asarray(res["measures"]["procrustes"]["dissimilarity"])
    names = [m["system"] for m in res["systems"]]
    i, j, k = names.index("a0@1.00"), names.index("a1@1.00"), names.index("b0@1.00")
    ab_end = next(r for r in rows if r["stage"] == 1.0 and (r["group_a"], r["group_b"]) == ("A", "B"))
    assert ab_end["n_pairs"] == 2
    assert ab_end["mean"] == pytest.approx((D[i, k] + D[j, k]) / 2)
    aa_end = next(r for r in rows if r["stage"] == 1.0 and r["group_a"] == r["group_b"] == "A")
    assert aa_end["n_pairs"] == 1 and aa_end["mean"] == pytest.approx(D[i, j])
    # networks converge onto the same target: dissimilarity falls with training
    ab_start = next(r for r in rows if r["stage"] == 0.0 and (r["group_a"], r["group_b"]) == ("A", "B"))
    assert ab_end["mean"] < 0.5 * ab_start["mean"]
    # b0 has 5 checkpoints: 0.5 matches its checkpoint 2 exactly
    assert next(m for m in res["systems"] if m["system"] == "b0@0.50")["fraction"] == pytest.approx(0.5)


def test_reuse_and_figures(series, first):
    res, out, snapshot = first
    assert res["computed"] == 3 * 36 and res["cached"] == 0
    again = learning_dissimilarity(series, out / "store.db", grid=GRID)
    assert again["computed"] == 0 and again["cached"] == 3 * 36
    for name in ("cka", "dsa"):
        np.testing.assert_array_equal(np.asarray(again["measures"][name]["matrix"]),
                                      np.asarray(res["measures"][name]["matrix"]))
    for key in ("dissimilarity", "accuracy", "mds/cka", "mds/dsa", "mds/procrustes"):
        with open(res["figures"][key], "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    for net, states in snapshot.items():  # caller arrays untouched
        for a, b in zip(states, series[net].states):
            np.testing.assert_array_equal(a, b)


def test_shared_pca_and_errors(series, tmp_path):
    res = learning_dissimilarity(series, tmp_path / "s.db", measures=["cka"], grid=[0.0, 1.0], pca=3)
    assert len(res["systems"]) == 6
    assert np.all(np.isfinite(res["measures"]["cka"]["matrix"]))
    with pytest.raises(ValueError, match="series"):
        learning_dissimilarity({"a0": series["a0"]}, tmp_path / "x.db")
    with pytest.raises(ValueError, match="grid"):
        learning_dissimilarity(series, tmp_path / "x.db", grid=[1.5])
    with pytest.raises(ValueError, match="fractions"):
        Series("A", [0.0, 0.5], [np.zeros((2, 3, 2))])
    with pytest.raises(ValueError, match="increasing"):
        Series("A", [0.5, 0.0], [np.zeros((2, 3, 2))] * 2)
