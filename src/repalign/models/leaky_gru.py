"""Leaky GRU: a gated recurrent network whose candidate state is a leaky integrator.

    [r, u, z]_t = W_in x_t + b + [W_r h, W_u h, 0]_{t-1}          (three blocks of n_hidden rows)
    c_t = f(z_t + r_t * (W_c h_{t-1}) + noise),   r_t = sigmoid(.), u_t = sigmoid(.)
    h_t = (1 - u_t) h_{t-1} + u_t (d h_{t-1} + (1 - d) c_t),       d = exp(-dt / tau)

(the form of the RepAL paper's leaky GRU, there with the reset gate computed but not applied;
here the reset gate scales the recurrent input to the candidate as in a standard GRU).
Batch-first like every repalign model; returns :class:`~repalign.models.rnn.ModelOutput`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .._validation import check_choice
from .rnn import ACTIVATIONS, ModelOutput, _Base, _check_inputs, _noise_like, _seeded_readout


class LeakyGRU(_Base):
    """Leaky GRU (module docstring). ``input_weight()`` is ``w_in`` ``(3 n_hidden, n_input)``.

    Initialisation: ``w_in ~ N(0, 1/n_input)``, ``w_rec ~ N(0, 1/n_hidden)`` (three blocks),
    zero biases, readout ``N(0, 1/n_hidden)``. Recurrent noise ``sigma_rec`` is added to the
    candidate's drive in training mode (scaled by ``sqrt(2 / (1 - d))`` as in the leaky RNN).
    """

    model_type = "leaky_gru"

    def __init__(self, n_input: int, n_hidden: int, n_output: int, *, dt: float = 20.0, tau: float = 100.0,
                 activation: str = "softplus", sigma_rec: float = 0.05, sigma_in: float = 0.0,
                 seed: int | None = None):
        super().__init__()
        check_choice(activation, "activation", sorted(ACTIVATIONS))
        if not (dt > 0 and tau > 0):
            raise ValueError(f"dt and tau must be > 0; got dt={dt}, tau={tau}")
        self._store_spec(n_input=n_input, n_hidden=n_hidden, n_output=n_output, dt=dt, tau=tau,
                         activation=activation, sigma_rec=sigma_rec, sigma_in=sigma_in, seed=seed)
        self.n_input, self.n_hidden, self.n_output = n_input, n_hidden, n_output
        self.decay = math.exp(-dt / tau)
        self.sigma_rec, self.sigma_in = float(sigma_rec), float(sigma_in)
        self.act = ACTIVATIONS[activation]
        g = torch.Generator().manual_seed(seed) if seed is not None else None
        self.w_in = nn.Parameter(torch.randn(3 * n_hidden, n_input, generator=g) / math.sqrt(n_input))
        self.w_rec = nn.Parameter(torch.randn(3 * n_hidden, n_hidden, generator=g) / math.sqrt(n_hidden))
        self.b = nn.Parameter(torch.zeros(3 * n_hidden))
        self.readout = _seeded_readout(n_hidden, n_output, g)

    def input_weight(self) -> nn.Parameter:
        return self.w_in

    def forward(self, inputs: torch.Tensor, *, return_hidden: bool = True, noise: bool | None = None,
                generator: torch.Generator | None = None) -> ModelOutput:
        _check_inputs(inputs, self.n_input)
        B, T, _ = inputs.shape
        H = self.n_hidden
        noisy = self._resolve_noise(noise)
        x = inputs
        if noisy and self.sigma_in > 0:
            x = x + _noise_like(x.shape, self.sigma_in, x, generator)
        drive = x @ self.w_in.T + self.b  # (B, T, 3H)
        if noisy and self.sigma_rec > 0:
            sd = math.sqrt(2.0 / (1.0 - self.decay)) * self.sigma_rec
            eta = _noise_like((B, T, H), sd, drive, generator)
            drive = torch.cat([drive[..., :2 * H], drive[..., 2 * H:] + eta], dim=-1)
        h = inputs.new_zeros(B, H)
        w_rec_t = self.w_rec.T
        states = []
        steps = drive.unbind(1)  # one stacked gradient in backward, not T full-size buffers
        for t in range(T):
            rec = h @ w_rec_t
            d = steps[t]
            r = torch.sigmoid(d[:, :H] + rec[:, :H])
            u = torch.sigmoid(d[:, H:2 * H] + rec[:, H:2 * H])
            c = self.act(d[:, 2 * H:] + r * rec[:, 2 * H:])
            h = (1.0 - u) * h + u * (self.decay * h + (1.0 - self.decay) * c)
            states.append(h)
        hidden = torch.stack(states, dim=1)
        return ModelOutput(self.readout(hidden), hidden if return_hidden else None)
