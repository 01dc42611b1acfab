"""PyTorch models for cognitive tasks (imports torch; ``import repalign`` alone does not).

* :class:`LeakyRNN` — continuous-time RNN of Yang et al. (2019), recurrent and input noise.
* :class:`GRUModel`, :class:`LSTMModel` — torch's GRU / LSTM with the same interface.
* :class:`LeakyGRU` — gated network with a leaky candidate state (the RepAL paper's "leaky GRU").
* :class:`MultiPlasticNet` — multi-plasticity network (Aitken & Mihalas 2023), W * (1 + M).
* :class:`MambaModel` — Mamba state-space model on ``mambapy`` (optional extra ``ssm``); its
  ``rollout`` gives the SSM states step by step.

Every model takes batch-first inputs ``(batch, time, n_input)``, returns a :class:`ModelOutput`
``(outputs, hidden, M)``, exposes ``input_weight()`` (the parameter whose column j multiplies
input channel j) and ``spec`` (the keyword arguments that rebuild it with :func:`build_model`).
"""

from __future__ import annotations

from .leaky_gru import LeakyGRU
from .plastic import MultiPlasticNet
from .rnn import GRUModel, LeakyRNN, LSTMModel, ModelOutput
from .ssm import MambaModel

MODEL_TYPES = {cls.model_type: cls for cls in (LeakyRNN, GRUModel, LSTMModel, MultiPlasticNet, MambaModel)}
MODEL_TYPES[LeakyGRU.model_type] = LeakyGRU


def build_model(spec: dict):
    """Build a model from ``{"type": "leaky_rnn" | "gru" | "lstm" | "mpn" | "mamba", **kwargs}`` (a model's ``spec``)."""
    if not isinstance(spec, dict) or "type" not in spec:
        raise ValueError(f"spec must be a dict with a 'type' key, one of {sorted(MODEL_TYPES)}; got {spec!r}")
    kwargs = dict(spec)
    kind = kwargs.pop("type")
    if kind not in MODEL_TYPES:
        raise ValueError(f"spec['type'] must be one of {sorted(MODEL_TYPES)}; got {kind!r}")
    return MODEL_TYPES[kind](**kwargs)


__all__ = ["LeakyRNN", "LeakyGRU", "GRUModel", "LSTMModel", "MultiPlasticNet", "MambaModel", "ModelOutput",
           "build_model", "MODEL_TYPES"]
