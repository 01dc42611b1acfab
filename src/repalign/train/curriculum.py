"""Two-stage curriculum with "expand and freeze" (Yang et al. 2019; Driscoll et al. 2024).

Stage 1 trains everything on a set of tasks. Stage 2 trains a new task through its rule input
alone: every parameter is frozen except column ``j`` of the model's input weight (``j`` = the new
rule's input channel). The network is built with rule slots for all tasks from the start
(``rule_slots`` in the task generator), so stage 1 already has the (unused, zero-input) column;
"expanding" is giving that column a task.

The freeze: ``requires_grad=False`` on every other parameter, a gradient hook on the input weight
that zeroes every column but ``j``, and an optimiser over the input weight only. Adam's update
of an entry whose gradient is always 0 is exactly 0, so nothing but column ``j`` changes, bit for
bit (tests check it).
"""

from __future__ import annotations

import dataclasses
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch
from torch import nn

from .config import TrainConfig


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


def train_two_stage(model: nn.Module, stage1: TrainConfig, stage2: TrainConfig, out_dir: str | os.PathLike,
                    **train_kwargs):
    """Stage 1 (all parameters, ``stage1.tasks``) into ``out_dir/stage1``, then stage 2 (the new
    task's rule column only) into ``out_dir/stage2``. Each stage checkpoints and resumes on its own;
    re-running after a crash skips a finished stage 1. Returns ``(result1, result2)``.

    Stage 2 runs with ``trainable="rule_column"`` (on a copy of ``stage2``); give ``stage2.rule_column`` or let it be
    found from ``stage2.tasks[0]``'s rule input. Both stages must use the same layout and rule slots.
    """
    from .loop import train

    if (stage1.layout, stage1.rule_slots) != (stage2.layout, stage2.rule_slots):
        raise ValueError("stage1 and stage2 must share layout and rule_slots (the input channels must agree); "
                         f"got {(stage1.layout, stage1.rule_slots)} and {(stage2.layout, stage2.rule_slots)}")
    stage2 = dataclasses.replace(stage2, trainable="rule_column")
    out = Path(out_dir)
    r1 = train(model, stage1, out / "stage1", **train_kwargs)
    r2 = train(r1.model, stage2, out / "stage2", **train_kwargs)
    return r1, r2
