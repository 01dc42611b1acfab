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

from .._validation import check_choice
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
    check_choice(kind, "spec['type']", sorted(MODEL_TYPES))
    _check_spec_args(kind, kwargs)
    return MODEL_TYPES[kind](**kwargs)


def _check_spec_args(kind: str, kwargs: dict) -> None:
    """Unknown keys and sizes that are not positive integers: ValueError naming them."""
    import inspect

    params = inspect.signature(MODEL_TYPES[kind].__init__).parameters
    valid = sorted(k for k in params if k != "self")
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise ValueError(f"unknown model key(s) {unknown} for type {kind!r}; valid keys: {', '.join(valid)}")
    missing = sorted(k for k, p in params.items() if k != "self" and p.default is inspect.Parameter.empty
                     and k not in kwargs)
    if missing:
        raise ValueError(f"model spec of type {kind!r} is missing {missing}")
    for key in ("n_input", "n_hidden", "n_output", "n_modules", "d_model", "n_layers", "d_state", "expand", "d_conv"):
        v = kwargs.get(key)
        if key in kwargs and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise ValueError(f"model {key} must be a positive integer; got {v!r}")


__all__ = ["LeakyRNN", "LeakyGRU", "GRUModel", "LSTMModel", "MultiPlasticNet", "MambaModel", "ModelOutput",
           "build_model", "MODEL_TYPES"]
