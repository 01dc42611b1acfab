"""Two-stage curriculum with "expand and freeze" (Yang et al. 2019; Driscoll et al. 2024).

Stage 1 trains everything on a set of tasks. Stage 2 trains a new task through its rule input
alone: every parameter is frozen except column ``j`` of the model's input weight (``j`` = the new
rule's input channel). The network is built with rule slots for all tasks from the start
(``rule_slots`` in the task generator), so stage 1 already has the (unused, zero-input) column;
"expanding" is giving that column a task.

The freeze (``requires_grad``, a gradient hook, an optimiser over the input weight only) is in
:mod:`repalign.train.freeze`, which the training loop applies.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from torch import nn

from .config import TrainConfig
from .loop import train


def train_two_stage(model: nn.Module, stage1: TrainConfig, stage2: TrainConfig, out_dir: str | os.PathLike,
                    **train_kwargs):
    """Stage 1 (all parameters, ``stage1.tasks``) into ``out_dir/stage1``, then stage 2 (the new
    task's rule column only) into ``out_dir/stage2``. Each stage checkpoints and resumes on its own;
    re-running after a crash skips a finished stage 1. Returns ``(result1, result2)``.

    Stage 2 runs with ``trainable="rule_column"`` (on a copy of ``stage2``); give ``stage2.rule_column`` or let it be
    found from ``stage2.tasks[0]``'s rule input. Both stages must use the same layout and rule slots.
    """
    if (stage1.layout, stage1.rule_slots) != (stage2.layout, stage2.rule_slots):
        raise ValueError("stage1 and stage2 must share layout and rule_slots (the input channels must agree); "
                         f"got {(stage1.layout, stage1.rule_slots)} and {(stage2.layout, stage2.rule_slots)}")
    stage2 = dataclasses.replace(stage2, trainable="rule_column")
    out = Path(out_dir)
    r1 = train(model, stage1, out / "stage1", **train_kwargs)
    r2 = train(r1.model, stage2, out / "stage2", **train_kwargs)
    return r1, r2
