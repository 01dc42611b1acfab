"""Batched Riemannian L-BFGS on O(n): one loop for a (K, n, n) stack of orthogonal starts, written
once for numpy and torch through a small backend shim (docs/dsa_optimiser.md, "Algorithm", step 2).

A backend supplies the array operations whose spelling differs between the two libraries (array
creation, ``where``, ``maximum``, ``solve`` ...) and the kernels of the problem: the batched loss
and Riemannian gradient, the retraction and the polar factor.  It also owns the operators the
starts descend on (``pairs``): the numpy backend holds one pair (A, B) shared by every start,
the torch one a pair per start (repalign.dynamics._torch_vf), so that the starts of many pairs
descend as one stack on a GPU.  Everything else (the memory, the line search, which starts stop)
is this module's, once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._geometry import _batch_loss_grad, _dots, _polar, _retract

_LBFGS_MEMORY = 5  # (s, y) pairs kept per start
_MAX_STEP = 0.5  # longest step (Frobenius norm of the skew W) tried by the line search
_ROUNDING = 1e-13  # relative rounding of the loss f in float64 (about 450 eps)


class NumpyBackend:
    """The numpy backend: float64 arrays, one operator pair ``(A, A^T, B)`` for all starts."""

    zeros = staticmethod(np.zeros)
    arange = staticmethod(np.arange)
    eye = staticmethod(np.eye)
    where = staticmethod(np.where)
    maximum = staticmethod(np.maximum)
    minimum = staticmethod(np.minimum)
    sqrt = staticmethod(np.sqrt)
    solve = staticmethod(np.linalg.solve)
    flatnonzero = staticmethod(np.flatnonzero)
    dots = staticmethod(_dots)
    retract = staticmethod(_retract)

    @staticmethod
    def int_zeros(k: int) -> np.ndarray:
        return np.zeros(k, dtype=int)

    @staticmethod
    def as_float(mask: np.ndarray) -> np.ndarray:
        return mask.astype(float)

    @staticmethod
    def copy(x: np.ndarray) -> np.ndarray:
        return x.copy()

    @staticmethod
    def swap(X: np.ndarray) -> np.ndarray:
        return np.swapaxes(X, 1, 2)

    @staticmethod
    def diagonal(X: np.ndarray) -> np.ndarray:
        return np.einsum("kii->ki", X)

    @staticmethod
    def rowdots(U: np.ndarray, V: np.ndarray) -> np.ndarray:
        return np.einsum("ki,ki->k", U, V)

    @staticmethod
    def starts(Cs: Any) -> np.ndarray:
        return np.array(Cs, dtype=float)

    @staticmethod
    def pairs(A: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return A, np.ascontiguousarray(A.T), B

    @staticmethod
    def take(pairs: tuple, index: Any) -> tuple:
        return pairs  # one pair for all starts

    @staticmethod
    def loss_grad(pairs: tuple, C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return _batch_loss_grad(*pairs, C)

    @staticmethod
    def polar(C: np.ndarray) -> np.ndarray:
        return np.stack([_polar(X) for X in C])

    @staticmethod
    def to_numpy(x: np.ndarray) -> np.ndarray:
        return x


NUMPY = NumpyBackend()


class _Memory:
    """L-BFGS memory for a stack of K starts: the last m pairs (s, y) of each, flattened, so that
    the direction comes from (K, m) numbers and a few batched products (compact form) rather than
    from 4m passes over the stack (two-loop recursion); numpy's per-call cost dominates at these
    sizes.

    Slots form a ring shared by all starts (every start stores a pair at each iteration or has its
    memory cleared); ``count[k]`` is how many of the newest slots are valid for start k.
    """

    def __init__(self, K: int, N: int, m: int, xp: Any = NUMPY):
        self.xp = xp
        self.m, self.pos = m, 0
        self.S, self.Y = xp.zeros((K, m, N)), xp.zeros((K, m, N))
        self.SY, self.YY = xp.zeros((K, m, m)), xp.zeros((K, m, m))  # Gram matrices, slot order
        self.count = xp.int_zeros(K)

    def keep(self, mask: Any) -> None:
        for name in ("S", "Y", "SY", "YY", "count"):
            setattr(self, name, getattr(self, name)[mask])

    def push(self, s: Any, y: Any, good: Any) -> None:
        """Store (s, y) (K, N) where ``good`` (s^T y > 0), clear the memory of the other starts."""
        p = self.pos
        self.S[:, p], self.Y[:, p] = s, y
        y_ = y[:, :, None]
        self.SY[:, :, p] = (self.S @ y_)[:, :, 0]  # s_i . y_new
        self.SY[:, p, :] = (self.Y @ s[:, :, None])[:, :, 0]  # s_new . y_i
        self.YY[:, :, p] = self.YY[:, p, :] = (self.Y @ y_)[:, :, 0]
        self.count = self.xp.where(good, self.xp.minimum(self.count + 1, self.m), 0)
        self.pos = (p + 1) % self.m

    def direction(self, g: Any) -> Any:
        """-H g for (K, N) gradients, H the L-BFGS inverse-Hessian approximation in its compact
        form (Byrd, Nocedal & Schnabel 1994; Nocedal & Wright eq. 7.24), scaled by
        gamma = s^T y / y^T y of the newest pair; -g where a start holds no pairs.

        With the pairs in chronological order, a = S g, b = Y g, R = triu(S Y^T) and
        D = diag(S Y^T): u = R^{-1} a, p = R^{-T}((D + gamma Y Y^T) u - gamma b) and
        H g = gamma g + S^T p - gamma Y^T u.  Slots a start does not hold are masked out
        (identity rows in R, zeros elsewhere), which leaves its direction exact for the pairs it has.
        """
        xp, m = self.xp, self.m
        if not self.count.any():
            return -g
        # Work in slot order: with age(i) the chronological position of slot i (0 = oldest),
        # R is the triangular matrix of the text with its rows and columns permuted alike.
        age = (xp.arange(m) - self.pos) % m
        upper = age[:, None] <= age[None, :]
        SY, YY = self.SY, self.YY
        gv = g[:, :, None]
        a = self.S @ gv
        b = self.Y @ gv
        if self.count.min() < m:  # mask the slots some starts do not hold
            v = xp.as_float(age[None, :] >= m - self.count[:, None])
            vv = v[:, :, None] * v[:, None, :]
            SY, YY = SY * vv, YY * vv
            a *= v[:, :, None]
            b *= v[:, :, None]
            R = SY * upper + xp.eye(m) * (1.0 - v)[:, None, :]
        else:
            R = SY * upper
        new = (self.pos - 1) % m
        yy, sy = YY[:, new, new], SY[:, new, new]
        gamma = xp.where(yy > 0, sy / xp.where(yy > 0, yy, 1.0), 1.0)[:, None, None]
        u = xp.solve(R, a)
        D = xp.diagonal(SY)[:, :, None]
        p = xp.solve(xp.swap(R), D * u + gamma * ((YY @ u) - b))
        u *= gamma
        Hg = (xp.swap(p) @ self.S)[:, 0]
        Hg -= (xp.swap(u) @ self.Y)[:, 0]
        Hg += gamma[:, :, 0] * g
        return -Hg


def _accept(xp: Any, ft: Any, gtsq: Any, f: Any, gsq: Any, t: Any, dg: Any) -> Any:
    """Armijo test; where the predicted decrease is below the rounding of f, a step is accepted
    when it lowers the (squared) gradient norm instead."""
    decrease = -t * dg
    tiny = decrease <= _ROUNDING * xp.maximum(f, 1.0)
    return (ft <= f - 1e-4 * decrease) | (tiny & (gtsq < gsq))


def lbfgs(xp: Any, pairs: Any, Cs: Any, tol: float, max_iter: int, memory: int = _LBFGS_MEMORY) -> tuple:
    """Batched Riemannian L-BFGS on a (K, n, n) stack of orthogonal starts, each run until its
    Riemannian gradient norm is <= tol (or no decrease is possible, or max_iter).

    ``xp``: the backend (:data:`NUMPY`, or ``_torch_vf.TorchBackend``); ``pairs``: its operators
    (``xp.pairs(A, B)``).  Tangent vectors are skew matrices acting on the left
    (C -> retract(W) C); stored pairs are carried between tangent spaces unchanged (the left
    trivialisation), as in L-BFGS on Lie groups.  The retraction stays in the connected component
    of the start.  Starts that stop are removed from the working stack.  Returns numpy
    (C, loss, gradient norm, iterations), each per start; C is made exactly orthogonal (polar
    factor) at the end.
    """
    C_out = xp.starts(Cs)
    K, n = C_out.shape[0], C_out.shape[1]
    iters = xp.int_zeros(K)
    live = xp.arange(K)  # the starts still running; the state below is compacted to them
    c, run_pairs = xp.copy(C_out), pairs
    f, g = xp.loss_grad(run_pairs, c)
    gsq = xp.dots(g, g)
    mem = _Memory(K, n * n, memory, xp)
    running = gsq > tol**2
    for _ in range(max_iter):
        if not running.all():
            C_out[live[~running]] = c[~running]
            live, c, f, g, gsq = live[running], c[running], f[running], g[running], gsq[running]
            run_pairs = xp.take(run_pairs, running)
            mem.keep(running)
            if len(live) == 0:
                break
        k = len(live)
        had_memory = mem.count > 0
        d = mem.direction(g.reshape(k, -1)).reshape(g.shape)
        dg = xp.dots(d, g)
        bad = ~(dg < 0)  # not a descent direction: restart that start's memory
        if bad.any():
            d[bad], dg[bad], mem.count[bad] = -g[bad], -gsq[bad], 0
        dn = xp.maximum(xp.sqrt(xp.dots(d, d)), 1e-300)
        # first step after a (re)start: length 0.1; later the quasi-Newton step, at most _MAX_STEP long
        t = xp.where(mem.count == 0, 0.1, xp.minimum(dn, _MAX_STEP)) / dn
        ct = xp.retract(d * t[:, None, None], c)
        ft, gt = xp.loss_grad(run_pairs, ct)
        gtsq = xp.dots(gt, gt)
        ok = _accept(xp, ft, gtsq, f, gsq, t, dg)
        if ok.all():  # the usual case
            moved, c_new, f_new, g_new, gsq_new = ok, ct, ft, gt, gtsq
        else:  # backtrack the others
            c_new, f_new, g_new, gsq_new = xp.copy(c), xp.copy(f), xp.copy(g), xp.copy(gsq)
            c_new[ok], f_new[ok], g_new[ok], gsq_new[ok] = ct[ok], ft[ok], gt[ok], gtsq[ok]
            moved = xp.copy(ok)
            todo = xp.flatnonzero(~ok & (-t * dg > _ROUNDING * xp.maximum(f, 1.0)))  # tiny: rounding floor
            for _trial in range(30):
                if len(todo) == 0:
                    break
                t[todo] *= 0.3
                ct = xp.retract(d[todo] * t[todo, None, None], c[todo])
                ft, gt = xp.loss_grad(xp.take(run_pairs, todo), ct)
                gtsq = xp.dots(gt, gt)
                ok = _accept(xp, ft, gtsq, f[todo], gsq[todo], t[todo], dg[todo])
                acc = todo[ok]
                c_new[acc], f_new[acc], g_new[acc], gsq_new[acc] = ct[ok], ft[ok], gt[ok], gtsq[ok]
                moved[acc] = True
                todo = todo[~ok & (-t[todo] * dg[todo] > _ROUNDING * xp.maximum(f[todo], 1.0))]
        s_ = (d * t[:, None, None]).reshape(k, -1)
        y_ = (g_new - g).reshape(k, -1)
        mem.push(s_, y_, moved & (xp.rowdots(s_, y_) > 0))
        c, f, g, gsq = c_new, f_new, g_new, gsq_new
        iters[live] += 1
        # a failed line search clears the memory (mem.push above) and the next step is a gradient
        # step; a start stops when that fails too (rounding floor), converges or runs out
        running = (moved | had_memory) & (gsq > tol**2)
    C_out[live] = c
    C_out = xp.polar(C_out)
    f, g = xp.loss_grad(pairs, C_out)
    return xp.to_numpy(C_out), xp.to_numpy(f), xp.to_numpy(xp.sqrt(xp.dots(g, g))), xp.to_numpy(iters)


def _lbfgs(
    A: np.ndarray, B: np.ndarray, Cs: np.ndarray, tol: float, max_iter: int, memory: int = _LBFGS_MEMORY
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`lbfgs` in numpy, every start on the pair (A, B) ((n, n), unit norm)."""
    return lbfgs(NUMPY, NUMPY.pairs(A, B), Cs, tol, max_iter, memory)
