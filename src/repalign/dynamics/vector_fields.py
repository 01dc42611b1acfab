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
2. *Descent of all starts.*  These starts and Haar-random ones (seeded; alternating det +1 / -1
   for O(n); ``8 * n_restarts`` of them for n <= 32, ``ceil(n_restarts / 4)`` above) descend
   together as one (K, n, n) stack by Riemannian L-BFGS (left trivialisation: tangent vectors are
   skew matrices, stored pairs are carried unchanged; compact representation of the memory), with
   a second-order exponential step made orthogonal by a Newton-Schulz step as retraction and an
   Armijo line search, each start until its gradient norm is below 1e-4.
3. *Polish.*  The start with the lowest loss is refined alone to gradient norm ``tol`` by
   Riemannian trust-region Newton with the exact Hessian (Absil et al. 2007), which converges
   quadratically from there (a few iterations) where L-BFGS would stall at its rounding floor (~1e-8).  Every update stays in the connected component of
   its start, which keeps SO(n) at det +1 (its det -1 structured starts are mapped to det +1 first).

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
from typing import Any, Sequence

import numpy as np
from scipy.linalg import lu_factor, lu_solve
from scipy.optimize import linear_sum_assignment, minimize

from threadpoolctl import threadpool_limits

from .._validation import check_finite, check_random_state, to_numpy

__all__ = ["VectorFieldResult", "vector_field_distance", "vector_field_distances", "procrustes_lower_bound", "EFFORTS"]

GROUPS = ("O", "SO", "GL")
SCORES = ("angular", "euclidean")
_LBFGS_MEMORY = 5  # (s, y) pairs kept per start
_SCREEN_TOL = 1e-4  # gradient norm to which every start is descended before the best is polished
_MAX_STEP = 0.5  # longest step (Frobenius norm of the skew W) tried by the line search
_TCG_THETA = 0.5  # inner CG accuracy exponent: local convergence of order 1 + theta
_SINGLE_THREAD_MAX_N = 256  # below this size BLAS threads only add contention
# effort -> (factor on n_restarts, gradient norm to which every start is descended); "default" is
# the search of docs/dsa_optimiser.md; failure rates of each in docs/dsa_optimiser.md ("Effort")
EFFORTS = {"fast": (0.25, 1e-3), "default": (1.0, _SCREEN_TOL), "thorough": (4.0, 1e-5)}


def _effort_search(n_restarts: int, effort: str) -> tuple[int, float]:
    """(n_restarts actually used, screening gradient tolerance) for an effort level."""
    factor, screen_tol = EFFORTS[effort]
    return (int(np.ceil(n_restarts * factor)) if n_restarts else 0), screen_tol


def _search_budget(n: int, n_restarts: int) -> int:
    """Haar-random starts descended besides the structured ones.

    For n <= 32 a start is cheap (numpy's per-call cost, not arithmetic, sets the time of a batched
    iteration) and 32 descents found a loss at least as low as dsa-metric's on 30 of 30 random
    n = 20 pairs (16: 29 of 30); above, each start costs ~400 iterations of O(n^3), and
    n_restarts / 4 (rounded up) random starts are added to the three structured ones.
    """
    return 8 * n_restarts if n <= 32 else -(-n_restarts // 4)


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
def _check_search_params(n_restarts: Any, tol: Any, max_iter: Any, effort: Any = "default") -> None:
    if not (isinstance(effort, str) and effort in EFFORTS):
        raise ValueError(f"effort must be one of {tuple(EFFORTS)}; got {effort!r}")
    if not (isinstance(n_restarts, (int, np.integer)) and n_restarts >= 0):
        raise ValueError(f"n_restarts must be a non-negative integer; got {n_restarts!r}")
    if not (isinstance(max_iter, (int, np.integer)) and max_iter >= 1):
        raise ValueError(f"max_iter must be a positive integer; got {max_iter!r}")
    if not (isinstance(tol, (int, float, np.integer, np.floating)) and np.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a positive finite number; got {tol!r}")


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
        if np.max(np.abs(new - d)) <= 1e-15:  # (np.allclose costs 10x more here)
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


def _decompositions(A: np.ndarray) -> tuple:
    """What the structured starts need of one operator: eig(A) and the eigenvectors of A + A^T."""
    return np.linalg.eig(A), np.linalg.eigh(A + A.T)[1]


def _spectral_candidates(A: np.ndarray, B: np.ndarray, dec: tuple | None = None) -> list[np.ndarray]:
    """Orthogonal candidates C with C B C^T ~ A from eigenvector alignment (see module docstring);
    ``dec``: (_decompositions(A), _decompositions(B)) when computed already."""
    n = A.shape[0]
    (lam_a, Va), Ua = dec[0] if dec is not None else _decompositions(A)
    (lam_b, Vb), Ub = dec[1] if dec is not None else _decompositions(B)
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
    out.append(Ua @ Ub.T)  # symmetric parts aligned in sorted eigen-order (exact when both are symmetric)
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


def _batch_loss_grad(A: np.ndarray, At: np.ndarray, B: np.ndarray, C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Losses and Riemannian gradients for a (K, n, n) stack; At = A^T (contiguous).

    The gradient 2 skew(R M^T - M^T R) with R = M - A loses its M M^T - M^T M part, which is
    symmetric, so it equals (X - X^T) + (Y - Y^T) with X = M A^T and Y = M^T A: four products per
    start in all, the first of them one large product for the whole stack."""
    n = A.shape[0]
    CB = (C.reshape(-1, n) @ B).reshape(C.shape)
    M = CB @ np.swapaxes(C, -1, -2)
    X = M @ At
    X += np.swapaxes(M, -1, -2) @ A
    X -= np.swapaxes(X, -1, -2).copy()  # (the copy: X is read and written in one pass otherwise)
    M -= A
    return np.einsum("kij,kij->k", M, M), X


def _retract(W: np.ndarray, C: np.ndarray) -> np.ndarray:
    """expm(W) C to second order, made orthogonal by one Newton-Schulz step: four products.

    X = (I + W + W^2/2) C has X^T X = I + C^T W^4 C / 4 for skew W, and the step
    X (3I - X^T X) / 2 leaves a defect of about (3/4) ||W^4 / 4||^2 = O(||W||^8) (2e-4 at the
    longest step tried, ||W|| = 0.5; 5e-10 at 0.1); a defect carried in from the previous iterate is
    squared too, so it does not accumulate.  The defect matters: the loss is evaluated at X, and a
    descent method happily exploits a non-orthogonal X (with only a first-order X = (I + W) C the
    iterates drifted to losses below what their polar factors attain, and then stalled).  A
    Cayley step would be exact but needs a linear solve, which at n = 50 costs as much as a dozen
    products."""
    WC = W @ C
    X = W @ WC
    X *= 0.5
    X += WC
    X += C
    G = np.swapaxes(X, -1, -2) @ X
    Y = X @ G
    X *= 1.5
    Y *= 0.5
    X -= Y
    return X


def _dots(U: np.ndarray, V: np.ndarray) -> np.ndarray:
    return np.einsum("kij,kij->k", U, V)


class _Memory:
    """L-BFGS memory for a stack of K starts: the last m pairs (s, y) of each, flattened, so that
    the direction comes from (K, m) numbers and a few batched products (compact form) rather than
    from 4m passes over the stack (two-loop recursion); numpy's per-call cost dominates at these
    sizes.

    Slots form a ring shared by all starts (every start stores a pair at each iteration or has its
    memory cleared); ``count[k]`` is how many of the newest slots are valid for start k.
    """

    def __init__(self, K: int, N: int, m: int):
        self.m, self.pos = m, 0
        self.S, self.Y = np.zeros((K, m, N)), np.zeros((K, m, N))
        self.SY, self.YY = np.zeros((K, m, m)), np.zeros((K, m, m))  # Gram matrices, slot order
        self.count = np.zeros(K, dtype=int)

    def keep(self, mask: np.ndarray) -> None:
        for name in ("S", "Y", "SY", "YY", "count"):
            setattr(self, name, getattr(self, name)[mask])

    def push(self, s: np.ndarray, y: np.ndarray, good: np.ndarray) -> None:
        """Store (s, y) (K, N) where ``good`` (s^T y > 0), clear the memory of the other starts."""
        p = self.pos
        self.S[:, p], self.Y[:, p] = s, y
        y_ = y[:, :, None]
        self.SY[:, :, p] = np.matmul(self.S, y_)[:, :, 0]  # s_i . y_new
        self.SY[:, p, :] = np.matmul(self.Y, s[:, :, None])[:, :, 0]  # s_new . y_i
        self.YY[:, :, p] = self.YY[:, p, :] = np.matmul(self.Y, y_)[:, :, 0]
        self.count = np.where(good, np.minimum(self.count + 1, self.m), 0)
        self.pos = (p + 1) % self.m

    def direction(self, g: np.ndarray) -> np.ndarray:
        """-H g for (K, N) gradients, H the L-BFGS inverse-Hessian approximation in its compact
        form (Byrd, Nocedal & Schnabel 1994; Nocedal & Wright eq. 7.24), scaled by
        gamma = s^T y / y^T y of the newest pair; -g where a start holds no pairs.

        With the pairs in chronological order, a = S g, b = Y g, R = triu(S Y^T) and
        D = diag(S Y^T): u = R^{-1} a, p = R^{-T}((D + gamma Y Y^T) u - gamma b) and
        H g = gamma g + S^T p - gamma Y^T u.  Slots a start does not hold are masked out
        (identity rows in R, zeros elsewhere), which leaves its direction exact for the pairs it has.
        """
        m = self.m
        if not self.count.any():
            return -g
        # Work in slot order: with age(i) the chronological position of slot i (0 = oldest),
        # R is the triangular matrix of the text with its rows and columns permuted alike.
        age = (np.arange(m) - self.pos) % m
        upper = age[:, None] <= age[None, :]
        SY, YY = self.SY, self.YY
        gv = g[:, :, None]
        a = np.matmul(self.S, gv)
        b = np.matmul(self.Y, gv)
        if self.count.min() < m:  # mask the slots some starts do not hold
            v = (age[None, :] >= m - self.count[:, None]).astype(float)
            vv = v[:, :, None] * v[:, None, :]
            SY, YY = SY * vv, YY * vv
            a *= v[:, :, None]
            b *= v[:, :, None]
            R = SY * upper + np.eye(m) * (1.0 - v)[:, None, :]
        else:
            R = SY * upper
        new = (self.pos - 1) % m
        yy, sy = YY[:, new, new], SY[:, new, new]
        gamma = np.where(yy > 0, sy / np.where(yy > 0, yy, 1.0), 1.0)[:, None, None]
        u = np.linalg.solve(R, a)
        D = np.einsum("kii->ki", SY)[:, :, None]
        p = np.linalg.solve(np.swapaxes(R, 1, 2), D * u + gamma * (np.matmul(YY, u) - b))
        u *= gamma
        Hg = np.matmul(np.swapaxes(p, 1, 2), self.S)[:, 0]
        Hg -= np.matmul(np.swapaxes(u, 1, 2), self.Y)[:, 0]
        Hg += gamma[:, :, 0] * g
        return -Hg



def _accept(ft, gtsq, f, gsq, t, dg, rounding: float) -> np.ndarray:
    """Armijo test; where the predicted decrease is below the rounding of f, a step is accepted
    when it lowers the (squared) gradient norm instead."""
    decrease = -t * dg
    tiny = decrease <= rounding * np.maximum(f, 1.0)
    return (ft <= f - 1e-4 * decrease) | (tiny & (gtsq < gsq))


def _lbfgs(
    A: np.ndarray, B: np.ndarray, Cs: np.ndarray, tol: float, max_iter: int, memory: int = _LBFGS_MEMORY
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Batched Riemannian L-BFGS on a (K, n, n) stack of orthogonal starts, each run until its
    Riemannian gradient norm is <= tol (or no decrease is possible, or max_iter).

    Tangent vectors are skew matrices acting on the left (C -> retract(W) C); stored pairs are
    carried between tangent spaces unchanged (the left trivialisation), as in L-BFGS on Lie groups.
    The retraction stays in the connected component of the start.  Starts that stop are removed
    from the working stack.  Returns (C, loss, gradient norm, iterations), each per start; C is made
    exactly orthogonal (polar factor) at the end.
    """
    At = np.ascontiguousarray(A.T)
    rounding = 1e-13  # relative rounding of f (about 450 eps)
    C_out = np.array(Cs, dtype=float)
    K, n = len(C_out), A.shape[0]
    iters = np.zeros(K, dtype=int)
    live = np.arange(K)  # the starts still running; the state below is compacted to them
    c = C_out.copy()
    f, g = _batch_loss_grad(A, At, B, c)
    gsq = _dots(g, g)
    mem = _Memory(K, n * n, memory)
    running = gsq > tol**2
    for _ in range(max_iter):
        if not running.all():
            C_out[live[~running]] = c[~running]
            live, c, f, g, gsq = live[running], c[running], f[running], g[running], gsq[running]
            mem.keep(running)
            if len(live) == 0:
                break
        k = len(live)
        had_memory = mem.count > 0
        d = mem.direction(g.reshape(k, -1)).reshape(g.shape)
        dg = _dots(d, g)
        bad = ~(dg < 0)  # not a descent direction: restart that start's memory
        if bad.any():
            d[bad], dg[bad], mem.count[bad] = -g[bad], -gsq[bad], 0
        dn = np.maximum(np.sqrt(_dots(d, d)), 1e-300)
        # first step after a (re)start: length 0.1; later the quasi-Newton step, at most _MAX_STEP long
        t = np.where(mem.count == 0, 0.1, np.minimum(dn, _MAX_STEP)) / dn
        ct = _retract(d * t[:, None, None], c)
        ft, gt = _batch_loss_grad(A, At, B, ct)
        gtsq = _dots(gt, gt)
        ok = _accept(ft, gtsq, f, gsq, t, dg, rounding)
        if ok.all():  # the usual case
            moved, c_new, f_new, g_new, gsq_new = ok, ct, ft, gt, gtsq
        else:  # backtrack the others
            c_new, f_new, g_new, gsq_new = c.copy(), f.copy(), g.copy(), gsq.copy()
            c_new[ok], f_new[ok], g_new[ok], gsq_new[ok] = ct[ok], ft[ok], gt[ok], gtsq[ok]
            moved = ok.copy()
            todo = np.flatnonzero(~ok & (-t * dg > rounding * np.maximum(f, 1.0)))  # tiny: rounding floor
            for _trial in range(30):
                if len(todo) == 0:
                    break
                t[todo] *= 0.3
                ct = _retract(d[todo] * t[todo, None, None], c[todo])
                ft, gt = _batch_loss_grad(A, At, B, ct)
                gtsq = _dots(gt, gt)
                ok = _accept(ft, gtsq, f[todo], gsq[todo], t[todo], dg[todo], rounding)
                acc = todo[ok]
                c_new[acc], f_new[acc], g_new[acc], gsq_new[acc] = ct[ok], ft[ok], gt[ok], gtsq[ok]
                moved[acc] = True
                todo = todo[~ok & (-t[todo] * dg[todo] > rounding * np.maximum(f[todo], 1.0))]
        s_ = (d * t[:, None, None]).reshape(k, -1)
        y_ = (g_new - g).reshape(k, -1)
        sy = np.einsum("ki,ki->k", s_, y_)
        mem.push(s_, y_, moved & (sy > 0))
        c, f, g, gsq = c_new, f_new, g_new, gsq_new
        iters[live] += 1
        # a failed line search clears the memory (mem.push above) and the next step is a gradient
        # step; a start stops when that fails too (rounding floor), converges or runs out
        running = (moved | had_memory) & (gsq > tol**2)
    C_out[live] = c
    C_out = np.stack([_polar(C) for C in C_out])
    f, g = _batch_loss_grad(A, At, B, C_out)
    return C_out, f, np.sqrt(_dots(g, g)), iters


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


# ----------------------------------------------------------------------------- public entry point
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
    1e-4, 1e-5); failure rates of each in docs/dsa_optimiser.md.  See the module docstring.
    """
    _check_options(group, score)
    _check_search_params(n_restarts, tol, max_iter, effort)
    n_restarts, screen_tol = _effort_search(int(n_restarts), effort)
    rng = check_random_state(seed)
    Ah, Bh = _prepare_pair(A, B)
    small = Ah.shape[0] <= _SINGLE_THREAD_MAX_N
    with threadpool_limits(limits=1, user_api="blas") if small else nullcontext():
        if group == "GL":
            res = _gl_search(Ah, Bh, score, n_restarts, rng, float(tol), int(max_iter), screen_tol)
            value = _gl_score(Ah, Bh, res.C, score)
            return VectorFieldResult(
                value, res.loss, res.C, float("nan"), res.converged, res.n_iter, res.restarts, res.method
            )
        res = _orthogonal_search(Ah, Bh, group == "SO", n_restarts, rng, float(tol), int(max_iter), screen_tol)
    return _scored(res, score)


def _scored(res: VectorFieldResult, score: str) -> VectorFieldResult:
    """An O/SO search result with its score and lower bound in score units."""
    value = _loss_to_score(res.loss, score)
    # the certificate is exact; rounding can put it a hair above an optimal (zero-gap) loss
    bound = min(_loss_to_score(res.lower_bound, score), value)
    return VectorFieldResult(value, res.loss, res.C, bound, res.converged, res.n_iter, res.restarts, res.method)


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
    from . import _torch_vf  # torch only when this path is used

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
            small = Ah.shape[0] <= _SINGLE_THREAD_MAX_N
            with threadpool_limits(limits=1, user_api="blas") if small else nullcontext():
                res = _finish_search(Ah, Bh, (C[lo:hi], f[lo:hi], gnorm[lo:hi], iters[lo:hi]), kinds,
                                     lb_loss, float(tol), int(max_iter))
            results[i] = _scored(res, score)
    return results  # type: ignore[return-value]
