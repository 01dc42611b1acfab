"""Procrustes over vector fields: the optimiser at the heart of DSA (Ostrow et al. 2023).

Two square real operators A and B (e.g. DMD fits) are compared up to a change of coordinates C
from a group G, ``d(A, B) = min_{C in G} dist(A_hat, C B_hat C^{-1})`` on unit-Frobenius-norm
operators (the smaller one zero-padded): G = O(n) (default), SO(n) or GL(n); score "angular"
(radians) or "euclidean".  The algorithm, its certified lower bound and its measurements are in
docs/dsa_optimiser.md.  One concern a module:

* ``_problem``: inputs, options, scores, the lower bound, :class:`VectorFieldResult`;
* ``_spectral``: the structured starts (eigenvector alignment);
* ``_geometry``: loss, gradient, Hessian and retraction on O(n), and their batched numpy kernels;
* ``_batched_lbfgs``: the batched Riemannian L-BFGS loop, written once for numpy and torch through a small
  backend shim (the torch backend is :mod:`repalign.dynamics._torch_vf`, imported lazily);
* ``_orthogonal``: the O/SO search (starts, descent, trust-region Newton polish);
* ``_gl``: the GL(n) search;
* ``_distance``: the entry points :func:`vector_field_distance` and :func:`vector_field_distances`.
"""

from typing import Any

from . import _batched_lbfgs, _geometry, _gl, _orthogonal, _problem, _spectral
from ._distance import vector_field_distance, vector_field_distances
from ._problem import EFFORTS, GROUPS, SCORES, VectorFieldResult, procrustes_lower_bound

__all__ = ["VectorFieldResult", "vector_field_distance", "vector_field_distances", "procrustes_lower_bound", "EFFORTS",
           "GROUPS", "SCORES"]

_HOMES = (_problem, _geometry, _spectral, _batched_lbfgs, _orthogonal, _gl)


def __getattr__(name: str) -> Any:
    """``vector_fields._name`` for an internal (as the tests and benchmarks reach them): looked up
    in the module that is its home, so that no second list of names has to be kept here."""
    if name.startswith("_") and not name.startswith("__"):
        for module in _HOMES:
            if name in vars(module):
                return vars(module)[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
