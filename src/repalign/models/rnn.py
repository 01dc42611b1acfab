"""Recurrent networks for cognitive tasks: a leaky (continuous-time) RNN and GRU/LSTM wrappers.

All models are batch-first: ``inputs`` is ``(batch, time, n_input)``; ``forward`` returns a
:class:`ModelOutput` with ``outputs (batch, time, n_output)`` and ``hidden (batch, time, n_hidden)``,
where ``hidden[:, t]`` is the state after consuming ``inputs[:, t]`` and
``outputs[:, t] = readout(hidden[:, t])``. Time is in steps of ``dt`` milliseconds.

Noise is on while the module is in training mode and off in eval mode, unless ``noise=`` is
passed. Every noise draw uses the ``generator`` argument (a ``torch.Generator`` on the inputs'
device) when one is given, else torch's global generator: pass a seeded generator for runs
that repeat exactly.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from .._validation import check_choice

ACTIVATIONS = {"softplus": nn.functional.softplus, "relu": torch.relu, "tanh": torch.tanh}


class ModelOutput(NamedTuple):
    """What every model's ``forward`` returns.

    outputs: ``(batch, time, n_output)`` readout.
    hidden: ``(batch, time, n_hidden)`` states, or None when ``return_hidden=False``.
    M: ``(batch, time, n_hidden, n_in)`` plastic modulation after each step's update
       (multi-plastic network with ``return_M=True`` only), else None.
    """

    outputs: torch.Tensor
    hidden: torch.Tensor | None = None
    M: torch.Tensor | None = None


def _noise_like(shape, sigma: float, ref: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor | None:
    if sigma <= 0:
        return None
    return sigma * torch.randn(shape, generator=generator, device=ref.device, dtype=ref.dtype)


def _check_inputs(inputs: torch.Tensor, n_input: int) -> None:
    if not isinstance(inputs, torch.Tensor):
        raise ValueError(f"inputs must be a torch.Tensor of shape (batch, time, {n_input}); got {type(inputs).__name__}")
    if inputs.ndim != 3 or inputs.shape[2] != n_input:
        raise ValueError(f"inputs must have shape (batch, time, {n_input}); got {tuple(inputs.shape)}")


def _seeded_readout(n_hidden: int, n_output: int, g: torch.Generator | None) -> nn.Linear:
    """Readout ``Linear(n_hidden, n_output)``: weights N(0, 1/n_hidden) drawn from ``g``, bias zero."""
    readout = nn.Linear(n_hidden, n_output)
    with torch.no_grad():
        readout.weight.copy_(torch.randn(n_output, n_hidden, generator=g) / math.sqrt(n_hidden))
        readout.bias.zero_()
    return readout


class _Base(nn.Module):
    """Shared bookkeeping: ``spec`` (kwargs to rebuild the model) and the input-weight accessor."""

    model_type: str = ""

    def _store_spec(self, **kw) -> None:
        self.spec = {"type": self.model_type, **kw}

    def input_weight(self) -> nn.Parameter:
        """The parameter whose column ``j`` multiplies input channel ``j`` (shape ``(rows, n_input)``)."""
        raise NotImplementedError

    def _resolve_noise(self, noise: bool | None) -> bool:
        return self.training if noise is None else bool(noise)


class LeakyRNN(_Base):
    """Leaky (continuous-time, Euler-discretised) RNN with a linear readout (Yang et al. 2019).

    h_t = (1 - alpha) h_{t-1} + alpha f(W_rec h_{t-1} + W_in (x_t + sigma_in xi_t) + b
                                        + sqrt(2 / alpha) sigma_rec eta_t),   y_t = W_out h_t + b_out

    with ``alpha = dt / tau`` and xi, eta standard normal. Defaults are Yang et al.'s: dt = 20 ms,
    tau = 100 ms, sigma_rec = 0.05, softplus. h_0 = 0.

    Initialisation: ``W_in ~ N(0, 1/n_input)``; ``W_rec = rec_gain * Q`` for a random orthogonal Q
    (``rec_init="randortho"``), ``rec_gain * I`` (``"diag"``) or ``rec_gain * N(0, 1/n)``
    (``"randgauss"``); ``rec_gain`` defaults to 0.5 for softplus/relu and 1.0 for tanh.
    ``seed`` fixes the initial weights (otherwise torch's global generator is used).
    """

    model_type = "leaky_rnn"

    def __init__(self, n_input: int, n_hidden: int, n_output: int, *, dt: float = 20.0, tau: float = 100.0,
                 activation: str = "softplus", sigma_rec: float = 0.05, sigma_in: float = 0.0,
                 rec_init: str = "randortho", rec_gain: float | None = None, seed: int | None = None):
        super().__init__()
        check_choice(activation, "activation", sorted(ACTIVATIONS))
        if not 0 < dt <= tau:
            raise ValueError(f"dt and tau must satisfy 0 < dt <= tau; got dt={dt}, tau={tau}")
        if rec_init not in ("randortho", "diag", "randgauss"):
            raise ValueError(f"rec_init must be 'randortho', 'diag' or 'randgauss'; got {rec_init!r}")
        if rec_gain is None:
            rec_gain = 1.0 if activation == "tanh" else 0.5
        self._store_spec(n_input=n_input, n_hidden=n_hidden, n_output=n_output, dt=dt, tau=tau,
                         activation=activation, sigma_rec=sigma_rec, sigma_in=sigma_in, rec_init=rec_init,
                         rec_gain=rec_gain, seed=seed)
        self.n_input, self.n_hidden, self.n_output = n_input, n_hidden, n_output
        self.alpha = dt / tau
        self.sigma_rec, self.sigma_in = float(sigma_rec), float(sigma_in)
        self.act = ACTIVATIONS[activation]
        g = torch.Generator().manual_seed(seed) if seed is not None else None
        self.w_in = nn.Parameter(torch.randn(n_hidden, n_input, generator=g) / math.sqrt(n_input))
        self.w_rec = nn.Parameter(rec_gain * _rec_matrix(rec_init, n_hidden, g))
        self.b = nn.Parameter(torch.zeros(n_hidden))
        self.readout = _seeded_readout(n_hidden, n_output, g)

    def input_weight(self) -> nn.Parameter:
        return self.w_in

    def forward(self, inputs: torch.Tensor, *, return_hidden: bool = True, noise: bool | None = None,
                generator: torch.Generator | None = None, h0: torch.Tensor | None = None) -> ModelOutput:
        _check_inputs(inputs, self.n_input)
        B, T, _ = inputs.shape
        noisy = self._resolve_noise(noise)
        x = inputs
        if noisy and self.sigma_in > 0:
            x = x + _noise_like(x.shape, self.sigma_in, x, generator)
        drive = x @ self.w_in.T + self.b  # all input currents at once: (B, T, H)
        if noisy and self.sigma_rec > 0:
            drive = drive + _noise_like(drive.shape, math.sqrt(2.0 / self.alpha) * self.sigma_rec, drive, generator)
        h = inputs.new_zeros(B, self.n_hidden) if h0 is None else h0
        states = []
        w_rec_t = self.w_rec.T
        # unbind, not drive[:, t]: the backward of T selects would write T full-size (B, T, H)
        # gradient buffers (O(T^2) memory traffic); unbind's backward stacks the T slices once
        steps = drive.unbind(1)
        for t in range(T):
            h = (1.0 - self.alpha) * h + self.alpha * self.act(h @ w_rec_t + steps[t])
            states.append(h)
        hidden = torch.stack(states, dim=1)
        return ModelOutput(self.readout(hidden), hidden if return_hidden else None)


def _rec_matrix(kind: str, n: int, g: torch.Generator | None) -> torch.Tensor:
    if kind == "diag":
        return torch.eye(n)
    A = torch.randn(n, n, generator=g)
    if kind == "randgauss":
        return A / math.sqrt(n)
    Q, R = torch.linalg.qr(A)
    return Q * torch.sign(torch.diagonal(R))  # Haar-distributed orthogonal matrix


class _TorchRNN(_Base):
    """torch.nn.GRU / LSTM (one layer, batch_first) with a linear readout and input noise.

    Recurrent noise is not injected (the cells are torch's fused kernels); ``sigma_in`` adds
    Gaussian noise to the inputs in training mode. ``hidden`` is the cell's h (for the LSTM, not c).
    """

    cell_class: type = nn.GRU

    def __init__(self, n_input: int, n_hidden: int, n_output: int, *, sigma_in: float = 0.0,
                 seed: int | None = None):
        super().__init__()
        self._store_spec(n_input=n_input, n_hidden=n_hidden, n_output=n_output, sigma_in=sigma_in, seed=seed)
        self.n_input, self.n_hidden, self.n_output = n_input, n_hidden, n_output
        self.sigma_in = float(sigma_in)
        if seed is not None:  # torch's layers draw their init from the global generator
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                self._build()
        else:
            self._build()

    def _build(self) -> None:
        self.rnn = self.cell_class(self.n_input, self.n_hidden, batch_first=True)
        self.readout = nn.Linear(self.n_hidden, self.n_output)

    def input_weight(self) -> nn.Parameter:
        return self.rnn.weight_ih_l0

    def forward(self, inputs: torch.Tensor, *, return_hidden: bool = True, noise: bool | None = None,
                generator: torch.Generator | None = None) -> ModelOutput:
        _check_inputs(inputs, self.n_input)
        x = inputs
        if self._resolve_noise(noise) and self.sigma_in > 0:
            x = x + _noise_like(x.shape, self.sigma_in, x, generator)
        hidden, _ = self.rnn(x)
        return ModelOutput(self.readout(hidden), hidden if return_hidden else None)


class GRUModel(_TorchRNN):
    __doc__ = _TorchRNN.__doc__
    model_type = "gru"
    cell_class = nn.GRU


class LSTMModel(_TorchRNN):
    __doc__ = _TorchRNN.__doc__
    model_type = "lstm"
    cell_class = nn.LSTM
