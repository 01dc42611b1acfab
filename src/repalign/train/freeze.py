"""Freezing for the curriculum's stages: which parameters receive gradient.

Stage 2 of the two-stage curriculum (:mod:`repalign.train.curriculum`) trains column ``j`` of the
input weight alone: ``requires_grad=False`` on every other parameter, a gradient hook on the input
weight that zeroes every column but ``j``, and an optimiser over the input weight only. Adam's
update of an entry whose gradient is always 0 is exactly 0, so nothing but column ``j`` changes,
bit for bit (tests check it). The training loop (:mod:`repalign.train.loop`) applies these for
``TrainConfig.trainable``; they live apart from the curriculum so that the loop does not import it.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn


@contextmanager
def freeze_except_rule_column(model: nn.Module, column: int) -> Iterator[list[nn.Parameter]]:
    """Within the block only ``model.input_weight()[:, column]`` receives gradient.

    Yields the list of parameters to optimise (the input weight alone). On exit the hook is
    removed and ``requires_grad`` restored.
    """
    weight = model.input_weight()
    if not 0 <= column < weight.shape[1]:
        raise ValueError(f"column must be in [0, {weight.shape[1]}) (the model's input channels); got {column}")
    saved = {name: p.requires_grad for name, p in model.named_parameters()}
    for p in model.parameters():
        p.requires_grad_(p is weight)
    mask = torch.zeros_like(weight)
    mask[:, column] = 1.0
    handle = weight.register_hook(lambda g: g * mask)
    try:
        yield [weight]
    finally:
        handle.remove()
        for name, p in model.named_parameters():
            p.requires_grad_(saved[name])


def input_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters that map inputs into the network: ``model.input_parameters()`` when the model
    defines it (a list, e.g. for a model whose input projection has several tensors), else
    ``[model.input_weight()]``."""
    if hasattr(model, "input_parameters"):
        params = list(model.input_parameters())
    else:
        params = [model.input_weight()]
    if not params or not all(isinstance(p, nn.Parameter) for p in params):
        raise ValueError("model must expose its input parameters through input_weight() or input_parameters()")
    return params


@contextmanager
def freeze_except_input(model: nn.Module) -> Iterator[list[nn.Parameter]]:
    """Within the block only the input parameters (:func:`input_parameters`) receive gradient
    ("frozen" networks of the compositional study: the recurrent weights, biases and readout
    keep their values). Yields the list of parameters to optimise; restores ``requires_grad``."""
    params = input_parameters(model)
    ids = {id(p) for p in params}
    saved = {name: p.requires_grad for name, p in model.named_parameters()}
    for p in model.parameters():
        p.requires_grad_(id(p) in ids)
    try:
        yield params
    finally:
        for name, p in model.named_parameters():
            p.requires_grad_(saved[name])
