"""The bridge between :mod:`repalign.tasks` batches and the training loop (batches, accuracy, rule columns)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def _tasks_module():
    from repalign import tasks

    return tasks


def make_batch(task_names: Sequence[str], batch_size: int, rng: np.random.Generator, *, layout: str,
               rule_slots: Any = None, mode: str = "random", **task_kwargs) -> Any:
    """One batch: a single task via ``tasks.generate``, several mixed via ``tasks.generate_mixture``."""
    tasks = _tasks_module()
    kw = dict(layout=layout, seed=rng, mode=mode, rule_slots=rule_slots, **task_kwargs)
    if len(task_names) == 1:
        return tasks.generate(task_names[0], batch_size, **kw)
    return tasks.generate_mixture(list(task_names), batch_size, **kw)


def accuracy(batch: Any, outputs: np.ndarray) -> float:
    """Fraction of correct trials by the task family's own criterion (``tasks.accuracy``)."""
    return float(np.mean(_tasks_module().accuracy(batch, outputs)))


def io_sizes(task_names: Sequence[str], *, layout: str, rule_slots: Any = None, **task_kwargs) -> tuple[int, int]:
    """``(n_input, n_output)`` of the batches these tasks produce (from a 1-trial batch)."""
    b = make_batch(task_names[:1], 1, np.random.default_rng(0), layout=layout, rule_slots=rule_slots, **task_kwargs)
    return int(b.inputs.shape[-1]), int(b.targets.shape[-1])


def rule_column(task: str, *, layout: str, rule_slots: Any = None, **task_kwargs) -> int:
    """Index of the input channel that carries ``task``'s rule (its one-hot rule input).

    Read from a generated batch: ``batch.rule_start + batch.rule`` when the batch has them, and
    checked against the data (the rule channel is 1 at every valid step of every trial).
    """
    b = make_batch([task], 16, np.random.default_rng(0), layout=layout, rule_slots=rule_slots, **task_kwargs)
    x = np.asarray(b.inputs)
    lengths = np.asarray(getattr(b, "lengths", np.full(x.shape[0], x.shape[1])))
    valid = np.arange(x.shape[1])[None, :] < lengths[:, None]  # (batch, time)
    ones = np.flatnonzero(np.all(np.where(valid[:, :, None], x == 1.0, True), axis=(0, 1)))
    if hasattr(b, "rule_start") and hasattr(b, "rule"):
        col = int(b.rule_start) + int(np.asarray(b.rule)[0])
    elif len(ones) == 1:
        col = int(ones[0])
    else:
        col = -1
    if col not in ones:
        raise ValueError(f"could not identify the rule input column of task {task!r} "
                         f"(channels constantly 1: {ones.tolist()}); pass rule_column= explicitly")
    return col
