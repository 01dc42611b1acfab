"""``repalign study transfer`` (issue 19): Kaiming rule column, full-spectrum and modulation
analyses, the seed's backbone probe, calibration helpers and resume."""

import json
import math
import shutil

import numpy as np
import pytest
import torch

from repalign.geometry.subspace import cross_variance_explained
from repalign.studies.transfer_probe import fresh_column_probe, kaiming_uniform_column, reinit_rule_column
from repalign.studies.transfer_report import bootstrap_difference, bootstrap_mean, pad_curves
from repalign.studies.transfer_spectrum import direction_matched_spectrum, mean_modulation, variance_spectrum


# ----------------------------------------------------------------------------- Kaiming column
@pytest.mark.parametrize("units,seed", [(7, 0), (300, 3)])
def test_kaiming_column_is_torch_linear_default_init(units, seed):
    # torch.nn.Linear(units, 1) initialises its (1, units) weight with kaiming_uniform_(a=sqrt 5)
    # from the global generator: the seed's column.view(-1, 1).t() has exactly this shape.
    torch.manual_seed(seed)
    reference = torch.nn.Linear(units, 1).weight.detach()[0]
    col = kaiming_uniform_column(units, seed)
    assert torch.equal(col, reference)
    assert float(col.abs().max()) <= 1 / math.sqrt(units)  # bound = gain sqrt(3/fan_in), gain = sqrt(1/3)


def test_kaiming_column_spans_its_bound_and_is_reproducible():
    col = kaiming_uniform_column(20000, 1).double().numpy()
    b = 1 / math.sqrt(20000)
    assert col.max() > 0.99 * b and col.min() < -0.99 * b
    assert abs(col.var() - b**2 / 3) < 0.03 * b**2  # uniform(-b, b) variance
    assert torch.equal(kaiming_uniform_column(50, 9), kaiming_uniform_column(50, 9))
    with pytest.raises(ValueError, match="units"):
        kaiming_uniform_column(0, 1)


def test_reinit_changes_only_the_rule_column():
    from repalign.models import MultiPlasticNet

    net = MultiPlasticNet(6, 5, 3, seed=0)
    before = net.input_weight().detach().clone()
    reinit_rule_column(net, 4, seed=2)
    after = net.input_weight().detach()
    assert torch.equal(after[:, [0, 1, 2, 3, 5]], before[:, [0, 1, 2, 3, 5]])
    assert torch.equal(after[:, 4], kaiming_uniform_column(5, 2))
    with pytest.raises(ValueError, match="column"):
        reinit_rule_column(net, 6, seed=2)


# ----------------------------------------------------------------------------- spectra
def _data(seed=0, n=80, p=12):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) * np.linspace(3, 0.2, p)
    Y = rng.standard_normal((n + 10, p)) @ rng.standard_normal((p, p)) * 0.5
    return X, Y


def test_full_spectrum_matches_cross_variance_explained_and_ky_fan():
    X, Y = _data()
    r = variance_spectrum(X, Y, ks=[1, 3, 12])
    ref = cross_variance_explained(X, Y)
    assert r["n_components"] == 12
    np.testing.assert_allclose(r["cross"], ref["cross"], atol=1e-10)
    np.testing.assert_allclose(r["self"], ref["self"], atol=1e-10)
    assert np.all(r["cross"] <= r["self"] + 1e-12) and r["self"][-1] == pytest.approx(1.0)
    assert r["cross"][-1] == pytest.approx(1.0)  # the full basis spans unit space
    a = r["at_k"]["3"]
    assert a["area_ratio"] == pytest.approx(r["cross"][:3].sum() / r["self"][:3].sum())
    assert r["at_k"]["12"]["fraction"] == pytest.approx(1.0)


def test_basis_centred_cross_counts_the_mean_offset():
    X, Y = _data(1)
    r0 = variance_spectrum(X, Y)
    r1 = variance_spectrum(X, Y + 5.0)  # shifting Y does not change its own-centred curves
    np.testing.assert_allclose(r0["cross"], r1["cross"], atol=1e-10)
    # the offset (5, ..., 5) is spread over all PCs; at full rank everything is captured
    assert r1["cross_basis_centred"][-1] == pytest.approx(1.0)
    assert r1["cross_basis_centred"][0] != pytest.approx(r0["cross_basis_centred"][0])


def test_randomized_and_wide_samples_side_agree_with_exact():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((40, 6)) @ rng.standard_normal((6, 500))  # rank 6, features >> samples
    Y = rng.standard_normal((30, 6)) @ rng.standard_normal((6, 500))
    exact = variance_spectrum(X, Y, solver="exact")
    rand = variance_spectrum(X, Y, solver="randomized", max_components=6)
    assert exact["n_components"] == 6  # rank deficit detected on the samples-side Gram
    np.testing.assert_allclose(rand["cross"], exact["cross"], atol=1e-8)
    np.testing.assert_allclose(rand["self"], exact["self"], atol=1e-8)


@pytest.mark.parametrize("wide", [False, True])
def test_direction_matched_with_one_bin_equals_pooled(wide):
    X, Y = _data(3, p=200 if wide else 12)
    pooled = variance_spectrum(X, Y, ks=[1, 5])
    dm = direction_matched_spectrum(X, Y, np.zeros(len(X)), np.zeros(len(Y)), ks=[1, 5])
    np.testing.assert_allclose(dm["cross"], pooled["cross"], atol=1e-12)
    np.testing.assert_allclose(dm["self"], pooled["self"], atol=1e-12)
    assert dm["bins_used"] == [0] and dm["at_k"] == pooled["at_k"]


def test_direction_matched_averages_bins_and_skips_one_sided():
    X, Y = _data(4)
    bx, by = np.arange(len(X)) % 2, np.arange(len(Y)) % 3  # bin 2 only on the new side
    dm = direction_matched_spectrum(X, Y, bx, by)
    c = [variance_spectrum(X[bx == b], Y[by == b])["cross"] for b in (0, 1)]
    np.testing.assert_allclose(dm["cross"], (c[0] + c[1]) / 2, atol=1e-12)
    assert dm["skipped_bins"] == [2]


def test_mean_modulation_identical_and_scaled_inputs():
    rng = np.random.default_rng(5)
    A = rng.standard_normal((30, 4, 3))
    bins = np.arange(30) % 8
    same = mean_modulation(A, A.copy(), bins, bins)
    assert same["frobenius"] == 0 and same["pooled_frobenius"] == 0
    assert same["cos"] == pytest.approx(1.0) and 1 - same["pooled_cos"] == pytest.approx(0.0, abs=1e-12)
    double = mean_modulation(A, 2 * A, bins, bins)
    assert double["cos"] == pytest.approx(1.0)
    norms = [np.linalg.norm(A[bins == b].mean(axis=0)) for b in range(8)]
    assert double["frobenius"] == pytest.approx(np.mean(norms))
    neg = mean_modulation(A, -A, bins, bins)
    assert neg["cos"] == pytest.approx(-1.0)


def test_spectrum_input_errors():
    X, Y = _data()
    with pytest.raises(ValueError, match="same features"):
        variance_spectrum(X, Y[:, :5])
    with pytest.raises(ValueError, match="solver"):
        variance_spectrum(X, Y, solver="svd")
    with pytest.raises(ValueError, match="vary"):
        variance_spectrum(np.ones((5, 3)), Y[:, :3])
    with pytest.raises(ValueError, match="pre_bins"):
        direction_matched_spectrum(X, Y, np.zeros(3), np.zeros(len(Y)))
    with pytest.raises(ValueError, match="share no"):
        mean_modulation(X.reshape(-1, 3, 4), X.reshape(-1, 3, 4), np.zeros(len(X)), np.ones(len(X)))


# ----------------------------------------------------------------------------- probe, bootstrap
def test_fresh_column_probe_restores_the_network_and_is_reproducible():
    from repalign import tasks as task_mod
    from repalign.models import MultiPlasticNet
    from repalign.studies.transfer_run import _build_model, network_layout

    lay = network_layout(["fdgo", "delaygo"], "delayanti")
    net = _build_model("mpn", ["fdgo", "delaygo", "delayanti"], lay, 6, 0)
    assert isinstance(net, MultiPlasticNet)
    batch = task_mod.generate("delayanti", 8, seed=0, layout=lay["layout"], rule_slots=3,
                              rule_index=lay["rule_index"], **lay["task_kwargs"])
    col = batch.rule_start + 2
    before = {k: v.clone() for k, v in net.state_dict().items()}
    r = fresh_column_probe(net, batch, col, n_fresh=3, seed=1, l2_weight=0.5)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert r == fresh_column_probe(net, batch, col, n_fresh=3, seed=1, l2_weight=0.5)
    reg = sum(float((p.detach()**2).sum()) for p in net.parameters() if p.ndim >= 2)
    assert r["trained_column"]["loss"] == pytest.approx(r["trained_column"]["loss_out"] + 0.5 * reg, rel=1e-4)
    assert len(r["fresh_columns"]["loss"]) == 3 and 0.25 <= r["p_loss"] <= 1
    assert r["stage2_start_loss_out"] == pytest.approx(np.mean(r["fresh_columns"]["loss_out"]))


def test_pad_curves_extends_with_the_last_value():
    a = {"m": {"cross": np.array([0.2, 0.5]), "self": np.array([0.6, 1.0]), "other": np.array([1.0])}}
    b = {"m": {"cross": np.array([0.1, 0.3, 0.4]), "self": np.array([0.5, 0.9, 1.0]), "other": np.array([1.0, 2.0])}}
    pad_curves([a, b])
    np.testing.assert_array_equal(a["m"]["cross"], [0.2, 0.5, 0.5])
    np.testing.assert_array_equal(a["m"]["self"], [0.6, 1.0, 1.0])
    assert a["m"]["other"].size == 1 and b["m"]["cross"].size == 3  # other keys and the longest untouched


def test_bootstrap_helpers():
    m = bootstrap_mean([1.0, 2.0, 3.0, 4.0])
    assert m["estimate"] == 2.5 and 1.0 <= m["interval"][0] < 2.5 < m["interval"][1] <= 4.0
    assert bootstrap_mean([1.0])["interval"] is None
    d = bootstrap_difference([5.0, 6.0, 7.0], [1.0, 2.0])
    assert d["estimate"] == pytest.approx(4.5) and d["interval"][0] >= 3.0 and d["interval"][1] <= 6.0


# ----------------------------------------------------------------------------- study and resume
TINY = dict(hidden=6, batch_size=8, steps1=6, steps2=6, seeds=1, null_draws=10, probe_draws=4, probe_fresh=3,
            n_angles=3, n_checkpoints=3, save_every=2, ks=[1, 3], rulesets={"fdgo+delaygo": ["fdgo", "delaygo"]})


def _strip(result):
    nets = []
    for n in result["networks"]:
        nets.append({k: v for k, v in n.items() if k not in ("dir", "counters", "seconds", "sanity_figure")})
    return json.loads(json.dumps(nets))


def test_resumed_study_equals_uninterrupted(tmp_path):
    from repalign.studies.transfer_study import run_study

    torch.set_num_threads(1)
    full = run_study(tmp_path / "a", "quick", workers=1, **TINY)
    assert (tmp_path / "a" / "transfer.json").exists() and (tmp_path / "a" / "transfer.md").exists()
    stored = json.loads((tmp_path / "a" / "transfer.json").read_text())
    assert {"variance_spectrum", "modulation_raw", "modulation_weighted", "mean_modulation", "backbone_probe",
            "geometry", "rule", "curves"} <= set(stored["networks"][0])
    assert set(stored["networks"][0]["backbone_probe"]) == {"fresh_columns", "norm_matched"}
    # stage 2 starts from the seed's Kaiming column (drawn with seed + 2000), nowhere else
    from repalign.train.checkpoint import list_checkpoints, load_checkpoint

    net_a = tmp_path / "a" / "fdgo_delaygo" / "seed0"
    w2 = load_checkpoint(list_checkpoints(net_a / "stage2")[0])["model_state"]["input_layer.weight"]
    w1 = load_checkpoint(list_checkpoints(net_a / "stage1")[-1])["model_state"]["input_layer.weight"]
    fresh = kaiming_uniform_column(6, 2000)
    changed = [j for j in range(w2.shape[1]) if not torch.equal(w2[:, j], w1[:, j])]
    assert len(changed) == 1 and torch.equal(w2[:, changed[0]], fresh)
    # interrupt: keep stage 1, drop stage 2 after its step-2 checkpoint, and the analysis
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    net = tmp_path / "b" / "fdgo_delaygo" / "seed0"
    for f in (net / "stage2" / "checkpoints").iterdir():
        if int(f.stem.split("_")[1]) > 2:
            f.unlink()
    (net / "stage2" / "result.json").unlink()
    (net / "study_analysis.json").unlink()
    resumed = run_study(tmp_path / "b", "quick", workers=1, **TINY)
    assert resumed["networks"][0]["counters"]["trained"] == 1  # stage 2 was resumed, not loaded
    assert _strip(resumed) == _strip(full)
    again = run_study(tmp_path / "b", "quick", workers=1, **TINY)
    assert again["networks"][0]["counters"]["analysis_reused"] == 1


def test_study_params_errors(tmp_path):
    from repalign.studies.transfer_study import run_study, study_params

    assert study_params("paper")["hidden"] == 300 and study_params("paper")["batch_size"] == 128
    assert study_params("paper")["l2_weight"] == 1e-4 and study_params("paper")["rule_init"] == "kaiming"
    with pytest.raises(ValueError, match="preset"):
        study_params("huge")
    with pytest.raises(ValueError, match="model"):
        study_params("quick", model="lstm")
    with pytest.raises(ValueError, match="unknown"):
        study_params("quick", width=3)
    with pytest.raises(ValueError, match="backend"):
        run_study(tmp_path, backend="mpi")
    with pytest.raises(ValueError, match="scheduler"):
        run_study(tmp_path, backend="dask", scheduler=None, **TINY)
    with pytest.raises(ValueError, match="workers"):
        run_study(tmp_path, workers=0)
