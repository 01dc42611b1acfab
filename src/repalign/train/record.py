"""Hidden-state capture as numpy arrays aligned with a batch's task epochs.

``record(model, batch)`` runs a repalign model on a task batch (noise off by default) and returns
a :class:`Recording`; ``capture(module, layer, inputs)`` does the same for any
``torch.nn.Module`` by a forward hook on one of its layers. Both give float64 arrays, ready for
any repalign measure: ``rec.hidden`` ``(batch, time, units)``, ``rec.trials()`` (a list of
``(length_i, units)`` arrays without padding), ``rec.epoch("stim1")`` (per-trial slices of that
epoch), ``rec.epoch_mean("delay1")`` ``(trials, units)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn


@dataclass
class Recording:
    """Network activity for one batch of trials (float64 numpy, ``time`` in steps of the batch's dt).

    hidden: ``(batch, time, units)``. outputs: ``(batch, time, n_output)`` or None.
    M: ``(batch, time, n_hidden, n_x)`` plastic modulation (multi-plastic network) or None.
    epochs: epoch name -> ``(start, end)`` arrays of shape (batch,) (end exclusive; negative
    or None when the epoch is absent from a trial). lengths: valid steps per trial (batch,).
    task, rule: per-trial task names / rule indices copied from the batch when it has them.
    """

    hidden: np.ndarray
    outputs: np.ndarray | None = None
    M: np.ndarray | None = None
    epochs: dict = field(default_factory=dict)
    lengths: np.ndarray | None = None
    task: Any = None
    rule: Any = None

    def __post_init__(self) -> None:
        if self.lengths is None:
            self.lengths = np.full(self.hidden.shape[0], self.hidden.shape[1])

    def trials(self) -> list[np.ndarray]:
        """Per-trial ``(length_i, units)`` arrays (padding dropped): the input for dynamical measures."""
        return [self.hidden[i, : int(n)] for i, n in enumerate(self.lengths)]

    def _bounds(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        if name not in self.epochs:
            raise ValueError(f"name must be one of the batch's epochs {sorted(self.epochs)}; got {name!r}")
        start, end = self.epochs[name]
        n = self.hidden.shape[0]
        return (np.broadcast_to(np.asarray(start if start is not None else -1), (n,)),
                np.broadcast_to(np.asarray(end if end is not None else -1), (n,)))

    def epoch(self, name: str, which: str = "hidden") -> list[np.ndarray | None]:
        """Per-trial ``(steps_in_epoch, units)`` slices of ``hidden`` (or ``"outputs"`` / ``"M"``);
        None for trials without that epoch."""
        arr = getattr(self, which)
        if arr is None:
            raise ValueError(f"which={which!r} was not recorded")
        start, end = self._bounds(name)
        return [arr[i, int(s):int(e)] if s is not None and s >= 0 and e > s else None
                for i, (s, e) in enumerate(zip(start, end))]

    def epoch_mean(self, name: str) -> np.ndarray:
        """``(trials, units)`` mean hidden state over the epoch (trials lacking it are dropped)."""
        rows = [s.mean(axis=0) for s in self.epoch(name) if s is not None and len(s)]
        if not rows:
            raise ValueError(f"no trial has a non-empty epoch {name!r}")
        return np.stack(rows)

    def at(self, name: str, offset: int = -1) -> np.ndarray:
        """``(trials, units)`` state at one step of the epoch (default its last), trials lacking it dropped."""
        rows = [s[offset] for s in self.epoch(name) if s is not None and len(s)]
        if not rows:
            raise ValueError(f"no trial has a non-empty epoch {name!r}")
        return np.stack(rows)


def _numpy(t: torch.Tensor | None) -> np.ndarray | None:
    return None if t is None else t.detach().cpu().to(torch.float64).numpy()


def _batch_meta(batch: Any) -> dict:
    epochs = {k: (np.asarray(v[0]) if v[0] is not None else None, np.asarray(v[1]) if v[1] is not None else None)
              for k, v in dict(getattr(batch, "epochs", {}) or {}).items()}
    lengths = getattr(batch, "lengths", None)
    return {"epochs": epochs, "lengths": None if lengths is None else np.asarray(lengths),
            "task": getattr(batch, "task", None), "rule": getattr(batch, "rule", None)}


def _inputs_tensor(batch_or_inputs: Any, module: nn.Module) -> torch.Tensor:
    x = getattr(batch_or_inputs, "inputs", batch_or_inputs)
    p = next(module.parameters(), None)
    dtype = p.dtype if p is not None else torch.float32
    device = p.device if p is not None else torch.device("cpu")
    if isinstance(x, torch.Tensor):
        return x.to(device=device, dtype=dtype)
    return torch.as_tensor(np.asarray(x), dtype=dtype, device=device)


def record(model: nn.Module, batch: Any, *, noise: bool = False, seed: int | None = None,
           return_M: bool = True, ssm_layer: int = 0) -> Recording:
    """Run ``model`` on ``batch`` (a ``repalign.tasks`` Batch, or a ``(batch, time, n_input)`` array)
    without gradients and return its activity as a :class:`Recording`.

    noise: network noise on (drawn from a generator seeded with ``seed``). return_M: keep the
    multi-plastic network's M ``(batch, time, n_hidden, n_x)`` (ignored for models without M).
    The model's train/eval mode is restored afterwards.

    Mamba models (``model_type == "mamba"``): ``hidden`` is block ``ssm_layer``'s SSM state from a
    step-by-step rollout, flattened to ``(batch, time, d_inner * d_state)`` with index
    ``i * d_state + n`` for inner channel i and state n (:func:`repalign.models.ssm.flatten_state`);
    ``outputs`` are the parallel forward's, and the rollout's outputs are checked against them
    (RuntimeError beyond float rounding: the recorded states would not be the trained network's).
    ``ssm_layer`` is ignored for other models.
    """
    x = _inputs_tensor(batch, model)
    gen = torch.Generator(device=x.device).manual_seed(seed) if seed is not None else None
    kind = getattr(model, "model_type", "")
    kwargs = {"return_M": True} if return_M and kind == "mpn" else {}
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            if kind == "mamba":
                return _record_mamba(model, x, batch, noise, seed, ssm_layer)
            out = model(x, return_hidden=True, noise=noise, generator=gen, **kwargs)
    finally:
        model.train(was_training)
    return Recording(hidden=_numpy(out.hidden), outputs=_numpy(out.outputs), M=_numpy(out.M), **_batch_meta(batch))


def _record_mamba(model: nn.Module, x: torch.Tensor, batch: Any, noise: bool, seed: int | None,
                  layer: int) -> Recording:
    from ..models.ssm import flatten_state

    def gen():  # the same noise draw for both passes
        return torch.Generator(device=x.device).manual_seed(seed) if seed is not None else None

    if noise and seed is None:
        raise ValueError("seed must be given when noise=True for a mamba model (both passes must see the same noise)")
    out = model(x, return_hidden=False, noise=noise, generator=gen()).outputs
    steps, states = model.rollout(x, layers=layer, noise=noise, generator=gen())
    gap = float((steps - out).abs().max()) if out.numel() else 0.0
    scale = 1.0 + float(out.abs().max()) if out.numel() else 1.0
    tol = 1e-3 if x.dtype == torch.float32 else 1e-9
    if gap > tol * scale:
        raise RuntimeError(f"mamba rollout disagrees with the parallel pass by {gap:.3g} (tolerance {tol * scale:.3g})")
    return Recording(hidden=_numpy(flatten_state(states[layer])), outputs=_numpy(out), **_batch_meta(batch))


def capture(module: nn.Module, layer: nn.Module | str, inputs: Any, **forward_kwargs) -> Recording:
    """Activity of ``layer`` (a submodule or its dotted name in ``module``) while ``module`` runs on
    ``inputs`` (a tensor/array, or a Batch whose ``.inputs`` is used and whose epochs are kept).

    The layer's output is taken as is, or its first element when it returns a tuple (as
    ``nn.GRU``/``nn.LSTM`` do). A batch-first ``(batch, time, units)`` output is the usual case;
    any shape is returned as float64 ``Recording.hidden``. ``module`` runs in eval mode, no gradients.
    """
    target = module.get_submodule(layer) if isinstance(layer, str) else layer
    if not any(m is target for m in module.modules()):
        raise ValueError("layer must be a submodule of module (or its dotted name)")
    captured: list[torch.Tensor] = []

    def hook(_mod, _inp, out):
        captured.append(out[0] if isinstance(out, (tuple, list)) else out)

    handle = target.register_forward_hook(hook)
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            module(_inputs_tensor(inputs, module), **forward_kwargs)
    finally:
        handle.remove()
        module.train(was_training)
    if not captured:
        raise ValueError("layer was not called during module's forward pass")
    hidden = _numpy(captured[0] if len(captured) == 1 else torch.stack(captured, dim=1))
    meta = _batch_meta(inputs) if hasattr(inputs, "inputs") else {}
    return Recording(hidden=hidden, **meta)
