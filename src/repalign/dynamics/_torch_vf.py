"""Batched Riemannian L-BFGS for vector-field Procrustes in torch: the optional accelerated path.

The algorithm is :func:`repalign.dynamics.vector_fields._lbfgs` (see there and
docs/dsa_optimiser.md), written so that every start carries its own pair of operators: the starts
of many pairs descend as one stack on one device (a GPU when present), which is what makes a
pairwise DSA matrix over many systems a few large batched products per iteration.  Computed in
float64.  Along a trajectory the results agree with the numpy path to rounding; over hundreds of
iterations of a non-convex descent, rounding can steer a start into a different minimum, so the two
paths can return different local optima for the same start (the tests bound how often and by how
much on random pairs).

Imported lazily: ``import repalign`` never imports torch.
"""

from __future__ import annotations

import numpy as np
import torch

_ROUNDING = 1e-13  # relative rounding of the loss in float64, as in the numpy path
_MAX_STEP = 0.5


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
    """(I + W + W^2/2) C made orthogonal by one Newton-Schulz step (as in the numpy path)."""
    WC = W @ C
    X = C + WC + 0.5 * (W @ WC)
    return 1.5 * X - 0.5 * (X @ (_swap(X) @ X))


class _Memory:
    """L-BFGS pairs and their Gram matrices for K starts, ring of m slots (see the numpy class)."""

    def __init__(self, K: int, N: int, m: int, like: torch.Tensor):
        self.m, self.pos = m, 0
        self.S = like.new_zeros((K, m, N))
        self.Y = like.new_zeros((K, m, N))
        self.SY = like.new_zeros((K, m, m))
        self.YY = like.new_zeros((K, m, m))
        self.count = torch.zeros(K, dtype=torch.long, device=like.device)

    def keep(self, mask: torch.Tensor) -> None:
        self.S, self.Y, self.SY, self.YY = self.S[mask], self.Y[mask], self.SY[mask], self.YY[mask]
        self.count = self.count[mask]

    def push(self, s: torch.Tensor, y: torch.Tensor, good: torch.Tensor) -> None:
        p = self.pos
        self.S[:, p], self.Y[:, p] = s, y
        self.SY[:, :, p] = (self.S @ y[:, :, None])[:, :, 0]
        self.SY[:, p, :] = (self.Y @ s[:, :, None])[:, :, 0]
        yy = (self.Y @ y[:, :, None])[:, :, 0]
        self.YY[:, :, p] = yy
        self.YY[:, p, :] = yy
        self.count = torch.where(good, torch.clamp(self.count + 1, max=self.m), torch.zeros_like(self.count))
        self.pos = (p + 1) % self.m

    def direction(self, g: torch.Tensor) -> torch.Tensor:
        """-H g, compact form in slot order (as the numpy class)."""
        m = self.m
        if not bool(self.count.any()):
            return -g
        age = (torch.arange(m, device=g.device) - self.pos) % m
        upper = (age[:, None] <= age[None, :]).to(g.dtype)
        v = (age[None, :] >= m - self.count[:, None]).to(g.dtype)
        vv = v[:, :, None] * v[:, None, :]
        SY, YY = self.SY * vv, self.YY * vv
        a = (self.S @ g[:, :, None]) * v[:, :, None]
        b = (self.Y @ g[:, :, None]) * v[:, :, None]
        eye = torch.eye(m, dtype=g.dtype, device=g.device)
        R = SY * upper + eye * (1.0 - v)[:, None, :]
        new = (self.pos - 1) % m
        yy, sy = YY[:, new, new], SY[:, new, new]
        gamma = torch.where(yy > 0, sy / torch.where(yy > 0, yy, torch.ones_like(yy)), torch.ones_like(yy))
        gamma = gamma[:, None, None]
        u = torch.linalg.solve(R, a)
        D = torch.diagonal(SY, dim1=1, dim2=2)[:, :, None]
        p = torch.linalg.solve(_swap(R), D * u + gamma * (YY @ u - b))
        Hg = (_swap(p) @ self.S)[:, 0] - (_swap(gamma * u) @ self.Y)[:, 0] + gamma[:, :, 0] * g
        return -Hg


def lbfgs_many(
    A: np.ndarray, B: np.ndarray, Cs: np.ndarray, tol: float, max_iter: int, memory: int = 5,
    device: str | torch.device = "cpu",
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Descend a (K, n, n) stack of orthogonal starts, start k on the pair (A[k], B[k]).

    Returns, as numpy float64: C (polar factors, (K, n, n)), loss, Riemannian gradient norm and
    iterations, per start (the contract of ``vector_fields._lbfgs``).
    """
    dev = torch.device(device)
    A_t = torch.as_tensor(A, dtype=torch.float64, device=dev)
    B_t = torch.as_tensor(B, dtype=torch.float64, device=dev)
    C_out = torch.as_tensor(np.array(Cs, dtype=np.float64), device=dev)
    K, n = C_out.shape[0], C_out.shape[1]
    iters = torch.zeros(K, dtype=torch.long, device=dev)
    live = torch.arange(K, device=dev)
    c, a_, b_ = C_out.clone(), A_t, B_t
    f, g = _loss_grad(a_, b_, c)
    gsq = _dots(g, g)
    mem = _Memory(K, n * n, memory, c)
    running = gsq > tol**2
    for _ in range(max_iter):
        if not bool(running.all()):
            C_out[live[~running]] = c[~running]
            live, c, f, g, gsq = live[running], c[running], f[running], g[running], gsq[running]
            a_, b_ = a_[running], b_[running]
            mem.keep(running)
            if len(live) == 0:
                break
        k = len(live)
        had_memory = mem.count > 0
        d = mem.direction(g.reshape(k, -1)).reshape(g.shape)
        dg = _dots(d, g)
        bad = ~(dg < 0)
        if bool(bad.any()):
            d[bad], dg[bad] = -g[bad], -gsq[bad]
            mem.count[bad] = 0
        dn = torch.clamp(torch.sqrt(_dots(d, d)), min=1e-300)
        t = torch.where(mem.count == 0, torch.full_like(dn, 0.1), torch.clamp(dn, max=_MAX_STEP)) / dn
        ct = _retract(d * t[:, None, None], c)
        ft, gt = _loss_grad(a_, b_, ct)
        gtsq = _dots(gt, gt)
        ok = _accept(ft, gtsq, f, gsq, t, dg)
        if bool(ok.all()):
            moved, c_new, f_new, g_new, gsq_new = ok, ct, ft, gt, gtsq
        else:
            c_new, f_new, g_new, gsq_new = c.clone(), f.clone(), g.clone(), gsq.clone()
            c_new[ok], f_new[ok], g_new[ok], gsq_new[ok] = ct[ok], ft[ok], gt[ok], gtsq[ok]
            moved = ok.clone()
            todo = torch.nonzero(~ok & (-t * dg > _ROUNDING * torch.clamp(f, min=1.0))).flatten()
            for _trial in range(30):
                if len(todo) == 0:
                    break
                t[todo] *= 0.3
                ct = _retract(d[todo] * t[todo, None, None], c[todo])
                ft, gt = _loss_grad(a_[todo], b_[todo], ct)
                gtsq = _dots(gt, gt)
                ok = _accept(ft, gtsq, f[todo], gsq[todo], t[todo], dg[todo])
                acc = todo[ok]
                c_new[acc], f_new[acc], g_new[acc], gsq_new[acc] = ct[ok], ft[ok], gt[ok], gtsq[ok]
                moved[acc] = True
                keep = ~ok & (-t[todo] * dg[todo] > _ROUNDING * torch.clamp(f[todo], min=1.0))
                todo = todo[keep]
        s_ = (d * t[:, None, None]).reshape(k, -1)
        y_ = (g_new - g).reshape(k, -1)
        mem.push(s_, y_, moved & ((s_ * y_).sum(dim=1) > 0))
        c, f, g, gsq = c_new, f_new, g_new, gsq_new
        iters[live] += 1
        running = (moved | had_memory) & (gsq > tol**2)
    C_out[live] = c
    U, _, Vh = torch.linalg.svd(C_out)
    C_out = U @ Vh
    f, g = _loss_grad(A_t, B_t, C_out)
    return (C_out.cpu().numpy(), f.cpu().numpy(), torch.sqrt(_dots(g, g)).cpu().numpy(),
            iters.cpu().numpy())


def _accept(ft, gtsq, f, gsq, t, dg) -> torch.Tensor:
    decrease = -t * dg
    tiny = decrease <= _ROUNDING * torch.clamp(f, min=1.0)
    return (ft <= f - 1e-4 * decrease) | (tiny & (gtsq < gsq))
