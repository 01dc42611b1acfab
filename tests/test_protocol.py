"""The measure protocol: a measure declared in one class (here, in this test module) runs through
compare, pairwise, calibrate, the sweep engine and the report card; keys stay those of existing
stores; parameters cannot shadow the protocol; calibrate's seeds are explicit and never advance a
caller's SeedSequence."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import repalign
from repalign import engine, registry
from repalign.report_card import run_case
from repalign.engine.store import measure_key
from repalign.registry import Comparison, Measure, SHADOWING_PARAMS


class ToyGramCKA(Measure):
    """Linear CKA from n x n Gram matrices: cosine of the centred, flattened Gram matrices.

    (repalign's 'cka' works in feature space, so it is an independent reference.)"""

    name = "toy_gram_cka"
    kind = "similarity"
    range = (0.0, 1.0)
    invariances = frozenset({"translation", "isotropic_scaling", "orthogonal"})
    distance_form = "angle"  # a cosine: the report card's angle, as for CKA
    defaults = {"scale": 1.0}

    def _validate_params(self) -> None:
        if not self.params["scale"] > 0:
            raise ValueError(f"scale must be positive; got {self.params['scale']!r}")

    def _prepare(self, X: np.ndarray) -> np.ndarray:
        Xc = X - X.mean(axis=0)
        G = self.params["scale"] * (Xc @ Xc.T)
        return G / np.linalg.norm(G)

    def _compare(self, a: np.ndarray, b: np.ndarray) -> Comparison:
        return Comparison(float(np.sum(a * b)), {"n": a.shape[0]})

    def _permute_state(self, state: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return state[np.ix_(rows, rows)]


class ToyNoHook(ToyGramCKA):
    """The same measure without the permutation hook: a null prepares each permuted Y."""

    name = "toy_gram_cka_nohook"
    _permute_state = None


@pytest.fixture
def toy():
    with registry.registered(ToyGramCKA), registry.registered(ToyNoHook):
        yield ToyGramCKA.name
    assert ToyGramCKA.name not in registry._REGISTRY and ToyNoHook.name not in registry._REGISTRY


def _data(seed: int, n: int = 24, p: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    return X, X @ rng.standard_normal((p, 4)) + 0.7 * rng.standard_normal((n, 4))


def _numpy_cka(X, Y) -> float:
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    return np.linalg.norm(Yc.T @ Xc) ** 2 / (np.linalg.norm(Xc.T @ Xc) * np.linalg.norm(Yc.T @ Yc))


# ------------------------------------------------------------------ one class, every entry point
def test_toy_measure_through_compare_and_pairwise(toy):
    X, Y = _data(0)
    s = repalign.compare(X, Y, toy)
    assert s == pytest.approx(_numpy_cka(X, Y), rel=1e-12)
    assert s == pytest.approx(repalign.compare(X, Y, "cka"), rel=1e-12)
    assert repalign.compare_detailed(X, Y, toy, scale=3.0).extras == {"n": 24}
    systems = [X, Y, np.tanh(X)]
    M = repalign.pairwise(systems, toy)
    loop = [[repalign.compare(a, b, toy) for b in systems] for a in systems]
    np.testing.assert_allclose(M, loop, rtol=0, atol=1e-14)
    np.testing.assert_allclose(M, repalign.pairwise(systems, "cka"), rtol=1e-12)
    with pytest.raises(ValueError, match="scale must be positive"):
        repalign.get_measure(toy, scale=0.0)


def test_toy_measure_through_calibrate(toy):
    X, Y = _data(1)
    res = repalign.calibrate(X, Y, toy, n=30, seed=2, bootstrap=20)
    assert res.observed == pytest.approx(repalign.compare(X, Y, toy), rel=1e-15)
    assert res.alternative == "greater" and 0 < res.p_value <= 1 and res.interval[0] <= res.interval[1]
    assert res.info["measure"] == toy and res.info["params"] == {"scale": 1.0}
    # the permutation hook and preparing each permuted Y give the same null, draw for draw
    assert repalign.get_measure(toy).can_permute_state and not repalign.get_measure(ToyNoHook.name).can_permute_state
    again = repalign.calibrate(X, Y, ToyNoHook.name, n=30, seed=2, bootstrap=20)
    np.testing.assert_allclose(res.null, again.null, rtol=1e-12)
    # and the same as linear CKA's (its own hook, its own block)
    np.testing.assert_allclose(res.null, repalign.calibrate(X, Y, "cka", n=30, seed=2).null, rtol=1e-10)


def test_toy_measure_through_the_engine(toy, tmp_path):
    X, Y = _data(2)
    systems = {"x": X, "y": Y, "z": np.tanh(X), "w": X[:, ::-1].copy()}
    db = tmp_path / "r.db"
    summary = engine.sweep(systems, [toy, {"name": toy, "params": {"scale": 2.0}}], db, backend="serial",
                           progress=False)
    assert summary.computed == 12 and summary.failed == 0
    res = engine.load(db)
    m = repalign.get_measure(toy)
    assert sorted(res.measures) == sorted([m.key, repalign.get_measure(toy, scale=2.0).key])
    names = list(systems)
    off = ~np.eye(4, dtype=bool)  # pairs="all": no self-pairs
    np.testing.assert_allclose(res.matrix(toy, {"scale": 1.0}, names).to_numpy()[off],
                               repalign.pairwise([systems[k] for k in names], toy)[off], atol=1e-12)
    again = engine.sweep(systems, [toy], db, backend="serial", progress=False)
    assert again.computed == 0 and again.cached == 6


def test_toy_measure_through_the_report_card(toy):
    ours = run_case("deformation", toy, quick=True, seed=0)
    ref = run_case("deformation", "cka", quick=True, seed=0)
    assert ours.measure == toy and ours.score == pytest.approx(ref.score, abs=1e-9)
    np.testing.assert_allclose(list(ours.detail["deformations"].values()),
                               list(ref.detail["deformations"].values()), atol=1e-6)


def test_registered_removes_the_measure_and_its_aliases():
    class Temp(ToyGramCKA):
        name = "toy_temp"

    with registry.registered(Temp):
        registry.register_alias("toy_temp_x3", "toy_temp", scale=3.0)
        assert repalign.get_measure("toy_temp_x3").params["scale"] == 3.0
    for gone in ("toy_temp", "toy_temp_x3"):
        with pytest.raises(ValueError, match="unknown measure"):
            repalign.get_measure(gone)
    with pytest.raises(ValueError, match="no measure named"):
        registry.unregister("toy_temp")


# ------------------------------------------------------------------ keys
# Today's store keys (recorded before the protocol change): existing stores and caches stay valid.
RECORDED_KEYS = [
    ("cka", {}, '{"measure":"cka","params":{"debiased":false,"kernel":"linear","sigma":null,"threshold":0.5}}'),
    ("debiased_cka", {}, '{"measure":"cka","params":{"debiased":true,"kernel":"linear","sigma":null,"threshold":0.5}}'),
    ("rsa", {}, '{"measure":"rsa","params":{"compare":"spearman","n_partitions":null,"noise":null,"rdm":"correlation"}}'),
    ("rsa", {"compare": "pearson", "rdm": "euclidean"},
     '{"measure":"rsa","params":{"compare":"pearson","n_partitions":null,"noise":null,"rdm":"euclidean"}}'),
    ("shape", {"alpha": 0.5}, '{"measure":"shape","params":{"alpha":0.5,"ridge":0.0,"score":"angular"}}'),
    ("procrustes", {}, '{"measure":"procrustes","params":{}}'),
    ("cca", {}, '{"measure":"cca","params":{"statistic":"mean"}}'),
    ("dsa", {}, '{"measure":"dsa","params":{"amortise":true,"delay_interval":1,"device":null,"effort":"default",'
                '"group":"O","lamb":0.0,"n_delays":1,"n_restarts":4,"rank":null,"rank_explained_variance":null,'
                '"rank_thresh":null,"reduced_rank_reg":false,"score":"angular","seed":0,"steps_ahead":1}}'),
]


@pytest.mark.parametrize("name, params, key", RECORDED_KEYS)
def test_key_is_the_stores_key_unchanged(name, params, key):
    m = repalign.get_measure(name, **params)
    assert m.key == key and measure_key(m) == key
    if m.input == "samples":
        assert m.prepare(np.random.default_rng(0).standard_normal((6, 3))).measure_key == key


def test_parameters_added_later_keep_old_keys():
    """A parameter added to an existing measure stays out of the key at its default."""
    old = ToyGramCKA()
    newer = type("Newer", (ToyGramCKA,), {"name": "toy_gram_cka", "defaults": {"scale": 1.0, "extra": None},
                                          "key_omits_at_default": frozenset({"extra"})})
    assert newer().key == old.key == '{"measure":"toy_gram_cka","params":{"scale":1.0}}'
    assert newer(extra=2).key == '{"measure":"toy_gram_cka","params":{"extra":2,"scale":1.0}}'
    assert newer().params == {"scale": 1.0, "extra": None}  # the parameter itself is there
    with pytest.raises(ValueError, match="not parameters"):
        type("Wrong", (ToyGramCKA,), {"name": "toy_wrong", "key_omits_at_default": frozenset({"nope"})})


# ------------------------------------------------------------------ parameters
@pytest.mark.parametrize("bad", ["kind", "range", "name", "prepare", "key", "info", "params", "to_distance"])
def test_parameter_named_like_the_protocol_is_refused(bad):
    with pytest.raises(ValueError, match=f"parameter name.*{bad}.*equal a method or metadata"):
        type("Bad", (ToyGramCKA,), {"name": "toy_bad", "defaults": {bad: 1}})


def test_compare_parameter_is_the_documented_exception(toy):
    assert "compare" in SHADOWING_PARAMS
    cls = type("WithCompare", (ToyGramCKA,), {"name": "toy_compare", "defaults": {"scale": 1.0, "compare": "x"}})
    m = cls(compare="y")
    assert m.params["compare"] == "y" and callable(m.compare)  # the method is untouched
    X, Y = _data(3)
    assert m.compare(m.prepare(X), m.prepare(Y)) == pytest.approx(_numpy_cka(X, Y), rel=1e-12)


def test_params_are_read_only_and_never_attributes():
    m = repalign.get_measure("shape", alpha=0.5)
    assert m.params["alpha"] == 0.5 and m.params.alpha == 0.5 and "alpha" not in vars(m)
    for mutate in (lambda p: p.__setitem__("alpha", 1.0), lambda p: p.update(alpha=1.0), lambda p: p.pop("alpha"),
                   lambda p: p.clear()):
        with pytest.raises(TypeError, match="read-only"):
            mutate(m.params)
    assert m.params == {"alpha": 0.5, "score": "angular", "ridge": 0.0}
    for clone in (pickle.loads(pickle.dumps(m)), copy.deepcopy(m)):
        assert clone.key == m.key and clone.params == m.params
    assert repalign.get_measure(m, alpha=0.25).params["alpha"] == 0.25 and m.params["alpha"] == 0.5


# ------------------------------------------------------------------ declared hooks
def test_declared_hooks_of_registered_measures():
    cka, rsa, dsa = (repalign.get_measure(n) for n in ("cka", "rsa", "dsa"))
    assert cka.has_block and not repalign.get_measure("cca").has_block and not ToyGramCKA().has_block
    assert cka.can_permute_state and rsa.can_permute_state
    assert not repalign.get_measure("rsa", n_partitions=2).can_permute_state  # permutes_state is False
    assert not dsa.can_permute_state and dsa.expensive_prepare is None and dsa.input == "trials"
    assert cka.default_alternative == "greater" and dsa.default_alternative == "less"
    assert Measure().compare_pairs({}, []) is None


def test_to_distance_conventions():
    S = np.array([[1.0, 0.5], [0.5, 1.0]])
    before = S.copy()
    np.testing.assert_allclose(repalign.get_measure("rsa").to_distance(S), 1.0 - S)  # gap: range ends at 1
    D = np.array([[0.0, 0.3], [0.3, 0.0]])
    np.testing.assert_array_equal(repalign.get_measure("procrustes").to_distance(D), D)  # a distance as it is
    np.testing.assert_allclose(ToyGramCKA().to_distance(S), np.arccos(S))  # angle
    np.testing.assert_array_equal(S, before)
    unbounded = type("Unbounded", (ToyGramCKA,), {"name": "toy_unbounded", "range": (0.0, np.inf),
                                                  "distance_form": "gap"})
    np.testing.assert_allclose(unbounded().to_distance([[2.0, 5.0]]), [[3.0, 0.0]])  # top: the largest score


# ------------------------------------------------------------------ calibrate's seeds
# Recorded before the change (X, Y below; cka, n=40, bootstrap=30): identical numbers now.
RECORDED = {
    "int": (0.6610693288516631, 0.024390243902439025, [0.06444338563381523, 0.09502972165817607, 0.049634630114824094],
            [0.5026689890160233, 0.7056972262462388]),
    "ss": (0.6610693288516631, 0.024390243902439025, [0.11404188126390201, 0.14700354049843126, 0.09268063826190347],
           [0.5794351182524669, 0.7015181563456795]),
}


def _recorded_data():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((20, 4))
    return X, X @ rng.standard_normal((4, 3)) + 0.5 * rng.standard_normal((20, 3))


@pytest.mark.parametrize("label", ["int", "ss"])
def test_calibrate_numbers_unchanged_and_seed_sequence_untouched(label):
    X, Y = _recorded_data()
    seed = 11 if label == "int" else np.random.SeedSequence(11, spawn_key=(2,))
    observed, p, head, interval = RECORDED[label]
    res = repalign.calibrate(X, Y, "cka", n=40, seed=seed, bootstrap=30)
    assert res.observed == pytest.approx(observed, rel=1e-12) and res.p_value == pytest.approx(p, rel=1e-12)
    np.testing.assert_allclose(res.null[:3], head, rtol=1e-10)
    np.testing.assert_allclose(res.interval, interval, rtol=1e-10)
    if label == "ss":
        assert seed.n_children_spawned == 0  # read, never advanced: a second call repeats the first
        again = repalign.calibrate(X, Y, "cka", n=40, seed=seed, bootstrap=30)
        np.testing.assert_array_equal(again.null, res.null)
        assert again.interval == res.interval


def test_calibrate_seeds_are_explicit_children():
    """Null draw i is child i, bootstrap resample j child n + j, counted from the next child of a
    SeedSequence that has already spawned some."""
    X, Y = _recorded_data()
    used = np.random.SeedSequence(5)
    used.spawn(3)
    fresh_children = np.random.SeedSequence(5).spawn(3 + 12 + 8)
    res = repalign.calibrate(X, Y, "cka", n=12, seed=used, bootstrap=8)
    assert used.n_children_spawned == 3
    null_ref = repalign.stats.permutation_null(X, Y, "cka", n=12, seed=_from_child(fresh_children[3])).null
    np.testing.assert_array_equal(res.null, null_ref)
    boot_ref = repalign.stats.bootstrap_ci(X, Y, "cka", n=8, seed=_from_child(fresh_children[15]), method="bca")
    np.testing.assert_allclose(res.interval, boot_ref.interval, rtol=1e-12)


def _from_child(child: np.random.SeedSequence) -> np.random.SeedSequence:
    """A SeedSequence whose spawn starts at ``child`` (same entropy, that child's index)."""
    return np.random.SeedSequence(child.entropy, spawn_key=child.spawn_key[:-1], pool_size=child.pool_size,
                                  n_children_spawned=child.spawn_key[-1])
