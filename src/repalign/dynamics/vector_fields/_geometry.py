"""Riemannian geometry of the loss L(C) = ||C B C^T - A||_F^2 on O(n): the loss, its gradient and
Hessian, the retraction, and the numpy kernels of the batched descent (a (K, n, n) stack of C)."""

from __future__ import annotations

import numpy as np


def _polar(X: np.ndarray) -> np.ndarray:
    """Nearest orthogonal matrix (Frobenius) to X."""
    U, _, Vt = np.linalg.svd(X)
    return U @ Vt


def _haar(n: int, rng: np.random.Generator, det_sign: int) -> np.ndarray:
    """A Haar-distributed (n, n) orthogonal matrix from ``rng`` with determinant ``det_sign``."""
    Q, R = np.linalg.qr(rng.standard_normal((n, n)))
    Q = Q * np.sign(np.diag(R))
    if np.sign(np.linalg.det(Q)) != det_sign:
        Q[:, 0] = -Q[:, 0]
    return Q


def _orth_loss(A: np.ndarray, B: np.ndarray, C: np.ndarray) -> float:
    """||C B C^T - A||_F^2 for one (n, n) C."""
    return float(np.sum((C @ B @ C.T - A) ** 2))


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
    """Frobenius inner products of two (K, n, n) stacks, matrix by matrix: (K,)."""
    return np.einsum("kij,kij->k", U, V)

