"""Procrustes over vector fields: the optimiser at the heart of DSA (Ostrow et al. 2023).

Two linear operators ``A`` and ``B`` (square, real; e.g. DMD fits) are compared up to a change of
coordinates ``C`` from a group G::

    d(A, B) = min_{C in G} dist(A_hat, C B_hat C^{-1}),   A_hat = A / ||A||_F,  B_hat = B / ||B||_F

* ``group="O"`` (default) or ``"SO"``: C orthogonal (``det C = +1`` for SO), C^{-1} = C^T.  The
  optimised loss is ``L(C) = ||C B_hat C^T - A_hat||_F^2 = 2 - 2 cos(theta)``.
* ``group="GL"``: any invertible C; the angular score uses the norm of ``C B_hat C^{-1}``.
* ``score="angular"``: ``theta = arccos(<A_hat, M>_F / ||M||_F)`` in radians, in [0, pi], with
  ``M = C B_hat C^{-1}``; ``score="euclidean"``: ``||A_hat - M||_F`` (unit-norm operators, so in
  [0, 2] for O/SO).
* Operators of different sizes are zero-padded (bottom/right) to the larger size: the smaller
  system is embedded as a subspace with no dynamics in the extra directions.  Padding does not
  change the Frobenius norm.

Algorithm (O/SO); details and measurements in docs/dsa_optimiser.md.

1. *Spectral start.*  Eigenvalues of A and B are matched (Hungarian on |lambda - mu|^2).  For an
   exactly conjugate pair B = Q A Q^T with simple eigenvalues, the unit eigenvectors satisfy
   V_B = Q V_A D with D diagonal of unit complex phases, so Q^T = V_A D V_B^{-1}.  The phases are
   recovered from the Gram matrices: G_B = D^H G_A D, i.e. G_A * conj(G_B) = D |G_A|^2 D^H
   (elementwise), a phase-synchronisation problem solved by its leading eigenvector refined by the
   generalised power method (and, as an alternative candidate, the power method started at
   D = I, which is exact for normal operators whose Gram matrices carry no phase information).
   The global phase is fixed so that V_A D V_B^{-1} is as real as possible; the real part is then
   projected onto O(n) (polar factor).  A second start aligns the eigenvectors of the symmetric
   parts (the exact optimum when both operators are symmetric).  A start whose loss meets the
   lower bound below (within ``tol``) is a certified global optimum and ends the search.
2. *Screening.*  These starts and ``4 * n_restarts`` Haar-random ones (seeded; alternating
   det +1 / -1 for O(n)) descend together as one (K, n, n) stack: Riemannian gradient descent with
   Barzilai-Borwein steps, Cayley retraction and a nonmonotone Armijo search (Wen & Yin 2013).
3. *Polish.*  The best screened starts are refined by Riemannian trust-region Newton (Absil et al.
   2007) with the exact Hessian until the Riemannian gradient norm is below ``tol``.  Updates
   ``C <- cay(Omega) C`` stay in the connected component of the start, which keeps SO(n) at
   det +1 (its det -1 structured starts are mapped to det +1 first).

Lower bound (O/SO).  Orthogonal conjugation maps symmetric to symmetric and skew to skew, and the
two subspaces are Frobenius-orthogonal, so with A = S_A + K_A (symmetric + skew parts)::

    L(C) = ||S_A - C S_B C^T||^2 + ||K_A - C K_B C^T||^2
         >= sum_i (lambda_i(S_A) - lambda_i(S_B))^2 + sum_i (sigma_i(K_A) - sigma_i(K_B))^2

(eigenvalues and singular values sorted in decreasing order; Hoffman-Wielandt for the symmetric
parts, Mirsky for the skew parts, both normal).  The bound is attained when both operators are
symmetric, both skew, or when they commute with co-sorted spectra of their parts.  It is converted
to score units through the same monotone map as the loss.  For GL(n) no bound is returned: GL
orbits are not closed, so two operators with the same spectrum but different Jordan structure have
infimum distance 0 that is never attained, and the Frobenius distance to a GL orbit has no
Hoffman-Wielandt-type certificate.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.linalg import lu_factor, lu_solve
from scipy.optimize import linear_sum_assignment, minimize

from threadpoolctl import threadpool_limits

from .._validation import check_finite, check_random_state, to_numpy

__all__ = ["VectorFieldResult", "vector_field_distance", "procrustes_lower_bound"]

GROUPS = ("O", "SO", "GL")
SCORES = ("angular", "euclidean")
_SCREEN_ITER = 200  # batched descent iterations given to every start before choosing the best
_TCG_THETA = 0.5  # inner CG accuracy exponent: local convergence of order 1 + theta
_SINGLE_THREAD_MAX_N = 256  # below this size BLAS threads only add contention


def _search_budget(n: int, n_restarts: int) -> tuple[int, int, int]:
    """(Haar starts screened, starts polished by trust-region Newton, screening iterations).

    Screening ranks basins well at small n, where it is cheap (the rank correlation of screened and
    final losses was >= 0.9 at n = 20, about 0.5 at n = 50), and a polish costs O(n^3) per Hessian
    product with ~1e3 products: the budget shrinks as n grows.
    """
    if n <= 32:
        return 4 * n_restarts, 2, _SCREEN_ITER
    if n <= 64:
        return 2 * n_restarts, 2, _SCREEN_ITER
    return n_restarts, 1, _SCREEN_ITER


@dataclass(frozen=True)
class VectorFieldResult:
    """Outcome of :func:`vector_field_distance`.

    score: angular (radians, in [0, pi]) or euclidean distance, as requested.
    loss: ``||A_hat - C B_hat C^{-1}||_F^2`` at the returned C (unit-norm, padded operators).
    C: the transform found, ``(n, n)`` with n the padded size.
    lower_bound: certified lower bound on ``score`` (same units) for O/SO; nan for GL (see module).
    converged: Riemannian gradient norm below ``tol``, or loss equal to the lower bound.
    n_iter: optimiser iterations of the best start.
    restarts: number of starts that were run.
    method: how the best start was obtained and refined, e.g. ``"spectral+rtr"``, ``"random+rtr"``,
        ``"spectral(certified)"`` (a start already met the lower bound), ``"orthogonal+lbfgs(GL)"``.
    """

    score: float
    loss: float
    C: np.ndarray
    lower_bound: float
    converged: bool
    n_iter: int
    restarts: int
    method: str


# ----------------------------------------------------------------------------- input handling
def _as_operator(X: Any, name: str) -> np.ndarray:
    arr = to_numpy(X, name)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
        raise ValueError(f"{name} must be a square 2-D array (n, n) with n >= 1; got shape {arr.shape}")
    check_finite(arr, name)
    return arr


def _prepare_pair(A: Any, B: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validated, unit-Frobenius-norm, zero-padded float64 copies of A and B."""
    out = []
    for X, name in ((A, "A"), (B, "B")):
        arr = _as_operator(X, name)
        norm = np.linalg.norm(arr)
        if norm == 0.0:
            raise ValueError(f"{name} is the zero operator; its unit-norm scaling (and the distance) is undefined")
        out.append(arr / norm)
    n = max(out[0].shape[0], out[1].shape[0])
    padded = []
    for arr in out:
        P = np.zeros((n, n))
        P[: arr.shape[0], : arr.shape[1]] = arr
        padded.append(P)
    return padded[0], padded[1]


def _check_options(group: str, score: str) -> None:
    if group not in GROUPS:
        raise ValueError(f"group must be one of {GROUPS}; got {group!r}")
    if score not in SCORES:
        raise ValueError(f"score must be one of {SCORES}; got {score!r}")


# ----------------------------------------------------------------------------- scores and bound
def _loss_to_score(loss: float, score: str) -> float:
    """Map ||A_hat - M_hat||^2 (unit-norm A_hat, M_hat) to the requested score."""
    loss = max(float(loss), 0.0)
    if score == "euclidean":
        return float(np.sqrt(loss))
    # ||a - m||^2 = 4 sin^2(theta / 2) for unit vectors: accurate for small angles, unlike arccos
    return float(2.0 * np.arcsin(min(np.sqrt(loss) / 2.0, 1.0)))


def _lower_bound_loss(A: np.ndarray, B: np.ndarray) -> float:
    SA, SB = (A + A.T) / 2, (B + B.T) / 2
    KA, KB = (A - A.T) / 2, (B - B.T) / 2
    sym = np.sum((np.linalg.eigvalsh(SA) - np.linalg.eigvalsh(SB)) ** 2)
    skew = np.sum((np.linalg.svd(KA, compute_uv=False) - np.linalg.svd(KB, compute_uv=False)) ** 2)
    return float(sym + skew)


def procrustes_lower_bound(A: Any, B: Any, *, score: str = "angular") -> float:
    """Certified lower bound on the O(n) vector-field Procrustes score of A (n, n) and B (m, m).

    Hoffman-Wielandt on the symmetric parts plus Mirsky on the skew parts of the unit-norm,
    zero-padded operators (see module docstring); in radians for ``score="angular"``.
    """
    _check_options("O", score)
    Ah, Bh = _prepare_pair(A, B)
    return _loss_to_score(_lower_bound_loss(Ah, Bh), score)


# ----------------------------------------------------------------------------- orthogonal helpers
def _polar(X: np.ndarray) -> np.ndarray:
    """Nearest orthogonal matrix (Frobenius) to X."""
    U, _, Vt = np.linalg.svd(X)
    return U @ Vt


def _haar(n: int, rng: np.random.Generator, det_sign: int) -> np.ndarray:
    Q, R = np.linalg.qr(rng.standard_normal((n, n)))
    Q = Q * np.sign(np.diag(R))
    if np.sign(np.linalg.det(Q)) != det_sign:
        Q[:, 0] = -Q[:, 0]
    return Q


def _orth_loss(A: np.ndarray, B: np.ndarray, C: np.ndarray) -> float:
    return float(np.sum((C @ B @ C.T - A) ** 2))


# ----------------------------------------------------------------------------- spectral start
def _phase_sync(H: np.ndarray, d0: np.ndarray, n_iter: int = 100) -> np.ndarray:
    """Unit-modulus d approximately maximising Re(d^H H d): generalised power method from d0."""
    d = d0 / np.maximum(np.abs(d0), 1e-300)
    for _ in range(n_iter):
        h = H @ d
        mag = np.abs(h)
        new = np.where(mag > 1e-300, h / np.maximum(mag, 1e-300), d)
        if np.allclose(new, d, rtol=0, atol=1e-15):
            return new
        d = new
    return d


def _real_orthogonal_from_complex(C: np.ndarray) -> np.ndarray | None:
    """Fix the global phase of C to make it as real as possible; polar factor of the real part."""
    s = np.sum(C * C)
    if abs(s) > 0:
        C = C * np.exp(-0.5j * np.angle(s))
    X = C.real
    if not np.all(np.isfinite(X)) or np.linalg.norm(X) == 0:
        return None
    return _polar(X)


def _spectral_candidates(A: np.ndarray, B: np.ndarray) -> list[np.ndarray]:
    """Orthogonal candidates C with C B C^T ~ A from eigenvector alignment (see module docstring)."""
    n = A.shape[0]
    lam_a, Va = np.linalg.eig(A)
    lam_b, Vb = np.linalg.eig(B)
    cost = np.abs(lam_a[:, None] - lam_b[None, :]) ** 2
    rows, cols = linear_sum_assignment(cost)
    Va, Vb = Va[:, rows], Vb[:, cols]
    Va = Va / np.linalg.norm(Va, axis=0)
    Vb = Vb / np.linalg.norm(Vb, axis=0)
    try:
        Vb_inv = np.linalg.inv(Vb)
    except np.linalg.LinAlgError:
        Vb_inv = np.linalg.pinv(Vb)
    Ga, Gb = Va.conj().T @ Va, Vb.conj().T @ Vb
    H = Ga * Gb.conj()
    np.fill_diagonal(H, 0.0)
    _, vecs = np.linalg.eigh(H)
    out = []
    for d0 in (vecs[:, -1], np.ones(n, dtype=complex)):
        d = _phase_sync(H, d0)
        C = _real_orthogonal_from_complex((Va * d) @ Vb_inv)
        if C is not None:
            out.append(C)
    # symmetric parts aligned in sorted eigen-order (exact when both operators are symmetric)
    _, Ua = np.linalg.eigh(A + A.T)
    _, Ub = np.linalg.eigh(B + B.T)
    out.append(Ua @ Ub.T)
    return out


def _to_special(C: np.ndarray, B: np.ndarray, A: np.ndarray) -> np.ndarray:
    """A det=+1 start from C: -C for odd n (same C B C^T), else C times the reflection, along an
    eigenvector of B's symmetric part, that increases the loss least."""
    if np.linalg.det(C) > 0:
        return C
    n = C.shape[0]
    if n % 2 == 1:
        return -C
    _, U = np.linalg.eigh(B + B.T)
    best, best_loss = None, np.inf
    for u in U.T:
        Cr = C - 2.0 * np.outer(C @ u, u)
        loss = _orth_loss(A, B, Cr)
        if loss < best_loss:
            best, best_loss = Cr, loss
    return best


# ----------------------------------------------------------------------------- O(n) refinement
# Tangent vectors at C are represented as skew Omega (left trivialisation, C -> cay(Omega) C), with
# the Frobenius metric; t -> expm(t Omega) C is a geodesic of the bi-invariant metric.  With
# M = C B C^T and R = M - A:
#   f(expm(t Omega) C) = ||expm(t Omega) M expm(-t Omega) - A||^2
#   grad  = 2 skew(R M^T - M^T R)
#   Hess[Omega] = skew(2 (Y M^T - M^T Y) + (R Y^T - Y^T R) - (W M^T - M^T W)),  Y = [Omega, M], W = [Omega, R]
# (the Hessian is checked against finite differences in the tests).


def _skew(X: np.ndarray) -> np.ndarray:
    return (X - np.swapaxes(X, -1, -2)) / 2


def _cayley_apply(W: np.ndarray, C: np.ndarray) -> np.ndarray:
    """cay(W) C with cay(W) = (I - W/2)^{-1} (I + W/2) (orthogonal for skew W, agrees with expm(W)
    to 2nd order), computed as 2 (I - W/2)^{-1} C - C: one solve, no extra product (batched)."""
    return 2.0 * np.linalg.solve(np.eye(W.shape[-1]) - W / 2, C) - C


def _loss_grad(A: np.ndarray, B: np.ndarray, C: np.ndarray):
    """Loss, Riemannian gradient (skew), M = C B C^T and R = M - A; C may be a (K, n, n) stack."""
    n = A.shape[0]
    CB = (C.reshape(-1, n) @ B).reshape(C.shape)  # one large product for the whole stack
    M = CB @ np.swapaxes(C, -1, -2)
    R = M - A
    Mt = np.swapaxes(M, -1, -2)
    Z = R @ Mt - Mt @ R
    g = Z - np.swapaxes(Z, -1, -2)  # 2 skew(Z)
    return np.sum(R * R, axis=(-2, -1)), g, M, R


def _hess_parts(M: np.ndarray, R: np.ndarray) -> tuple[np.ndarray, ...]:
    """Products reused by every Hessian-vector product at one point: [M, M + A] side by side and
    stacked, M^T and R."""
    MA = 2.0 * M - R  # M + A
    return np.hstack([M, MA]), np.vstack([M, MA]), np.ascontiguousarray(M.T), R


def _hess(M: np.ndarray, R: np.ndarray, Om: np.ndarray, parts: tuple[np.ndarray, ...] | None = None) -> np.ndarray:
    # With P = [Omega, M + A] = Y + [Omega, A] the three commutator terms above fold into two.
    n = M.shape[0]
    wide, tall, Mt, R = parts if parts is not None else _hess_parts(M, R)
    left = Om @ wide
    right = tall @ Om
    Y = left[:, :n] - right[:n]
    P = left[:, n:] - right[n:]
    X = P @ Mt - Mt @ P + R @ Y.T - Y.T @ R
    return (X - X.T) / 2


class _ScreenWork:
    """Preallocated (K, n, n) work arrays for :func:`_screen`.

    A (K, n, n) stack at n >= 50 exceeds glibc's mmap threshold, so fresh temporaries are mapped
    and page-faulted on every iteration (the stack's loss and gradient took 2-3x as long as their
    products); the screening therefore writes its intermediates into these buffers (``out=``).
    """

    def __init__(self, K: int, n: int):
        self.buf = np.empty((6, K, n, n))
        self.eye = np.eye(n)

    def loss_grad(self, A: np.ndarray, B: np.ndarray, C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """As :func:`_loss_grad` on a contiguous (k, n, n) stack: (losses, gradients)."""
        k, n = C.shape[0], C.shape[1]
        CB, M, R, Z, Z2, _ = (w[:k] for w in self.buf)
        np.matmul(C.reshape(-1, n), B, out=CB.reshape(-1, n))
        np.matmul(CB, np.swapaxes(C, -1, -2), out=M)
        np.subtract(M, A, out=R)
        Mt = np.swapaxes(M, -1, -2)
        np.matmul(R, Mt, out=Z)
        np.matmul(Mt, R, out=Z2)
        np.subtract(Z, Z2, out=Z)
        g = Z - np.swapaxes(Z, -1, -2)  # 2 skew(Z)
        f = np.sum(np.multiply(R, R, out=Z2), axis=(-2, -1))
        return f, g

    def cayley_step(self, t: np.ndarray, g: np.ndarray, C: np.ndarray) -> np.ndarray:
        """cay(-t g) C for a (k, n, n) stack (as :func:`_cayley_apply`)."""
        W = self.buf[5][: len(C)]
        np.multiply(-t[:, None, None], g, out=W)
        np.divide(W, 2, out=W)
        np.subtract(self.eye, W, out=W)
        X = np.linalg.solve(W, C)
        np.multiply(X, 2.0, out=X)
        return np.subtract(X, C, out=X)


def _screen(A: np.ndarray, B: np.ndarray, Cs: np.ndarray, n_iter: int) -> tuple[np.ndarray, np.ndarray]:
    """Batched Riemannian gradient descent with Barzilai-Borwein steps and a nonmonotone Armijo
    backtracking (Wen & Yin 2013) on a (K, n, n) stack of starts: cheap basin screening."""
    K = len(Cs)
    ws = _ScreenWork(K, A.shape[0])
    Cs = np.array(Cs, dtype=float)  # a private copy: its buffer is reused as work space
    f, g = ws.loss_grad(A, B, Cs)
    C_new, g_new, s, y = np.empty_like(Cs), np.empty_like(Cs), np.empty_like(Cs), np.empty_like(Cs)
    step = np.full(K, 0.1)
    f_ref = f.copy()
    every = np.arange(K)
    for it in range(n_iter):
        gg = np.sum(np.multiply(g, g, out=s), axis=(1, 2))
        if np.all(gg <= 1e-24):
            break
        t = step.copy()
        todo = np.ones(K, dtype=bool)
        np.copyto(C_new, Cs)
        np.copyto(g_new, g)
        f_new = f.copy()
        for _ in range(30):
            idx = np.flatnonzero(todo)
            if len(idx) == K:  # usual case: no gathering copies
                idx = every
                Ct = ws.cayley_step(t, g, Cs)
            else:
                Ct = ws.cayley_step(t[idx], g[idx], Cs[idx])
            ft, gt = ws.loss_grad(A, B, Ct)
            ok = ft <= f_ref[idx] - 1e-4 * t[idx] * gg[idx]
            done = idx[ok]
            C_new[done], f_new[done], g_new[done] = Ct[ok], ft[ok], gt[ok]
            todo[done] = False
            if not todo.any():
                break
            t[todo] *= 0.3
        todo_idx = np.flatnonzero(todo)  # no decrease found: stay put, step shrinks
        t[todo_idx] *= 0.3
        np.multiply(-t[:, None, None], g, out=s)
        np.subtract(g_new, g, out=y)
        sy = np.abs(np.sum(np.multiply(s, y, out=Cs), axis=(1, 2)))  # Cs is replaced below
        ss = np.sum(np.multiply(s, s, out=Cs), axis=(1, 2))
        yy = np.sum(np.multiply(y, y, out=Cs), axis=(1, 2))
        with np.errstate(divide="ignore", invalid="ignore"):
            bb = ss / sy if it % 2 == 0 else sy / yy
        step = np.where(np.isfinite(bb) & (bb > 0), np.clip(bb, 1e-6, 1e3), t)
        Cs, C_new = C_new, Cs
        g, g_new = g_new, g
        # averaged reference value (in the spirit of Zhang & Hager 2004): allows temporary increases
        f_ref = np.maximum(0.85 * f_ref + 0.15 * f_new, f_new)
        f = f_new
    return Cs, f


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


def _orthogonal_search(
    A: np.ndarray, B: np.ndarray, special: bool, n_restarts: int, rng: np.random.Generator,
    tol: float, max_iter: int,
) -> VectorFieldResult:
    """Spectral and random starts, batched screening, trust-region polish of the best ones."""
    n = A.shape[0]
    lb_loss = _lower_bound_loss(A, B)
    try:
        starts = _spectral_candidates(A, B)
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
        C = starts[i]
        return VectorFieldResult(
            float("nan"), float(losses[i]), C, lb_loss, True, 0, 1, f"{kinds[i]}(certified)"
        )
    n_random, n_polish, n_screen = _search_budget(n, n_restarts)
    for k in range(n_random):
        kinds.append("random")
        starts.append(_haar(n, rng, 1 if (special or k % 2 == 0) else -1))
    screened = min(n_screen, max_iter)
    Cs, f = _screen(A, B, np.stack(starts), screened)
    idx = np.argsort(f, kind="stable")[:n_polish]
    Cs = Cs[idx]
    best = None
    for i, C0 in zip(idx, Cs):
        C, loss, gnorm, iters = _refine_orthogonal(A, B, C0, tol, max_iter)
        if best is None or loss < best[0]:
            best = (loss, kinds[i], C, gnorm, iters + screened)
    loss, kind, C, gnorm, iters = best
    certified = loss - lb_loss <= tol
    return VectorFieldResult(
        score=float("nan"), loss=float(loss), C=C, lower_bound=lb_loss,
        converged=bool(gnorm <= tol or certified), n_iter=int(iters), restarts=len(starts),
        method=f"{kind}+rtr" + ("(certified)" if certified else ""),
    )


# ----------------------------------------------------------------------------- GL(n)
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
    A: np.ndarray, B: np.ndarray, score: str, n_restarts: int, rng: np.random.Generator, tol: float, max_iter: int
) -> VectorFieldResult:
    orth = _orthogonal_search(A, B, False, n_restarts, rng, tol, max_iter)
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


# ----------------------------------------------------------------------------- public entry point
def vector_field_distance(
    A: Any, B: Any, *, group: str = "O", score: str = "angular", n_restarts: int = 4,
    seed: Any = 0, tol: float = 1e-10, max_iter: int = 1000,
) -> VectorFieldResult:
    """Procrustes distance between two linear vector fields (DSA's similarity-transform distance).

    A: (n, n) and B: (m, m) real operators (e.g. DMD matrices); each is scaled to unit Frobenius
    norm and the smaller one zero-padded to max(n, m).  ``group`` in {"O", "SO", "GL"};
    ``score`` "angular" (radians) or "euclidean" (unit-norm operators).  ``n_restarts`` random
    Haar starts (seeded by ``seed``) are run besides the spectral starts; ``tol`` bounds the
    Riemannian gradient norm (and the gap to the lower bound that certifies a global optimum);
    ``max_iter`` caps the optimiser iterations per start.  See the module docstring.
    """
    _check_options(group, score)
    if not (isinstance(n_restarts, (int, np.integer)) and n_restarts >= 0):
        raise ValueError(f"n_restarts must be a non-negative integer; got {n_restarts!r}")
    if not (isinstance(max_iter, (int, np.integer)) and max_iter >= 1):
        raise ValueError(f"max_iter must be a positive integer; got {max_iter!r}")
    if not (isinstance(tol, (int, float, np.integer, np.floating)) and np.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a positive finite number; got {tol!r}")
    rng = check_random_state(seed)
    Ah, Bh = _prepare_pair(A, B)
    small = Ah.shape[0] <= _SINGLE_THREAD_MAX_N
    with threadpool_limits(limits=1, user_api="blas") if small else nullcontext():
        if group == "GL":
            res = _gl_search(Ah, Bh, score, int(n_restarts), rng, float(tol), int(max_iter))
            value = _gl_score(Ah, Bh, res.C, score)
            return VectorFieldResult(
                value, res.loss, res.C, float("nan"), res.converged, res.n_iter, res.restarts, res.method
            )
        res = _orthogonal_search(Ah, Bh, group == "SO", int(n_restarts), rng, float(tol), int(max_iter))
    value = _loss_to_score(res.loss, score)
    # the certificate is exact; rounding can put it a hair above an optimal (zero-gap) loss
    bound = min(_loss_to_score(res.lower_bound, score), value)
    return VectorFieldResult(value, res.loss, res.C, bound, res.converged, res.n_iter, res.restarts, res.method)
