"""Compositional study: statistics (BH against scipy), the corrected pipeline (identical trials
for every model, DSA on (trials, time, units), the stimulus window), input-only training, resume."""

import json
import math

import numpy as np
import pytest
import torch
from scipy import stats

from repalign.stats import benjamini_hochberg, compare_groups, group_summary, permutation_anova
from repalign.studies import compositional as C
from repalign.studies import compositional_analysis as CA


# ----------------------------------------------------------------------------- statistics
def test_bh_matches_scipy_false_discovery_control():
    rng = np.random.default_rng(0)
    for m in (1, 2, 7, 40):
        p = rng.uniform(size=m) ** 3
        np.testing.assert_allclose(benjamini_hochberg(p), stats.false_discovery_control(p, method="bh"), rtol=1e-12)
    tied = np.array([0.01, 0.01, 0.04, 0.04, 0.5, 1.0])
    np.testing.assert_allclose(benjamini_hochberg(tied), stats.false_discovery_control(tied), rtol=1e-12)
    with_nan = np.array([0.02, np.nan, 0.03])
    out = benjamini_hochberg(with_nan)
    assert np.isnan(out[1])
    np.testing.assert_allclose(out[[0, 2]], stats.false_discovery_control([0.02, 0.03]))
    with pytest.raises(ValueError, match="p_values"):
        benjamini_hochberg([0.5, 1.5])


def test_compare_groups_t_tests_and_label_permutations():
    rng = np.random.default_rng(1)
    vals = {"a": rng.normal(0, 1, 10), "b": rng.normal(3, 1, 10), "c": rng.normal(0, 1, 10)}
    rows = compare_groups(vals, n_perm=400, seed=0)
    assert [(r["a"], r["b"]) for r in rows] == [("a", "b"), ("a", "c"), ("b", "c")]
    for r in rows:
        t, p = stats.ttest_ind(vals[r["a"]], vals[r["b"]])
        assert r["t"] == pytest.approx(t) and r["p"] == pytest.approx(p)
    np.testing.assert_allclose([r["p_adj"] for r in rows], stats.false_discovery_control([r["p"] for r in rows]))
    # a 3-sd shift: no shuffle of labels is as extreme; identical distributions: not rejected
    assert rows[0]["p_perm"] == pytest.approx(1 / 401) and rows[1]["p_perm"] > 0.05
    om = permutation_anova(vals, n_perm=300, seed=0)
    assert om["p_perm"] == pytest.approx(1 / 301)
    F, _ = stats.f_oneway(*vals.values())
    assert om["F"] == pytest.approx(F)


def test_group_summary_mean_sem_and_interval():
    x = np.array([0.1, 0.4, 0.35, 0.2, 0.3])
    s = group_summary({"g": x, "h": x + 1}, n_boot=500, seed=0)["g"]
    assert s["mean"] == pytest.approx(x.mean()) and s["sem"] == pytest.approx(x.std(ddof=1) / np.sqrt(5))
    assert s["n"] == 5 and x.min() <= s["ci_low"] < s["mean"] < s["ci_high"] <= x.max()


# ----------------------------------------------------------------------------- pieces
def test_shared_pca_zscores_and_shares_axes():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(6, 9, 5))
    A, B = CA.shared_pca(X, X.copy(), 3)
    np.testing.assert_allclose(A, B) and None
    assert A.shape == (6, 9, 3)
    scaled = X * np.array([1, 10, 0.1, 3, 1])  # z-scoring removes per-unit scale
    A2, _ = CA.shared_pca(scaled, scaled, 3)
    np.testing.assert_allclose(np.abs(A2), np.abs(A), atol=1e-9)
    with pytest.raises(ValueError, match="units"):
        CA.shared_pca(X, X[..., :4], 3)


def test_model_spec_leaky_decay_and_input_only_training():
    from repalign.models import build_model
    from repalign.train import TrainConfig, train

    spec = C.model_spec("leaky_rnn", 8, "softplus", seed=0)
    net = build_model(spec)
    assert 1 - net.alpha == pytest.approx(math.exp(-20 / 100))  # d = exp(-dt / tau)
    gru = build_model(C.model_spec("gru", 8, "relu", seed=0))
    assert gru.spec["type"] == "leaky_gru" and gru.input_weight().shape == (24, 7)
    with pytest.raises(ValueError, match="model"):
        C.model_spec("nope", 8, "relu", 0)
    for model in (net, gru):
        before = {k: v.clone() for k, v in model.state_dict().items()}
        cfg = TrainConfig(tasks=["anti_pdm_delay"], steps=3, batch_size=4, loss="ce", lr=0.05, trainable="input",
                          eval_batch=4, task_kwargs={"timing": {"stimulus": 100, "delay": 40, "fixation": 40,
                                                                "decision": 60}})
        train(model, cfg, None, device="cpu")
        changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
        assert changed == {"w_in"}
        assert all(p.requires_grad for p in model.parameters())  # restored after training


# ----------------------------------------------------------------------------- whole pipeline
@pytest.fixture(scope="module")
def tiny_params():
    p = C.default_params("tiny")
    p.update(seeds=[0], grid=[0.0, 1.0], n_checkpoints=2, n_perm=50, n_boot=50)
    return p


def test_study_pipeline_identical_trials_dsa_layout_and_resume(tmp_path, monkeypatch, tiny_params):
    from repalign.dynamics.dsa import DSA

    p = tiny_params
    seen_inputs, dsa_shapes = [], []
    real_states, real_prepare = CA.states, DSA._prepare

    def spy_states(model, batch, window=None):
        seen_inputs.append((batch.inputs.copy(), window))
        return real_states(model, batch, window)

    def spy_prepare(self, trials):
        dsa_shapes.append((len(trials), {np.shape(t) for t in trials}))
        return real_prepare(self, trials)

    monkeypatch.setattr(CA, "states", spy_states)
    monkeypatch.setattr(DSA, "_prepare", spy_prepare)
    res = C.run_study(p, tmp_path, backend="serial", progress=False, log=lambda s: None)

    ref = CA.test_batch(p)
    s, e = ref.epochs["stimulus"][0][0], ref.epochs["stimulus"][1][0]
    fix = ref.epochs["fixation"][1][0]
    n_models = len(C.GROUPS)
    corrected, paper = seen_inputs[:n_models], seen_inputs[n_models:2 * n_models]
    # corrected pipeline: every model sees the same seeded trials, in the stimulus window
    assert all(np.array_equal(x, ref.inputs) and w == (s, e) for x, w in corrected)
    # the paper's pipeline: other trials per model, window shifted back by the fixation steps
    assert not any(np.array_equal(x, ref.inputs) for x, _ in paper)
    assert all(w == (s - fix, e - fix) == (0, e - s) for _, w in paper)
    hidden, T = p["hidden"][0], e - s
    # DSA gets (trials, time, units) in the corrected pipeline and (time, trials, units) in the paper's
    assert (p["n_test"], {(T, hidden)}) in dsa_shapes
    assert (T, {(p["n_test"], hidden)}) in dsa_shapes

    data = json.loads((tmp_path / "compositional.json").read_text())
    assert data["model"] == "leaky_rnn" and data["groups"] == list(C.GROUPS)
    for m in ("dsa", "cka", "procrustes"):
        for g in ("untrained", "master_frozen", "pretrain_partial", "pretrain_frozen"):
            assert set(data["dissimilarity"][m][g]) >= {"mean", "sem", "n"}
        assert data["dissimilarity"][m]["pretrain_partial"]["n"] == 5
        assert all(set(r) >= {"a", "b", "t", "p", "p_adj"} for r in data["tests"][m])
    assert len(data["over_learning"]["rows"]) == 8 * 2
    assert set(data["failures"]) == {"dsa", "cka", "procrustes"}  # failed pairs are reported, not hidden
    assert (tmp_path / "compositional.md").read_text().startswith("# Compositional learning")
    assert all((tmp_path / f).exists() for f in ("compositional_heatmaps.png", "compositional_regressions.png"))
    # untrained is the master's initial state: its dissimilarity to the step-0 master is ~0
    row0 = [r for r in data["over_learning"]["rows"] if r["group"] == "pretrain_frozen" and r["bin"] == 0.0]
    assert row0 and row0[0]["fraction"] == 0.0

    # resume: a second call trains nothing (every run is finished) and returns the same steps
    again = C.train_all(p, tmp_path / "runs", backend="serial", progress=False, log=lambda s: None)
    first = {r["name"]: r["steps_done"] for r in res["training"]["runs"]}
    assert {r["name"]: r["steps_done"] for r in again} == first
    assert all(r["wall_s"] < 5 for r in again)
