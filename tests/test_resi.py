"""ReSi's six tests on small trained networks (repalign.report_card.resi*): scores, cache, end to end."""

import argparse
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from sklearn.metrics import average_precision_score

from repalign.report_card import resi
from repalign.report_card import resi_models as rm
from repalign.report_card.cases import CASES, CASE_GROUPS, DEFAULT_CASES
from repalign.report_card.resi_scores import (
    average_precision,
    chance_auprc,
    group_auprc,
    group_pairs,
    layer_order_test,
    layer_spearman,
    mantel_spearman,
    violation_rate,
)
from repalign.commands.bench import _resi_hook
from repalign.registry import Measure, _REGISTRY, register


# ---------------------------------------------------------------------------- scores
@pytest.mark.parametrize("seed", range(6))
def test_average_precision_matches_sklearn_with_and_without_ties(seed):
    rng = np.random.default_rng(seed)
    y = rng.random(40) < 0.3
    y[0] = True
    s = rng.normal(size=40)
    if seed % 2:  # heavy ties
        s = np.round(s)
    assert average_precision(y, s) == pytest.approx(average_precision_score(y, s), abs=1e-12)


def test_group_auprc_closed_forms():
    labels = np.repeat([0, 1, 2], 3)
    # Perfect separation: every within-group distance below every cross-group one.
    D = np.where(np.equal.outer(labels, labels), 0.1, 1.0)
    np.fill_diagonal(D, 0.0)
    assert group_auprc(D, labels) == pytest.approx(1.0)
    # A blind measure (all distances tied) scores the share of positives: 3 / (3 + 18) per group.
    flat = np.ones((9, 9)) - np.eye(9)
    assert group_auprc(flat, labels) == pytest.approx(chance_auprc(labels)) == pytest.approx(3 / 21)
    # Against sklearn on a random matrix, group by group.
    rng = np.random.default_rng(0)
    R = rng.random((9, 9))
    R = R + R.T
    ref = []
    for g in range(3):
        w, a = group_pairs(R, labels, g)
        ref.append(average_precision_score(np.r_[np.ones(w.size), np.zeros(a.size)], -np.r_[w, a]))
    assert group_auprc(R, labels) == pytest.approx(np.mean(ref))
    with pytest.raises(ValueError, match="labels"):
        group_auprc(R, labels[:-1])
    with pytest.raises(ValueError, match="two groups"):
        group_auprc(R, np.zeros(9))


def test_violation_rate_and_layer_spearman_on_constructed_matrices():
    L = 5
    idx = np.arange(L)
    mono = np.abs(np.subtract.outer(idx, idx)).astype(float)
    assert violation_rate(mono) == 0.0 and layer_spearman(mono) == pytest.approx(1.0)
    rev = np.where(mono > 0, 10.0 - mono, 0.0)  # farther layers look closer
    assert violation_rate(rev) == 1.0 and layer_spearman(rev) == pytest.approx(-1.0)
    # One swap: layer 0 sees layer 3 as closer than layer 2 (and vice versa, symmetric).
    one = mono.copy()
    one[0, 3] = one[3, 0] = 1.5
    # Ordered triples per source: for source i, C(#above, 2) + C(#below, 2) -> 6+3+2+3+6 = 20.
    # Broken: source 0 with (2, 3): 2 > 1.5; source 3 with (1, 0): 2 > 1.5 -> 2 of 20.
    assert violation_rate(one) == pytest.approx(2 / 20)
    res = layer_order_test([mono, mono], n_perm=99, seed=0)
    # Only the identity and the reversal keep a monotone matrix monotone: (2/120)^2 per null draw.
    assert res["violation_rate"] == 0.0 and res["p_value"] < 0.05
    assert 0.35 < res["null_mean"] < 0.65  # a shuffled layer order violates about half


def test_mantel_spearman_matches_scipy_and_detects_signal():
    rng = np.random.default_rng(1)
    x = rng.random(10)
    A = np.abs(np.subtract.outer(x, x))
    B = A + 0.02 * (lambda M: M + M.T)(rng.random((10, 10)))
    iu = np.triu_indices(10, 1)
    res = mantel_spearman(A, B, n_perm=199, seed=0)
    assert res["spearman"] == pytest.approx(spearmanr(A[iu], B[iu])[0])
    assert res["p_value"] == pytest.approx(1 / 200)
    noise = (lambda M: M + M.T)(rng.random((10, 10)))
    assert mantel_spearman(A, noise, n_perm=199, seed=0)["p_value"] > 0.05


def test_output_distances_closed_forms():
    eye = np.eye(3)[None].repeat(2, 0)  # two networks, 3 inputs, one-hot outputs
    other = np.roll(eye[0], 1, axis=1)[None]
    d = resi.output_distances(np.concatenate([eye, other]))
    assert d["jsd"][0, 1] == pytest.approx(0.0, abs=1e-9) and d["disagreement"][0, 1] == 0.0
    assert d["jsd"][0, 2] == pytest.approx(1.0, abs=1e-6)  # disjoint supports: 1 bit
    assert d["disagreement"][0, 2] == 1.0


# ---------------------------------------------------------------------------- networks
def test_cache_reloads_identical_weights_and_training_is_deterministic(tmp_path):
    spec = rm.NetSpec(width=8, depth=2, epochs=1, seed=3)
    cnn = rm.NetSpec(arch="cnn", width=8, epochs=1, seed=3, shortcut=1.0)
    nets = rm.train_all([spec, cnn], tmp_path, jobs=1, progress=lambda m: None)
    again = rm.train_net(spec)["state_dict"]
    for (net, meta), s in zip(nets, (spec, cnn)):
        assert (tmp_path / f"{s.key()}.pt").is_file() and 0.0 <= meta["test_accuracy"] <= 1.0
    for k, v in nets[0][0].state_dict().items():
        assert torch.equal(v, again[k])
    # A second call loads, never retrains (the file is not rewritten).
    mtime = (tmp_path / f"{spec.key()}.pt").stat().st_mtime_ns
    rm.train_all([spec], tmp_path, jobs=1, progress=lambda m: pytest.fail("retrained"))
    assert (tmp_path / f"{spec.key()}.pt").stat().st_mtime_ns == mtime
    X, _ = rm.eval_inputs(20)
    layers = rm.representations(nets[1][0], X)
    assert [a.shape for a in layers] == [(20, 200), (20, 64), (20, 8), (20, 10)]
    assert rm.load_net(rm.NetSpec(width=8, depth=2, epochs=1, seed=4), tmp_path) is None


def test_netspec_and_data_validation():
    with pytest.raises(ValueError, match="arch"):
        rm.NetSpec(arch="rnn")
    with pytest.raises(ValueError, match="label_noise"):
        rm.NetSpec(label_noise=1.5)
    with pytest.raises(ValueError, match="width"):
        rm.NetSpec(width=0)
    X, y = rm.training_data(rm.NetSpec(shortcut=1.0, seed=0))
    assert np.all(X[np.arange(len(y)), 0, y] == 1.0)  # a perfectly reliable marker shows the label
    Xn, yn = rm.training_data(rm.NetSpec(label_noise=1.0, seed=0))
    assert 0.05 < np.mean(yn == rm.digits_split()[1]) < 0.2  # random labels agree by chance (~1/10)
    with pytest.raises(ValueError, match="n must be"):
        rm.eval_inputs(1)


# ---------------------------------------------------------------------------- end to end
class _BlindStatic(Measure):
    """Sees nothing: every distance is 1."""

    name = "_blind_static_measure"
    kind = "distance"
    range = (0.0, 1.0)
    matched_samples = False

    def _prepare(self, X):
        return None

    def _compare(self, a, b):
        return 1.0


@pytest.fixture
def tiny(monkeypatch, tmp_path):
    """A tiny setting: 4 seed networks, 2 levels x 2 networks per group test, 2 epochs."""
    monkeypatch.setenv(rm.CACHE_ENV, str(tmp_path))
    monkeypatch.setenv(rm.JOBS_ENV, "1")
    monkeypatch.setattr(resi, "LEVELS", (0.0, 1.0))
    monkeypatch.setattr(resi, "_ZOOS", {})
    monkeypatch.setitem(resi.SIZES, True, resi.Size(("mlp",), 60, 4, 2, 2, 19, max_epochs=4, group_epochs=3))
    register(_BlindStatic)
    yield
    _REGISTRY.pop(_BlindStatic.name, None)


def test_every_resi_case_end_to_end_on_tiny_networks(tiny):
    for case in CASE_GROUPS["resi"]:
        blind = resi.RESI_CASES[case](_BlindStatic.name, quick=True, seed=0)
        assert blind.passed is False, (case, blind.score)
        for measure in ("cka", "procrustes"):
            r = resi.RESI_CASES[case](measure, quick=True, seed=0)
            assert r.passed in (True, False) and np.isfinite(r.score), case
            arch = r.detail["per_arch"]["mlp"]
            if case in ("resi_labels", "resi_shortcut", "resi_augmentation"):
                assert r.score == pytest.approx(group_auprc(np.asarray(arch["distance"]), arch["levels"]))
                assert blind.score == pytest.approx(chance_auprc(arch["levels"]))
            elif case == "resi_layers":
                assert r.score == pytest.approx(np.mean([violation_rate(np.asarray(M)) for M in arch["distance"]]))
                assert arch["units"] == [64, 64, 64, 64, 10]
            else:
                assert len(arch["accuracy"]) == 4 and blind.score == 0.0
                tests = arch["tests"]
                assert all(-1 <= t["spearman"] <= 1 and 0 < t["p_value"] <= 1 for t in tests.values())
    dsa = resi.RESI_CASES["resi_layers"]("dsa", quick=True, seed=0)
    assert dsa.status == "n.a." and "trials" in dsa.detail["reason"]
    # Subspaces of one unit space: the 64-unit hidden layers and the 10 logits cannot be compared.
    pa = resi.RESI_CASES["resi_layers"]("principal_angles", quick=True, seed=0)
    assert pa.status == "n.a." and pa.detail["reason"].startswith(resi.NOT_SAME_WIDTH)
    # Networks trained on true labels vs on random ones: CKA ranks the pairs better than chance.
    arch = resi.RESI_CASES["resi_labels"]("cka", quick=True, seed=0).detail["per_arch"]["mlp"]
    assert arch["auprc"] > arch["chance"] == pytest.approx(1 / 5)


def test_resi_cases_are_registered_but_not_default(monkeypatch):
    assert set(CASE_GROUPS["resi"]) <= set(CASES)
    assert not set(CASE_GROUPS["resi"]) & set(DEFAULT_CASES)
    monkeypatch.setenv(rm.CACHE_ENV, "x")  # recorded, so that the hook's setting is undone afterwards
    monkeypatch.delenv(rm.CACHE_ENV)
    args = argparse.Namespace(cases="resi", measures=None, out="OUTDIR")
    measures, cases = _resi_hook(args)
    assert cases == list(CASE_GROUPS["resi"]) and "cka" in measures and "dsa" in measures
    assert os.environ[rm.CACHE_ENV] == os.path.join("OUTDIR", "resi_models")
    args = argparse.Namespace(cases="motifs", measures="cka", out="OUTDIR")
    assert _resi_hook(args) == (["cka"], ["motifs"])


def test_the_card_imports_without_torch():
    """torch is an optional extra: only running a ReSi case imports it."""
    code = "import sys, repalign.report_card, repalign.report_card.resi; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
