"""Seed 004's statistics (repalign.studies.feedback_penalised): fresh-B nulls of per-layer, layer-mean
and deep-layer-mean feedback cosines for an output-LayerNorm residual MLP trained by penalised DFA."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from repalign.studies import feedback_alignment as fa
from repalign.studies import feedback_penalised as fp


def _random_case(m=60, width=64, n_layers=5, seed=0):
    rng = np.random.default_rng(seed)
    e = rng.standard_normal((m, 10))
    grads = [rng.standard_normal((m, width)) for _ in range(n_layers)]
    return e, grads


def test_feedback_indexing_follows_the_seed():
    assert [fp.feedback_index(l, 4) for l in range(5)] == [0, 1, 2, 3, 3]
    B = ["B0", "B1", "B2", "B3"]
    assert fp.layer_feedback(B, 5) == ["B0", "B1", "B2", "B3", "B3"]


def test_deep_layer_mean_null_has_mean_zero_for_random_feedback():
    """B -> -B maps a draw to its negative, so the null is symmetric about 0; its mean over many
    draws sits within sampling error of 0, and its sd is about that of a mean of independent
    cosines (variance 1 / width each)."""
    e, grads = _random_case()
    B = fa.feedback_matrices(4, 10, 64, seed=1)
    np.testing.assert_allclose(fp.layer_cosines(e, grads, [-b for b in B]), -fp.layer_cosines(e, grads, B))
    draws = 600
    null = fp.fresh_null(e, grads, 4, draws, seed=2)
    _, deep = fp.summaries(null)
    sd = deep.std(ddof=1)
    assert abs(deep.mean()) < 4 * sd / np.sqrt(draws)
    # each layer mean averages 60 cosines of sd 1/8; l3 and l4 share B_3 but not g, so they are
    # uncorrelated too: the deep mean over 4 layers has sd ~ 1 / (8 sqrt(240))
    assert sd == pytest.approx(1 / (8 * np.sqrt(240)), rel=0.25)
    assert fp.fresh_null(e, grads, 4, 5, seed=2)[:5] == pytest.approx(null[:5])  # seeded


def test_calibration_finds_planted_alignment_and_seed_rule_cutoffs():
    """g_l = e B_l + noise: the observed cosine is far above the fresh-B null; the seed's rule
    reads only the fresh-B mean."""
    rng = np.random.default_rng(3)
    e = rng.standard_normal((80, 10))
    B = fa.feedback_matrices(3, 10, 32, seed=4)
    grads = [e @ b + 0.5 * rng.standard_normal((80, 32)) / np.sqrt(32) * np.linalg.norm(e, axis=1, keepdims=True)
             for b in fp.layer_feedback(B, 4)]

    obs = fp.layer_cosines(e, grads, B)
    assert np.all(obs > 0.7)
    null = fp.fresh_null(e, grads, 3, 50, seed=0)
    assert np.all(np.abs(null.mean(axis=0)) < 0.05)
    assert fp.seed_rule(0.01).startswith("real signal")
    assert fp.seed_rule(-0.2).startswith("not specific")
    assert fp.seed_rule(0.07).startswith("mixed")


def test_penalty_pulls_the_readout_towards_the_feedback():
    data = fa.load_data(0)
    cfg = fp.Config(epochs=2, width=32, n_blocks=2, null_draws=5, penalty=0.0)
    B = fa.feedback_matrices(cfg.n_blocks, 10, cfg.width, cfg.seed)
    target = np.mean(B, axis=0)
    torch.set_num_threads(1)
    dist = {}
    for lam in (0.0, 5.0):
        model, acc = fp.train("dfa_penalised", data, fp.Config(**{**cfg.__dict__, "penalty": lam}), B)
        dist[lam] = float(np.linalg.norm(model.readout.weight.detach().numpy() - target))
        assert 0.0 <= acc <= 1.0
    assert dist[5.0] < 0.5 * dist[0.0]
    with pytest.raises(ValueError, match="method"):
        fp.train("feedback", data, cfg, B)
    with pytest.raises(ValueError, match="penalty"):
        fp.Config(penalty=-1.0).validate()
    with pytest.raises(ValueError, match="n_blocks"):
        fp.Config(n_blocks=1).validate()


def test_study_json_gains_penalised_and_deep_layer_mean(tmp_path):
    from repalign.cli import main

    cfg = fa.Config(epochs=2, null_draws=20, width=32, n_blocks=2, penalised=True)
    res = fa.run_study(cfg)
    pen = res["penalised"]
    assert set(pen["networks"]) == {"dfa_penalised", "dfa", "backprop"}
    for net in pen["networks"].values():
        assert [r["layer"] for r in net["layers"]] == ["stem", "block1", "block2"]
        assert [r["feedback"] for r in net["layers"]] == ["B_0", "B_1", "B_1"]
        for r in net["layers"] + [net["layer_mean"], net["deep_layer_mean"]]:
            assert r["n_null"] == 20 and len(r["null_values"]) == 20
        deep = np.array(net["deep_layer_mean"]["null_values"])
        per = np.array([r["null_values"] for r in net["layers"]])
        np.testing.assert_allclose(deep, per[1:].mean(axis=0))  # same joint draws
        assert net["deep_layer_mean"]["observed"] == pytest.approx(np.mean([r["observed"] for r in net["layers"][1:]]))
    top = res["deep_layer_mean"]
    assert set(top) >= {"observed", "null_mean", "null_sd", "p_value", "z", "verdict", "seed_rule"}
    assert top["observed"] == pen["networks"]["dfa_penalised"]["deep_layer_mean"]["observed"]
    assert "deep-layer mean" in fa.summary_table(res)
    assert "penalised" not in fa.run_study(fa.Config(epochs=1, null_draws=5, width=16, n_blocks=2))
    assert main(["study", "feedback-alignment", "--out", str(tmp_path), "--epochs", "1", "--null-draws", "5",
                 "--no-penalised"]) == 0
    assert "penalised" not in json.loads((tmp_path / "feedback_alignment.json").read_text())
