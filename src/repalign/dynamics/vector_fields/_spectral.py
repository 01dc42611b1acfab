"""Structured starts of the O/SO search (docs/dsa_optimiser.md, "Algorithm", step 1).

For an exactly conjugate pair B = Q A Q^T with simple eigenvalues, the unit eigenvectors satisfy
V_B = Q V_A D with D a diagonal of unit complex phases, so Q^T = V_A D V_B^{-1}; the phases are a
phase-synchronisation problem on the Gram matrices.  A further start aligns the eigenvectors of
the symmetric parts (exact when both operators are symmetric).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from ._geometry import _orth_loss, _polar


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
    """Orthogonal candidates C with C B C^T ~ A from eigenvector alignment (module docstring);
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

