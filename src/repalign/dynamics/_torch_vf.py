"""The torch backend of the batched vector-field L-BFGS: the optional accelerated path.

The loop is :func:`repalign.dynamics.vector_fields._batched_lbfgs.lbfgs` (see there and
docs/dsa_optimiser.md); this backend gives every start its own pair of operators, so that the
starts of many pairs descend as one stack on one device (a GPU when present), which is what makes a
pairwise DSA matrix over many systems a few large batched products per iteration.  Computed in
float64.  Along a trajectory the results agree with the numpy backend to rounding; over hundreds of
iterations of a non-convex descent, rounding can steer a start into a different minimum, so the two
can return different local optima for the same start (the tests bound how often and by how much
on random pairs).

Imported lazily (by ``vector_field_distances``): ``import repalign`` never imports torch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .vector_fields._batched_lbfgs import _LBFGS_MEMORY, lbfgs


def _swap(X: torch.Tensor) -> torch.Tensor:
    return X.transpose(-1, -2)


def _dots(U: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    return (U * V).sum(dim=(-2, -1))


def _loss_grad(A: torch.Tensor, B: torch.Tensor, C: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-start losses ||C B C^T - A||^2 and Riemannian gradients (X - X^T), X = M A^T + M^T A."""
    M = C @ B @ _swap(C)
    X = M @ _swap(A) + _swap(M) @ A
    return _dots(M - A, M - A), X - _swap(X)


def _retract(W: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    """(I + W + W^2/2) C made orthogonal by one Newton-Schulz step (as in the numpy backend)."""
    WC = W @ C
    X = C + WC + 0.5 * (W @ WC)
    return 1.5 * X - 0.5 * (X @ (_swap(X) @ X))


class TorchBackend:
    """Float64 tensors on ``device``; ``pairs`` is (A, B), each (K, n, n): one pair per start."""

    dots = staticmethod(_dots)
    retract = staticmethod(_retract)
    where = staticmethod(torch.where)
    sqrt = staticmethod(torch.sqrt)
    solve = staticmethod(torch.linalg.solve)
    swap = staticmethod(_swap)

    def __init__(self, device: str | torch.device = "cpu"):
        self.device = torch.device(device)

    def zeros(self, shape: tuple[int, ...]) -> torch.Tensor:
        return torch.zeros(shape, dtype=torch.float64, device=self.device)

    def int_zeros(self, k: int) -> torch.Tensor:
        return torch.zeros(k, dtype=torch.long, device=self.device)

    def arange(self, k: int) -> torch.Tensor:
        return torch.arange(k, device=self.device)

    def eye(self, m: int) -> torch.Tensor:
        return torch.eye(m, dtype=torch.float64, device=self.device)

    @staticmethod
    def as_float(mask: torch.Tensor) -> torch.Tensor:
        return mask.to(torch.float64)

    @staticmethod
    def maximum(x: torch.Tensor, low: float) -> torch.Tensor:
        return torch.clamp(x, min=low)

    @staticmethod
    def minimum(x: torch.Tensor, high: float) -> torch.Tensor:
        return torch.clamp(x, max=high)

    @staticmethod
    def copy(x: torch.Tensor) -> torch.Tensor:
        return x.clone()

    @staticmethod
    def flatnonzero(mask: torch.Tensor) -> torch.Tensor:
        return torch.nonzero(mask).flatten()

    @staticmethod
    def diagonal(X: torch.Tensor) -> torch.Tensor:
        return torch.diagonal(X, dim1=1, dim2=2)

    @staticmethod
    def rowdots(U: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
        return (U * V).sum(dim=1)

    def starts(self, Cs: Any) -> torch.Tensor:
        return torch.as_tensor(np.array(Cs, dtype=np.float64), device=self.device)

    def pairs(self, A: np.ndarray, B: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return tuple(torch.as_tensor(X, dtype=torch.float64, device=self.device) for X in (A, B))

    @staticmethod
    def take(pairs: tuple, index: torch.Tensor) -> tuple:
        return pairs[0][index], pairs[1][index]

    @staticmethod
    def loss_grad(pairs: tuple, C: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return _loss_grad(pairs[0], pairs[1], C)

    @staticmethod
    def polar(C: torch.Tensor) -> torch.Tensor:
        U, _, Vh = torch.linalg.svd(C)
        return U @ Vh

    @staticmethod
    def to_numpy(x: torch.Tensor) -> np.ndarray:
        return x.cpu().numpy()


def lbfgs_many(
    A: np.ndarray, B: np.ndarray, Cs: np.ndarray, tol: float, max_iter: int, memory: int = _LBFGS_MEMORY,
    device: str | torch.device = "cpu",
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Descend a (K, n, n) stack of orthogonal starts, start k on the pair (A[k], B[k]).

    Returns, as numpy float64: C (polar factors, (K, n, n)), loss, Riemannian gradient norm and
    iterations, per start (the contract of ``vector_fields._lbfgs``).
    """
    xp = TorchBackend(device)
    return lbfgs(xp, xp.pairs(A, B), Cs, tol, max_iter, memory)
