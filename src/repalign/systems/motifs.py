"""Trajectories composed end-to-end from elementary motifs.

Each motif is a 2-D affine map applied for a fixed number of steps,
x(t + 1) = A x(t) + b, and a trajectory chains segments: the first state of each segment is
the last state of the previous one.  Two trajectories with the same segment count and the
same initial states "share" the motifs that occupy the same slot, so their samples
correspond one to one (time t of trial i in both).

Motifs (per step): rotation (by 2 pi / 20), spiral (contracting clockwise rotation),
contraction (x 0.95), expansion (x 1.04), shear (x_1 += 0.1 x_2) and translation (+ (0.1,
0.05)).  All six have distinct affine maps, none is a rotation/reflection of another.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .._validation import check_random_state, to_numpy
from ._base import System, check_nonnegative, check_positive_int, seed_meta
from .linear import rotation

MOTIFS: dict[str, tuple[np.ndarray, np.ndarray]] = {
    "rotation": (rotation(2 * np.pi / 20), np.zeros(2)),
    "spiral": (0.96 * rotation(-2 * np.pi / 12), np.zeros(2)),
    "contraction": (0.95 * np.eye(2), np.zeros(2)),
    "expansion": (1.04 * np.eye(2), np.zeros(2)),
    "shear": (np.array([[1.0, 0.1], [0.0, 1.0]]), np.zeros(2)),
    "translation": (np.eye(2), np.array([0.1, 0.05])),
}


def motif_map(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(A, b) of a motif: one step is x -> A x + b.  Returns copies."""
    if name not in MOTIFS:
        raise ValueError(f"motif must be one of {sorted(MOTIFS)}; got {name!r}")
    A, b = MOTIFS[name]
    return A.copy(), b.copy()


def compose_motifs(
    motifs: Sequence[str],
    segment_length: int = 30,
    trials: int = 4,
    x0: Any = None,
    noise: float = 0.0,
    seed: Any = None,
) -> System:
    """Chain ``motifs`` end-to-end, ``segment_length`` steps each.

    Parameters
    ----------
    motifs : sequence of str
        Motif names (keys of :data:`MOTIFS`), in order.
    segment_length : int
        Steps per segment.
    trials : int
        Trajectories, one per initial state.
    x0 : (trials, 2) array, optional
        Initial states; default N(0, I) draws from ``seed``.
    noise : float
        Process-noise SD per step (0: deterministic segments).
    seed : int or Generator

    Returns
    -------
    System with data (trials, len(motifs) * segment_length, 2); labels ``"motifs"`` (the
    names) and ``"boundaries"`` (``[start, stop)`` step indices of each segment: the segment
    maps data[:, t] to data[:, t + 1] for start <= t < stop - 1, and its last state feeds
    the next segment).
    """
    if len(motifs) == 0:
        raise ValueError("motifs must name at least one motif")
    maps = [motif_map(m) for m in motifs]
    L = check_positive_int(segment_length, "segment_length", minimum=2)
    trials = check_positive_int(trials, "trials")
    noise = check_nonnegative(noise, "noise")
    rng = check_random_state(seed)
    x = rng.standard_normal((trials, 2)) if x0 is None else to_numpy(x0, "x0").reshape(trials, 2)
    out = np.empty((trials, L * len(maps), 2))
    t = 0
    for A, b in maps:
        for _ in range(L):
            out[:, t] = x
            x = x @ A.T + b + noise * rng.standard_normal((trials, 2))
            t += 1
    bounds = [(k * L, (k + 1) * L) for k in range(len(maps))]
    labels = {"motifs": list(motifs), "boundaries": bounds}
    return System(out, labels, {"segment_length": L, "noise": noise, "seed": seed_meta(seed)})
