"""Training hyper-parameters, the learning-rate schedule and the checkpoint schedule."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validation import check_choice

LR_SCHEDULES = ("constant", "cosine", "exponential")
LOSSES = ("mse", "ce")


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved next to every checkpoint).

    tasks: task names (``repalign.tasks``); several are mixed within each batch.
    steps: optimiser updates. batch_size: trials per update.
    lr, lr_schedule ("constant" | "cosine" to ``lr * lr_min_factor`` | "exponential", decaying by
    ``lr_min_factor`` over the run), warmup_steps (linear ramp from 0).
    loss: "mse" (mask-weighted squared error, the mean over batch x time x outputs of
    ``mask * (y - target)^2``) or "ce" (cross-entropy; targets are integer labels ``(batch, time)``).
    l2_weight: coefficient on the sum of squared weights (parameters with >= 2 dimensions).
    l2_activity: coefficient on the mean squared hidden activity.
    grad_clip: maximum global gradient norm (None: no clipping).
    seed: data and noise of step s are drawn from seeds derived from (seed, s).
    layout, rule_slots, rule_index, task_kwargs (e.g. ``{"dt": 20.0}``): passed to the task
    generator (``repalign.tasks.generate``); rule_index maps task -> rule slot, so that a task
    trained later can own a column reserved from the start.
    checkpoints: "log" (steps 0, 1, 2, 4, 8, ... and the last), an int n (n log-spaced steps,
    ``np.geomspace``, plus 0 and the last) or an explicit list of steps; ``save_every`` adds
    every multiple of it (for cheap crash recovery).
    eval_every: evaluate accuracy on fresh trials every this many steps (and at every
    checkpoint); eval_batch: trials per task; eval_noise: network noise on while evaluating.
    stop_accuracy: stop once every task's evaluated accuracy reaches it (None: run all steps).
    trainable: "all", or "rule_column" (expand-and-freeze stage: only column ``rule_column`` of
    the model's input weight is trained; None: the column of ``tasks[0]``'s rule input), or
    "input" (only the input parameters: ``model.input_parameters()`` or ``[model.input_weight()]``).
    """

    tasks: list[str]
    steps: int
    batch_size: int = 64
    lr: float = 1e-3
    lr_schedule: str = "constant"
    lr_min_factor: float = 0.1
    warmup_steps: int = 0
    loss: str = "mse"
    l2_weight: float = 0.0
    l2_activity: float = 0.0
    grad_clip: float | None = 1.0
    seed: int = 0
    layout: str = "ring"
    rule_slots: int | None = None
    rule_index: dict | None = None
    task_kwargs: dict = field(default_factory=dict)
    checkpoints: Any = "log"
    save_every: int | None = None
    eval_every: int = 100
    eval_batch: int = 256
    eval_noise: bool = True
    stop_accuracy: float | None = None
    trainable: str = "all"
    rule_column: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.tasks, str):
            self.tasks = [self.tasks]
        self.tasks = list(self.tasks)
        if not self.tasks:
            raise ValueError("tasks must name at least one task")
        for name in ("steps", "batch_size", "eval_every", "eval_batch"):
            if int(getattr(self, name)) < (0 if name == "steps" else 1):
                raise ValueError(f"{name} must be a positive integer; got {getattr(self, name)!r}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0; got {self.lr}")
        check_choice(self.lr_schedule, "lr_schedule", LR_SCHEDULES)
        check_choice(self.loss, "loss", LOSSES)
        if self.trainable not in ("all", "rule_column", "input"):
            raise ValueError(f"trainable must be 'all', 'rule_column' or 'input'; got {self.trainable!r}")
        if self.rule_index is not None:
            self.rule_index = {str(k): int(v) for k, v in dict(self.rule_index).items()}
        checkpoint_steps(self.steps, self.checkpoints, self.save_every)  # validates

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown training options {unknown}; expected some of {sorted(names)}")
        return cls(**d)


def lr_at(config: TrainConfig, step: int) -> float:
    """Learning rate of update ``step`` (0-based): a pure function of the step, so resuming needs no state."""
    frac = step / max(config.steps, 1)
    if config.lr_schedule == "cosine":
        f = config.lr_min_factor + (1 - config.lr_min_factor) * 0.5 * (1 + math.cos(math.pi * frac))
    elif config.lr_schedule == "exponential":
        f = config.lr_min_factor**frac
    else:
        f = 1.0
    if config.warmup_steps > 0 and step < config.warmup_steps:
        f *= (step + 1) / config.warmup_steps
    return config.lr * f


def checkpoint_steps(steps: int, schedule: Any = "log", save_every: int | None = None) -> list[int]:
    """Sorted unique steps (0 ... ``steps``) at which to checkpoint; step s = after s updates."""
    steps = int(steps)
    if isinstance(schedule, str):
        if schedule != "log":
            raise ValueError(f"checkpoints must be 'log', an int or a list of steps; got {schedule!r}")
        points = {0, steps} | {2**k for k in range(int(math.log2(steps)) + 1)} if steps > 0 else {0}
    elif isinstance(schedule, (int, np.integer)):
        if schedule < 1:
            raise ValueError(f"checkpoints as an int must be >= 1; got {schedule}")
        grid = np.geomspace(1, max(steps, 1), int(schedule)) if steps > 0 else []
        points = {0, steps} | {int(round(s)) for s in grid}
    else:
        points = {int(s) for s in schedule} | {steps}
        if any(s < 0 or s > steps for s in points):
            raise ValueError(f"checkpoint steps must lie in [0, {steps}]; got {sorted(points)}")
    if save_every:
        if int(save_every) < 1:
            raise ValueError(f"save_every must be >= 1; got {save_every}")
        points |= set(range(0, steps + 1, int(save_every)))
    return sorted(points)
