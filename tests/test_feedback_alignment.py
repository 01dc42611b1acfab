"""Tests of the feedback-alignment study (direct feedback alignment vs backprop on digits)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats as sps

import torch

from repalign.cli import main as cli_main  # noqa: E402
from repalign.stats import resampled_null  # noqa: E402
from repalign.studies import feedback_alignment as fa  # noqa: E402



def test_single_sample_null_cosine_has_mean_zero_variance_one_over_width():
    """cos(e B', g) for Gaussian B' is the cosine of a uniform direction with g:
    mean 0, variance 1/d, and (1 + cos)/2 ~ Beta((d-1)/2, (d-1)/2)."""
    d, n = 256, 4000
    rng = np.random.default_rng(0)
    e = rng.standard_normal((1, 10))
    g = rng.standard_normal((1, d))
    res = resampled_null(fa._NullCosine(e, g), n=n, seed=1)
    c = res.null
    # mean: sd of the sample mean is sqrt(1/(d n)); allow 4 of those
    assert abs(c.mean()) < 4 * np.sqrt(1 / (d * n))
    # variance: cos^2 ~ Beta(1/2, (d-1)/2) has variance 2(d-1)/(d^2 (d+2)); the sample mean of
    # cos^2 (the variance estimate, mean being 0) has sd sqrt(that / n); allow 4 of those
    var_cos2 = 2 * (d - 1) / (d**2 * (d + 2))
    assert abs(np.mean(c**2) - 1 / d) < 4 * np.sqrt(var_cos2 / n)
    a = (d - 1) / 2
    assert sps.kstest((1 + c) / 2, sps.beta(a, a).cdf).pvalue > 0.01


def test_feedback_matrices_scale_and_seed():
    B = fa.feedback_matrices(5, 10, 256, seed=3)
    assert len(B) == 5 and B[0].shape == (10, 256)
    allB = np.concatenate([b.ravel() for b in B])
    assert np.var(allB) == pytest.approx(1 / 256, rel=0.05)
    assert np.array_equal(B[2], fa.feedback_matrices(5, 10, 256, seed=3)[2])
    assert not np.array_equal(B[0], B[1])


def test_mean_cosine_matches_direct_computation_and_skips_floor_samples():
    rng = np.random.default_rng(0)
    e, B, g = rng.standard_normal((6, 10)), rng.standard_normal((10, 32)), rng.standard_normal((6, 32))
    f = e @ B
    direct = np.mean([f[i] @ g[i] / np.linalg.norm(f[i]) / np.linalg.norm(g[i]) for i in range(6)])
    assert fa.mean_cosine(e, B, g) == pytest.approx(direct)
    g[0] = 1e-12  # below the floor: left out
    direct = np.mean([f[i] @ g[i] / np.linalg.norm(f[i]) / np.linalg.norm(g[i]) for i in range(1, 6)])
    assert fa.mean_cosine(e, B, g) == pytest.approx(direct)
    assert np.isnan(fa.mean_cosine(e, B, np.zeros_like(g)))


def test_dfa_update_is_the_local_feedback_gradient_not_backprop():
    data = fa.load_data(0)
    model = fa.make_network(64, 32, 2, 10, seed=0)
    B = [torch.as_tensor(b, dtype=torch.float32) for b in fa.feedback_matrices(3, 10, 32, seed=0)]
    x = torch.as_tensor(data["x_train"][:16], dtype=torch.float32)
    y = torch.as_tensor(data["y_train"][:16])

    def grads(loss):
        model.zero_grad()
        loss.backward()
        return {k: p.grad.clone() for k, p in model.named_parameters()}

    g_dfa = grads(fa.dfa_loss(model, x, y, B))
    g_bp = grads(fa.backprop_loss(model, x, y))
    # the readout is trained with its true gradient in both
    torch.testing.assert_close(g_dfa["readout.weight"], g_bp["readout.weight"])
    # a block's DFA gradient: delta = (e B_l / batch) masked by relu', times its input
    with torch.no_grad():
        logits, hs = model(x)
        e = torch.softmax(logits, 1) - torch.nn.functional.one_hot(y, 10).float()
        pre = model.blocks[1](hs[1])
        delta = (e @ B[2]) / x.shape[0] * (pre > 0).float()
    torch.testing.assert_close(g_dfa["blocks.1.weight"], delta.T @ hs[1], rtol=1e-4, atol=1e-6)
    # ... which is not the backprop gradient
    a, b = g_dfa["blocks.1.weight"].ravel(), g_bp["blocks.1.weight"].ravel()
    assert torch.nn.functional.cosine_similarity(a, b, dim=0) < 0.5


def test_training_is_seeded():
    data = fa.load_data(1)
    cfg = fa.Config(epochs=1, width=32, n_blocks=1, seed=1)
    B = fa.feedback_matrices(2, 10, 32, seed=1)
    m1, acc1 = fa.train("dfa", data, cfg, B)
    m2, acc2 = fa.train("dfa", data, cfg, B)
    assert acc1 == acc2
    for p1, p2 in zip(m1.parameters(), m2.parameters()):
        assert torch.equal(p1, p2)
    with pytest.raises(ValueError, match="method must be"):
        fa.train("hebbian", data, cfg, B)


def test_gradient_at_floor_is_flagged_undefined():
    data = fa.load_data(0)
    model = fa.make_network(64, 32, 1, 10, seed=0)
    with torch.no_grad():
        model.readout.weight.zero_()  # no gradient reaches any layer
    B = fa.feedback_matrices(2, 10, 32, seed=0)
    rows = fa.calibrate_layers(model, B, data["x_test"][:50], data["y_test"][:50], null_draws=20, seed=0)
    for r in rows:
        assert r["flagged"] and r["verdict"].startswith("undefined") and r["observed"] is None


def test_config_validation():
    with pytest.raises(ValueError, match="epochs"):
        fa.Config(epochs=0).validate()
    with pytest.raises(ValueError, match="optimizer"):
        fa.Config(optimizer="rmsprop").validate()
    with pytest.raises(ValueError, match="lr"):
        fa.Config(lr=-1.0).validate()


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A reduced run through the CLI: 8 epochs, 200 null draws per layer."""
    out = tmp_path_factory.mktemp("fa")
    assert cli_main(["study", "feedback-alignment", "--out", str(out), "--epochs", "8", "--null-draws", "200"]) == 0
    return out, json.loads((out / "feedback_alignment.json").read_text())


def test_dfa_cosines_beat_their_null_and_backprop_cosines_do_not(study):
    _, res = study
    dfa, bp = res["networks"]["dfa"], res["networks"]["backprop"]
    assert dfa["test_accuracy"] > 0.85 and bp["test_accuracy"] > 0.9
    assert [r["layer"] for r in dfa["layers"]] == ["stem", "block1", "block2", "block3", "block4"]
    for r in dfa["layers"]:
        assert not r["flagged"]
        assert r["z"] > 3 and r["verdict"] == "signal", r
        assert r["p_value"] == pytest.approx(1 / 201)
    for r in bp["layers"]:
        assert not r["flagged"]
        assert r["z"] < 3 and r["verdict"] != "signal", r
        assert abs(r["null_mean"]) < 4 * r["null_sd"] / np.sqrt(200)  # the null is centred on 0


def test_study_outputs(study):
    out, res = study
    assert (out / "feedback_alignment.png").stat().st_size > 10_000
    assert res["config"]["null_draws"] == 200 and res["config"]["epochs"] == 8
    assert res["versions"]["torch"].startswith("2.") and res["grad_floor"] == fa.GRAD_FLOOR
    r = res["networks"]["dfa"]["layers"][0]
    null = np.array(r["null_values"])
    assert null.size == 200 and r["null_mean"] == pytest.approx(null.mean())
    assert r["z"] == pytest.approx((r["observed"] - null.mean()) / null.std(ddof=1))
