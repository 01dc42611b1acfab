"""Mamba state-space model: parallel pass vs step rollout, causality, and an independent numpy scan."""

import numpy as np
import pytest
import torch

from _helpers import to_numpy
from repalign.models import build_model
from repalign.models.ssm import flatten_state
from repalign.train import TrainConfig, record, train


def _mamba(**kw):
    spec = {"type": "mamba", "n_input": 7, "n_output": 3, "d_model": 8, "n_layers": 1, "d_state": 16,
            "expand": 2, "d_conv": 4, "seed": 0}
    spec.update(kw)
    return build_model(spec).eval()


def _softplus(x):
    return np.logaddexp(0.0, x)


def _silu(x):
    return x / (1.0 + np.exp(-x))


def _rms(x, w, eps):
    return x / np.sqrt((x**2).mean(-1, keepdims=True) + eps) * w


def reference_block(block, r):
    """One residual Mamba block written from its parameters (float64 numpy, explicit loops over time).

    r: (batch, time, d_model). Returns (residual stream out, SSM states (batch, time, d_inner, d_state)).
    """
    mx = block.mixer
    v = _rms(r, to_numpy(block.norm.weight), block.norm.eps)
    az = v @ to_numpy(mx.in_proj.weight).T
    d_inner = az.shape[-1] // 2
    a, z = az[..., :d_inner], az[..., d_inner:]
    w, b = to_numpy(mx.conv1d.weight)[:, 0, :], to_numpy(mx.conv1d.bias)  # (d_inner, K), (d_inner,)
    K = w.shape[1]
    Bn, T, _ = a.shape
    conv = np.tile(b, (Bn, T, 1))
    for t in range(T):
        for k in range(K):  # tap k sees a_{t-K+1+k}
            s = t - K + 1 + k
            if s >= 0:
                conv[:, t] += w[:, k] * a[:, s]
    c = _silu(conv)
    dbc = c @ to_numpy(mx.x_proj.weight).T
    rk, N = mx.dt_proj.weight.shape[1], mx.A_log.shape[1]
    p, Bm, Cm = dbc[..., :rk], dbc[..., rk:rk + N], dbc[..., rk + N:]
    delta = _softplus(p @ to_numpy(mx.dt_proj.weight).T + to_numpy(mx.dt_proj.bias))  # (B, T, d_inner)
    A = -np.exp(to_numpy(mx.A_log))  # (d_inner, N)
    h = np.zeros((Bn, d_inner, N))
    H, Y = np.zeros((Bn, T, d_inner, N)), np.zeros((Bn, T, d_inner))
    for t in range(T):
        for i in range(d_inner):
            h[:, i] = np.exp(delta[:, t, i, None] * A[i]) * h[:, i] + (delta[:, t, i] * c[:, t, i])[:, None] * Bm[:, t]
        H[:, t] = h
        Y[:, t] = np.einsum("bin,bn->bi", h, Cm[:, t]) + to_numpy(mx.D) * c[:, t]
    out = (Y * _silu(z)) @ to_numpy(mx.out_proj.weight).T
    return r + out, H


def reference_model(model, x):
    """Whole-model numpy reference: (outputs, [states of every block])."""
    r = x @ to_numpy(model.embedding.weight).T + to_numpy(model.embedding.bias)
    states = []
    for block in model.mamba.layers:
        r, H = reference_block(block, r)
        states.append(H)
    y = _rms(r, to_numpy(model.norm_f.weight), model.norm_f.eps) @ to_numpy(model.readout.weight).T + to_numpy(model.readout.bias)
    return y, states


@pytest.mark.parametrize("n_layers,d_conv,T", [(1, 4, 37), (2, 4, 64), (2, 1, 20), (1, 3, 1)])
def test_rollout_outputs_equal_parallel_forward(n_layers, d_conv, T):
    m = _mamba(n_layers=n_layers, d_conv=d_conv, seed=n_layers + d_conv)
    x = torch.randn(5, T, 7, generator=torch.Generator().manual_seed(T))
    with torch.no_grad():
        par = m(x)
        steps, states = m.rollout(x, layers="all")
    assert par.outputs.shape == steps.shape == (5, T, 3)
    assert float((par.outputs - steps).abs().max()) < 1e-5
    assert sorted(states) == list(range(n_layers))
    assert states[0].shape == (5, T, 16, 16)


def test_states_match_independent_numpy_scan():
    m = _mamba(n_layers=2, d_model=8, d_state=4, expand=2, d_conv=4, seed=3)
    with torch.no_grad():  # move the parameters away from their structured init (A_log = log 1..N, D = 1)
        for p in m.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    x = np.random.default_rng(1).standard_normal((3, 25, 7))
    Y, H = reference_model(m, x)
    with torch.no_grad():
        out, states = m.rollout(torch.tensor(x, dtype=torch.float32), layers="all")
    for layer in (0, 1):
        scale = np.abs(H[layer]).max()
        assert scale > 1e-2  # the states are not trivially zero
        np.testing.assert_allclose(to_numpy(states[layer]), H[layer], rtol=0, atol=1e-5 * scale)
    np.testing.assert_allclose(to_numpy(out), Y, rtol=0, atol=1e-5 * np.abs(Y).max())


def test_wrong_conv_buffer_is_detected_by_the_reference():
    """The reference is sensitive to the convolution window: dropping the buffer (kernel sees a_t only,
    as with a wrongly sized buffer) changes the states by far more than the tolerance used above."""
    m = _mamba(d_state=4, seed=5)
    x = np.random.default_rng(2).standard_normal((2, 15, 7))
    _, H = reference_model(m, x)
    with torch.no_grad():
        m.mamba.layers[0].mixer.conv1d.weight[:, :, :-1] = 0.0  # only the newest tap left
    _, H_cut = reference_model(m, x)
    assert np.abs(H[0] - H_cut[0]).max() > 1e-3 * np.abs(H[0]).max()


def test_state_at_t_does_not_depend_on_later_inputs():
    m = _mamba(n_layers=2, seed=7)
    x = torch.randn(4, 30, 7, generator=torch.Generator().manual_seed(0))
    t0 = 12
    y = x.clone()
    y[:, t0:] = torch.randn(4, 30 - t0, 7, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        _, sx = m.rollout(x, layers="all")
        _, sy = m.rollout(y, layers="all")
        px, py = m(x).outputs, m(y).outputs
    for layer in (0, 1):
        assert torch.equal(sx[layer][:, :t0], sy[layer][:, :t0])
        assert (sx[layer][:, t0] - sy[layer][:, t0]).abs().max() > 1e-4  # the input at t0 does matter
    assert float((px[:, :t0] - py[:, :t0]).abs().max()) < 1e-6  # the parallel pass is causal too


def test_record_returns_flattened_layer_state_and_parallel_outputs():
    m = _mamba(n_layers=2, d_model=16, seed=2)
    x = np.random.default_rng(3).standard_normal((3, 11, 7)).astype(np.float32)
    rec0 = record(m, x)
    rec1 = record(m, x, ssm_layer=1)
    assert rec0.hidden.shape == (3, 11, 512) and rec0.hidden.dtype == np.float64
    with torch.no_grad():
        out = m(torch.tensor(x)).outputs
        _, states = m.rollout(torch.tensor(x), layers="all")
    np.testing.assert_array_equal(rec0.outputs, to_numpy(out))
    h = to_numpy(states[0])
    i, n = 5, 9  # documented order: hidden[..., i * d_state + n] = h[..., i, n]
    np.testing.assert_array_equal(rec0.hidden[:, :, i * 16 + n], h[:, :, i, n])
    np.testing.assert_array_equal(rec1.hidden, to_numpy(flatten_state(states[1])))
    assert not np.allclose(rec0.hidden, rec1.hidden)
    with pytest.raises(ValueError, match="layers"):
        record(m, x, ssm_layer=2)


def test_spec_seed_and_input_weight():
    m = _mamba(seed=11)
    again = build_model(m.spec)
    for (k, a), b in zip(m.state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b), k
    other = _mamba(seed=12)
    assert not torch.equal(m.embedding.weight, other.embedding.weight)
    assert m.input_weight() is m.embedding.weight and m.input_weight().shape == (8, 7)
    assert m.input_parameters() == [m.embedding.weight, m.embedding.bias]
    assert m.state_size == m.d_inner * m.d_state == 256
    with pytest.raises(ValueError, match="d_conv"):
        _mamba(d_conv=0)
    with pytest.raises(ValueError, match="inputs"):
        m(torch.zeros(2, 3, 5))
    with pytest.raises(ValueError, match="layers"):
        m.rollout(torch.zeros(2, 3, 7), layers="some")


def test_trains_with_the_shared_loop():
    """repalign.train.train runs on a Mamba model (pscan backward) and lowers the task loss."""
    from repalign.tasks import generate
    from repalign.train import task_loss

    batch = generate("fdgo", 64, seed=123, dt=100.0)
    m = _mamba(n_input=batch.inputs.shape[-1], n_output=batch.targets.shape[-1], seed=0)

    def loss():
        with torch.no_grad():
            out = m(torch.tensor(batch.inputs, dtype=torch.float32)).outputs
        return float(task_loss(out, torch.tensor(batch.targets, dtype=torch.float32),
                               torch.tensor(batch.mask, dtype=torch.float32), "mse"))

    before = loss()
    cfg = TrainConfig(tasks=["fdgo"], steps=25, batch_size=16, lr=0.01, eval_every=25, eval_batch=16,
                      checkpoints=[0, 25], seed=0, task_kwargs={"dt": 100.0})
    res = train(m, cfg)
    assert res.steps_done == 25 and np.isfinite(res.history[-1]["loss"])
    assert loss() < 0.7 * before
