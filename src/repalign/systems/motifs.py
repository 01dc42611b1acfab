"""Trajectories composed end-to-end from elementary motifs.

Each motif is a 2-D affine map applied for a fixed number of steps,
x(t + 1) = A x(t) + b, and a trajectory chains segments: the first state of each segment is
the last state of the previous one.  Two trajectories with the same segment count and the
same initial states "share" the motifs that occupy the same slot, so their samples
correspond one to one (time t of trial i in both).

Motifs (per step): rotation (by 2 pi / 20), spiral (contracting clockwise rotation),
contraction (x 0.95), expansion (x 1.04), shear (x_1 += 0.1 x_2) and translation (+ (0.1,
0.05)).  All six have distinct affine maps, none is a rotation/reflection of another.

:func:`line_motif` and :func:`attach_motifs` build the 3-D motif sequences of Guilhot et al.
(arXiv 2410.24070): whole trajectory sets (trials, time, 3) attached end to end by their
increments, downsampled back to the length of one motif and min-max scaled.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .._validation import check_choice, check_random_state, to_numpy
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
    check_choice(name, "motif", sorted(MOTIFS))
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


# ---------------------------------------------------------------------------- paper motifs
def line_motif(trials: int = 200, T: int = 200, x0: Any = None, seed: Any = None) -> np.ndarray:
    """Straight accelerating lines in 3-D, min-max scaled per trajectory.

    Trajectory i: ``x(t) = x0_i + d_i t (t - 1) / 2`` (the paper's recursion
    ``x(t + 1) = x(t) + t d``), with ``d_i`` a seeded standard-normal direction and ``x0_i``
    uniform in [0, 1)^3 unless given (trials, 3). Returns (trials, T, 3).
    """
    from .lorenz import unit_scale

    trials = check_positive_int(trials, "trials")
    T = check_positive_int(T, "T", minimum=2)
    rng = check_random_state(seed)
    x0 = rng.random((trials, 3)) if x0 is None else to_numpy(x0, "x0").reshape(trials, 3)
    d = rng.standard_normal((trials, 3))
    t = np.arange(T, dtype=np.float64)
    return unit_scale(x0[:, None, :] + (t * (t - 1) / 2)[None, :, None] * d[:, None, :])


def attach_motifs(segments: Sequence[Any], downsample: bool = True) -> np.ndarray:
    """Motif sets attached end to end, as in the paper's ``combine_simulations``.

    ``segments``: arrays (trials, T_k, units). The result starts as the first segment; each
    further segment continues from the last state reached, first by a step of 1e-4 times the
    previous segment's last increment, then by its own increments. With ``downsample``, every
    k-th sample is kept (k = number of segments), and each trajectory is min-max scaled
    (:func:`repalign.systems.lorenz.unit_scale`). Returns a new array.
    """
    from .lorenz import unit_scale

    if len(segments) < 1:
        raise ValueError("segments must hold at least one array")
    arrs = [to_numpy(s, f"segments[{i}]") for i, s in enumerate(segments)]
    if any(a.ndim != 3 or a.shape[0] != arrs[0].shape[0] or a.shape[2] != arrs[0].shape[2] for a in arrs):
        raise ValueError("segments must be (trials, time, units) arrays with the same trials and units")
    out = arrs[0].copy()
    for B in arrs[1:]:
        start = out[:, -1:] + 1e-4 * (out[:, -1:] - out[:, -2:-1])
        steps = np.cumsum(np.diff(B, axis=1), axis=1)
        out = np.concatenate([out, start, start + steps], axis=1)
    if downsample:
        out = out[:, :: len(arrs)]
    return unit_scale(out)
