"""The DSA tutorial's image classifiers, sized for scikit-learn's 8 x 8 digits, with FGSM.

* :class:`SmallCNN`: two 3 x 3 convolutions (32, 64 channels, ReLU), 2 x 2 max-pool, dropout
  0.25, a fully connected layer (128, ReLU), dropout 0.5, a linear readout to 10 classes (the
  tutorial's ``Net``; with 8 x 8 inputs the flattened width is 64 * 2 * 2 = 256, not 9216).
* :class:`RecurrentCNN`: a 3 x 3 convolution (16 channels) gives the input drive ``u``; a second
  3 x 3 convolution (16 -> 16, padding 1) is applied recurrently for ``time_steps`` steps,
  ``x_{t+1} = relu(u + conv2(x_t))``, ``x_0 = u``; readout dropout 0.25, global average pool,
  linear to 10 classes (the tutorial's ``recurrent_Net``, 2650 parameters). The tutorial's first
  convolution has stride 3 for 28 x 28 MNIST; here stride 1, so the 8 x 8 digits keep a 6 x 6 map.

Both return logits (the tutorial applies softmax and then log; ``cross_entropy`` on logits is
the same loss). Inputs are ``(batch, 1, 8, 8)`` in [0, 1].

:func:`fgsm` is the fast gradient sign attack ``x + eps * sign(grad_x loss)`` clipped to [0, 1]
(Goodfellow et al. 2015). :func:`layer_activations` records named modules' outputs with forward
hooks; a module called several times (the recurrent convolution) gives one entry per call,
named ``name``, ``name_1``, ``name_2`` ... as torch.fx does.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from .._validation import check_scalar

__all__ = ["SmallCNN", "RecurrentCNN", "fgsm", "layer_activations", "MODELS"]


class SmallCNN(nn.Module):
    """Two conv layers, two fully connected, dropout (module docstring). Logits ``(batch, 10)``."""

    layers = ("conv1", "conv2", "pool", "fc1", "fc2")

    def __init__(self, side: int = 8, n_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(1, 32, 3, 1), nn.ReLU())
        self.conv2 = nn.Sequential(nn.Conv2d(32, 64, 3, 1), nn.ReLU())
        self.pool = nn.MaxPool2d(2)
        self.dropout1, self.dropout2 = nn.Dropout(0.25), nn.Dropout(0.5)
        width = 64 * ((side - 4) // 2) ** 2
        self.fc1 = nn.Sequential(nn.Linear(width, 128), nn.ReLU())
        self.fc2 = nn.Linear(128, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dropout1(self.pool(self.conv2(self.conv1(x))))
        return self.fc2(self.dropout2(self.fc1(torch.flatten(x, 1))))


class RecurrentCNN(nn.Module):
    """Convolution plus a recurrent convolution for ``time_steps`` steps, average-pool readout."""

    def __init__(self, time_steps: int = 5, n_classes: int = 10) -> None:
        super().__init__()
        time_steps = check_scalar(time_steps, "time_steps", int, min_val=1)
        self.conv1 = nn.Conv2d(1, 16, 3, 1)
        self.conv2 = nn.Conv2d(16, 16, 3, 1, padding=1)
        self.step = nn.ReLU()  # its output is the recurrent state after each step
        self.dropout = nn.Dropout(0.25)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.readout = nn.Linear(16, n_classes)
        self.time_steps = time_steps

    @property
    def layers(self) -> tuple[str, ...]:
        return ("conv1",) + tuple("step" if t == 0 else f"step_{t}" for t in range(self.time_steps)) + ("pool", "readout")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = self.conv1(x)
        h = u
        for _ in range(self.time_steps):
            h = self.step(u + self.conv2(h))
        return self.readout(torch.flatten(self.pool(self.dropout(h)), 1))


MODELS = {"cnn": SmallCNN, "recurrent": RecurrentCNN}


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epsilon: float) -> torch.Tensor:
    """FGSM images ``clip(x + epsilon * sign(grad_x CE(model(x), y)), 0, 1)`` (model in its
    current mode; the caller's ``x`` is not modified; parameter gradients are left untouched)."""
    epsilon = check_scalar(epsilon, "epsilon", float, min_val=0.0)
    xa = x.detach().clone().requires_grad_(True)
    loss = F.cross_entropy(model(xa), y, reduction="sum")
    (grad,) = torch.autograd.grad(loss, xa)
    return (xa.detach() + epsilon * grad.sign()).clamp(0.0, 1.0)


def layer_activations(model: nn.Module, x: torch.Tensor, names: Sequence[str]) -> dict[str, torch.Tensor]:
    """Outputs of the named submodules for input ``x`` (eval mode, no gradient), flattened to
    ``(batch, features)``, recorded by forward hooks; the input itself is ``"input"``. Repeated
    calls of one module are named ``name``, ``name_1``, ... in call order."""
    modules = dict(model.named_modules())
    missing = [n for n in names if n not in modules]
    if missing:
        raise ValueError(f"names: {missing} are not submodules of {type(model).__name__}; have {sorted(modules)[:12]}")
    out: dict[str, torch.Tensor] = {"input": x.detach().flatten(1).clone()}
    calls: dict[str, int] = {}

    def hook_for(name: str):
        def hook(_module, _inp, output):
            k = calls.get(name, 0)
            calls[name] = k + 1
            out[name if k == 0 else f"{name}_{k}"] = output.detach().flatten(1).clone()
        return hook

    handles = [modules[n].register_forward_hook(hook_for(n)) for n in names]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return out
