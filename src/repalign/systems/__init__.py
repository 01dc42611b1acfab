"""Generators of test systems with known ground truth.

Every generator is seeded (``seed``: int or ``numpy.random.Generator``; same seed, same
arrays) and returns a :class:`System`: ``data`` of shape ``(trials, time, units)`` plus
``labels`` (the ground truth: regime, motifs, fixed points ...) and ``meta`` (the
parameters that made it).  Time is in integration steps unless ``meta["dt"]`` says otherwise.

* :mod:`.linear` -- 2-D linear stochastic processes (Circle / Oval / Walk trio).
* :mod:`.lorenz` -- the Lorenz system in its three regimes, RK4.
* :mod:`.attractors` -- ring, line, point and bistable attractors with matched condition
  averages (Galgali et al. 2023 style), and a ring-to-line interpolation.
* :mod:`.motifs` -- trajectories composed end-to-end from elementary linear motifs.
* :mod:`.deform` -- smooth invertible deformations (sigmoid warps, random diffeomorphisms).
* :mod:`.observe` -- random linear / nonlinear observation into N neurons, with noise.
"""

from ._base import System
from .attractors import ATTRACTOR_KINDS, arc_attractor, attractor_system, condition_means
from .deform import RandomDiffeomorphism, deform, sigmoid_warp
from .linear import circle_oval_walk, linear_process
from .lorenz import LORENZ_REGIMES, lorenz, lorenz_fixed_points, lorenz_jacobian, lorenz_rhs
from .motifs import MOTIFS, compose_motifs, motif_map
from .observe import observe, random_observation

__all__ = [
    "System",
    "linear_process",
    "circle_oval_walk",
    "lorenz",
    "lorenz_rhs",
    "lorenz_jacobian",
    "lorenz_fixed_points",
    "LORENZ_REGIMES",
    "attractor_system",
    "arc_attractor",
    "condition_means",
    "ATTRACTOR_KINDS",
    "compose_motifs",
    "motif_map",
    "MOTIFS",
    "sigmoid_warp",
    "RandomDiffeomorphism",
    "deform",
    "observe",
    "random_observation",
]
