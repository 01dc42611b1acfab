"""Models: leaky RNN, GRU/LSTM wrappers and the multi-plastic network, against numpy references."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from _helpers import to_numpy
from repalign.models import GRUModel, LeakyRNN, LSTMModel, ModelOutput, MultiPlasticNet, build_model

ACT = {"softplus": lambda z: np.logaddexp(0.0, z), "relu": lambda z: np.maximum(z, 0.0), "tanh": np.tanh}


def leaky_reference(model, x, rec_noise=None, in_noise=None):
    """The leaky-RNN equation in numpy, float64 (noise terms given as standard normals)."""
    W_in, W_rec, b = to_numpy(model.w_in), to_numpy(model.w_rec), to_numpy(model.b)
    a, f = model.alpha, ACT[model.spec["activation"]]
    B, T, _ = x.shape
    if in_noise is not None:
        x = x + model.sigma_in * in_noise
    h, out = np.zeros((B, W_rec.shape[0])), []
    for t in range(T):
        drive = x[:, t] @ W_in.T + b + h @ W_rec.T
        if rec_noise is not None:
            drive = drive + np.sqrt(2 / a) * model.sigma_rec * rec_noise[:, t]
        h = (1 - a) * h + a * f(drive)
        out.append(h)
    H = np.stack(out, 1)
    return H, H @ to_numpy(model.readout.weight).T + to_numpy(model.readout.bias)


@settings(max_examples=20, deadline=None)
@given(act=st.sampled_from(["softplus", "relu", "tanh"]), dt=st.sampled_from([10.0, 20.0, 50.0, 100.0]),
       init=st.sampled_from(["randortho", "diag", "randgauss"]), seed=st.integers(0, 1000))
def test_leaky_rnn_matches_numpy_equation(act, dt, init, seed):
    m = LeakyRNN(5, 7, 3, dt=dt, activation=act, rec_init=init, seed=seed).double().eval()
    x = np.random.default_rng(seed).standard_normal((4, 9, 5))
    out = m(torch.tensor(x))
    H, Y = leaky_reference(m, x)
    np.testing.assert_allclose(to_numpy(out.hidden), H, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(to_numpy(out.outputs), Y, rtol=1e-10, atol=1e-12)


def test_leaky_rnn_noise_scale_and_order():
    """Noise: input noise sigma_in * xi, then recurrent sqrt(2/alpha) sigma_rec * eta, from the generator."""
    m = LeakyRNN(3, 6, 2, sigma_rec=0.3, sigma_in=0.2, seed=1).double().train()
    x = np.random.default_rng(0).standard_normal((2, 8, 3))
    out = m(torch.tensor(x), generator=torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    xi = torch.randn((2, 8, 3), generator=g, dtype=torch.float64).numpy()
    eta = torch.randn((2, 8, 6), generator=g, dtype=torch.float64).numpy()
    H, _ = leaky_reference(m, x, rec_noise=eta, in_noise=xi)
    np.testing.assert_allclose(to_numpy(out.hidden), H, rtol=1e-10, atol=1e-12)
    quiet = m(torch.tensor(x), noise=False)
    assert not np.allclose(to_numpy(quiet.hidden), H)
    np.testing.assert_allclose(to_numpy(m.eval()(torch.tensor(x)).hidden), to_numpy(quiet.hidden), rtol=0, atol=0)


def test_leaky_rnn_defaults_follow_yang():
    m = LeakyRNN(4, 8, 2)
    assert m.alpha == pytest.approx(0.2) and m.sigma_rec == 0.05 and m.spec["activation"] == "softplus"
    Q = to_numpy(LeakyRNN(4, 8, 2, seed=0, rec_gain=1.0).w_rec)
    np.testing.assert_allclose(Q @ Q.T, np.eye(8), atol=1e-5)  # random orthogonal init
    np.testing.assert_allclose(to_numpy(LeakyRNN(4, 8, 2, seed=0).w_rec), 0.5 * Q, atol=1e-6)


def test_same_seed_same_weights_and_noise():
    a, b = LeakyRNN(4, 8, 2, seed=3), LeakyRNN(4, 8, 2, seed=3)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    assert not torch.equal(a.w_rec, LeakyRNN(4, 8, 2, seed=4).w_rec)
    x = torch.randn(2, 5, 4)
    o1 = a.train()(x, generator=torch.Generator().manual_seed(0)).hidden
    o2 = b.train()(x, generator=torch.Generator().manual_seed(0)).hidden
    o3 = b.train()(x, generator=torch.Generator().manual_seed(1)).hidden
    assert torch.equal(o1, o2) and not torch.equal(o1, o3)


@pytest.mark.parametrize("cls,torch_cls,gates", [(GRUModel, torch.nn.GRU, 3), (LSTMModel, torch.nn.LSTM, 4)])
def test_gru_lstm_wrappers_equal_torch_layers(cls, torch_cls, gates):
    m = cls(5, 6, 2, seed=0).eval()
    ref = torch_cls(5, 6, batch_first=True)
    ref.load_state_dict(m.rnn.state_dict())
    x = torch.randn(3, 7, 5)
    out = m(x)
    h_ref, _ = ref(x)
    assert isinstance(out, ModelOutput) and out.M is None
    torch.testing.assert_close(out.hidden, h_ref, rtol=0, atol=0)
    torch.testing.assert_close(out.outputs, m.readout(h_ref), rtol=0, atol=0)
    assert m.input_weight().shape == (gates * 6, 5)
    assert torch.equal(cls(5, 6, 2, seed=0).rnn.weight_hh_l0, m.rnn.weight_hh_l0)
    assert m(x, return_hidden=False).hidden is None


def mpn_reference(model, u):
    lam, eta = to_numpy(model.lam), to_numpy(model.eta)
    W, b = to_numpy(model.w), to_numpy(model.b)
    f = ACT[model.spec["activation"]]
    x = u @ to_numpy(model.input_layer.weight).T + to_numpy(model.input_layer.bias) if model.input_layer is not None else u
    B, T, _ = u.shape
    M = np.zeros((B,) + W.shape)
    Hs, Ms = [], []
    for t in range(T):
        h = f(np.einsum("bij,bj->bi", W * (1 + M), x[:, t]) + b)
        M = np.clip(lam * M + eta * h[:, :, None] * x[:, t][:, None, :], -1, 1)
        Hs.append(h)
        Ms.append(M)
    return np.stack(Hs, 1), np.stack(Ms, 1)


@pytest.mark.parametrize("plasticity", ["scalar", "per_neuron"])
@pytest.mark.parametrize("input_layer", [True, False])
def test_mpn_matches_numpy_equation(plasticity, input_layer):
    m = MultiPlasticNet(4, 6, 2, plasticity=plasticity, input_layer=input_layer, eta=0.8, lam=0.95,
                        seed=2).double().eval()
    if plasticity == "per_neuron":
        with torch.no_grad():
            m.eta.copy_(torch.linspace(-1.0, 1.5, 6).reshape(6, 1))
    u = np.random.default_rng(1).standard_normal((3, 12, 4)) * 2
    out = m(torch.tensor(u), return_M=True)
    H, M = mpn_reference(m, u)
    np.testing.assert_allclose(to_numpy(out.hidden), H, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(to_numpy(out.M), M, rtol=1e-10, atol=1e-12)
    assert out.M.shape == (3, 12, 6, m.n_x)
    assert np.abs(M).max() == pytest.approx(1.0)  # large eta: the clip is active
    assert m(torch.tensor(u)).M is None


def test_mpn_plasticity_parameters():
    learned = MultiPlasticNet(3, 5, 2, plasticity="per_neuron", lam=0.7, lam_max=0.9)
    names = dict(learned.named_parameters())
    assert names["raw_lam"].shape == (5, 1) and names["eta"].shape == (5, 1)
    np.testing.assert_allclose(to_numpy(learned.lam), 0.7, rtol=1e-6)
    fixed = MultiPlasticNet(3, 5, 2, learn_plasticity=False)
    assert "eta" not in dict(fixed.named_parameters()) and "eta" in fixed.state_dict()
    out = learned(torch.randn(2, 6, 3))
    out.outputs.sum().backward()
    assert names["eta"].grad.abs().sum() > 0 and names["raw_lam"].grad.abs().sum() > 0
    with torch.no_grad():
        learned.raw_lam.fill_(50.0)
    assert float(learned.lam.detach().max()) <= 0.9


@pytest.mark.parametrize("spec", [
    {"type": "leaky_rnn", "n_input": 3, "n_hidden": 5, "n_output": 2, "activation": "relu", "seed": 1},
    {"type": "gru", "n_input": 3, "n_hidden": 5, "n_output": 2, "seed": 1},
    {"type": "lstm", "n_input": 3, "n_hidden": 5, "n_output": 2, "seed": 1},
    {"type": "mpn", "n_input": 3, "n_hidden": 5, "n_output": 2, "plasticity": "per_neuron", "seed": 1},
])
def test_build_model_roundtrip(spec):
    m = build_model(spec)
    again = build_model(m.spec)
    for (k, v), (k2, v2) in zip(m.state_dict().items(), again.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)
    assert m.input_weight().shape[1] == 3


def test_inputs_not_mutated_and_validation():
    m = LeakyRNN(3, 4, 2, sigma_in=0.5, seed=0).train()
    x = torch.randn(2, 5, 3)
    keep = x.clone()
    m(x)
    MultiPlasticNet(3, 4, 2, sigma_in=0.5).train()(x)
    assert torch.equal(x, keep)
    with pytest.raises(ValueError, match="inputs"):
        m(torch.randn(2, 5, 4))
    with pytest.raises(ValueError, match="inputs"):
        m(torch.randn(5, 3))
    with pytest.raises(ValueError, match="activation"):
        LeakyRNN(3, 4, 2, activation="sigmoid")
    with pytest.raises(ValueError, match="dt"):
        LeakyRNN(3, 4, 2, dt=200.0)
    with pytest.raises(ValueError, match="plasticity"):
        MultiPlasticNet(3, 4, 2, plasticity="synapse")
    with pytest.raises(ValueError, match="type"):
        build_model({"type": "transformer"})
