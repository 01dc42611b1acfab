"""Batched cross products for pairwise paths: all X_i^T Y_j from a few large matrix products.

Systems sharing the number of samples are stacked side by side, ``Z = [X_1 ... X_N]``, so that
``Z_a^T Z_b`` holds every cross product ``X_i^T Y_j`` as a sub-block; one large product runs far
closer to peak speed than many small ones. Groups of systems bound the memory of each product.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Callable

import numpy as np


def width_groups(widths: np.ndarray, side: int) -> list[tuple[int, int]]:
    """Consecutive index ranges whose summed widths stay at most ``side`` (one system minimum)."""
    groups, start, acc = [], 0, 0
    for i, w in enumerate(widths):
        if acc + w > side and i > start:
            groups.append((start, i))
            start, acc = i, 0
        acc += w
    groups.append((start, len(widths)))
    return groups


def blockwise_cross(
    Xa: list[np.ndarray],
    Xb: list[np.ndarray],
    reduce: Callable[[np.ndarray], np.ndarray],
    symmetric: bool = False,
    max_elems: int = 2**24,
) -> np.ndarray:
    """``out[i, j] = reduce(Xa[i]^T Xb[j])`` for every pair (upper triangle if ``symmetric``).

    ``reduce`` maps a stack ``(k, p, q)`` of equally shaped cross products to ``(k,)`` values
    (e.g. nuclear norms); blocks are grouped by shape so each call is one batched operation.
    Entries below the diagonal are left at 0 when ``symmetric``.
    """
    wa = np.array([x.shape[1] for x in Xa])
    wb = np.array([x.shape[1] for x in Xb])
    side = max(int(np.sqrt(max_elems)), int(max(wa.max(), wb.max())))
    ga = width_groups(wa, side)
    gb = ga if symmetric else width_groups(wb, side)
    offs_a, offs_b = np.concatenate([[0], np.cumsum(wa)]), np.concatenate([[0], np.cumsum(wb)])
    out = np.zeros((len(Xa), len(Xb)))
    for gi, (a0, a1) in enumerate(ga):
        Za = np.hstack(Xa[a0:a1])
        for gj, (b0, b1) in enumerate(gb):
            if symmetric and gj < gi:
                continue
            Zb = Za if (symmetric and gi == gj) else np.hstack(Xb[b0:b1])
            S = Za.T @ Zb
            by_shape: dict[tuple, list] = defaultdict(list)
            for i in range(a0, a1):
                for j in range(b0 if not symmetric else max(b0, i), b1):
                    r0, c0 = offs_a[i] - offs_a[a0], offs_b[j] - offs_b[b0]
                    by_shape[(wa[i], wb[j])].append((i, j, S[r0:r0 + wa[i], c0:c0 + wb[j]]))
            for items in by_shape.values():
                vals = reduce(np.stack([blk for _, _, blk in items]))
                for (i, j, _), v in zip(items, vals):
                    out[i, j] = v
    return out


def nuclear_norms(stack: np.ndarray) -> np.ndarray:
    """Sum of singular values of each matrix in a ``(k, p, q)`` stack."""
    if stack.shape[1] == 0 or stack.shape[2] == 0:
        return np.zeros(stack.shape[0])
    return np.linalg.svd(stack, compute_uv=False).sum(axis=-1)
