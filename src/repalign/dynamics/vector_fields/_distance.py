"""The public entry points: one pair (numpy) and many pairs at once (torch, optional)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..._validation import check_random_state
from ._gl import _gl_score, _gl_search
from ._orthogonal import _finish_search, _orthogonal_search, _scored, _search_starts
from ._problem import (
    VectorFieldResult, _blas_threads, _check_options, _check_search_params, _effort_search, _prepare_pair,
)


def vector_field_distance(
    A: Any, B: Any, *, group: str = "O", score: str = "angular", n_restarts: int = 4,
    seed: Any = 0, tol: float = 1e-10, max_iter: int = 3000, effort: str = "default",
) -> VectorFieldResult:
    """Procrustes distance between two linear vector fields (DSA's similarity-transform distance).

    A: (n, n) and B: (m, m) real operators (e.g. DMD matrices); each is scaled to unit Frobenius
    norm and the smaller one zero-padded to max(n, m).  ``group`` in {"O", "SO", "GL"};
    ``score`` "angular" (radians) or "euclidean" (unit-norm operators).  ``n_restarts`` sets the
    search effort: 8 * n_restarts seeded Haar starts (``seed``) for n <= 32, ceil(n_restarts / 4)
    above, besides the three structured starts; ``tol`` bounds the Riemannian gradient norm (and
    the gap to the lower bound that certifies a global optimum); ``max_iter`` caps all iterations
    spent on the returned start.  ``effort`` ("fast", "default", "thorough") scales the random
    starts (n_restarts x 1/4, 1, 4) and the gradient norm every start is descended to (1e-3,
    1e-4, 1e-5); failure rates of each in docs/dsa_optimiser.md.
    """
    _check_options(group, score)
    _check_search_params(n_restarts, tol, max_iter, effort)
    n_restarts, screen_tol = _effort_search(int(n_restarts), effort)
    rng = check_random_state(seed)
    Ah, Bh = _prepare_pair(A, B)
    with _blas_threads(Ah.shape[0]):
        if group == "GL":
            res = _gl_search(Ah, Bh, score, n_restarts, rng, float(tol), int(max_iter), screen_tol)
            value = _gl_score(Ah, Bh, res.C, score)
            return VectorFieldResult(
                value, res.loss, res.C, float("nan"), res.converged, res.n_iter, res.restarts, res.method
            )
        res = _orthogonal_search(Ah, Bh, group == "SO", n_restarts, rng, float(tol), int(max_iter), screen_tol)
    return _scored(res, score)


def vector_field_distances(
    As: Sequence[Any], Bs: Sequence[Any], *, group: str = "O", score: str = "angular",
    n_restarts: int = 4, seed: Any = 0, tol: float = 1e-10, max_iter: int = 3000,
    device: Any = "cpu", effort: str = "default",
) -> list[VectorFieldResult]:
    """:func:`vector_field_distance` for the pairs ``(As[i], Bs[i])`` at once, in torch.

    The optional accelerated path (needs torch): every pair gets the same starts as in
    :func:`vector_field_distance` (structured ones, then Haar starts from a generator seeded by
    ``seed``, afresh for each pair), and the starts of all pairs of one (padded) size descend as one
    stack on ``device`` ("cpu", "cuda", a ``torch.device``), in float64; the best start of each
    pair is then polished by the same trust-region Newton method on the CPU.  Exact conjugacies are
    found and certified exactly as in the numpy path.  Otherwise results agree with
    :func:`vector_field_distance` along a trajectory to rounding, but rounding can steer a
    non-convex descent into a different local minimum, so individual scores may differ (both are
    converged local optima; see docs/dsa_optimiser.md).  ``group`` "O" or "SO".
    On a CPU this path is slower than the numpy one (torch's batched products of small matrices
    are about 2x slower than numpy's there); it is meant for GPUs.
    """
    _check_options(group, score)
    if group == "GL":
        raise ValueError("group must be 'O' or 'SO' for vector_field_distances; use vector_field_distance for 'GL'")
    _check_search_params(n_restarts, tol, max_iter, effort)
    n_restarts, screen_tol = _effort_search(int(n_restarts), effort)
    if len(As) != len(Bs):
        raise ValueError(f"As and Bs must hold the same number of operators; got {len(As)} and {len(Bs)}")
    from .. import _torch_vf  # lazy: torch only when this path is used (`import repalign` never pulls it)

    results: list[VectorFieldResult | None] = [None] * len(As)
    by_size: dict[int, list] = {}
    for i, (A, B) in enumerate(zip(As, Bs)):
        Ah, Bh = _prepare_pair(A, B)
        found = _search_starts(Ah, Bh, group == "SO", int(n_restarts), check_random_state(seed), float(tol))
        if isinstance(found, VectorFieldResult):
            results[i] = _scored(found, score)
        else:
            by_size.setdefault(Ah.shape[0], []).append((i, Ah, Bh, *found))
    for items in by_size.values():
        counts = [len(starts) for _, _, _, starts, _, _ in items]
        A_rep = np.concatenate([np.repeat(Ah[None], k, 0) for (_, Ah, *_), k in zip(items, counts)])
        B_rep = np.concatenate([np.repeat(Bh[None], k, 0) for (_, _, Bh, *_), k in zip(items, counts)])
        starts = np.concatenate([item[3] for item in items])
        C, f, gnorm, iters = _torch_vf.lbfgs_many(
            A_rep, B_rep, starts, max(float(tol), screen_tol), int(max_iter), device=device
        )
        offsets = np.concatenate([[0], np.cumsum(counts)])
        for (i, Ah, Bh, _, kinds, lb_loss), lo, hi in zip(items, offsets[:-1], offsets[1:]):
            with _blas_threads(Ah.shape[0]):
                res = _finish_search(Ah, Bh, (C[lo:hi], f[lo:hi], gnorm[lo:hi], iters[lo:hi]), kinds,
                                     lb_loss, float(tol), int(max_iter))
            results[i] = _scored(res, score)
    return results  # type: ignore[return-value]

