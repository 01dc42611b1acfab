"""The Lorenz attractor test cases of Guilhot et al. (repalign study lorenz, issue 15)."""

import json

import numpy as np
import pytest
from scipy.stats import linregress, mannwhitneyu

from repalign.report_card import run_case
from repalign.studies import lorenz as lz
from repalign.studies.lorenz_report import cache_in, save
from repalign.studies.lorenz_stats import auc, linear_r2, noise_effects
from repalign.systems import lorenz_rhs
from repalign.systems.lorenz import add_pattern, lorenz, paper_lorenz, perturb, unit_scale
from repalign.systems.motifs import attach_motifs, line_motif


# ---------------------------------------------------------------------------- generators
def test_paper_lorenz_is_forward_euler_then_per_trajectory_min_max():
    x0 = np.random.default_rng(1).random((5, 3))
    sys_ = paper_lorenz(10.0, trials=5, T=50, x0=x0)
    # forward Euler with the paper's beta, by hand
    X, raw = x0.copy(), np.empty((5, 50, 3))
    for t in range(50):
        raw[:, t] = X
        X = X + 0.01 * lorenz_rhs(X, 10.0, 10.0, 2.667)
    lo, hi = raw.min(axis=(1, 2), keepdims=True), raw.max(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(sys_.data, (raw - lo) / (hi - lo), rtol=1e-12, atol=1e-12)
    # every trajectory spans exactly [0, 1]
    np.testing.assert_allclose(sys_.data.min(axis=(1, 2)), 0.0, atol=1e-15)
    np.testing.assert_allclose(sys_.data.max(axis=(1, 2)), 1.0)
    # default initial points: uniform in [0, 1)^3, seeded
    a, b = paper_lorenz(5.0, trials=4, T=20, seed=3), paper_lorenz(5.0, trials=4, T=20, seed=3)
    assert np.array_equal(a.data, b.data) and np.all((a.meta["x0"] >= 0) & (a.meta["x0"] < 1))


def test_euler_differs_from_rk4_and_bad_method_is_rejected():
    x0 = np.ones(3)
    e = lorenz(rho=28, T=30, x0=x0, method="euler").data
    r = lorenz(rho=28, T=30, x0=x0).data
    assert np.array_equal(e[:, :1], r[:, :1]) and not np.allclose(e, r)
    with pytest.raises(ValueError, match="method"):
        lorenz(method="heun")


def test_noise_formula_and_no_mutation():
    X = np.random.default_rng(0).random((3, 40, 3))
    before = X.copy()
    s = 0.004
    eps = np.random.default_rng(7).standard_normal(X.shape)
    np.testing.assert_allclose(perturb(X, s, seed=7), np.sqrt(1 - s**2) * X + s * eps)
    assert np.array_equal(X, before)
    big = perturb(np.zeros((200, 200, 3)), 0.3, seed=1)
    assert big.std() == pytest.approx(0.3, rel=0.01)  # the noise has SD s
    with pytest.raises(ValueError, match="s must"):
        perturb(X, 1.5)


def test_pattern_mixture_adds_the_displacement_from_the_initial_point():
    rng = np.random.default_rng(2)
    A, B = rng.random((4, 30, 3)), rng.random((4, 30, 3))
    out = add_pattern(A, B, 0.5)
    np.testing.assert_allclose(out[:, 0], A[:, 0])  # no offset at t = 0
    np.testing.assert_allclose(out - A, 0.5 * (B - B[:, :1]))
    with pytest.raises(ValueError, match="same"):
        add_pattern(A, B[:, :10], 1.0)


def test_unit_scale_rejects_constant_trajectories():
    with pytest.raises(ValueError, match="constant"):
        unit_scale(np.ones((2, 5, 3)))


def test_line_motif_is_straight_and_attach_continues_by_increments():
    L = line_motif(trials=3, T=50, seed=0)
    for traj in L:  # collinear: the centred trajectory has rank 1
        s = np.linalg.svd(traj - traj.mean(axis=0), compute_uv=False)
        assert s[1] < 1e-10 * s[0]
    rng = np.random.default_rng(4)
    A, B = rng.random((2, 20, 3)), rng.random((2, 20, 3))
    raw = attach_motifs([A, B], downsample=False)
    assert raw.shape == (2, 40, 3)
    # before scaling: the first half is A's shape, the second continues with B's increments
    scale = (np.ptp(raw.reshape(2, -1), axis=1) / 1.0)[:, None, None]
    glued = np.concatenate([A, np.zeros((2, 20, 3))], axis=1)
    glued[:, 20] = A[:, -1] + 1e-4 * (A[:, -1] - A[:, -2])
    glued[:, 21:] = glued[:, 20:21] + np.cumsum(np.diff(B, axis=1), axis=1)
    np.testing.assert_allclose(raw, unit_scale(glued), atol=1e-12)
    assert scale.shape == (2, 1, 1)
    down = attach_motifs([A, B, A])
    assert down.shape == (2, 20, 3) and down.min() == 0.0 and down.max() == pytest.approx(1.0)


def test_motif_pairs_count_shared_motifs_by_set_intersection():
    pairs = lz.motif_pair_list(lz.tiny_config(motif_pairs=None))
    assert len(pairs) == 60 * 59 // 2  # all pairs of the 60 sequences of 3 distinct motifs
    assert {k for _, _, k in pairs} == {1, 2, 3}  # 3 of 5 motifs always share at least one
    assert all(k == len(set(a) & set(b)) for a, b, k in pairs)
    sample = lz.motif_pair_list(lz.tiny_config(motif_pairs=12))
    assert [k for *_, k in sample].count(1) == 4 and [k for *_, k in sample].count(3) == 4


# ---------------------------------------------------------------------------- statistics
def test_auc_and_r2_match_scipy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(1, 1, 30), np.round(rng.normal(0, 1, 20), 1)
    assert auc(a, b) == pytest.approx(mannwhitneyu(a, b).statistic / (30 * 20))
    y = [0.5, 0.42, 0.40]
    assert linear_r2(y) == pytest.approx(linregress([1, 2, 3], y).rvalue ** 2)


def test_noise_effects_are_scale_free():
    rng = np.random.default_rng(1)
    noise, ratio = rng.random((6, 3)) * 0.1, 0.5 + rng.random((6, 3))
    e1, e2 = noise_effects(noise, ratio), noise_effects(7.0 * noise, 7.0 * ratio)
    for k in e1:
        assert e1[k] == pytest.approx(e2[k])
    assert e1["auc"] == 1.0 and e1["noise_to_signal"] == pytest.approx(noise.mean() / ratio.mean())


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="ic"):
        lz.Config(ic="shared")
    with pytest.raises(ValueError, match="tests"):
        lz.Config(tests=("regimes", "chaos"))
    with pytest.raises(ValueError, match="unknown measure"):
        lz.Config(measures=("dsa", "no_such_measure"))


# ---------------------------------------------------------------------------- the study
@pytest.fixture(scope="module")
def small_study(tmp_path_factory):
    """DSA, CKA, Procrustes on the regime, noise and ratio tests (2 patterns), a few seconds."""
    cfg = lz.tiny_config(patterns=(0.5, 40.0), trials=20, n_restarts=0, tests=("regimes", "noise", "ratio"),
                         n_boot=100)
    out = tmp_path_factory.mktemp("lorenz")
    res = lz.run_study(cfg, cache=cache_in(out / "parts", lambda part: lz.cache_key(cfg, part)))
    return res, save(res, out), out, cfg


def test_dsa_within_regime_below_across_regime(small_study):
    res = small_study[0]
    r = res["regimes"]["dsa"]
    assert r["within_mean"] < r["across_mean"]
    D, lab = np.asarray(r["matrix"]), np.asarray(r["labels"])
    iu = np.triu_indices(9, 1)
    same = (lab[:, None] == lab[None, :])[iu]
    assert r["within_mean"] == pytest.approx(D[iu][same].mean())  # the summary follows the matrix
    assert np.allclose(D, D.T) and np.all(np.diag(D) == 0)


def test_dsa_falls_with_m_in_the_ratio_test_and_exceeds_the_noise_test(small_study):
    res = small_study[0]
    means = res["ratio"]["dsa"]["epochs"]
    assert means[0] > means[1] > means[2]  # m = 1, 0.5, 0.25
    assert min(means) > max(res["noise"]["dsa"]["epochs"])
    d = np.asarray(res["ratio"]["dsa"]["distances"])
    assert res["ratio"]["dsa"]["gap"] == pytest.approx(abs(d[:, 2].mean() - d[:, 0].mean()))


def test_json_has_the_issue_structure_and_figures_exist(small_study):
    res, paths, out, cfg = small_study
    data = json.loads((out / "lorenz.json").read_text())
    for test in ("regimes", "noise", "ratio"):
        assert set(cfg.measures) <= set(data[test])
    for m in cfg.measures:
        assert {"within_mean", "across_mean", "matrix"} <= set(data["regimes"][m])
        for t in ("noise", "ratio"):
            assert {"epochs", "sem", "r2", "gap"} <= set(data[t][m]) and len(data[t][m]["epochs"]) == 3
    assert data["units"] == "radians"
    assert data["verdict"]["noise_to_signal"]["claim"] in ("holds", "contradicted", "not shown")
    for key in ("regimes", "within_across", "curves"):
        assert paths[key].stat().st_size > 1000
    assert "| dsa |" in (out / "lorenz.md").read_text()


def test_parts_are_reused(small_study, monkeypatch):
    res, _, out, cfg = small_study
    monkeypatch.setattr(lz, "run_noise_ratio", lambda *a, **k: pytest.fail("recomputed a stored part"))
    monkeypatch.setattr(lz, "run_regimes", lambda *a, **k: pytest.fail("recomputed a stored part"))
    again = lz.run_study(cfg, cache=cache_in(out / "parts", lambda part: lz.cache_key(cfg, part)))
    assert again["ratio"]["dsa"]["epochs"] == pytest.approx(res["ratio"]["dsa"]["epochs"])


def test_motif_test_with_matched_measures():
    cfg = lz.tiny_config(measures=("procrustes",), tests=("motifs",), motif_pairs=9)
    res = lz.run_study(cfg)
    mo = res["motifs"]["procrustes"]
    assert mo["shared"] == [1, 2, 3] and mo["n"] == [3, 3, 3]
    assert all(d > 0 for d in mo["distances"])  # distinct sequences are never identical
    eff = res["motif_effects"]["spearman"]["measures"]["procrustes"]
    assert eff["value"] == pytest.approx(mo["spearman"]) and eff["ci"][0] <= eff["ci"][1]


# ---------------------------------------------------------------------------- report card
@pytest.mark.parametrize("measure", ["cka", "procrustes"])
def test_matched_lorenz_cases_give_matched_measures_a_verdict(measure):
    for case in ("lorenz_regimes_matched", "lorenz_noise_matched", "lorenz_ratio_matched"):
        r = run_case(case, measure, quick=True, seed=0)
        assert r.status in ("PASS", "FAIL") and r.score is not None
    r = run_case("lorenz_noise_matched", measure, quick=True, seed=0)
    assert r.score == pytest.approx(np.mean(r.detail["noise"]) / np.mean(r.detail["signal"]))
    assert r.passed == (r.score < 0.5)


def test_command_line_writes_the_study(tmp_path, capsys):
    from repalign.cli import main

    out = tmp_path / "lz"
    assert main(["study", "lorenz", "--quick", "--measures", "cka", "procrustes", "--tests", "noise", "ratio",
                 "--out", str(out)]) == 0
    data = json.loads((out / "lorenz.json").read_text())
    assert data["config"]["trials"] == 40 and len(data["noise"]["pairs"]) == 6  # the quick preset
    assert set(data["noise"]) >= {"cka", "procrustes"} and "regimes" not in data
    assert {p.name for p in (out / "parts").iterdir()} == {"noise.json", "ratio.json"}
    assert (out / "lorenz_noise_ratio.png").stat().st_size > 1000
    with pytest.raises(SystemExit):
        main(["study", "lorenz", "--matched", "--paper-ic", "--out", str(out)])
    capsys.readouterr()
