"""Tests for repalign.studies.groups (Chughtai et al. 2023 group-operation study)."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from repalign.studies.finite_groups import get_group, real_irreps
from repalign.studies import groups as G

import torch


@pytest.fixture(scope="module")
def s3():
    group = get_group("S3")
    mask = G.split_pairs(group.order, 0.5, seed=1)
    return group, G.Analysis(group, mask)


def _random_params(order, embed=5, hidden=7, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "embed_left": rng.standard_normal((order, embed)),
        "embed_right": rng.standard_normal((order, embed)),
        "W": rng.standard_normal((hidden, 2 * embed)),
        "U": rng.standard_normal((order, hidden)),
    }


# ---------------------------------------------------------------------- data and schedule
def test_split_pairs_is_seeded_and_sized():
    m1, m2 = G.split_pairs(10, 0.3, seed=4), G.split_pairs(10, 0.3, seed=np.random.default_rng(4))
    assert m1.sum() == 30 and m1.shape == (100,)
    np.testing.assert_array_equal(m1, m2)
    assert not np.array_equal(m1, G.split_pairs(10, 0.3, seed=5))
    assert G.split_pairs(3, 0.01, seed=0).sum() == 1  # both sets non-empty
    assert G.split_pairs(3, 0.99, seed=0).sum() == 8


def test_pair_indices_order():
    a, b = G.pair_indices(4)
    np.testing.assert_array_equal(a * 4 + b, np.arange(16))


def test_checkpoint_steps_log_spaced():
    s = G.checkpoint_steps(10000, 20)
    assert s[0] == 0 and s[-1] == 10000 and s == sorted(set(s))
    ratios = np.diff(np.log(s[2:]))
    assert ratios.max() < 3 * ratios.min()  # roughly uniform in log step


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"train_fraction": 1.0}, "train_fraction"),
        ({"steps": 0}, "steps"),
        ({"hidden": 2.5}, "hidden"),
        ({"group": "Q8"}, "group"),
        ({"key_threshold": 0.0}, "key_threshold"),
        ({"lr": -1.0}, "lr"),
        ({"seed": -1}, "seed"),
        ({"n_checkpoints": 1}, "n_checkpoints"),
        ({"embed_scale": 0.0}, "embed_scale"),
    ],
)
def test_config_rejects_bad_values(kwargs, word):
    with pytest.raises(ValueError, match=word):
        G.Config(**kwargs).validate()


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="train_fraction"):
        G.split_pairs(5, 0.0)
    with pytest.raises(ValueError, match="steps"):
        G.checkpoint_steps(0, 5)
    with pytest.raises(ValueError, match="checkpoints"):
        G.checkpoint_steps(10, 1)


# ---------------------------------------------------------------------- bases and metrics
@pytest.mark.parametrize("name", ["C7", "S3", "D4", "A4"])
def test_element_bases_tile_the_centred_space(name):
    """Peter-Weyl: non-trivial irreps' matrix-entry spans are orthogonal and fill 1-perp."""
    group = get_group(name)
    irreps = [r for r in real_irreps(group) if r.name != "trivial"]
    Q = np.concatenate([G.element_basis(r) for r in irreps], axis=1)
    assert Q.shape == (group.order, group.order - 1)
    np.testing.assert_allclose(Q.T @ Q, np.eye(group.order - 1), atol=1e-10)
    np.testing.assert_allclose(Q.sum(axis=0), 0.0, atol=1e-10)
    for r in irreps:  # a realified complex irrep spans d^2 / 2 dimensions, a real one d^2
        assert G.element_basis(r).shape[1] == r.dim**2 // (2 if r.kind == "complex" else 1)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), name=st.sampled_from(["C6", "S3", "D5"]))
def test_embedding_fractions_sum_to_one_and_are_invariant(seed, name):
    group = get_group(name)
    rng = np.random.default_rng(seed)
    E = rng.standard_normal((group.order, 4))
    E0 = E.copy()
    irreps = [r for r in real_irreps(group) if r.name != "trivial"]
    fr = [G.variance_fraction(E, G.element_basis(r)) for r in irreps]
    assert np.isclose(sum(fr), 1.0) and min(fr) >= -1e-12
    R, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    shifted = 3.0 * E @ R + rng.standard_normal(4)  # scale, rotation and shift of the embedding space
    np.testing.assert_allclose([G.variance_fraction(shifted, G.element_basis(r)) for r in irreps], fr, atol=1e-10)
    np.testing.assert_array_equal(E, E0)


def test_embedding_built_from_one_irrep_is_all_in_it():
    group = get_group("S4")
    irreps = [r for r in real_irreps(group) if r.name != "trivial"]
    target = next(r for r in irreps if r.name == "standard")
    rng = np.random.default_rng(0)
    E = target.matrices.reshape(group.order, -1) @ rng.standard_normal((9, 6))
    for r in irreps:
        assert np.isclose(G.variance_fraction(E, G.element_basis(r)), 1.0 if r is target else 0.0, atol=1e-10)


def test_character_tensor_matches_matrix_products():
    group = get_group("S3")
    for r in real_irreps(group):
        T = G.character_tensor(group, r)
        rho = r.matrices
        ref = np.einsum("aij,bjk,cik->abc", rho, rho, rho).reshape(group.order**2, group.order)  # tr(rho_a rho_b rho_c^T)
        np.testing.assert_allclose(T, ref, atol=1e-10)


def test_logit_similarity_recovers_a_planted_character(s3):
    group, an = s3
    n = group.order
    std = next(r for r in an.nontrivial if r.name == "standard")
    rng = np.random.default_rng(0)
    # Logits = 2.5 * character + per-pair offset + per-output bias: similarity 1 for it, 0 for the rest.
    L = 2.5 * G.character_tensor(group, std) + rng.standard_normal((n * n, 1)) + rng.standard_normal((1, n))
    Lc = G.double_centre(L)
    for r in an.nontrivial:
        assert np.isclose(G.cosine(Lc, an.chars[r.name]), 1.0 if r is std else 0.0, atol=1e-10)


def test_character_tensors_orthogonal():
    group = get_group("D5")
    chars = [G.double_centre(G.character_tensor(group, r)) for r in real_irreps(group) if r.name != "trivial"]
    for i in range(len(chars)):
        for j in range(i):
            assert abs(G.cosine(chars[i], chars[j])) < 1e-10


def test_hidden_fractions_on_planted_activations(s3):
    group, an = s3
    a, b = G.pair_indices(group.order)
    sign = next(r for r in an.nontrivial if r.name == "sign")
    std = next(r for r in an.nontrivial if r.name == "standard")
    rng = np.random.default_rng(1)
    H_ab = std.matrices[group.table[a, b]].reshape(-1, 4) @ rng.standard_normal((4, 3))
    H_a = sign.matrices[a].reshape(-1, 1) @ rng.standard_normal((1, 3))
    assert np.isclose(G.variance_fraction(H_ab, an.pairs["standard"]["ab"]), 1.0)
    assert np.isclose(G.variance_fraction(H_ab, an.pairs["standard"]["a"]), 0.0, atol=1e-12)
    assert np.isclose(G.variance_fraction(H_ab, an.pairs["sign"]["ab"]), 0.0, atol=1e-12)
    H = H_ab + H_a
    total = np.sum((H_ab - H_ab.mean(0)) ** 2) + np.sum((H_a - H_a.mean(0)) ** 2)  # orthogonal parts
    assert np.isclose(G.variance_fraction(H, an.pairs["sign"]["a"]), np.sum((H_a - H_a.mean(0)) ** 2) / total)


def test_cross_entropy_matches_torch():
    rng = np.random.default_rng(2)
    L, y = 5 * rng.standard_normal((40, 7)), rng.integers(0, 7, 40)
    ref = torch.nn.functional.cross_entropy(torch.as_tensor(L), torch.as_tensor(y)).item()
    assert np.isclose(G.cross_entropy(L, y), ref, rtol=1e-12)


def test_forward_numpy_matches_torch_model():
    net = G.make_network(6, 4, 9, seed=3)
    params = {k: v.detach().numpy().copy() for k, v in net.named_parameters()}
    a, b = G.pair_indices(6)
    ref = net(torch.as_tensor(a), torch.as_tensor(b)).detach().numpy()
    H, L = G.forward_numpy(params, 6)
    np.testing.assert_allclose(L, ref, rtol=1e-12, atol=1e-12)
    assert H.shape == (36, 9) and H.min() >= 0


def test_restricted_loss_with_all_irreps_is_groupwise_mean(s3):
    """The span of every rho(ab)_ij plus constants is all functions of ab (Peter-Weyl)."""
    group, an = s3
    params = _random_params(group.order)
    before = {k: v.copy() for k, v in params.items()}
    H, _ = G.forward_numpy(params, group.order)
    ab = an.y
    means = np.stack([H[ab == g].mean(axis=0) for g in range(group.order)])
    ref = G.cross_entropy(means[ab] @ params["U"].T, ab)
    out = an.ablation_losses(H, params["U"], [r.name for r in an.nontrivial])
    assert np.isclose(out["restricted_loss"], ref)
    resid = H - means[ab] + H.mean(axis=0)  # everything that is not a function of ab, plus the mean
    ref_x = G.cross_entropy((resid @ params["U"].T)[an.mask], ab[an.mask])
    assert np.isclose(out["excluded_loss"], ref_x)
    m = an.metrics(params, key=["sign"])
    assert set(m) >= {"restricted_loss", "excluded_loss", "train_loss", "test_accuracy", "weight_norm_sq"}
    for k, v in before.items():
        np.testing.assert_array_equal(params[k], v)


def test_training_is_seeded():
    cfg = G.Config(group="C5", steps=15, train_fraction=0.6, embed_dim=4, hidden=8, n_checkpoints=4, seed=2)
    r1, r2 = G.train(get_group("C5"), cfg), G.train(get_group("C5"), cfg)
    assert [c["step"] for c in r1] == G.checkpoint_steps(15, 4)
    for c1, c2 in zip(r1, r2):
        for k in c1["params"]:
            np.testing.assert_array_equal(c1["params"][k], c2["params"][k])
    r3 = G.train(get_group("C5"), G.Config(**{**cfg.__dict__, "seed": 3}))
    assert not np.array_equal(r1[-1]["params"]["W"], r3[-1]["params"]["W"])


# ---------------------------------------------------------------------- the study
def test_cyclic_group_learns_key_irreps(tmp_path):
    """C17, 80 % of pairs: generalises; the key irreps' rho(ab) part of the hidden layer alone
    predicts all pairs; removing it breaks the training pairs."""
    cfg = G.Config(group="C17", steps=1500, train_fraction=0.8, embed_dim=32, hidden=64, n_checkpoints=12,
                   lr=1e-2, weight_decay=2.0, embed_scale=0.3)
    G.set_threads(1)
    res = G.run_study(cfg)
    s = res["summary"]
    print("C17 summary:", json.dumps({k: v for k, v in s.items()}, default=str))
    assert s["generalisation_step"] is not None and s["test_accuracy"] >= 0.99
    n_irreps = len(res["irreps"]) - 1
    assert 0 < len(s["key_irreps"]) <= n_irreps
    assert s["restricted_loss"] < 0.1 * np.log(17)
    assert s["excluded_loss"] >= 100 * s["train_loss"]
    assert 0 < s["key_logit_variance_fraction"] <= 1
    end = res["history"][-1]["irreps"]
    assert np.isclose(sum(v["embed_left"] for v in end.values()), 1.0)
    paths = G.save(res, tmp_path)
    body = json.loads(paths["json"].read_text())
    assert body["summary"]["key_irreps"] == s["key_irreps"] and len(body["history"]) == len(res["history"])
    for k in ("losses", "fractions", "logit_similarity"):
        assert paths[k].stat().st_size > 1000
    assert "| irrep |" in paths["table"].read_text()


def test_cli_writes_outputs(tmp_path, capsys):
    from repalign.cli import main

    assert main(["study", "groups", "--group", "S3", "--out", str(tmp_path), "--steps", "5",
                 "--train-fraction", "0.6", "--save-checkpoints"]) == 0
    body = json.loads((tmp_path / "groups_S3.json").read_text())
    assert body["config"]["steps"] == 5 and body["config"]["train_fraction"] == 0.6
    assert body["group"] == {"name": "S3", "order": 6, "n_train_pairs": 22}
    ck = np.load(tmp_path / "groups_S3_checkpoints.npz")
    assert "step5/W" in ck.files
    assert (tmp_path / "groups_S3_losses.png").exists()
    assert "wrote" in capsys.readouterr().out
    assert main(["study", "groups", "--group", "X9", "--out", str(tmp_path)]) == 2  # one line, no traceback
    err = capsys.readouterr().err
    assert "group" in err and err.count("\n") == 1
