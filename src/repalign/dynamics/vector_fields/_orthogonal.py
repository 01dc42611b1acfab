"""The O/SO search: structured and Haar starts, one batched L-BFGS descent of all of them, and a
trust-region Newton polish of the best (docs/dsa_optimiser.md, "Algorithm", steps 2 and 3)."""

from __future__ import annotations

import numpy as np

from ._geometry import _cayley_apply, _haar, _hess, _hess_parts, _loss_grad, _orth_loss, _polar
from ._batched_lbfgs import _lbfgs
from ._problem import _SCREEN_TOL, VectorFieldResult, _loss_to_score, _lower_bound_loss, _search_budget
from ._spectral import _spectral_candidates, _to_special

_TCG_THETA = 0.5  # inner CG accuracy exponent: local convergence of order 1 + theta


def _tcg(M: np.ndarray, R: np.ndarray, g: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Steihaug-Toint truncated CG for min <g, e> + <e, H e>/2 with ||e|| <= radius.

    Returns (e, H e, Hessian products used); H e is accumulated, not recomputed."""
    parts = _hess_parts(M, R)
    eta, Heta = np.zeros_like(g), np.zeros_like(g)
    r = g.copy()
    d = -r
    rr = float(np.sum(r * r))
    r0 = np.sqrt(rr)
    for j in range(1, g.size + 1):
        Hd = _hess(M, R, d, parts)
        dHd = float(np.sum(d * Hd))
        alpha = rr / dHd if dHd > 0 else np.inf
        if dHd <= 0 or np.linalg.norm(eta + alpha * d) >= radius:
            ed, dd, ee = float(np.sum(eta * d)), float(np.sum(d * d)), float(np.sum(eta * eta))
            tau = (-ed + np.sqrt(ed * ed + dd * (radius**2 - ee))) / dd
            return eta + tau * d, Heta + tau * Hd, j
        eta = eta + alpha * d
        Heta = Heta + alpha * Hd
        r = r + alpha * Hd
        rr_new = float(np.sum(r * r))
        if np.sqrt(rr_new) <= r0 * min(max(r0, 1e-6) ** _TCG_THETA, 0.1):  # superlinear convergence
            return eta, Heta, j
        d = -r + (rr_new / rr) * d
        rr = rr_new
    return eta, Heta, g.size


def _refine_orthogonal(
    A: np.ndarray, B: np.ndarray, C: np.ndarray, tol: float, max_iter: int
) -> tuple[np.ndarray, float, float, int]:
    """Riemannian trust-region Newton (Absil et al. 2007) on the component of O(n) holding C.

    Returns (C, loss, Riemannian gradient norm, outer iterations).
    """
    n = A.shape[0]
    f, g, M, R = _loss_grad(A, B, C)
    gnorm = float(np.linalg.norm(g))
    max_radius = np.pi * np.sqrt(n)
    radius = max_radius / 8
    it = 0
    while it < max_iter and gnorm > tol and radius > 1e-15:  # radius collapse: rounding floor
        it += 1
        eta, Heta, _ = _tcg(M, R, g, radius)
        model = float(np.sum(g * eta) + 0.5 * np.sum(eta * Heta))
        C_new = _cayley_apply(eta, C)
        f_new, g_new, M_new, R_new = _loss_grad(A, B, C_new)
        gnorm_new = float(np.linalg.norm(g_new))
        if -model <= 1e-13 * max(f, 1.0):
            # predicted decrease below the rounding of f: rho is noise; judge by the gradient
            rho = 1.0 if gnorm_new < gnorm else 0.0
        else:
            rho = (f - f_new) / -model
        at_boundary = np.linalg.norm(eta) >= 0.99 * radius
        if rho < 0.25:
            radius /= 4
        elif rho > 0.75 and at_boundary:
            radius = min(2 * radius, max_radius)
        if rho > 0.1:
            C, f, g, M, R, gnorm = C_new, float(f_new), g_new, M_new, R_new, gnorm_new
    C = _polar(C)  # removes the rounding drift of repeated Cayley updates
    return C, _orth_loss(A, B, C), gnorm, it


def _search_starts(
    A: np.ndarray, B: np.ndarray, special: bool, n_restarts: int, rng: np.random.Generator, tol: float,
    dec: tuple | None = None,
) -> VectorFieldResult | tuple[np.ndarray, list[str], float]:
    """The starts of the search (structured, then Haar-random) with their kinds and the lower bound;
    or the result itself when a structured start is a certified global optimum."""
    n = A.shape[0]
    lb_loss = _lower_bound_loss(A, B)
    try:
        starts = _spectral_candidates(A, B, dec)
    except (np.linalg.LinAlgError, ValueError):
        starts = []
    kinds = ["spectral"] * (len(starts) - 1) + ["symmetric"] * (len(starts) > 0)
    if special:
        starts = [_to_special(C, B, A) for C in starts]
    if not starts or n == 1:
        starts, kinds = [np.eye(n)], ["identity"]
    losses = [_orth_loss(A, B, C) for C in starts]
    if n == 1 or min(losses) - lb_loss <= tol:  # a certified global optimum already
        i = int(np.argmin(losses))
        return VectorFieldResult(
            float("nan"), float(losses[i]), starts[i], lb_loss, True, 0, 1, f"{kinds[i]}(certified)"
        )
    for k in range(_search_budget(n, n_restarts)):
        kinds.append("random")
        starts.append(_haar(n, rng, 1 if (special or k % 2 == 0) else -1))
    return np.stack(starts), kinds, lb_loss


def _finish_search(
    A: np.ndarray, B: np.ndarray, descended: tuple[np.ndarray, ...], kinds: list[str], lb_loss: float,
    tol: float, max_iter: int,
) -> VectorFieldResult:
    """Trust-region polish of the best descended start (``descended`` as returned by _lbfgs)."""
    Cs, f, gnorm, iters = descended
    i = int(np.argmin(f))
    C, loss, gn, it, how = Cs[i], float(f[i]), float(gnorm[i]), int(iters[i]), "lbfgs"
    if gn > tol and it < max_iter:  # the best start alone, to tol: trust-region Newton
        C2, loss2, gn2, it2 = _refine_orthogonal(A, B, C, tol, max_iter - it)
        if loss2 <= loss + 1e-15:
            C, loss, gn, it, how = C2, loss2, gn2, it + it2, "lbfgs+rtr"
    certified = loss - lb_loss <= tol
    return VectorFieldResult(
        score=float("nan"), loss=float(loss), C=C, lower_bound=lb_loss,
        converged=bool(gn <= tol or certified), n_iter=int(it), restarts=len(kinds),
        method=f"{kinds[i]}+{how}" + ("(certified)" if certified else ""),
    )


def _orthogonal_search(
    A: np.ndarray, B: np.ndarray, special: bool, n_restarts: int, rng: np.random.Generator,
    tol: float, max_iter: int, screen_tol: float = _SCREEN_TOL,
) -> VectorFieldResult:
    """Structured and random starts, batched L-BFGS descent, trust-region polish of the best."""
    found = _search_starts(A, B, special, n_restarts, rng, tol)
    if isinstance(found, VectorFieldResult):
        return found
    starts, kinds, lb_loss = found
    descended = _lbfgs(A, B, starts, max(tol, screen_tol), max_iter)
    return _finish_search(A, B, descended, kinds, lb_loss, tol, max_iter)


def _scored(res: VectorFieldResult, score: str) -> VectorFieldResult:
    """An O/SO search result with its score and lower bound in score units."""
    value = _loss_to_score(res.loss, score)
    # the certificate is exact; rounding can put it a hair above an optimal (zero-gap) loss
    bound = min(_loss_to_score(res.lower_bound, score), value)
    return VectorFieldResult(value, res.loss, res.C, bound, res.converged, res.n_iter, res.restarts, res.method)
