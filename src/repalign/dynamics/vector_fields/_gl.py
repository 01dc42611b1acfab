"""The GL(n) search: the O(n) search's best transform and an eigenvector start, refined by scipy's
L-BFGS-B over all invertible C (docs/dsa_optimiser.md, "GL(n)"; no lower bound exists)."""

from __future__ import annotations

import numpy as np
from scipy.linalg import lu_factor, lu_solve
from scipy.optimize import linear_sum_assignment, minimize

from ._orthogonal import _orthogonal_search
from ._problem import _SCREEN_TOL, VectorFieldResult, _loss_to_score

def _gl_objective(A: np.ndarray, B: np.ndarray, score: str):
    n = A.shape[0]

    def f(x: np.ndarray) -> tuple[float, np.ndarray]:
        C = x.reshape(n, n)
        try:
            lu = lu_factor(C, check_finite=False)
        except (ValueError, np.linalg.LinAlgError):
            return np.inf, np.zeros_like(x)
        # M = C B C^{-1} = (C^{-T} (C B)^T)^T
        M = lu_solve(lu, (C @ B).T, trans=1, check_finite=False).T
        if not np.all(np.isfinite(M)):
            return np.inf, np.zeros_like(x)
        if score == "euclidean":
            R = M - A
            val, P = float(np.sum(R * R)), 2.0 * R
        else:
            nm = np.linalg.norm(M)
            cos = float(np.sum(A * M)) / nm
            val, P = 1.0 - cos, -(A / nm - cos * M / nm**2)
        # dM = E M - M E with E = dC C^{-1}: dval/dC = (P M^T - M^T P) C^{-T}
        W = P @ M.T - M.T @ P
        grad = lu_solve(lu, W.T, check_finite=False).T
        return val, grad.ravel()

    return f


def _gl_candidates(A: np.ndarray, B: np.ndarray) -> list[np.ndarray]:
    lam_a, Va = np.linalg.eig(A)
    lam_b, Vb = np.linalg.eig(B)
    rows, cols = linear_sum_assignment(np.abs(lam_a[:, None] - lam_b[None, :]) ** 2)
    try:
        C = (Va[:, rows] @ np.linalg.inv(Vb[:, cols])).real
    except np.linalg.LinAlgError:
        return []
    if not np.all(np.isfinite(C)) or np.linalg.cond(C) > 1e12:
        return []
    return [C]


def _gl_search(
    A: np.ndarray, B: np.ndarray, score: str, n_restarts: int, rng: np.random.Generator, tol: float, max_iter: int,
    screen_tol: float = _SCREEN_TOL,
) -> VectorFieldResult:
    orth = _orthogonal_search(A, B, False, n_restarts, rng, tol, max_iter, screen_tol)
    f = _gl_objective(A, B, score)
    best = None
    run = orth.restarts
    for kind, C0 in [("orthogonal", orth.C)] + [("spectral", C) for C in _gl_candidates(A, B)]:
        res = minimize(f, C0.ravel(), jac=True, method="L-BFGS-B",
                       options={"maxiter": max_iter, "gtol": tol, "ftol": 1e-16, "maxcor": 20})
        run += 1
        x = res.x if res.fun <= f(C0.ravel())[0] else C0.ravel()
        val = f(x)[0]
        if best is None or val < best[0]:
            best = (val, kind, x.reshape(A.shape), int(res.nit), float(np.linalg.norm(res.jac)))
    val, kind, C, nit, gnorm = best
    M = C @ B @ np.linalg.inv(C)
    return VectorFieldResult(
        score=float("nan"), loss=float(np.sum((A - M) ** 2)), C=C, lower_bound=float("nan"),
        converged=bool(gnorm <= tol), n_iter=nit, restarts=run, method=f"{kind}+lbfgs(GL)",
    )


def _gl_score(A: np.ndarray, B: np.ndarray, C: np.ndarray, score: str) -> float:
    M = C @ B @ np.linalg.inv(C)
    if score == "euclidean":
        return float(np.linalg.norm(A - M))
    return _loss_to_score(float(np.sum((A - M / np.linalg.norm(M)) ** 2)), "angular")

