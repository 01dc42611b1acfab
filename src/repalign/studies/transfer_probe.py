"""The seed's stage-2 rule-column initialisation and its backbone probe (issue 19).

* :func:`kaiming_uniform_column` — a fresh rule column drawn as the seed's expand-and-freeze
  draws it: ``torch.nn.init.kaiming_uniform_(col.view(-1, 1).t(), a=sqrt(5))``, i.e. the
  default init of ``torch.nn.Linear`` applied to a ``(1, units)`` view of the column, so
  fan_in = units and every entry is uniform on ``[-1/sqrt(units), 1/sqrt(units)]``
  (gain sqrt(2 / (1 + a^2)) = sqrt(1/3), bound = gain * sqrt(3 / fan_in)).
* :func:`reinit_rule_column` — overwrite a model's rule column with such a draw (start of stage 2).
* :func:`fresh_column_probe` — the seed's backbone probe: at the start of stage 2 the
  backbone is frozen and only the rule column is new; draw ``n_fresh`` Kaiming columns, run
  the frozen backbone on new-task trials, and report the full loss, the output-only loss and
  the accuracy of each, beside those of the trained column. It asks *how well does the
  pretrained backbone do on the new task before any stage-2 learning* (a starting-point
  measure), while the norm-matched null (``transfer.backbone_probe``) asks *is the learned
  column's direction special among columns of its size*.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from .._validation import check_scalar
from ..stats import p_value
from ..tasks import accuracy as task_accuracy

__all__ = ["kaiming_uniform_column", "reinit_rule_column", "fresh_column_probe", "KAIMING_A"]

KAIMING_A = math.sqrt(5.0)


def _generator(seed: Any):
    import torch

    if isinstance(seed, torch.Generator):
        return seed
    return torch.Generator().manual_seed(check_scalar(seed, "seed (or a torch.Generator)", int, min_val=0))


def kaiming_uniform_column(units: int, seed: Any, *, a: float = KAIMING_A, dtype=None):
    """A ``(units,)`` torch tensor drawn like the seed's stage-2 rule column.

    Exactly ``torch.nn.init.kaiming_uniform_(torch.empty(1, units), a=a, generator=g)[0]``
    with ``g`` seeded by ``seed`` (or ``seed`` itself when it is a ``torch.Generator``).
    """
    import torch

    check_scalar(units, "units", int, min_val=1)
    col = torch.empty(1, int(units), dtype=dtype or torch.get_default_dtype())
    torch.nn.init.kaiming_uniform_(col, a=a, generator=_generator(seed))
    return col[0]


def reinit_rule_column(model, column: int, seed: Any) -> None:
    """Overwrite column ``column`` of ``model.input_weight()`` with :func:`kaiming_uniform_column`."""
    import torch

    weight = model.input_weight()
    if not 0 <= int(column) < weight.shape[1]:
        raise ValueError(f"column must be in [0, {weight.shape[1]}); got {column}")
    with torch.no_grad():
        weight[:, int(column)] = kaiming_uniform_column(weight.shape[0], seed, dtype=weight.dtype)


def fresh_column_probe(net, batch, column: int, *, n_fresh: int = 10, seed: int = 0, l2_weight: float = 0.0) -> dict:
    """The seed's backbone probe on one trained network.

    Parameters
    ----------
    net : repalign model (trained; the backbone is everything but ``column``)
    batch : task Batch of the new task (``inputs``, ``targets``, ``mask``)
    column : int
        The new rule's input channel.
    n_fresh : int
        Fresh Kaiming-uniform columns (the seed draws 10).
    seed : int
        Column ``i`` is drawn from ``torch.Generator().manual_seed`` of an integer taken from
        ``np.random.default_rng([seed, i])``.
    l2_weight : float
        The training L2 coefficient; the full loss is ``output loss + l2_weight * sum of
        squared weight matrices`` (every parameter with >= 2 dims, as in stage 1).

    Returns
    -------
    dict with ``fresh_columns`` (``loss``, ``loss_out``, ``accuracy``: lists of ``n_fresh``),
    ``trained_column`` (the same three numbers for the trained column), ``stage2_start_loss``,
    ``stage2_start_loss_out``, ``stage2_start_accuracy`` (means over the fresh columns) and
    ``p_*``: where the trained column ranks among the fresh ones, ``(1 + #{fresh at least as
    good}) / (1 + n_fresh)`` (so at best 1/11 with 10 columns: the seed's probe is descriptive).
    The network is restored afterwards.
    """
    import torch

    from ..train import task_loss

    check_scalar(n_fresh, "n_fresh", int, min_val=1)
    weight = net.input_weight()
    trained = weight.detach()[:, column].clone()
    data = batch.to_torch()
    inputs, targets, mask = (data[k].to(weight.dtype) for k in ("inputs", "targets", "mask"))
    was_training = net.training
    net.eval()

    def evaluate(col) -> tuple[float, float, float]:
        with torch.no_grad():
            weight[:, column] = col
            y = net(inputs, noise=False).outputs
            out = float(task_loss(y, targets, mask, "mse"))
            reg = float(sum((p.detach() ** 2).sum() for p in net.parameters() if p.ndim >= 2))
            acc = float(np.mean(task_accuracy(batch, y.double().numpy())))
        return out + l2_weight * reg, out, acc

    try:
        fresh = []
        for i in range(int(n_fresh)):
            s = int(np.random.default_rng([int(seed), i]).integers(2**62))
            fresh.append(evaluate(kaiming_uniform_column(weight.shape[0], s, dtype=weight.dtype)))
        obs = evaluate(trained)
    finally:
        with torch.no_grad():
            weight[:, column] = trained
        net.train(was_training)
    f = np.array(fresh)
    res = {"fresh_columns": {"loss": f[:, 0].tolist(), "loss_out": f[:, 1].tolist(), "accuracy": f[:, 2].tolist()},
           "trained_column": {"loss": obs[0], "loss_out": obs[1], "accuracy": obs[2]},
           "stage2_start_loss": float(f[:, 0].mean()), "stage2_start_loss_out": float(f[:, 1].mean()),
           "stage2_start_accuracy": float(f[:, 2].mean()),
           "p_loss": p_value(obs[0], f[:, 0], "less"), "p_loss_out": p_value(obs[1], f[:, 1], "less"),
           "p_accuracy": p_value(obs[2], f[:, 2], "greater"), "n_fresh": int(n_fresh), "l2_weight": float(l2_weight)}
    return res


def probe_summary(probe: Mapping[str, Any]) -> dict:
    """Per-network differences fresh - trained (loss; positive = trained column better) and
    trained - fresh (accuracy), from a :func:`fresh_column_probe` result."""
    t = probe["trained_column"]
    return {"loss_gap": probe["stage2_start_loss"] - t["loss"],
            "loss_out_gap": probe["stage2_start_loss_out"] - t["loss_out"],
            "accuracy_gain": t["accuracy"] - probe["stage2_start_accuracy"]}
