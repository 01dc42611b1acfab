"""Seed 001's analyses (repalign.studies.groups_analysis / groups_seeds) against hand-built networks."""

import json
from dataclasses import replace

import numpy as np
import pytest

from repalign.studies.finite_groups import get_group, real_irreps
from repalign.studies import groups as G
from repalign.studies import groups_seeds as GS
from repalign.studies.groups_analysis import SeedAnalysis, effective_embeddings, seed_logit_similarity

# S5 character table by cycle type (e.g. James & Liebeck, "Representations and Characters of
# Groups", S5 table): class sizes and one row per irreducible character.
CYCLE_TYPES = [(1, 1, 1, 1, 1), (2, 1, 1, 1), (2, 2, 1), (3, 1, 1), (3, 2), (4, 1), (5,)]
CLASS_SIZES = [1, 10, 15, 20, 20, 30, 24]
S5_TABLE = [
    [1, 1, 1, 1, 1, 1, 1],
    [1, -1, 1, 1, -1, -1, 1],
    [4, 2, 0, 1, -1, 0, -1],
    [4, -2, 0, 1, 1, 0, -1],
    [5, 1, 1, -1, 1, -1, 0],
    [5, -1, 1, -1, -1, 1, 0],
    [6, 0, -2, 0, 0, 0, 1],
]


def _cycle_type(label: str) -> tuple:
    p = [int(c) for c in label]
    seen, lengths = set(), []
    for i in range(len(p)):
        n, j = 0, i
        while j not in seen:
            seen.add(j)
            j, n = p[j], n + 1
        if n:
            lengths.append(n)
    return tuple(sorted(lengths, reverse=True))


@pytest.fixture(scope="module")
def s5():
    group = get_group("S5")
    return group, SeedAnalysis(G.Analysis(group, G.split_pairs(group.order, 0.4, seed=0)))


def test_s5_irreps_are_irreducible_orthogonal_and_match_the_character_table(s5):
    group, _ = s5
    irreps = real_irreps(group)
    classes = np.array([CYCLE_TYPES.index(_cycle_type(lbl)) for lbl in group.labels])
    assert np.bincount(classes).tolist() == CLASS_SIZES
    chars = np.array([r.character for r in irreps])
    gram = chars @ chars.T / group.order  # <chi_i, chi_j>; 1 on the diagonal means irreducible
    np.testing.assert_allclose(gram, np.eye(7), atol=1e-10)
    per_class = [[float(np.mean(c[classes == k])) for k in range(7)] for c in chars]
    for c in chars:  # a character is constant on conjugacy classes
        for k in range(7):
            assert np.ptp(c[classes == k]) < 1e-9
    assert sorted(np.round(per_class).astype(int).tolist()) == sorted(S5_TABLE)


def _rho_ab_network(group, irrep):
    """H[(a, b)] = vec rho(ab), U[c] = vec rho(c): logits = tr(rho(ab) rho(c)^T) = tr rho(a b c^-1)."""
    a, b = G.pair_indices(group.order)
    M = irrep.matrices.reshape(group.order, -1)
    return M[group.table[a, b]], M


def test_seed_logit_similarity_is_one_for_a_network_computing_rho_ab(s5):
    group, sa = s5
    irreps = {r.name: r for r in sa.an.nontrivial}
    H, U = _rho_ab_network(group, irreps["standard"])
    L = H @ U.T
    raw = G.character_tensor(group, irreps["standard"])  # not the double-centred copy
    assert seed_logit_similarity(L, raw) == pytest.approx(1.0, abs=1e-12)
    for name in irreps:
        if name != "standard":
            assert abs(seed_logit_similarity(L, G.character_tensor(group, irreps[name]))) < 1e-10
    # a non-trivial character tensor has zero row and column sums: double-centring leaves it alone
    np.testing.assert_allclose(G.double_centre(raw), raw, atol=1e-10)
    # adding a per-output bias lowers the seed's cosine but not the double-centred one
    Lb = L + np.arange(group.order)[None, :]
    assert seed_logit_similarity(Lb, raw) < 0.9
    assert G.cosine(G.double_centre(Lb), raw) == pytest.approx(1.0, abs=1e-12)


def test_ablating_an_unused_irrep_leaves_the_loss_unchanged(s5):
    group, sa = s5
    irreps = {r.name: r for r in sa.an.nontrivial}
    H, U = _rho_ab_network(group, irreps["standard"])
    U = 3.0 * U  # sharper logits: the loss then depends on what is removed
    ab = sa.irrep_ablations(H, U, ["standard"], {"irreps": {"standard": list(range(H.shape[1]))}})
    base = ab["baseline_loss"]
    for name in ("sign", "standard_sign", "5d_1", "6d_1"):
        for d in ("x", "y", "xy"):
            assert ab["per_irrep"][name][d]["excluded"] == pytest.approx(base, rel=1e-10)
    # the used irrep's rho(ab) part is everything: removing it gives uniform logits (chance)
    assert ab["per_irrep"]["standard"]["xy"]["excluded"] == pytest.approx(np.log(120), rel=1e-10)
    assert ab["per_irrep"]["standard"]["xy"]["restricted"] == pytest.approx(base, rel=1e-10)
    assert ab["per_irrep"]["standard"]["x"]["excluded"] == pytest.approx(base, rel=1e-10)
    assert ab["seed_restricted_loss"] == pytest.approx(base, rel=1e-10)
    # W_U maps rho(ab) coordinates to rho(c) coordinates one to one: M is a multiple of the identity
    wu = ab["unembed_in_irrep_basis"]["standard"]
    assert wu["identity_cosine"] == pytest.approx(1.0, abs=1e-10)
    assert wu["fraction_explained"] == pytest.approx(1.0, abs=1e-12)
    assert ab["unembed_excluded_loss"] == pytest.approx(np.log(120), rel=1e-10)


def _sign_relu_params(group):
    """A bias-free ReLU MLP computing sign(a b c^-1) exactly:
    s_a s_b = relu(s_a + s_b) + relu(-s_a - s_b) - 1 for s in {-1, 1}; the 1 is a constant neuron."""
    sign = next(r for r in real_irreps(group) if r.name == "sign").character
    n = group.order
    EL = np.stack([sign, np.ones(n)], axis=1)
    ER = np.stack([sign, np.zeros(n)], axis=1)
    W = np.array([[1.0, 0, 1, 0], [-1, 0, -1, 0], [0, 1, 0, 0]])
    U = np.stack([sign, sign, -sign], axis=1)
    return {"embed_left": EL, "embed_right": ER, "W": W, "U": U}


def test_relu_network_computing_the_sign_irrep():
    group = get_group("S4")
    sa = SeedAnalysis(G.Analysis(group, G.split_pairs(group.order, 0.5, seed=0)))
    params = _sign_relu_params(group)
    m = sa.checkpoint_metrics(params, ["sign"])
    assert m["seed_logit_similarity"]["sign"] == pytest.approx(1.0, abs=1e-12)
    assert max(abs(v) for k, v in m["seed_logit_similarity"].items() if k != "sign") < 1e-10
    assert m["seed_logit_fraction_all"] == pytest.approx(1.0, abs=1e-10)
    fin = sa.final(params, ["sign"])
    # x embedding is s_a on one neuron, s_a + const elsewhere: sign and trivial share it, nothing else
    xf = fin["x_embed_fractions"]
    assert xf["sign"] + xf["trivial"] == pytest.approx(1.0, abs=1e-12) and xf["sign"] > 0.5
    assert fin["unembed_fractions"]["sign"] == pytest.approx(1.0, abs=1e-12)
    assert fin["unembed_fractions"]["residual"] == pytest.approx(0.0, abs=1e-12)
    # relu(s_a + s_b) = 1 + (s_a + s_b)/2 + s_a s_b / 2: variance split 1/4 : 1/4 : 1/4 over x, y, xy
    hf = fin["hidden_fractions"]["per_irrep"]["sign"]
    assert hf["x"] == pytest.approx(1 / 3) and hf["y"] == pytest.approx(1 / 3) and hf["xy"] == pytest.approx(1 / 3)
    nc = fin["neuron_clusters"]
    assert nc["counts"]["off"] == 0 and nc["irreps"]["sign"] == [0, 1]  # the constant neuron is all trivial
    assert nc["unaccounted"] == [2]
    assert nc["variance_fractions"]["sign"]["xy"] == pytest.approx(1 / 3)
    xe, ye = effective_embeddings(params)
    np.testing.assert_allclose(xe[:, 0], params["embed_left"][:, 0])


def test_parse_seeds_and_median_curves():
    assert GS.parse_seeds("0,1,2,3") == [0, 1, 2, 3]
    for bad in ("", "a,b", "1,1", "-1"):
        with pytest.raises(ValueError, match="--seeds"):
            GS.parse_seeds(bad)
    runs = [{"history": [{"step": s, **{k: v * (i + 1) for k in GS.CURVES}} for s, v in ((0, 1.0), (5, 2.0))]}
            for i in range(3)]
    med = GS.median_curves(runs)
    assert med["step"] == [0, 5] and med["test_loss"] == [2.0, 4.0]
    runs[1]["history"][1]["step"] = 6
    with pytest.raises(ValueError, match="checkpoint steps"):
        GS.median_curves(runs)


def test_checkpoints_round_trip_and_config_mismatch(tmp_path):
    cfg = G.Config(group="C5", steps=4, train_fraction=0.6, embed_dim=3, hidden=4, n_checkpoints=3)
    ck = G.train(get_group("C5"), cfg)
    path = tmp_path / "c.npz"
    GS.save_checkpoints(path, cfg, ck)
    back = GS.load_checkpoints(path, cfg)
    assert [c["step"] for c in back] == [c["step"] for c in ck]
    for c1, c2 in zip(ck, back):
        for k in c1["params"]:
            np.testing.assert_array_equal(c1["params"][k], c2["params"][k])
    assert GS.load_checkpoints(path, replace(cfg, lr=0.5)) is None


def test_cli_several_seeds_writes_the_named_analyses(tmp_path, capsys):
    from repalign.cli import main

    ck = tmp_path / "ck"
    args = ["study", "groups", "--group", "S3", "--seeds", "0,1", "--steps", "6", "--train-fraction", "0.6",
            "--out", str(tmp_path), "--checkpoint-dir", str(ck)]
    assert main(args) == 0
    body = json.loads((tmp_path / "groups_S3.json").read_text())
    assert body["seeds"] == [0, 1]
    for k in ("seed_logit_similarity", "logit_similarity", "unembed_fractions", "neuron_clusters", "irrep_ablations",
              "hidden_fractions", "x_embed_fractions", "y_embed_fractions"):
        assert set(body[k]) == {"0", "1"}
    assert len(body["median"]["step"]) == len(body["per_seed"][0]["history"])
    assert "| sign: seed formula |" in (tmp_path / "groups_S3.md").read_text()
    for f in ("grokking_loss", "grokking_accuracy", "logit_cubes", "weight_norm", "loss_ratio"):
        assert (tmp_path / f"groups_S3_{f}.png").stat().st_size > 1000
    # a second run reuses the stored checkpoints and gives the same numbers
    assert main(args) == 0
    again = json.loads((tmp_path / "groups_S3.json").read_text())
    assert all(r["seconds"]["reused_checkpoints"] for r in again["per_seed"])
    assert again["irrep_ablations"] == body["irrep_ablations"]
    assert main(["study", "groups", "--seeds", "x", "--out", str(tmp_path)]) == 2  # one line, exit 2
    assert "--seeds" in capsys.readouterr().err
