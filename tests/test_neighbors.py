"""Mutual k-NN and ridge R^2: brute-force and sklearn references, chance levels, seeds, invariances."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold, cross_val_predict

import repalign
from _helpers import assert_inputs_unchanged, assert_pairwise_matches_compare, assert_rejects_bad_arrays
from repalign.geometry.neighbors import DEFAULT_ALPHAS, knn_indices


def _brute_force_mutual_knn(X, Y, k, metric):
    """Plain loops: neighbour sets by sorting (distance, index) pairs, self excluded."""

    def neighbours(Z):
        n = len(Z)
        sets = []
        for i in range(n):
            cand = []
            for j in range(n):
                if j == i:
                    continue
                if metric == "cosine":
                    d = -np.dot(Z[i], Z[j]) / (np.linalg.norm(Z[i]) * np.linalg.norm(Z[j]))
                else:
                    d = np.sum((Z[i] - Z[j]) ** 2)
                cand.append((d, j))
            sets.append({j for _, j in sorted(cand)[:k]})
        return sets

    nx, ny = neighbours(X), neighbours(Y)
    return np.mean([len(a & b) / k for a, b in zip(nx, ny)])


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("k", [1, 4, 10])
def test_mutual_knn_matches_brute_force(metric, k):
    rng = np.random.default_rng(k)
    X = rng.standard_normal((30, 5))
    Y = X @ rng.standard_normal((5, 3)) + 0.7 * rng.standard_normal((30, 3))
    got = repalign.compare(X, Y, "mutual_knn", k=k, metric=metric)
    assert got == pytest.approx(_brute_force_mutual_knn(X, Y, k, metric), abs=1e-12)


def test_chunked_neighbour_search_matches_one_block(monkeypatch):
    import repalign.geometry.neighbors as nb

    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 4))
    full = knn_indices(X, 5, "euclidean")
    monkeypatch.setattr(nb, "_CHUNK_ELEMS", 120)  # 2 rows per block
    assert np.array_equal(knn_indices(X, 5, "euclidean"), full)


def test_ties_go_to_the_lower_index():
    X = np.array([[0.0], [1.0], [2.0], [3.0], [4.0]])  # sample 2 is equidistant from 1 and 3
    nn = knn_indices(X, 1, "euclidean")
    assert nn[:, 0].tolist() == [1, 0, 1, 2, 3]
    assert knn_indices(X, 2, "euclidean")[2].tolist() == [1, 3]


def test_independent_systems_score_about_chance():
    rng = np.random.default_rng(1)
    n, k = 200, 10
    pairs = [(rng.standard_normal((n, 8)), rng.standard_normal((n, 8))) for _ in range(10)]
    scores = [repalign.compare(X, Y, "mutual_knn") for X, Y in pairs]
    assert np.mean(scores) == pytest.approx(k / (n - 1), abs=0.01)


def test_cosine_is_not_translation_invariant_but_euclidean_is():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((60, 4))
    shifted = X + 3.0 * rng.standard_normal(4)
    assert repalign.compare(X, shifted, "mutual_knn") < 0.8
    assert repalign.compare(X, shifted, "mutual_knn", metric="euclidean") == pytest.approx(1.0)
    assert "translation" not in repalign.get_measure("mutual_knn").info().invariances


# ----------------------------------------------------------------------------- ridge
def test_ridge_r2_linear_map_and_independent_data():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((100, 6))
    M = rng.standard_normal((6, 6)) + 3 * np.eye(6)
    assert repalign.compare(X, X @ M + 5.0, "ridge_r2") > 0.999
    indep = [repalign.compare(X, rng.standard_normal((100, 4)), "ridge_r2", seed=s) for s in range(4)]
    assert max(indep) < 0.05 and np.mean(indep) < 0.0


def test_ridge_r2_matches_sklearn_pipeline():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((60, 5)) * 3.0
    Y = X[:, :2] @ rng.standard_normal((2, 3)) + rng.standard_normal((60, 3)) * [0.5, 1.0, 2.0]
    folds = KFold(5, shuffle=True, random_state=11)
    Xs = (X - X.mean(0)) / np.sqrt(np.mean((X - X.mean(0)) ** 2))  # mean unit variance 1
    pred = cross_val_predict(RidgeCV(alphas=DEFAULT_ALPHAS), Xs, Y, cv=folds)
    ref = r2_score(Y, pred, multioutput="variance_weighted")
    assert repalign.compare(X, Y, "ridge_r2", seed=11) == pytest.approx(ref, abs=1e-10)
    pred1 = cross_val_predict(RidgeCV(alphas=[2.5]), Xs, Y, cv=KFold(3, shuffle=True, random_state=0))
    got = repalign.compare(X, Y, "ridge_r2", alpha=2.5, n_folds=3)
    assert got == pytest.approx(r2_score(Y, pred1, multioutput="variance_weighted"), abs=1e-10)


def test_ridge_r2_seeds_and_asymmetry():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((40, 5))
    Y = np.column_stack([X[:, 0], rng.standard_normal((40, 3))])  # X predicts Y only partly
    a = repalign.compare(X, Y, "ridge_r2", seed=1)
    assert repalign.compare(X, Y, "ridge_r2", seed=1) == a
    assert repalign.compare(X, Y, "ridge_r2", seed=2) != a
    g1 = repalign.get_measure("ridge_r2", seed=np.random.default_rng(7))
    g2 = repalign.get_measure("ridge_r2", seed=np.random.default_rng(7))
    pa, pb = g1.prepare(X), g1.prepare(Y)
    assert g1.compare(pa, pb) == g1.compare(pa, pb) == g2.compare(g2.prepare(X), g2.prepare(Y))
    assert repalign.compare(Y, X, "ridge_r2", seed=1) != pytest.approx(a, abs=1e-3)
    assert repalign.get_measure("ridge_r2").info().symmetric is False


# ----------------------------------------------------------------------------- properties
_dims = st.tuples(st.integers(15, 40), st.integers(2, 5), st.integers(2, 5), st.integers(0, 2**31 - 1))
_CASES = [("mutual_knn", {"k": 3}), ("mutual_knn", {"k": 5, "metric": "euclidean"}), ("ridge_r2", {})]


@settings(max_examples=25, deadline=None)
@given(_dims, st.sampled_from(range(len(_CASES))))
def test_declared_invariances_hold(dims, case):
    n, p, q, seed = dims
    name, params = _CASES[case]
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) + (1.0 if name == "mutual_knn" else 0.0)
    Y = X @ rng.standard_normal((p, q)) + 0.5 * rng.standard_normal((n, q))
    m = repalign.get_measure(name, **params)
    inv = set(m.info().invariances)
    base = repalign.compare(X, Y, m)
    for pos, Z in enumerate((X, Y)):
        d = Z.shape[1]
        maps = {
            "orthogonal": Z @ np.linalg.qr(rng.standard_normal((d, d)))[0],
            "isotropic_scaling": 0.05 * Z,
            "permutation": Z[:, rng.permutation(d)],
            "translation": Z + 4.0 * rng.standard_normal(d),
        }
        for inv_name, Zt in maps.items():
            if inv_name not in inv and not (inv_name == "translation" and params.get("metric") == "euclidean"):
                continue
            pair = [X, Y]
            pair[pos] = Zt
            assert repalign.compare(*pair, m) == pytest.approx(base, abs=1e-7), inv_name
    if name == "mutual_knn":
        assert repalign.compare(X, X, m) == 1.0
        assert repalign.compare(Y, X, m) == base
        assert 0.0 <= base <= 1.0
    else:
        assert repalign.compare(X, 2.0 * X - 1.0, m) > 0.99
        assert base <= 1.0


@pytest.mark.parametrize("name", ["mutual_knn", "ridge_r2"])
def test_pairwise_equals_pair_loop(name):
    rng = np.random.default_rng(6)
    systems = [rng.standard_normal((25, w)) for w in (2, 3, 5, 4)]
    systems[1] = np.column_stack([systems[0], systems[1][:, :1]])
    assert_pairwise_matches_compare(systems, name, **({"k": 4} if name == "mutual_knn" else {}))


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize("name", ["mutual_knn", "ridge_r2"])
def test_validation_errors_and_no_mutation(name):
    rng = np.random.default_rng(7)
    X, Y = rng.standard_normal((20, 3)), rng.standard_normal((20, 2))
    assert_inputs_unchanged(X, Y, name)
    assert_rejects_bad_arrays(X, Y, name)
    with pytest.raises(ValueError, match="same number of samples"):
        repalign.compare(X, Y[:18], name)
    with pytest.raises(ValueError, match="needs at least"):
        repalign.compare(X[:6], Y[:6], name, **({"k": 6} if name == "mutual_knn" else {}))


def test_measure_specific_errors():
    rng = np.random.default_rng(8)
    X = rng.standard_normal((20, 3))
    Xz = X.copy()
    Xz[4] = 0.0
    with pytest.raises(ValueError, match="zero sample"):
        repalign.compare(Xz, X, "mutual_knn")
    assert 0.0 <= repalign.compare(Xz, X, "mutual_knn", metric="euclidean") <= 1.0
    with pytest.raises(ValueError, match="zero variance"):
        repalign.compare(np.ones((20, 3)), X, "mutual_knn", metric="euclidean")
    with pytest.raises(ValueError, match="zero variance"):
        repalign.compare(X, np.ones((20, 2)), "ridge_r2")
    with pytest.raises(ValueError, match="metric must be"):
        repalign.get_measure("mutual_knn", metric="manhattan")
    with pytest.raises(ValueError, match="k must be"):
        repalign.get_measure("mutual_knn", k=0)
    with pytest.raises(ValueError, match="n_folds must be"):
        repalign.get_measure("ridge_r2", n_folds=1)
    with pytest.raises(ValueError, match="alpha must be"):
        repalign.get_measure("ridge_r2", alpha=-1.0)
    with pytest.raises(ValueError, match="alpha must be"):
        repalign.get_measure("ridge_r2", alpha=[])
    with pytest.raises(ValueError, match="seed must be"):
        repalign.get_measure("ridge_r2", seed="abc")
