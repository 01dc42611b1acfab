"""The amortised all-pairs Procrustes search (repalign.dynamics.amortised) and DSA's effort knob."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ortho_group

import repalign
from repalign.dynamics import amortised as am
from repalign.dynamics.dsa import dsa_from_operators
from repalign.dynamics.examples import related_operators
from repalign.dynamics.vector_fields import vector_field_distance


def test_conjugate_family_is_certified_from_transferred_starts_without_search():
    ops = related_operators(9, 6, 0.0, seed=3)
    pairs = [(i, j) for i in range(6) for j in range(i + 1, 6)]
    res = am.amortised_pairs(ops, pairs)
    assert all(r.score < 1e-7 and r.converged for r in res.values())
    transferred = [r for r in res.values() if r.method.split("(")[0] in ("composed", "tree-path", "transposed")]
    # the 5 spanning-tree pairs are searched; every other pair is certified by a composition
    assert len(transferred) == len(pairs) - 5 and all(r.n_iter == 0 for r in transferred)
    for (a, b), r in res.items():  # C maps ops[b] onto ops[a]
        A, B = ops[a] / np.linalg.norm(ops[a]), ops[b] / np.linalg.norm(ops[b])
        np.testing.assert_allclose(r.C @ B @ r.C.T, A, atol=1e-7)
        np.testing.assert_allclose(r.C @ r.C.T, np.eye(9), atol=1e-10)


def test_composition_attains_at_most_the_sum_of_the_two_angles():
    """Conjugation by an orthogonal matrix is an isometry: angle(A_i, C_ik C_kj A_j (.)^T) <=
    theta_ik + theta_kj, whatever C_ik and C_kj are (here: the one-pair search's)."""
    rng = np.random.default_rng(1)
    ops = [X / np.linalg.norm(X) for X in rng.standard_normal((3, 7, 7))]
    r_ik = vector_field_distance(ops[0], ops[1])
    r_kj = vector_field_distance(ops[1], ops[2])
    solved = am._Solved()
    solved.add((0, 1), r_ik.C, r_ik.loss, True)
    solved.add((2, 1), r_kj.C.T, r_kj.loss, True)  # stored the other way round: transposed on use
    cands, kinds = am._candidates(solved, 0, 2)
    assert kinds == ["composed"]
    C = cands[0]
    M = C @ ops[2] @ C.T
    angle = np.arccos(np.clip(np.sum(ops[0] * M), -1, 1))
    assert angle <= r_ik.score + r_kj.score + 1e-12
    assert angle >= vector_field_distance(ops[0], ops[2]).lower_bound - 1e-12


def test_related_operators_score_like_the_one_pair_search_and_never_below_the_bound():
    ops = related_operators(8, 5, 0.1, seed=5)
    D = dsa_from_operators(ops)
    one = dsa_from_operators(ops, amortise=False)
    iu = np.triu_indices(5, 1)
    assert np.all(D[iu] <= one[iu] + 1e-3)  # never worse by more than 1e-3 rad ...
    assert D[iu].mean() <= one[iu].mean() + 1e-9  # ... and no worse on average
    res = am.amortised_pairs(ops, list(zip(*iu)))
    assert all(r.lower_bound <= r.score + 1e-12 and r.converged for r in res.values())


def test_same_set_in_any_order_gives_the_same_matrix():
    ops = related_operators(6, 4, 0.2, seed=7) + [np.random.default_rng(2).standard_normal((6, 6))]
    D = dsa_from_operators(ops)
    np.testing.assert_array_equal(D, dsa_from_operators(ops))
    perm = [3, 0, 4, 1, 2]
    np.testing.assert_array_equal(dsa_from_operators([ops[p] for p in perm]), D[np.ix_(perm, perm)])
    assert np.array_equal(D, D.T) and np.all(np.diag(D) == 0)


def test_rectangular_blocks_mixed_sizes_and_so():
    ops = related_operators(6, 4, 0.05, seed=9)
    R = dsa_from_operators(ops[:2], ops[2:] + [np.eye(4)])
    assert R.shape == (2, 3)
    # the mixed-size column is a plain one-pair search (zero padding)
    for i in range(2):
        assert R[i, 2] == pytest.approx(vector_field_distance(ops[i], np.eye(4)).score, abs=1e-12)
    S = dsa_from_operators(ops, group="SO")
    O = dsa_from_operators(ops)
    assert np.all(S >= O - 1e-6)
    res = am.amortised_pairs(ops, [(0, 1), (1, 2), (0, 2)], group="SO")
    assert all(np.linalg.det(r.C) > 0 for r in res.values())


def test_engine_chunks_share_solutions_and_keep_extras(tmp_path):
    from repalign.engine import load, sweep

    rng = np.random.default_rng(4)
    X = rng.standard_normal((120, 4)).cumsum(axis=0) * 0.1
    systems = {f"r{k}": X @ ortho_group.rvs(4, random_state=k) for k in range(4)}
    systems["u"] = rng.standard_normal((120, 4)).cumsum(axis=0) * 0.1
    kw = {"n_delays": 2, "rank": 6}
    sweep(systems, [{"name": "dsa", "params": kw}], tmp_path / "s.db", backend="serial", progress=False)
    res = load(tmp_path / "s.db")
    M = np.array(res.matrix("dsa").loc[list(systems), list(systems)], dtype=float)
    np.fill_diagonal(M, 0.0)  # (self-pairs are not computed)
    P = repalign.pairwise(list(systems.values()), "dsa", **kw)
    np.testing.assert_allclose(M, P, atol=1e-12)
    assert M[0, 1] < 1e-6 and M[0, 4] > 1e-3
    import json

    methods = [json.loads(e).get("method", "") for e in res.table["extras"]]
    assert any(m.startswith(("composed", "tree-path")) for m in methods)
    # a second sweep over the store computes nothing
    summary = sweep(systems, [{"name": "dsa", "params": kw}], tmp_path / "s.db", backend="serial", progress=False)
    assert summary.computed == 0


def test_effort_levels_and_validation():
    rng = np.random.default_rng(8)
    A, B = rng.standard_normal((2, 12, 12))
    fast, default, thorough = (vector_field_distance(A, B, effort=e) for e in ("fast", "default", "thorough"))
    assert fast.restarts < default.restarts < thorough.restarts
    assert default.score == vector_field_distance(A, B).score  # the default is unchanged
    assert thorough.loss <= default.loss + 1e-4
    with pytest.raises(ValueError, match="effort"):
        vector_field_distance(A, B, effort="max")
    with pytest.raises(ValueError, match="effort"):
        repalign.get_measure("dsa", effort=2)
    with pytest.raises(ValueError, match="amortise"):
        dsa_from_operators([A, B], amortise="yes")
    with pytest.raises(ValueError, match="pairs must index"):
        am.amortised_pairs([A, B], [(0, 2)])


def test_gpu_benchmark_script_runs_on_the_cpu_at_tiny_size(tmp_path, capsys):
    """benchmarks/dsa_gpu.py is meant for a CUDA machine; here it runs on the CPU at tiny size and
    its correctness report must show the torch path agreeing with the numpy path."""
    import importlib.util
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "dsa_gpu.py"
    spec = importlib.util.spec_from_file_location("dsa_gpu", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "gpu.json"
    mod.main(["--device", "cpu", "--sizes", "5", "--pairs", "3", "--batches", "2", "--cpu-sample", "1",
              "--json", str(out)])
    data = json.loads(out.read_text())
    (c,) = data["correctness"]
    assert c["pairs"] == 3 and c["converged"] == 3 and c["max_abs_angle_diff"] < 1e-6
    assert data["throughput"][0]["batch"] == 2 and data["throughput"][0]["device_pairs_per_s"] > 0
    assert "| 5 | 3 |" in capsys.readouterr().out
