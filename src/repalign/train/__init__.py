"""Training recurrent models on cognitive tasks, with checkpoints, curriculum and state capture
(imports torch; ``import repalign`` alone does not).

* :func:`train` — Adam, masked loss, L2, clipping, schedule, log-spaced checkpoints, exact resume.
* :class:`TrainConfig`, :func:`checkpoint_steps`, :func:`lr_at`.
* :func:`train_two_stage`, :func:`freeze_except_rule_column` — "expand and freeze" curriculum;
  :func:`freeze_except_input` (``TrainConfig(trainable="input")``) trains the input weights only.
* :func:`record`, :func:`capture`, :class:`Recording` — hidden states as numpy, aligned with epochs.
* :func:`load_checkpoint`, :func:`load_model`, :func:`list_checkpoints`, :func:`load_curve`.
"""

from __future__ import annotations

from .checkpoint import list_checkpoints, load_checkpoint, load_model
from .config import TrainConfig, checkpoint_steps, lr_at
from .curriculum import train_two_stage
from .freeze import freeze_except_input, freeze_except_rule_column, input_parameters
from .loop import TrainResult, evaluate, load_curve, task_loss, train
from .record import Recording, capture, record

__all__ = [
    "train", "TrainConfig", "TrainResult", "evaluate", "task_loss", "checkpoint_steps", "lr_at",
    "train_two_stage", "freeze_except_rule_column", "freeze_except_input", "input_parameters", "record", "capture", "Recording",
    "load_checkpoint", "load_model", "list_checkpoints", "load_curve",
]
