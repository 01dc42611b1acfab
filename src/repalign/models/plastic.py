"""Multi-plasticity network (MPN; Aitken & Mihalas 2023): computing with synaptic modulation.

For inputs u_t ``(batch, time, n_input)``:

    x_t = W_in u_t + b_in                                   input layer (or x_t = u_t, input_layer=False)
    h_t = f((W * (1 + M_{t-1})) x_t + b)                    plastic layer, ``*`` elementwise
    M_t = clip(lambda * M_{t-1} + eta * h_t x_t^T, -1, 1)   Hebbian modulation, M_0 = 0
    y_t = W_out h_t + b_out                                 readout

M has shape ``(n_hidden, n_x)`` per trial and carries the memory: the layer has no recurrent
weights. ``lambda`` (decay) and ``eta`` (learning rate) are scalars (``plasticity="scalar"``)
or one per postsynaptic neuron (``"per_neuron"``, shape ``(n_hidden, 1)``). With
``learn_plasticity=True`` (default) they are trained with the weights: ``lambda =
lambda_max * sigmoid(raw)`` stays in (0, lambda_max) and ``eta`` is unconstrained (either sign);
with ``False`` they are fixed buffers at their initial values.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .._validation import check_choice
from .rnn import ACTIVATIONS, ModelOutput, _Base, _check_inputs, _noise_like


class MultiPlasticNet(_Base):
    """Multi-plasticity network; see the module docstring for the equations.

    ``forward(inputs, return_M=True)`` also returns ``M (batch, time, n_hidden, n_x)``: the
    modulation after each step's update. ``sigma_in`` adds input noise in training mode.
    """

    model_type = "mpn"

    def __init__(self, n_input: int, n_hidden: int, n_output: int, *, n_x: int | None = None,
                 input_layer: bool = True, activation: str = "tanh", plasticity: str = "scalar",
                 learn_plasticity: bool = True, lam: float = 0.9, eta: float = 0.1, lam_max: float = 0.99,
                 sigma_in: float = 0.0, seed: int | None = None):
        super().__init__()
        check_choice(activation, "activation", sorted(ACTIVATIONS))
        if plasticity not in ("scalar", "per_neuron"):
            raise ValueError(f"plasticity must be 'scalar' or 'per_neuron'; got {plasticity!r}")
        if not 0 < lam < lam_max <= 1:
            raise ValueError(f"lam must satisfy 0 < lam < lam_max <= 1; got lam={lam}, lam_max={lam_max}")
        n_x = (n_hidden if input_layer else n_input) if n_x is None else n_x
        if not input_layer and n_x != n_input:
            raise ValueError(f"n_x must equal n_input ({n_input}) when input_layer=False; got {n_x}")
        self._store_spec(n_input=n_input, n_hidden=n_hidden, n_output=n_output, n_x=n_x, input_layer=input_layer,
                         activation=activation, plasticity=plasticity, learn_plasticity=learn_plasticity,
                         lam=lam, eta=eta, lam_max=lam_max, sigma_in=sigma_in, seed=seed)
        self.n_input, self.n_hidden, self.n_output, self.n_x = n_input, n_hidden, n_output, n_x
        self.act = ACTIVATIONS[activation]
        self.lam_max, self.sigma_in = float(lam_max), float(sigma_in)
        g = torch.Generator().manual_seed(seed) if seed is not None else None
        self.input_layer = nn.Linear(n_input, n_x) if input_layer else None
        self.w = nn.Parameter(torch.randn(n_hidden, n_x, generator=g) / math.sqrt(n_x))
        self.b = nn.Parameter(torch.zeros(n_hidden))
        self.readout = nn.Linear(n_hidden, n_output)
        with torch.no_grad():
            if self.input_layer is not None:
                self.input_layer.weight.copy_(torch.randn(n_x, n_input, generator=g) / math.sqrt(n_input))
                self.input_layer.bias.zero_()
            self.readout.weight.copy_(torch.randn(n_output, n_hidden, generator=g) / math.sqrt(n_hidden))
            self.readout.bias.zero_()
        shape = (1, 1) if plasticity == "scalar" else (n_hidden, 1)
        raw_lam = torch.full(shape, math.log(lam / (lam_max - lam)))  # inverse of lam_max * sigmoid
        raw_eta = torch.full(shape, float(eta))
        if learn_plasticity:
            self.raw_lam, self.eta = nn.Parameter(raw_lam), nn.Parameter(raw_eta)
        else:
            self.register_buffer("raw_lam", raw_lam)
            self.register_buffer("eta", raw_eta)

    @property
    def lam(self) -> torch.Tensor:
        """Decay of M, ``(1, 1)`` or ``(n_hidden, 1)``, in (0, lam_max)."""
        return self.lam_max * torch.sigmoid(self.raw_lam)

    def input_weight(self) -> nn.Parameter:
        return self.input_layer.weight if self.input_layer is not None else self.w

    def forward(self, inputs: torch.Tensor, *, return_hidden: bool = True, return_M: bool = False,
                noise: bool | None = None, generator: torch.Generator | None = None) -> ModelOutput:
        _check_inputs(inputs, self.n_input)
        B, T, _ = inputs.shape
        u = inputs
        if self._resolve_noise(noise) and self.sigma_in > 0:
            u = u + _noise_like(u.shape, self.sigma_in, u, generator)
        x = self.input_layer(u) if self.input_layer is not None else u  # (B, T, n_x)
        static = x @ self.w.T + self.b  # the unmodulated part of every step's drive
        lam, eta = self.lam, self.eta
        M = inputs.new_zeros(B, self.n_hidden, self.n_x)
        states, Ms = [], []
        for t in range(T):
            xt = x[:, t]
            modulated = torch.bmm(self.w * M, xt.unsqueeze(2)).squeeze(2)  # (W * M) x_t
            h = self.act(static[:, t] + modulated)
            M = torch.clamp(lam * M + eta * h.unsqueeze(2) * xt.unsqueeze(1), -1.0, 1.0)
            states.append(h)
            if return_M:
                Ms.append(M)
        hidden = torch.stack(states, dim=1)
        return ModelOutput(self.readout(hidden), hidden if return_hidden else None,
                           torch.stack(Ms, dim=1) if return_M else None)
