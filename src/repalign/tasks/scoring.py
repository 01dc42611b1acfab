"""Accuracy of model outputs on a task batch, for both task families: the Yang et al. (2019)
tasks (read here) and the perceptual-decision tasks (:func:`repalign.tasks.pdm.pdm_accuracy`).
It sits above both families, so that neither imports the other."""

from __future__ import annotations

from typing import Any

import numpy as np

from .core import TOLERANCE, Batch, _as_outputs, circ_dist, decode_direction
from .pdm import pdm_accuracy


def accuracy(batch: Batch, outputs: Any, *, strict_fixation: bool = False) -> np.ndarray:
    """Per-trial correctness (bool, (batch,)) of model ``outputs`` (batch, time, n_out).

    As the reference ``get_perf`` (gyyang/multitask, ``network.py``), only the last valid
    step ``lengths - 1`` of each trial is read: the model is *fixating* if the fixation output
    is > 0.5 there; the response direction is the population vector of the ring outputs
    (``layout="ring"``) or ``atan2(sin, cos)`` of the two outputs (``layout="compact"``).
    A go trial is correct if the model is not fixating and the direction is within 0.2 pi of
    ``target_dir``; a no-go trial (``target_dir`` nan) is correct if the model is fixating.

    Perceptual-decision batches (``layout="pdm"``) use :func:`repalign.tasks.pdm.pdm_accuracy`.

    ``strict_fixation=True`` (not in the reference) also requires the fixation output to be
    > 0.5 at every step where the fixation target is high and the loss mask is non-zero, so
    breaking fixation early is an error.
    """
    if batch.layout == "pdm":
        return pdm_accuracy(batch, outputs)
    out = _as_outputs(batch, outputs)
    last = out[np.arange(batch.batch_size), batch.lengths - 1]
    fixating = last[:, 0] > 0.5
    go = batch.is_go
    with np.errstate(invalid="ignore"):
        near = circ_dist(decode_direction(batch, last), batch.target_dir) < TOLERANCE
    correct = np.where(go, near & ~fixating, fixating)
    if strict_fixation:
        hold = (batch.mask[:, :, 0] > 0) & (batch.targets[:, :, 0] > 0.5)
        broke = np.any(hold & (out[:, :, 0] <= 0.5), axis=1)
        correct &= ~broke
    return correct


def accuracy_by_task(batch: Batch, outputs: Any, **kwargs) -> dict[str, float]:
    """Mean :func:`accuracy` per task name present in the batch (task -> fraction correct)."""
    correct = accuracy(batch, outputs, **kwargs)
    return {str(name): float(correct[batch.task == name].mean()) for name in np.unique(batch.task)}
