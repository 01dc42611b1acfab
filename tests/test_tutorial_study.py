"""Study ``tutorial``: CNNs, FGSM, representational paths, training resume and a tiny end-to-end run."""

import json

import numpy as np
import pytest
import torch

from repalign.models.cnn import RecurrentCNN, SmallCNN, fgsm, layer_activations
from repalign.studies.tutorial_paths import (layer_rdms, load_digits_split, per_sample_loss, representational_path,
                                             rdm_distance_matrix)


@pytest.fixture(scope="module")
def digits():
    torch.set_num_threads(1)
    return load_digits_split(0)


def _rotation(p, seed):
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((p, p)))
    return q


def test_path_of_rotated_layers_collapses_to_a_point():
    X = np.random.default_rng(0).standard_normal((30, 12))
    layers = {"input": X, "l1": X @ _rotation(12, 1), "l2": X @ _rotation(12, 2) * 1.0, "l3": X @ _rotation(12, 3)}
    p = representational_path({"net": layers}, method="euclidean")
    assert np.max(p["distance"]) < 1e-7
    assert p["length"]["net"] < 1e-6
    assert np.ptp(p["coords"], axis=0).max() < 1e-6
    # contrast: a non-orthogonal map of the units moves the path
    bent = dict(layers, l2=X @ np.diag(np.linspace(0.2, 3.0, 12)))
    q = representational_path({"net": bent}, method="euclidean")
    assert q["length"]["net"] > 0.05
    assert np.ptp(q["coords"], axis=0).max() > 0.01


def test_rdm_distances_match_rsatoolbox_and_the_label_end_point():
    import rsatoolbox  # a test dependency (pyproject [test]): a missing one must fail, not skip
    rng = np.random.default_rng(1)
    feats = {"a": rng.standard_normal((15, 6)), "b": rng.standard_normal((15, 9))}
    ours = layer_rdms(feats, "euclidean")
    ds = [rsatoolbox.data.Dataset(v) for v in feats.values()]
    theirs = rsatoolbox.rdm.calc_rdm(ds, method="euclidean")
    np.testing.assert_allclose(np.stack(list(ours.values())), theirs.get_vectors(), rtol=1e-10)
    c = rsatoolbox.rdm.compare(theirs[0], theirs[1], method="cosine")[0, 0]
    assert rdm_distance_matrix(list(ours.values()))[0, 1] == pytest.approx(np.arccos(c), abs=1e-10)
    # one-hot features of the labels reach the labels' RDM exactly (distance 0 at the end point)
    y = np.repeat(np.arange(3), 5)
    p = representational_path({"m": {"input": feats["a"], "out": np.eye(3)[y] * 2.5}}, labels=y, method="euclidean")
    assert p["to_labels"]["m"][-1] == pytest.approx(0.0, abs=1e-7)
    assert p["to_labels"]["m"][0] > 0.1


def test_fgsm_increases_the_loss_of_every_sample_for_small_epsilon(digits):
    torch.manual_seed(0)
    model = SmallCNN().double().eval()
    x = torch.from_numpy(digits["x_test"][:64]).double()
    y = torch.from_numpy(digits["y_test"][:64])
    keep = x.clone()
    before = per_sample_loss(model, x, y)
    xa = fgsm(model, x, y, 1e-3)
    after = per_sample_loss(model, xa, y)
    assert np.all(after > before)
    assert torch.equal(x, keep)
    assert float((xa - x).abs().max()) <= 1e-3 + 1e-12 and xa.min() >= 0 and xa.max() <= 1
    with pytest.raises(ValueError, match="epsilon"):
        fgsm(model, x, y, -0.1)


def test_hooks_record_every_recurrent_step():
    torch.manual_seed(0)
    model = RecurrentCNN(time_steps=5).eval()
    x = torch.rand(4, 1, 8, 8)
    feats = layer_activations(model, x, ["conv1", "step", "readout"])
    assert [k for k in feats if k.startswith("step")] == ["step", "step_1", "step_2", "step_3", "step_4"]
    with torch.no_grad():
        u = model.conv1(x)
        h = u
        for _ in range(5):
            h = torch.relu(u + model.conv2(h))
        np.testing.assert_allclose(feats["step_4"].numpy(), h.flatten(1).numpy(), atol=1e-6)
        np.testing.assert_allclose(feats["readout"].numpy(), model(x).numpy(), atol=1e-6)
    assert sum(p.numel() for p in model.parameters()) == 2650  # the tutorial's count
    with pytest.raises(ValueError, match="names"):
        layer_activations(model, x, ["conv9"])


def test_training_resumes_exactly_from_a_checkpoint(digits, tmp_path):
    from repalign.studies.tutorial_train import train_networks

    small = {k: v[:120] for k, v in digits.items()}
    straight = train_networks(small, epochs=2, seed=3)
    train_networks(small, epochs=1, seed=3, ckpt=tmp_path)
    resumed = train_networks(small, epochs=2, seed=3, ckpt=tmp_path)
    for name in straight:
        assert resumed[name]["resumed"]
        assert resumed[name]["curve"] == pytest.approx(straight[name]["curve"], rel=1e-6)
        for k, v in straight[name]["model"].state_dict().items():
            torch.testing.assert_close(resumed[name]["model"].state_dict()[k], v)


def test_tiny_end_to_end_run(tmp_path):
    from repalign.studies import tutorial as tu
    from repalign.studies.tutorial_report import save

    cfg = tu.tiny_config(T=200, ranks=(2,), forecast_delays=(1,), per_class=3, null_draws=3)
    res = tu.run_study(cfg, progress=lambda m: None, ckpt=str(tmp_path / "ck"))
    paths = save(res, tmp_path)
    for key in ("json", "md", "sensitivity", "fgsm", "paths", "attack_paths"):
        assert paths[key].exists() and paths[key].stat().st_size > 0
    data = json.loads(paths["json"].read_text())
    dyn = data["dynamics"]
    assert set(dyn["curve"]["2"]) == {"C-O", "C-W", "O-W"} and len(dyn["curve"]["2"]["C-O"]) == 2
    assert dyn["printed"]["tutorial"]["oval_circle_n_delays_1"] == 0.0012
    acc = data["paths"]["fgsm"]["accuracy"]
    assert set(acc) == {"standard", "adversarial", "recurrent"} and all(0 <= a <= 1 for v in acc.values() for a in v)
    p = data["paths"]["paths"]["euclidean"]
    assert p["names"][0] == "input:input" and p["names"][-1] == "labels:labels"
    assert len(p["paths"]["recurrent"]) == 1 + 1 + 5 + 2  # input, conv1, five steps, pool, readout
    assert data["findings"] and "## Findings" in paths["md"].read_text()


def test_finished_parts_are_reused_only_with_the_same_settings(tmp_path):
    from repalign.studies import tutorial as tu

    calls = []

    def compute():
        calls.append(1)
        return {"value": np.float64(len(calls)), "array": np.arange(3)}

    key = tu.part_key(tu.tiny_config(), "dynamics")
    first = tu._cached(tmp_path, "dynamics", key, compute, lambda m: None)
    again = tu._cached(tmp_path, "dynamics", key, compute, lambda m: None)
    assert first == again == {"value": 1.0, "array": [0, 1, 2]} and len(calls) == 1
    other = tu.part_key(tu.tiny_config(seeds=3), "dynamics")
    assert tu._cached(tmp_path, "dynamics", other, compute, lambda m: None)["value"] == 2.0
    # a setting of the other part does not invalidate this one
    assert tu.part_key(tu.tiny_config(epochs=5), "dynamics") == key
