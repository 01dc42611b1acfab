"""Amortised all-pairs vector-field Procrustes: the search learns from the pairs it has solved.

A pairwise DSA matrix over N operators asks N(N-1)/2 Procrustes problems, and the operators are
usually related (one network's dynamics in other coordinates, other seeds, checkpoints).  Writing
C_ij for the transform found for the pair (i, j), with ``C_ij A_j C_ij^T ~ A_i`` (unit-norm,
same-size operators), a solved pair hands its neighbours candidate starts:

* *compositions*: ``C_ik C_kj`` for every k with (i, k) and (k, j) solved (the transpose of a
  solved (k, i) stands for C_ik).  The angle it attains is at most theta_ik + theta_kj (conjugation
  by an orthogonal matrix is an isometry), so the intermediates with the smallest sum are the
  nearest solved neighbours of i and j and are screened first;
* *tree paths*: the product of the transforms along the pair's path in the spanning tree solved
  first (so that every later pair has a candidate);
* *transposes*: the transpose of (j, i)'s transform when that pair was solved.

Order.  A minimum spanning tree of the pairs (Prim, weighted by the certified lower bound, which
is O(n) per pair once each operator's spectra are known) is solved first, then the other pairs by
increasing lower bound.

Per pair.  Candidates are screened by their loss (products only); one that meets the certified
lower bound (within ``tol``) ends the pair.  Otherwise the pair's own starts (the structured ones
and the seeded Haar starts of :func:`~repalign.dynamics.vector_fields.vector_field_distance`, the
same seed for every pair, exact duplicates removed) are screened too, and the best transferred
candidate (two for effort "thorough") joins them only when it beats every one of them; if none
does, the pair gets the one-pair search.  If one does, all starts descend together by the batched
Riemannian L-BFGS for ``_PROBE`` iterations; then the pair's own starts whose loss is above
``prune`` times the transferred start's (and above it by ``_PRUNE_GAP``) stop, the rest descend
to the screening tolerance and the best is polished by trust-region Newton.  On unrelated pairs
nothing stops (the search is the one-pair search plus one start); on related ones the Haar starts
are far above the transferred start after the probe and stop.

Revisit.  Pairs solved early were offered few candidates (the forest's pairs none), and a pair
whose transferred start sat in a worse minimum passes that minimum on.  After all pairs are
solved, up to ``_PASSES`` passes offer every pair the best of its compositions through all other
operators; where that screens below the pair's loss it is descended and kept if it ends lower.

Deterministic: operators are labelled by content and pairs oriented canonically first, so the
result depends only on the set of operators, the set of pairs and ``seed`` (not on their order).
A pair's result can depend on which other operators are in the call (the candidates it is
offered); docs/dsa_optimiser.md measures by how much.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence

import numpy as np

from .._validation import check_random_state
from .vector_fields import vector_field_distance
from .vector_fields._batched_lbfgs import _lbfgs
from .vector_fields._geometry import _polar
from .vector_fields._orthogonal import _finish_search, _scored, _search_starts
from .vector_fields._problem import (
    VectorFieldResult, _as_operator, _blas_threads, _check_options, _check_search_params, _effort_search,
    _unit_operator,
)
from .vector_fields._spectral import _decompositions as _eig_decompositions

__all__ = ["amortised_distances", "amortised_pairs", "solve_pairs"]

_PROBE = 10  # L-BFGS iterations every start runs before the pruning test
_PRUNE_GAP = 0.02  # a start is dropped only when its loss exceeds the best by at least this much
_PASSES = 2  # revisiting passes after all pairs are solved (module docstring)
_N_SCREEN = 8  # two-hop compositions screened per pair (smallest theta_ik + theta_kj)
# effort -> (transferred starts descended, prune factor on the best loss after the probe)
_TRANSFER = {"fast": (1, 5.0), "default": (1, 10.0), "thorough": (2, np.inf)}


def _decompositions(A: np.ndarray):
    """vector_fields._decompositions, or None where eig fails (the pair's search then retries)."""
    try:
        return _eig_decompositions(A)
    except (np.linalg.LinAlgError, ValueError):
        return None


def _spectra(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted eigenvalues of the symmetric part and singular values of the skew part."""
    return np.linalg.eigvalsh((A + A.T) / 2), np.linalg.svd((A - A.T) / 2, compute_uv=False)


def _bound(sa, sb) -> float:
    """The certified lower bound on the loss (vector_fields._lower_bound_loss) from spectra."""
    return float(np.sum((sa[0] - sb[0]) ** 2) + np.sum((sa[1] - sb[1]) ** 2))


def _tree_order(pairs: list, bounds: dict) -> tuple[list, int]:
    """Prim's minimum spanning forest over the requested pairs (weights: lower bounds) first, in
    the order its edges are added, then the remaining pairs by increasing bound (ties by index).
    Returns (order, number of forest edges at its head)."""
    adj: dict = {}
    for p in pairs:
        a, b = p
        adj.setdefault(a, []).append((bounds[p], p, b))
        adj.setdefault(b, []).append((bounds[p], p, a))
    seen, tree = set(), []
    for root in sorted(adj):
        if root in seen:
            continue
        seen.add(root)
        frontier = sorted(adj[root])
        while frontier:
            _, p, v = frontier.pop(0)
            if v in seen:
                continue
            seen.add(v)
            tree.append(p)
            frontier = sorted(frontier + [e for e in adj[v] if e[2] not in seen])
    in_tree = set(tree)
    rest = sorted((p for p in pairs if p not in in_tree), key=lambda p: (bounds[p], p))
    return tree + rest, len(tree)


class _Solved:
    """Transforms and losses of the solved pairs, and the spanning forest's adjacency."""

    def __init__(self) -> None:
        self.C: dict = {}
        self.loss: dict = {}
        self.nbrs: dict = {}  # node -> solved neighbours
        self.tree: dict = {}  # node -> tree neighbours

    def add(self, p, C: np.ndarray, loss: float, tree: bool) -> None:
        self.C[p], self.loss[p] = C, loss
        for a, b in (p, p[::-1]):
            self.nbrs.setdefault(a, set()).add(b)
            if tree:
                self.tree.setdefault(a, set()).add(b)

    def get(self, a, b):
        """(C_ab, loss) with C_ab A_b C_ab^T ~ A_a, or None."""
        if (a, b) in self.C:
            return self.C[(a, b)], self.loss[(a, b)]
        if (b, a) in self.C:
            return self.C[(b, a)].T, self.loss[(b, a)]
        return None

    def path(self, a, b) -> list | None:
        """Nodes of the tree path from a to b (breadth-first), or None."""
        prev, todo = {a: None}, [a]
        while todo:
            u = todo.pop(0)
            if u == b:
                out = [u]
                while prev[out[-1]] is not None:
                    out.append(prev[out[-1]])
                return out[::-1]
            for v in sorted(self.tree.get(u, ())):
                if v not in prev:
                    prev[v] = u
                    todo.append(v)
        return None


def _angle(loss: float) -> float:
    return 2.0 * np.arcsin(min(np.sqrt(max(loss, 0.0)) / 2.0, 1.0))


def _candidates(solved: _Solved, a, b) -> tuple[list, list]:
    """Candidate transforms for the pair (a, b) from the solved pairs, with their kinds."""
    out, kinds = [], []
    direct = solved.get(a, b)
    if direct is not None:
        out.append(direct[0])
        kinds.append("transposed")
    via = []
    for k in solved.nbrs.get(a, set()) & solved.nbrs.get(b, set()):
        (Cak, lak), (Ckb, lkb) = solved.get(a, k), solved.get(k, b)
        via.append((_angle(lak) + _angle(lkb), k, Cak, Ckb))
    for _, _, Cak, Ckb in sorted(via, key=lambda t: (t[0], t[1]))[:_N_SCREEN]:
        out.append(Cak @ Ckb)
        kinds.append("composed")
    path = solved.path(a, b)
    if path is not None and len(path) > 3:  # (paths of one or two edges are among the above)
        C = solved.get(path[0], path[1])[0]
        for u, v in zip(path[1:-1], path[2:]):
            C = C @ solved.get(u, v)[0]
        out.append(_polar(C))
        kinds.append("tree-path")
    return out, kinds


def _distinct(Cs: list, kinds: list, losses: np.ndarray, k: int) -> tuple[list, list]:
    """The k lowest-loss candidates, skipping near-duplicates of one already taken."""
    taken, tk = [], []
    for i in np.argsort(losses, kind="stable"):
        if len(taken) == k:
            break
        if all(np.linalg.norm(Cs[i] - T) > 1e-3 * np.sqrt(Cs[i].shape[0]) for T in taken):
            taken.append(Cs[i])
            tk.append(kinds[i])
    return taken, tk


def _losses(A: np.ndarray, B: np.ndarray, Cs: np.ndarray) -> np.ndarray:
    M = Cs @ B @ np.swapaxes(Cs, -1, -2) - A
    return np.einsum("kij,kij->k", M, M)


def _descend_pruned(A, B, starts, n_transferred, stol, max_iter, prune):
    """Batched L-BFGS of ``starts``, the first ``n_transferred`` of them transferred: all run
    ``_PROBE`` iterations, then the others whose loss is above ``prune`` times the best transferred
    one (and above it by ``_PRUNE_GAP``) stop; the rest descend on to ``stol``."""
    if not np.isfinite(prune) or max_iter <= _PROBE:
        return _lbfgs(A, B, starts, stol, max_iter)
    C, f, g, it = _lbfgs(A, B, starts, stol, _PROBE)
    f_star = f[:n_transferred].min()
    dropped = (f > prune * f_star) & (f > f_star + _PRUNE_GAP)
    dropped[:n_transferred] = False
    live = np.flatnonzero((g > stol) & ~dropped)
    if len(live):
        C2, f2, g2, it2 = _lbfgs(A, B, C[live], stol, max_iter - _PROBE)
        C[live], f[live], g[live], it[live] = C2, f2, g2, it[live] + it2
    return C, f, g, it


def _solve_pair(A, B, dec, lb, solved, p, special, n_restarts, rng, tol, max_iter, screen_tol, n_transfer, prune):
    """One pair of the amortised search; returns an unscored VectorFieldResult (loss units)."""
    cands, ckinds = _candidates(solved, *p)
    if special:
        keep = [i for i, C in enumerate(cands) if np.linalg.det(C) > 0]
        cands, ckinds = [cands[i] for i in keep], [ckinds[i] for i in keep]
    cl = _losses(A, B, np.stack(cands)) if cands else np.zeros(0)
    if len(cl) and cl.min() - lb <= tol:  # certified by a transferred start: no search
        i = int(np.argmin(cl))
        return VectorFieldResult(float("nan"), float(cl[i]), _polar(cands[i]), lb, True, 0, len(cl),
                                 f"{ckinds[i]}(certified)")
    found = _search_starts(A, B, special, n_restarts, rng, tol, dec)
    if isinstance(found, VectorFieldResult):
        return found
    starts, kinds, lb_loss = found
    sl = _losses(A, B, starts)
    keep = _unique(starts)  # (the two spectral starts often coincide: one descent is enough)
    starts, kinds, sl = starts[keep], [kinds[i] for i in keep], sl[keep]
    stol = max(tol, screen_tol)
    good = cl < sl.min() if len(cl) else np.zeros(0, bool)
    # transferred starts join only when they beat every standard start in the screening
    picked, pkinds = _distinct([c for c, g in zip(cands, good) if g],
                               [k for k, g in zip(ckinds, good) if g], cl[good], n_transfer)
    if not picked:  # nothing to transfer: the per-pair search
        return _finish_search(A, B, _lbfgs(A, B, starts, stol, max_iter), kinds, lb_loss, tol, max_iter)
    descended = _descend_pruned(A, B, np.concatenate([np.stack(picked), starts]), len(picked), stol, max_iter,
                                prune)
    return _finish_search(A, B, descended, pkinds + kinds, lb_loss, tol, max_iter)


def _revisit(cops, order, solved, found, special, tol, max_iter, screen_tol) -> bool:
    """One more pass over the solved pairs: where a composition through any other operator screens
    below the pair's loss, descend it; keep it when it ends lower. Returns whether any pair changed."""
    changed = False
    for a, b in order:
        res = found[(a, b)]
        cands = [solved.get(a, k)[0] @ solved.get(k, b)[0]
                 for k in sorted(solved.nbrs.get(a, set()) & solved.nbrs.get(b, set()))]
        if special:
            cands = [C for C in cands if np.linalg.det(C) > 0]
        if not cands:
            continue
        A, B = cops[a], cops[b]
        cl = _losses(A, B, np.stack(cands))
        i = int(np.argmin(cl))
        if cl[i] >= res.loss - 1e-9:
            continue
        descended = _lbfgs(A, B, cands[i][None], max(tol, screen_tol), max_iter)
        new = _finish_search(A, B, descended, ["revisited"], res.lower_bound, tol, max_iter)
        if new.loss < res.loss - 1e-12:
            found[(a, b)] = new
            solved.C[(a, b)], solved.loss[(a, b)] = new.C, new.loss
            changed = True
    return changed


def _unique(starts: np.ndarray) -> list:
    """Indices of the starts that are not (to 1e-8) copies of an earlier one."""
    keep: list = []
    for i, C in enumerate(starts):
        if all(np.linalg.norm(C - starts[j]) > 1e-8 for j in keep):
            keep.append(i)
    return keep


def solve_pairs(
    ops: Sequence[np.ndarray], pairs: Sequence[tuple[int, int]], *, group: str = "O", n_restarts: int = 4,
    effort: str = "default", seed: Any = 0, tol: float = 1e-10, max_iter: int = 3000,
) -> dict:
    """Amortised search over ``pairs`` (index pairs into ``ops``, unit-norm (n, n) float64
    operators of one size).  Returns {pair: VectorFieldResult} with losses, C (``C ops[b] C^T ~
    ops[a]`` for pair (a, b)) and lower bounds in loss units (score fields nan)."""
    n_restarts, screen_tol = _effort_search(int(n_restarts), effort)
    n_transfer, prune = _TRANSFER[effort]
    used = sorted({i for p in pairs for i in p})
    if not used:
        return {}
    # canonical labels (by content) and orientation: the search sees the same problem whatever
    # the order of the operators and of each pair (L_ab(C) = L_ba(C^T))
    rank = {i: r for r, i in enumerate(sorted(used, key=lambda i: (ops[i].shape, ops[i].tobytes(), i)))}
    oriented = {p: (p if rank[p[0]] <= rank[p[1]] else p[::-1]) for p in pairs}
    canon = sorted({(rank[a], rank[b]) for a, b in oriented.values()})
    back = {r: i for i, r in rank.items()}
    cops = {r: ops[back[r]] for r in rank.values()}
    spectra = {r: _spectra(A) for r, A in cops.items()}
    bounds = {p: _bound(spectra[p[0]], spectra[p[1]]) for p in canon}
    order, n_tree = _tree_order(canon, bounds)
    solved, found = _Solved(), {}
    with _blas_threads(ops[used[0]].shape[0]):
        decs = {r: _decompositions(A) for r, A in cops.items()}
        for t, (a, b) in enumerate(order):
            dec = None if decs[a] is None or decs[b] is None else (decs[a], decs[b])
            res = _solve_pair(cops[a], cops[b], dec, bounds[(a, b)], solved, (a, b), group == "SO", n_restarts,
                              check_random_state(seed), tol, max_iter, screen_tol, n_transfer, prune)
            solved.add((a, b), res.C, res.loss, t < n_tree)
            found[(a, b)] = res
        for _ in range(_PASSES):  # pairs solved early saw few candidates: offer them the later ones
            if not _revisit(cops, order, solved, found, group == "SO", tol, max_iter, screen_tol):
                break
    out = {}
    for p, (a, b) in oriented.items():
        res = found[(rank[a], rank[b])]
        out[p] = res if (a, b) == p else replace(res, C=res.C.T)
    return out


def amortised_pairs(
    ops: Sequence[Any], pairs: Sequence[tuple[int, int]], *, group: str = "O", score: str = "angular",
    n_restarts: int = 4, effort: str = "default", seed: Any = 0, tol: float = 1e-10, max_iter: int = 3000,
) -> dict:
    """Scored :class:`VectorFieldResult` for each index pair (a, b) into ``ops`` (square operators),
    by the amortised search (module docstring).  Pairs of operators of one size share their
    solutions; a pair of two sizes (zero-padded) and ``group="GL"`` are searched alone by
    :func:`vector_field_distance`.  ``C`` of pair (a, b) maps ``ops[b]`` onto ``ops[a]``."""
    _check_options(group, score)
    _check_search_params(n_restarts, tol, max_iter, effort)
    used = sorted({i for p in pairs for i in p})
    if used and (used[0] < 0 or used[-1] >= len(ops)):
        raise ValueError(f"pairs must index ops (0 .. {len(ops) - 1}); got indices {used[0]} .. {used[-1]}")
    raw = {i: _as_operator(ops[i], f"ops[{i}]") for i in used}
    unit = {i: _unit_operator(raw[i], f"ops[{i}]") for i in used}
    opts = dict(n_restarts=int(n_restarts), effort=effort, seed=seed, tol=float(tol), max_iter=int(max_iter))
    out: dict = {}
    by_size: dict = {}
    for p in dict.fromkeys((int(a), int(b)) for a, b in pairs):
        a, b = p
        if group != "GL" and raw[a].shape == raw[b].shape and raw[a].shape[0] > 1 and a != b:
            by_size.setdefault(raw[a].shape[0], []).append(p)
        else:
            out[p] = vector_field_distance(raw[a], raw[b], group=group, score=score, **opts)
    for size_pairs in by_size.values():
        for p, res in solve_pairs(unit, size_pairs, group=group, **opts).items():
            out[p] = _scored(res, score)
    return out


def amortised_distances(
    As: Sequence[Any], Bs: Sequence[Any] | None = None, *, group: str = "O", score: str = "angular",
    n_restarts: int = 4, effort: str = "default", seed: Any = 0, tol: float = 1e-10, max_iter: int = 3000,
) -> np.ndarray:
    """Vector-field Procrustes scores of all pairs by the amortised search (module docstring).

    ``As``: N square operators; ``Bs``: M more, or None for the symmetric (N, N) matrix of ``As``
    against themselves (upper triangle searched, mirrored; zero diagonal).  Returns the (N, N) or
    (N, M) score matrix; see :func:`amortised_pairs`.
    """
    if len(As) == 0 or (Bs is not None and len(Bs) == 0):
        raise ValueError("As (and Bs when given) must contain at least one operator")
    N = len(As)
    ops = list(As) + ([] if Bs is None else list(Bs))
    if Bs is None:
        pairs = [(i, j) for i in range(N) for j in range(i + 1, N)]
    else:
        pairs = [(i, N + j) for i in range(N) for j in range(len(Bs))]
    res = amortised_pairs(ops, pairs, group=group, score=score, n_restarts=n_restarts, effort=effort,
                          seed=seed, tol=tol, max_iter=max_iter)
    if Bs is None:
        _check_options(group, score)
        _check_search_params(n_restarts, tol, max_iter, effort)
        for i, X in enumerate(As):  # (validated even when N = 1 leaves no pair)
            _unit_operator(X, f"As[{i}]")
        out = np.zeros((N, N))
        for (a, b), r in res.items():
            out[a, b] = out[b, a] = r.score
        return out
    out = np.zeros((N, len(Bs)))
    for (a, b), r in res.items():
        out[a, b - N] = r.score
    return out
