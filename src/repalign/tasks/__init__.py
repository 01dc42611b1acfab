"""Cognitive task batches for training recurrent networks: the 20-task family of Yang et al.
(2019, Nature Neuroscience) and the perceptual-decision family with NeuroGym semantics
(``pdm``, ``anti_pdm``, ``pdm_delay``, ``anti_pdm_delay``; :mod:`repalign.tasks.pdm`),
generated vectorised over the batch.

Arrays are batch-first ``(batch, time, features)``; see :class:`Batch` and ``docs/tasks.md``.

    from repalign.tasks import generate, generate_mixture, accuracy
    batch = generate("delaygo", 64, seed=0)
    mixed = generate_mixture(["fdgo", "delayanti"], 64, seed=0)
    accuracy(batch, batch.targets)  # all True: the targets are a perfect output
    pdm = generate("anti_pdm_delay", 200, seed=0, mode="test")  # pdm.choice: correct choice
"""

from .core import EPOCHS, LAYOUTS, Batch, decode_direction, popvec
from .pdm import PDM_PERIODS, PDM_TASKS, decision_accuracy, generate_pdm, is_pdm, pdm_accuracy
from .scoring import accuracy, accuracy_by_task
from .yang import (
    DEFAULT_RULE_INDEX,
    TASK_LABELS,
    TASKS,
    generate,
    generate_mixture,
    test_grid_size,
)

__all__ = [
    "Batch",
    "EPOCHS",
    "LAYOUTS",
    "TASKS",
    "TASK_LABELS",
    "DEFAULT_RULE_INDEX",
    "generate",
    "generate_mixture",
    "accuracy",
    "accuracy_by_task",
    "decode_direction",
    "popvec",
    "test_grid_size",
    "PDM_TASKS",
    "PDM_PERIODS",
    "generate_pdm",
    "pdm_accuracy",
    "decision_accuracy",
    "is_pdm",
]
