"""Dynamical similarity analysis (DSA; Ostrow et al. 2023) as a registered measure.

``"dsa"`` compares two systems by their linearised dynamics:

1. *prepare* (once per system): a HAVOK DMD fit (:class:`repalign.dynamics.dmd.DMD`; delay
   embedding, SVD truncated to rank r, least squares) gives the operator ``A_v``.
2. *compare* (per pair): Procrustes over vector fields,
   ``min_{C in G} angle(A_v^X, C A_v^Y C^{-1})`` on unit-Frobenius-norm operators, by
   :func:`repalign.dynamics.vector_fields.vector_field_distance` (spectral starts, ``n_restarts``
   seeded random restarts, a certified lower bound for O/SO).  With ``amortise`` (default),
   ``pairwise`` and the engine's chunks search all pairs together, each pair starting from
   compositions of the transforms already found (:mod:`repalign.dynamics.amortised`); with
   ``device`` set, ``pairwise`` sends all pairs of a block through the batched torch path
   (:func:`vector_field_distances`).  ``effort`` ("fast", "default", "thorough") sets the search
   budget.

Invariances (of the score, for a system ``X`` of shape (time, units)):

* ``orthogonal`` / ``permutation``: ``X -> X Q`` maps the embedding ``H -> H (I_D kron Q)``,
  which leaves the singular values and the time coordinates ``V`` unchanged (up to signs, or
  a rotation within repeated singular values), so ``A_v`` changes by an orthogonal conjugation
  that the O(n) search undoes.
* ``isotropic_scaling``: ``V`` is unchanged by ``X -> c X``.
* not ``translation``: the data are not centred (as in dsa-metric), so a constant offset is a
  fixed point of the dynamics and changes ``A_v``. Centre the trials yourself if offsets are
  irrelevant.
* At full rank (no truncation, ``lamb = 0``) any invertible linear map of the units leaves the
  column space of ``H`` and hence ``A_v`` (up to orthogonal conjugation) unchanged; with
  truncation this no longer holds, so ``invertible_linear`` is not declared.

Options from the Neuromatch tutorial's DSA class (docs/tutorial.md): ``kernel`` ("rbf",
"laplacian", "polynomial", "linear"; with ``num_centers``, ``kernel_width``, ``kernel_degree``)
fits a :class:`~repalign.dynamics.kernel_dmd.KernelDMD` instead (centres drawn with ``seed``);
``score="wasserstein"`` with ``wasserstein_compare`` "eig" or "sv" scores W2 between the
eigenvalues or singular values of the two operators, and ``wasserstein_compare`` alone makes
only pairs of different sizes fall back to it (others zero-pad as before). These options enter
the key only when not at their defaults. Per-system DMD parameters: :mod:`~repalign.dynamics.dsa_systems`.

``group`` is the matrix group the vector-field Procrustes minimises over (O(n), SO(n) or GL(n)),
not a finite group (:mod:`repalign.studies.finite_groups`) nor ``calibrate(groups=)``'s
permutation blocks. With ``group`` "O" or "SO" the angular score is a metric (in radians, in [0, pi]) on systems
modulo these invariances; ``group="GL"`` is not (see ``vector_fields``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .._validation import check_choice, check_scalar
from ..registry import Comparison, Measure, register
from .dmd import DMD, DMD_PARAMS, check_dmd_params
from .kernel_dmd import KernelDMD, check_kernel_params, n_centers
from .spectral import spectral_wasserstein
from .amortised import amortised_distances, amortised_pairs
from .vector_fields import EFFORTS, GROUPS, SCORES, vector_field_distance, vector_field_distances

__all__ = ["DSA", "dsa_from_operators"]

_VF_EXTRAS = ("loss", "lower_bound", "converged", "n_iter", "method")

# Options added after stores of DSA scores existed: they enter the measure's key only when set
# to something else than these defaults, so that existing keys (and sweep stores) stay valid.
OPTION_DEFAULTS = {"kernel": None, "num_centers": 0.1, "kernel_width": None, "kernel_degree": 3,
                   "wasserstein_compare": None}
KERNEL_PARAMS = ("kernel", "num_centers", "kernel_width", "kernel_degree")
DSA_SCORES = SCORES + ("wasserstein",)
WASSERSTEIN_COMPARE = (None, "eig", "sv")


@dataclass(frozen=True)
class _DSAState:
    A: np.ndarray  # A_v, the DMD operator in reduced coordinates
    eigenvalues: np.ndarray
    rank: int
    fit_error: float  # relative one-step residual of the DMD fit


def _check_vf_params(group: Any, score: Any, n_restarts: Any, scores: tuple = SCORES) -> None:
    check_choice(group, "group", GROUPS)
    check_choice(score, "score", scores)
    check_scalar(n_restarts, "n_restarts", int, min_val=0)


def _canonical_order(A: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pair in a fixed order, so that d(A, B) and d(B, A) run the same search.

    For O(n) the landscape is symmetric (L_AB(C) = L_BA(C^T)), but a non-convex search from
    seeded starts can end in different local minima in the two orders (seen: up to 0.012 rad
    on random 20 x 20 pairs). Ordering by shape and then bytes makes the score exactly symmetric.
    """
    if (A.shape, A.tobytes()) <= (B.shape, B.tobytes()):
        return A, B
    return B, A


@register
class DSA(Measure):
    """Dynamical similarity analysis: DMD operators compared by Procrustes over vector fields."""

    name = "dsa"
    kind = "distance"
    range = (0.0, np.pi)  # angular score; euclidean is in [0, 2]; wasserstein in [0, inf)
    invariances = frozenset({"orthogonal", "isotropic_scaling", "permutation"})
    is_metric = True  # for group O/SO (module docstring)
    matched_samples = False
    input = "trials"
    defaults = {**DMD_PARAMS, "group": "O", "score": "angular", "n_restarts": 4, "seed": 0, "device": None,
                "effort": "default", "amortise": True, **OPTION_DEFAULTS}

    def _validate_params(self) -> dict:
        p = self.params
        check_dmd_params(**{k: p[k] for k in DMD_PARAMS})
        check_kernel_params(*(p[k] for k in KERNEL_PARAMS))
        _check_vf_params(p["group"], p["score"], p["n_restarts"], DSA_SCORES)
        check_choice(p["wasserstein_compare"], "wasserstein_compare", WASSERSTEIN_COMPARE)
        if p["score"] == "wasserstein" and p["wasserstein_compare"] is None:
            raise ValueError("score='wasserstein' needs wasserstein_compare='eig' or 'sv'")
        _check_device(p["device"], p["group"])
        _check_search_knobs(p["effort"], p["amortise"])
        return {"seed": _check_seed(p["seed"])}

    # Options added by issue 23 stay out of the key at their defaults: a default DSA keeps the key
    # (and the stored results) it had before they existed.
    key_omits_at_default = frozenset(OPTION_DEFAULTS)

    memory_way_out = "use fewer delays (n_delays), fewer units (project onto principal components first) or fewer time points"

    def _memory_need(self, n: int, p: int) -> tuple[float, str]:
        """The delay embedding, about (n, p * n_delays) for n time points over all trials, held
        a few times over (embedding, centred copy, SVD factor) plus its k x k factor, k = min(n,
        p * n_delays): the n_delays factor is what the default estimate would miss. With a kernel,
        the feature block is (n, m) for m centres (m <= n) instead."""
        width = p * int(self.params["n_delays"])
        if self.params["kernel"] is not None:
            width = max(width, n_centers(self.params["num_centers"], n))
        k = min(n, width)
        return (8.0 * (3 * n * width + 2 * k * k),
                f"a {n:,} x {width:,} delay embedding or kernel feature block ({p:,} units x "
                f"{self.params['n_delays']} delays) and a {k:,} x {k:,} factor (float64)")

    def dmd(self) -> DMD:
        """An unfitted :class:`DMD` (or :class:`KernelDMD` with ``kernel`` set) with this measure's
        DMD parameters; the centres of a kernel DMD are drawn with ``seed``."""
        p = self.params
        dmd_params = {k: p[k] for k in DMD_PARAMS}
        if p["kernel"] is None:
            return DMD(**dmd_params)
        return KernelDMD(**dmd_params, **{k: p[k] for k in KERNEL_PARAMS}, seed=p["seed"])

    def _prepare(self, trials: list[np.ndarray]) -> _DSAState:
        dmd = self.dmd().fit(trials)
        if not np.any(dmd.A_v):
            raise ValueError("X has a zero DMD operator (its fitted linear dynamics map every state to 0); "
                             "DSA's angular score is undefined for it")
        return _DSAState(dmd.A_v, dmd.eigenvalues, dmd.rank, dmd.fit_error)

    def _wasserstein(self, a: _DSAState, b: _DSAState) -> Comparison:
        how = self.params["wasserstein_compare"]
        if how == "eig":
            x, y = a.eigenvalues, b.eigenvalues
        else:
            x, y = np.linalg.svd(a.A, compute_uv=False), np.linalg.svd(b.A, compute_uv=False)
        return Comparison(spectral_wasserstein(x, y, p=2), {"method": f"wasserstein_{how}"})

    def _compare(self, a: _DSAState, b: _DSAState) -> Comparison:
        p = self.params
        if p["score"] == "wasserstein" or (a.A.shape != b.A.shape and p["wasserstein_compare"] is not None):
            return self._wasserstein(a, b)
        A, B = _canonical_order(a.A, b.A)
        res = vector_field_distance(
            A, B, group=p["group"], score=p["score"], n_restarts=p["n_restarts"], seed=p["seed"],
            effort=p["effort"],
        )
        return Comparison(float(res.score), {k: getattr(res, k) for k in _VF_EXTRAS})

    def _procrustes_block(self, states: list) -> bool:
        """Whether the batched Procrustes paths apply (one operator size, no Wasserstein score)."""
        return self.params["score"] != "wasserstein" and len({s.A.shape for s in states}) == 1

    def _compare_many(self, states_a: list, states_b: list, symmetric: bool = False) -> np.ndarray | None:
        """With ``device`` set, all pairs of the block descend together in torch on that device
        (:func:`vector_field_distances`); otherwise None (one numpy search per pair)."""
        p = self.params
        if (p["device"] is None and not p["amortise"]) or not self._procrustes_block(list(states_a) + list(states_b)):
            return None
        ops_a = [s.A for s in states_a]
        ops_b = ops_a if symmetric else [s.A for s in states_b]
        if p["device"] is None:
            return amortised_distances(ops_a, None if symmetric else ops_b, group=p["group"], score=p["score"],
                                       n_restarts=p["n_restarts"], effort=p["effort"], seed=p["seed"])
        return _operator_block(ops_a, ops_b, symmetric, group=p["group"], score=p["score"],
                               n_restarts=p["n_restarts"], seed=p["seed"], device=p["device"], effort=p["effort"])

    def compare_pairs(self, prepared: dict, pairs: list) -> dict | None:
        """The engine's hook for a chunk: {(a, b): Comparison} for the index pairs ``pairs`` into
        ``prepared`` (index -> Prepared), by the amortised search (the chunk's pairs share their
        solutions); None when ``amortise`` is off or ``device`` is set (then the block or per-pair
        path runs)."""
        p = self.params
        if p["device"] is not None or not p["amortise"] or not self._procrustes_block([q.state for q in prepared.values()]):
            return None
        ops = {i: q.state.A for i, q in prepared.items()}
        keys = sorted(ops)
        index = {k: t for t, k in enumerate(keys)}
        found = amortised_pairs([ops[k] for k in keys], [(index[a], index[b]) for a, b in pairs],
                                group=p["group"], score=p["score"], n_restarts=p["n_restarts"],
                                effort=p["effort"], seed=p["seed"])
        return {(a, b): Comparison(float(r.score), {k: getattr(r, k) for k in _VF_EXTRAS})
                for (a, b), r in ((q, found[(index[q[0]], index[q[1]])]) for q in pairs)}


def _check_search_knobs(effort: Any, amortise: Any) -> None:
    check_choice(effort, "effort", tuple(EFFORTS))
    if not isinstance(amortise, (bool, np.bool_)):
        raise ValueError(f"amortise must be True or False; got {amortise!r}")


def _check_seed(seed: Any) -> int | None:
    """A non-negative int or None. A numpy Generator is drawn from once, here, so that the measure's
    key (and a sweep store's rows) stay the same for every use of this measure instance."""
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(2**31))
    try:
        return check_scalar(seed, "seed", int, min_val=0, allow_none=True)
    except ValueError:
        raise ValueError(f"seed must be a non-negative int, None or numpy.random.Generator; got {seed!r}") from None


def _check_device(device: Any, group: Any) -> None:
    if device is None:
        return
    if not isinstance(device, str) and type(device).__name__ != "device":
        raise ValueError(f"device must be None, a string such as 'cpu' or 'cuda', or a torch.device; got {device!r}")
    if group == "GL":
        raise ValueError("device (the batched torch path) supports group 'O' and 'SO', not 'GL'")
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise ValueError(f"device {device!r} is not a torch device ({exc})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r}: CUDA is not available on this machine; use device='cpu' or None")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")


def _operator_block(
    As: Sequence[np.ndarray], Bs: Sequence[np.ndarray], symmetric: bool, **options: Any
) -> np.ndarray:
    """(len(As), len(Bs)) scores from one call of :func:`vector_field_distances` (pairs in canonical
    order; for ``symmetric`` only the upper triangle, mirrored)."""
    if symmetric:
        idx = [(i, j) for i in range(len(As)) for j in range(i, len(As))]
    else:
        idx = [(i, j) for i in range(len(As)) for j in range(len(Bs))]
    pairs = [_canonical_order(np.asarray(As[i], dtype=np.float64), np.asarray(Bs[j], dtype=np.float64))
             for i, j in idx]
    res = vector_field_distances([a for a, _ in pairs], [b for _, b in pairs], **options)
    out = np.zeros((len(As), len(Bs)))
    for (i, j), r in zip(idx, res):
        out[i, j] = r.score
        if symmetric:
            out[j, i] = r.score
    return out


def dsa_from_operators(
    As: Sequence[Any], Bs: Sequence[Any] | None = None, *, group: str = "O", score: str = "angular",
    n_restarts: int = 4, seed: Any = 0, tol: float = 1e-10, max_iter: int = 3000, device: Any = None,
    effort: str = "default", amortise: bool = True,
) -> np.ndarray:
    """DSA scores between precomputed operators (e.g. ``DMD(...).fit(X).A_v``).

    ``As``: N square operators; ``Bs``: M further operators or None. Returns the (N, M) matrix of
    :func:`vector_field_distance` scores, or the symmetric (N, N) matrix of ``As`` against
    themselves (upper triangle computed, mirrored). Every pair uses the same ``seed``. With
    ``device`` ("cpu", "cuda", ...), all pairs descend together in torch on that device
    (:func:`vector_field_distances`; for GPUs).  Without ``device`` and with ``amortise`` (the
    default) the pairs share their solutions (:mod:`repalign.dynamics.amortised`): a pair's score
    can then differ from its one-pair search (docs/dsa_optimiser.md); ``amortise=False`` searches
    every pair alone.  ``effort``: "fast", "default" or "thorough" (see vector_field_distance).
    """
    _check_vf_params(group, score, n_restarts)
    _check_device(device, group)
    _check_search_knobs(effort, amortise)
    if len(As) == 0 or (Bs is not None and len(Bs) == 0):
        raise ValueError("As (and Bs when given) must contain at least one operator")
    if device is not None:
        return _operator_block(As, As if Bs is None else Bs, Bs is None, group=group, score=score,
                               n_restarts=n_restarts, seed=seed, tol=tol, max_iter=max_iter, device=device,
                               effort=effort)
    if amortise:
        return amortised_distances(As, Bs, group=group, score=score, n_restarts=n_restarts, effort=effort,
                                   seed=seed, tol=tol, max_iter=max_iter)

    def one(A: Any, B: Any) -> float:
        A, B = _canonical_order(np.asarray(A, dtype=np.float64), np.asarray(B, dtype=np.float64))
        return vector_field_distance(A, B, group=group, score=score, n_restarts=n_restarts,
                                     seed=seed, tol=tol, max_iter=max_iter, effort=effort).score

    if Bs is not None:
        return np.array([[one(A, B) for B in Bs] for A in As], dtype=np.float64)
    n = len(As)
    out = np.zeros((n, n))
    for i in range(n):
        for j in range(i, n):
            out[i, j] = out[j, i] = one(As[i], As[j])
    return out
