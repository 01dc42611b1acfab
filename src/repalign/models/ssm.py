"""Mamba state-space model (Gu & Dao 2023) on ``mambapy`` (pure PyTorch, parallel scan).

Architecture (the compositional-learning paper's):

    u_t = W_emb x_t + b_emb                          input embedding, Linear(n_input -> d_model)
    r   = Mamba(n_layers residual blocks)(u)         r_t^(l+1) = r_t^(l) + MambaBlock(RMSNorm(r_t^(l)))
    y_t = W_out RMSNorm(r_t) + b_out                 readout, Linear(d_model -> n_output)

One Mamba block (mambapy's ``MambaBlock``; d_inner = expand * d_model, N = d_state, K = d_conv):

    [a_t, z_t] = in_proj(v_t)                        v_t = RMSNorm(r_t), a_t, z_t in R^d_inner
    c_t = silu(b_conv + sum_{k<K} w_k * a_{t-K+1+k}) causal depthwise convolution (a_s = 0 for s < 0)
    [p_t, B_t, C_t] = x_proj(c_t)                    p_t in R^dt_rank, B_t, C_t in R^N
    delta_t = softplus(dt_proj(p_t))                 (d_inner,) step sizes
    h_t = exp(delta_t A) * h_{t-1} + (delta_t c_t) B_t^T      h in R^(d_inner x N), A = -exp(A_log)
    out_t = out_proj((h_t C_t + D * c_t) * silu(z_t))

``forward`` runs the parallel scan (mambapy's pscan; the training path). :meth:`MambaModel.rollout`
runs the same network one step at a time and returns the SSM state ``h_t`` of chosen blocks: the
recurrent state that DSA analyses. Its convolution buffer holds the last ``d_conv - 1`` values of
``a`` per inner channel (the paper's rollout kept ``n_input`` of them, so its recorded states
belonged to a different network from the one it trained). ``repalign.train.record`` uses it.

Flattening: ``state_flat[b, t, i * d_state + n] = h_t[b, i, n]`` (C order: the ``d_state`` entries
of inner channel 0 first, then channel 1, ...).

``mambapy`` is an optional dependency (``pip install 'repalign[ssm]'``); importing this module does
not need it, building a model does.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from .._validation import check_scalar
from .rnn import ModelOutput, _Base, _check_inputs, _noise_like

MAMBAPY_VERSION = "1.2.0"  # the version the tests run against (pyproject's `ssm` extra)


def _import_mambapy():
    try:
        from mambapy.mamba import Mamba, MambaConfig, RMSNorm
    except ImportError as err:  # pragma: no cover - exercised only without the extra
        raise ImportError(f"the 'mamba' model needs mambapy: pip install 'mambapy=={MAMBAPY_VERSION}' "
                          "(or the repalign[ssm] extra)") from err
    return Mamba, MambaConfig, RMSNorm


def _check_pos_int(value, name: str, minimum: int = 1) -> int:
    return check_scalar(value, name, int, min_val=minimum)


class MambaModel(_Base):
    """Linear embedding -> ``n_layers`` Mamba blocks -> RMSNorm -> linear readout (module docstring).

    ``forward`` returns ``outputs (batch, time, n_output)`` and ``hidden (batch, time, d_model)``
    (the residual stream after the last block, before the final RMSNorm). ``rollout`` returns the
    SSM states. ``input_weight()`` is the embedding's weight ``(d_model, n_input)``;
    ``input_parameters()`` adds its bias (what a "frozen" group trains). ``sigma_in`` adds Gaussian
    input noise in training mode. ``seed`` fixes the initial weights (mambapy draws its init from
    torch's global generator; it is forked, so the caller's random state is untouched).
    """

    model_type = "mamba"

    def __init__(self, n_input: int, n_output: int, *, d_model: int = 16, n_layers: int = 1, d_state: int = 16,
                 expand: int = 2, d_conv: int = 4, dt_rank: int | None = None, sigma_in: float = 0.0,
                 seed: int | None = None):
        super().__init__()
        for name, value in (("n_input", n_input), ("n_output", n_output), ("d_model", d_model),
                            ("n_layers", n_layers), ("d_state", d_state), ("expand", expand), ("d_conv", d_conv)):
            _check_pos_int(value, name)
        if dt_rank is not None:
            _check_pos_int(dt_rank, "dt_rank")
        if not isinstance(sigma_in, (int, float)) or sigma_in < 0:
            raise ValueError(f"sigma_in must be a number >= 0; got {sigma_in!r}")
        self._store_spec(n_input=n_input, n_output=n_output, d_model=d_model, n_layers=n_layers, d_state=d_state,
                         expand=expand, d_conv=d_conv, dt_rank=dt_rank, sigma_in=sigma_in, seed=seed)
        self.n_input, self.n_output, self.d_model = n_input, n_output, d_model
        self.n_hidden = d_model  # width of forward's ``hidden``
        self.n_layers, self.d_state, self.d_conv = n_layers, d_state, d_conv
        self.d_inner = expand * d_model
        self.state_size = self.d_inner * d_state  # width of a flattened SSM state
        self.sigma_in = float(sigma_in)
        Mamba, MambaConfig, RMSNorm = _import_mambapy()
        config = MambaConfig(d_model=d_model, n_layers=n_layers, d_state=d_state, expand_factor=expand,
                             d_conv=d_conv, dt_rank=dt_rank if dt_rank is not None else "auto")
        if seed is not None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                self._build(Mamba, config, RMSNorm)
        else:
            self._build(Mamba, config, RMSNorm)

    def _build(self, Mamba, config, RMSNorm) -> None:
        self.embedding = nn.Linear(self.n_input, self.d_model)
        self.mamba = Mamba(config)
        self.norm_f = RMSNorm(self.d_model)
        self.readout = nn.Linear(self.d_model, self.n_output)

    def input_weight(self) -> nn.Parameter:
        return self.embedding.weight

    def input_parameters(self) -> list[nn.Parameter]:
        """The input embedding's weight and bias: all that a "frozen" group trains."""
        return [self.embedding.weight, self.embedding.bias]

    def _embed(self, inputs: torch.Tensor, noise: bool | None, generator: torch.Generator | None) -> torch.Tensor:
        _check_inputs(inputs, self.n_input)
        x = inputs
        if self._resolve_noise(noise) and self.sigma_in > 0:
            x = x + _noise_like(x.shape, self.sigma_in, x, generator)
        return self.embedding(x)

    def forward(self, inputs: torch.Tensor, *, return_hidden: bool = True, noise: bool | None = None,
                generator: torch.Generator | None = None) -> ModelOutput:
        """Parallel (pscan) pass over ``inputs (batch, time, n_input)``."""
        r = self.mamba(self._embed(inputs, noise, generator))
        return ModelOutput(self.readout(self.norm_f(r)), r if return_hidden else None)

    def _check_layers(self, layers: Sequence[int] | int | str) -> list[int]:
        if isinstance(layers, str):
            if layers != "all":
                raise ValueError(f"layers must be an int, a sequence of ints or 'all'; got {layers!r}")
            return list(range(self.n_layers))
        items = [layers] if isinstance(layers, int) else list(layers)
        for layer in items:
            if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer < self.n_layers:
                raise ValueError(f"layers must hold block indices in [0, {self.n_layers}); got {layers!r}")
        return items

    def rollout(self, inputs: torch.Tensor, *, layers: Sequence[int] | int | str = 0, noise: bool | None = None,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        """Step-by-step pass: ``(outputs (batch, time, n_output), {layer: h (batch, time, d_inner, d_state)})``.

        ``h[:, t]`` is block ``layer``'s SSM state after consuming ``inputs[:, t]`` (h_{-1} = 0);
        ``layers``: a block index, a sequence of them, or ``"all"``. The outputs equal ``forward``'s
        up to float rounding. Memory: ``4 * batch * time * d_inner * d_state`` bytes per layer (float32).
        """
        wanted = self._check_layers(layers)
        u = self._embed(inputs, noise, generator)
        B, T, _ = u.shape
        blocks = list(self.mamba.layers)
        h = [u.new_zeros(B, self.d_inner, self.d_state) for _ in blocks]
        buf = [u.new_zeros(B, self.d_inner, self.d_conv - 1) for _ in blocks]
        states: dict[int, list[torch.Tensor]] = {layer: [] for layer in wanted}
        outs = []
        for t in range(T):
            r = u[:, t]
            for i, block in enumerate(blocks):
                r, h[i], buf[i] = block_step(block, r, h[i], buf[i])
                if i in states:
                    states[i].append(h[i])
            outs.append(r)
        outputs = self.readout(self.norm_f(torch.stack(outs, dim=1)))
        return outputs, {layer: torch.stack(s, dim=1) for layer, s in states.items()}


def block_step(block: nn.Module, r: torch.Tensor, h: torch.Tensor, buf: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One time step of a mambapy ``ResidualBlock``.

    r: ``(batch, d_model)`` residual stream in; h: ``(batch, d_inner, d_state)`` SSM state;
    buf: ``(batch, d_inner, d_conv - 1)`` the previous ``d_conv - 1`` convolution inputs, oldest
    first. Returns the residual stream out, the new state and the new buffer. (mambapy's own
    ``step`` is not used: its buffer grows by one per step when ``d_conv = 1``.)
    """
    mixer = block.mixer
    a, z = mixer.in_proj(block.norm(r)).chunk(2, dim=-1)
    window = torch.cat([buf, a.unsqueeze(2)], dim=2)  # (batch, d_inner, d_conv): a_{t-K+1} .. a_t
    conv = (window * mixer.conv1d.weight[:, 0, :]).sum(dim=2)
    if mixer.conv1d.bias is not None:
        conv = conv + mixer.conv1d.bias
    y, h = mixer.ssm_step(F.silu(conv), h)
    out = mixer.out_proj(y * F.silu(z))
    return r + out, h, window[:, :, 1:]


def flatten_state(h: torch.Tensor) -> torch.Tensor:
    """``(batch, time, d_inner, d_state)`` -> ``(batch, time, d_inner * d_state)``, index ``i * d_state + n``."""
    if h.ndim != 4:
        raise ValueError(f"h must have shape (batch, time, d_inner, d_state); got {tuple(h.shape)}")
    return h.reshape(h.shape[0], h.shape[1], -1)


__all__ = ["MambaModel", "block_step", "flatten_state", "MAMBAPY_VERSION"]
