"""Learning-curve figure: accuracy per task (top) and training loss (bottom) against update step."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence


def plot_learning_curves(histories: Sequence[list[dict]], path: str | os.PathLike,
                         labels: Sequence[str] | None = None) -> Path:
    """Save a PNG of one or more consecutive stages' histories (stage k's steps follow stage k-1's)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    labels = list(labels) if labels is not None else [f"stage{i + 1}" for i in range(len(histories))]
    fig, (ax_acc, ax_loss) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    offset = 0
    for k, (hist, label) in enumerate(zip(histories, labels)):
        if not hist:
            continue
        steps = [offset + h["step"] for h in hist]
        for task in hist[0]["accuracy"]:
            ax_acc.plot(steps, [h["accuracy"][task] for h in hist], marker=".", label=f"{label}: {task}")
        ax_loss.plot(steps[1:], [h["loss"] for h in hist[1:]], marker=".", color=str(0.6 * k / max(len(histories) - 1, 1)),
                     label=label)
        if k > 0:
            for ax in (ax_acc, ax_loss):
                ax.axvline(offset, color="0.5", ls="--", lw=1)
        offset = steps[-1]
    ax_acc.set_ylabel("accuracy (fresh trials)")
    ax_acc.set_ylim(-0.02, 1.02)
    ax_acc.legend(fontsize=8)
    ax_loss.set_ylabel("training loss")
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("update step")
    ax_loss.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
