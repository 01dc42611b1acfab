"""Mamba study helpers: the PCA reduction fed to DSA, and the separation statistics."""

import numpy as np
import pytest
from scipy import stats

from repalign.dynamics.dmd import DMD
from repalign.studies.mamba import compare_architectures, pretrained_groups, reduce_states, separation


def test_reduce_states_is_the_best_uncentred_rank_k_projection():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 20, 3)) @ rng.standard_normal((3, 12)) + 0.05 * rng.standard_normal((6, 20, 12)) + 1.0
    before = X.copy()
    Z, explained = reduce_states(X, 4)
    np.testing.assert_array_equal(X, before)  # the caller's array is untouched
    s = np.linalg.svd(X.reshape(-1, 12), compute_uv=False)  # uncentred: includes the offset direction
    assert Z.shape == (6, 20, 4)
    assert explained == pytest.approx(np.sum(s[:4] ** 2) / np.sum(s**2), rel=1e-10)
    assert np.sum(Z**2) == pytest.approx(np.sum(s[:4] ** 2), rel=1e-10)  # Eckart-Young: the kept energy
    assert reduce_states(X, None)[1] == 1.0 and reduce_states(X, 50)[0].shape == X.shape
    with pytest.raises(ValueError, match="n_components"):
        reduce_states(X, 0)
    with pytest.raises(ValueError, match="hidden"):
        reduce_states(X[0], 2)


def test_reduction_that_keeps_the_span_leaves_dmd_eigenvalues_unchanged():
    """States confined to a 5-dim subspace of 40 units: PCA to 5 is an isometry on them, so the
    DMD spectrum (what DSA compares, up to conjugation) is the same."""
    rng = np.random.default_rng(1)
    A = np.diag([0.95, 0.9, 0.8, 0.7, 0.5])
    lat = np.zeros((8, 60, 5))
    lat[:, 0] = rng.standard_normal((8, 5))
    for t in range(1, 60):
        lat[:, t] = lat[:, t - 1] @ A.T
    Q, _ = np.linalg.qr(rng.standard_normal((40, 5)))
    X = lat @ Q.T
    Z, explained = reduce_states(X, 5)
    assert explained == pytest.approx(1.0, abs=1e-12)
    e1 = np.sort_complex(DMD(n_delays=2, rank=5).fit(X).eigenvalues)
    e2 = np.sort_complex(DMD(n_delays=2, rank=5).fit(Z).eigenvalues)
    np.testing.assert_allclose(e1, e2, atol=1e-8)
    np.testing.assert_allclose(np.sort(e1.real), np.sort(np.diag(A)), atol=1e-6)


def test_separation_statistics_against_closed_forms_and_scipy():
    rng = np.random.default_rng(2)
    vals = {"untrained": rng.normal(0.6, 0.05, 8), "master_frozen": rng.normal(0.45, 0.05, 8),
            "pretrain_frozen": rng.normal(0.3, 0.05, 6), "partial_basic": rng.normal(0.32, 0.05, 6)}
    assert pretrained_groups(vals) == ["pretrain_frozen", "partial_basic"]
    res = separation(vals, n_boot=1000, n_perm=2000, seed=0)
    a, b = vals["untrained"], np.concatenate([vals["pretrain_frozen"], vals["partial_basic"]])
    assert res["diff"] == pytest.approx(a.mean() - b.mean())
    assert res["ci"][0] < res["diff"] < res["ci"][1] and res["separated"]
    sp = np.sqrt((7 * a.var(ddof=1) + 11 * b.var(ddof=1)) / 18)
    assert res["hedges_g"] == pytest.approx((a.mean() - b.mean()) / sp * (1 - 3 / (4 * 20 - 9)))
    assert res["p"] == pytest.approx(1 / 2001)  # no permutation reaches a 6-sd shift

    same = {"untrained": rng.normal(0.5, 0.05, 10), "pretrain_frozen": rng.normal(0.5, 0.05, 10)}
    mine = separation(same, n_perm=4000, seed=1)
    ref = stats.permutation_test((same["untrained"], same["pretrain_frozen"]),
                                 lambda x, y: np.mean(x) - np.mean(y), n_resamples=4000,
                                 alternative="two-sided", random_state=1).pvalue
    assert abs(mine["p"] - ref) < 0.05  # Monte Carlo error of two 4000-draw estimates
    with pytest.raises(ValueError, match="missing"):
        separation(same, others=["basic"])


def test_compare_architectures_detects_a_separation_present_in_one_only():
    rng = np.random.default_rng(3)
    rnn = {"dsa": {"untrained": rng.normal(0.6, 0.03, 6), "pretrain_frozen": rng.normal(0.3, 0.03, 6)}}
    base = rng.normal(0.46, 0.03, 6)
    mamba = {"dsa": {"untrained": base, "pretrain_frozen": base[::-1] + 0.0}, "cka": {}}  # equal means
    out = compare_architectures(rnn, mamba, n_boot=500, n_perm=500)
    assert list(out) == ["dsa"]
    assert out["dsa"]["rnn"]["separated"] and not out["dsa"]["mamba"]["separated"]
    assert out["dsa"]["mamba"]["diff"] == pytest.approx(0.0, abs=1e-12) and out["dsa"]["mamba"]["p"] > 0.5
    dd = out["dsa"]["rnn_minus_mamba"]
    assert dd["different"] and dd["ci"][0] < dd["diff"] < dd["ci"][1]


def test_tiny_mamba_study_end_to_end(tmp_path):
    """`study compositional --model mamba` at toy size: frozen groups change only the embedding, DSA sees
    the reduced SSM state, the engine's DSA equals a direct recomputation, and the Mamba section is written."""
    import json

    import torch

    from repalign.studies import compositional as C
    from repalign.studies import compositional_analysis as CA
    from repalign.train import list_checkpoints, load_model

    p = C.default_params("tiny", model="mamba")
    # amortise=False: the check below compares the engine with per-pair vector_field_distance calls, and
    # the amortised all-pairs search solves each pair in a canonical orientation with its own starts
    # (with the tiny preset's single restart it can land in another local minimum than the per-pair call)
    p.update(seeds=[0, 1], grid=[1.0], n_checkpoints=2, n_perm=50, n_boot=50, paper_pipeline=False,
             dsa={**p["dsa"], "amortise": False},
             measures=["dsa", "cka"], sensitivity={"pcs": [None], "ranks": [4]})  # Procrustes: as for the RNNs
    res = C.run_study(p, tmp_path, backend="serial", progress=False, log=lambda s: None)
    data = json.loads((tmp_path / "compositional.json").read_text())
    assert data["model"] == "mamba" and data["paper_table"]["dsa"]["untrained"] == 0.462
    cfg = C.configurations(p)[0]
    assert cfg["model_kwargs"] == {"n_layers": 1}
    untrained = CA._load_group_model(p, tmp_path / "runs", cfg, "untrained")
    assert untrained.state_size == 8 * 4
    frozen = load_model(list_checkpoints(tmp_path / "runs" / cfg["id"] / "master_frozen")[-1])
    changed = {n for (n, a), b in zip(untrained.named_parameters(), frozen.parameters()) if not torch.equal(a, b)}
    assert changed == {"embedding.weight", "embedding.bias"}
    # the engine's DSA (on states reduced to state_pca) equals the direct recomputation at the study setting
    sens = res["mamba"]["dsa_sensitivity"]
    study = sens["settings"][f"k={p['state_pca']},r={p['dsa']['rank']}"]
    for g, vals in data["to_master"]["dsa"].items():
        np.testing.assert_allclose(study["to_master"][g], vals, rtol=0, atol=1e-8)
    assert 0.99 < study["explained"] <= 1.0 and sens["settings"]["k=all,r=4"]["explained"] == 1.0
    sep = res["mamba"]["separation"]
    assert set(sep) == {"dsa", "cka"} and all(s["n_ref"] == 2 and s["n_other"] == 14 for s in sep.values())
    md = (tmp_path / "compositional.md").read_text()
    assert "## Mamba: does a measure separate" in md and (tmp_path / "compositional_mamba.png").exists()

    # post-hoc comparison with an "RNN" run: here the same numbers, so the contrast is exactly 0
    from repalign.studies.mamba import add_rnn_comparison

    other = tmp_path / "rnn"
    other.mkdir()
    (other / "compositional.json").write_text(json.dumps({**data, "model": "leaky_rnn"}))
    block = add_rnn_comparison(tmp_path, other)
    assert block["rnn_vs_mamba"]["dsa"]["rnn_minus_mamba"]["diff"] == 0.0
    assert "### RNN (leaky_rnn" in (tmp_path / "compositional.md").read_text()
    with pytest.raises(ValueError, match="mamba_dir"):
        add_rnn_comparison(other, tmp_path)
