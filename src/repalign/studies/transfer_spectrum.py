"""Full-spectrum transfer geometry: variance curves over every component, modulation
spectra (raw ``M`` and ``W * M``) and the mean modulation per stimulus direction.

These are the analyses of the seed's multi-plastic transfer study (issue 19), on plain numpy
arrays:

* :func:`variance_spectrum` — Driscoll's cross ("purple": the new task's variance in the
  pretraining PCs) and self ("black": in its own PCs) curves over the full spectrum (all
  components, capped at ``max_components``), with areas and fractions at several K so that a
  reading does not hinge on one cut. Exact PCA, or randomized PCA for very wide data (the
  ``N^2`` features of modulation matrices).
* :func:`direction_matched_spectrum` — the same within each stimulus-direction bin,
  averaged over bins (with one bin it equals :func:`variance_spectrum`).
* :func:`mean_modulation` — cos(M_A_theta, M_B_theta) and ||M_A_theta - M_B_theta||_F between
  the mean modulation of the pretraining and new task in each direction bin.

Conventions and formulas: ``docs/transfer.md`` ("Study command").
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from sklearn.utils.extmath import randomized_svd

from .._validation import check_choice, check_finite, to_numpy

__all__ = ["variance_spectrum", "direction_matched_spectrum", "mean_modulation", "DEFAULT_KS"]

DEFAULT_KS = (1, 2, 5, 10, 20, 50, 100)
SOLVERS = ("auto", "exact", "randomized")
CENTERS = ("own", "basis")


def _states(x: Any, name: str) -> np.ndarray:
    a = to_numpy(x, name)
    if a.ndim < 2:
        raise ValueError(f"{name} must be (samples, features) or (samples, ...); got shape {a.shape}")
    a = np.asarray(a, dtype=np.float64).reshape(a.shape[0], -1)
    if a.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 samples; got {a.shape[0]}")
    check_finite(a, name)
    return a


def _top_components(Xc: np.ndarray, k: int, solver: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k right singular vectors ``(p, k)`` and squared singular values ``(k,)`` of centred X."""
    n, p = Xc.shape
    use_random = solver == "randomized" or (solver == "auto" and min(n, p) > 2000 and k < min(n, p) // 2)
    if use_random:
        _, s, Vt = randomized_svd(Xc, n_components=k, n_iter=7, random_state=int(seed))
    elif n < p:  # samples-side Gram: X X^T = U S^2 U^T, V = X^T U / s
        evals, U = np.linalg.eigh(Xc @ Xc.T)
        order = np.argsort(evals)[::-1][:k]
        s = np.sqrt(np.clip(evals[order], 0, None))
        keep = s > 0
        Vt = np.zeros((k, p))
        Vt[keep] = (Xc.T @ U[:, order[keep]] / s[keep]).T
    else:
        _, s, Vt = np.linalg.svd(Xc, full_matrices=False)
        s, Vt = s[:k], Vt[:k]
    return Vt.T, s**2


def _check_ks(ks: Sequence[int]) -> list[int]:
    out = sorted({int(k) for k in ks})
    if not out or out[0] < 1:
        raise ValueError(f"ks must be positive integers; got {ks!r}")
    return out


def variance_spectrum(pre_states: Any, new_states: Any, *, max_components: int | None = None,
                      ks: Sequence[int] = DEFAULT_KS, solver: str = "auto", seed: int = 0) -> dict:
    """Cross and self cumulative variance curves of the new task over the full spectrum.

    Parameters
    ----------
    pre_states : array-like, (n_x, ...)
        Pretraining (basis) task states, one row per sample (trailing dims are flattened, so a
        modulation recording ``(samples, out, in)`` gives ``out * in`` features).
    new_states : array-like, (n_y, ...)
        New task states, same features.
    max_components : int, optional
        Cap on the number of components (default: all, i.e. ``min(n_x, p)``; the seed uses N
        for hidden states and 1,000 for modulation).
    ks : sequence of int
        Cuts at which areas and fractions are reported (cuts beyond the curve are clipped to it).
    solver : {"auto", "exact", "randomized"}
        ``"auto"`` takes randomized PCA (sklearn's ``randomized_svd``, ``seed``) only when both
        sides exceed 2,000 and fewer than half the components are kept.
    seed : int

    Returns
    -------
    dict with ``cross`` (K,) — fraction of the new task's variance (centred on its own mean) in
    the first k pretraining PCs; ``cross_basis_centred`` (K,) — the same with the new states
    centred on the pretraining mean (the seed's ``center_on="X"``; the mean offset then counts
    as variance to explain); ``self`` (K,) — in the new task's own first k PCs (the Ky Fan upper
    bound of ``cross``); ``pre_self`` (K,); ``n_components`` K; ``at_k`` — for each cut k:
    ``fraction`` = cross[k], ``self`` = self[k], ``area_ratio`` = sum cross[:k] / sum self[:k].
    """
    X, Y = _states(pre_states, "pre_states"), _states(new_states, "new_states")
    if X.shape[1] != Y.shape[1]:
        raise ValueError(f"pre_states and new_states must have the same features; got {X.shape[1]} and {Y.shape[1]}")
    check_choice(solver, "solver", SOLVERS)
    if max_components is not None and (isinstance(max_components, bool) or int(max_components) < 1):
        raise ValueError(f"max_components must be a positive integer or None; got {max_components!r}")
    ks = _check_ks(ks)
    mu = X.mean(axis=0)
    Xc, Yc = X - mu, Y - Y.mean(axis=0)
    tot_x, tot_y = float(np.sum(Xc**2)), float(np.sum(Yc**2))
    if tot_x == 0 or tot_y == 0:
        raise ValueError("pre_states and new_states must both vary (a constant system has no principal components)")
    K = min(X.shape[0] - 1, X.shape[1]) if max_components is None else min(int(max_components), *X.shape)
    V, lx = _top_components(Xc, K, solver, seed)
    K = max(1, int(np.sum(lx > lx[0] * 1e-10)))  # drop directions of (numerically) zero variance
    V, lx = V[:, :K], lx[:K]
    Ky = max(1, min(K, Y.shape[0] - 1, Y.shape[1]))
    _, ly = _top_components(Yc, Ky, solver, seed)
    cross = np.cumsum(np.sum((Yc @ V) ** 2, axis=0)) / tot_y
    Yb = Y - mu
    cross_b = np.cumsum(np.sum((Yb @ V) ** 2, axis=0)) / float(np.sum(Yb**2))
    own = np.minimum(np.cumsum(np.concatenate([ly, np.zeros(K - Ky)])) / tot_y, 1.0)
    pre_own = np.minimum(np.cumsum(lx) / tot_x, 1.0)
    cross = np.minimum(cross, own)  # Ky Fan: rounding only
    return {"cross": cross, "cross_basis_centred": cross_b, "self": own, "pre_self": pre_own,
            "n_components": int(K), "at_k": _at_k(cross, own, ks)}


def _at_k(cross: np.ndarray, own: np.ndarray, ks: Sequence[int]) -> dict:
    out = {}
    for k in ks:
        j = min(k, cross.size)
        den = float(np.sum(own[:j]))
        out[str(k)] = {"k_used": int(j), "fraction": float(cross[j - 1]), "self": float(own[j - 1]),
                       "area_ratio": float(np.sum(cross[:j]) / den) if den > 0 else float("nan")}
    return out


def _bins(labels: Any, n: int, name: str) -> np.ndarray:
    b = to_numpy(labels, name).ravel()
    if b.size != n:
        raise ValueError(f"{name} must have one bin label per sample ({n}); got {b.size}")
    if not np.all(np.equal(np.mod(b, 1), 0)):
        raise ValueError(f"{name} must hold integer bin labels (see transfer.direction_bins)")
    return b.astype(int)


def direction_matched_spectrum(pre_states: Any, new_states: Any, pre_bins: Any, new_bins: Any, *,
                               max_components: int | None = None, ks: Sequence[int] = DEFAULT_KS,
                               solver: str = "auto", seed: int = 0) -> dict:
    """:func:`variance_spectrum` within each stimulus-direction bin, averaged over bins.

    Parameters
    ----------
    pre_states, new_states : array-like, (n_x, ...), (n_y, ...)
    pre_bins, new_bins : array-like of int, (n_x,), (n_y,)
        Direction bin of every sample (e.g. ``transfer.direction_bins(dirs, 8)``).
    max_components, ks, solver, seed : as in :func:`variance_spectrum`.

    Returns
    -------
    dict with ``cross``, ``self`` (K,) averaged over the bins used (each bin's curve is padded
    with its last value up to the longest, exact since a cumulative curve is flat once its
    basis runs out), ``n_components``, ``bins_used``, ``skipped_bins`` (bins lacking 2 samples
    or variance on either side) and ``at_k`` as in :func:`variance_spectrum`. With a single bin
    the result equals :func:`variance_spectrum`'s.
    """
    X, Y = _states(pre_states, "pre_states"), _states(new_states, "new_states")
    bx, by = _bins(pre_bins, X.shape[0], "pre_bins"), _bins(new_bins, Y.shape[0], "new_bins")
    ks = _check_ks(ks)
    curves, used, skipped = [], [], []
    for b in sorted(set(bx.tolist()) | set(by.tolist())):
        xb, yb = X[bx == b], Y[by == b]
        try:
            r = variance_spectrum(xb, yb, max_components=max_components, ks=ks, solver=solver, seed=seed)
        except ValueError:
            skipped.append(int(b))
            continue
        curves.append(r)
        used.append(int(b))
    if not curves:
        raise ValueError("no direction bin has at least 2 varying samples on both sides")
    K = max(c["n_components"] for c in curves)
    pad = lambda a: np.concatenate([a, np.full(K - a.size, a[-1])])  # noqa: E731
    cross = np.mean([pad(c["cross"]) for c in curves], axis=0)
    own = np.mean([pad(c["self"]) for c in curves], axis=0)
    return {"cross": cross, "self": own, "n_components": int(K), "bins_used": used, "skipped_bins": skipped,
            "at_k": _at_k(cross, own, ks)}


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return float(a.ravel() @ b.ravel() / (na * nb)) if na > 0 and nb > 0 else float("nan")


def mean_modulation(pre_M: Any, new_M: Any, pre_bins: Any, new_bins: Any) -> dict:
    """Mean modulation of the pretraining and new task per direction bin, compared.

    Parameters
    ----------
    pre_M, new_M : array-like, (n_x, out, in) and (n_y, out, in)
        Modulation matrices (or ``W * M``), one per sample of the epoch.
    pre_bins, new_bins : array-like of int, (n_x,), (n_y,)
        Stimulus-direction bin of each sample.

    Returns
    -------
    dict with ``per_bin`` (list of ``{"bin", "cos", "frobenius", "norm_pre", "norm_new"}`` for
    bins present on both sides), ``cos`` and ``frobenius`` (their means over those bins:
    cos(M_A_theta, M_B_theta) and ||M_A_theta - M_B_theta||_F), and ``pooled_cos`` /
    ``pooled_frobenius`` for the means over all samples. Identical inputs give cos 1 and
    Frobenius 0.
    """
    A, B = to_numpy(pre_M, "pre_M"), to_numpy(new_M, "new_M")
    if A.ndim != 3 or B.ndim != 3 or A.shape[1:] != B.shape[1:]:
        raise ValueError(f"pre_M and new_M must be (samples, out, in) with the same (out, in); got "
                         f"{A.shape} and {B.shape}")
    check_finite(A, "pre_M")
    check_finite(B, "new_M")
    bx, by = _bins(pre_bins, A.shape[0], "pre_bins"), _bins(new_bins, B.shape[0], "new_bins")
    rows = []
    for b in sorted(set(bx.tolist()) & set(by.tolist())):
        ma, mb = A[bx == b].mean(axis=0), B[by == b].mean(axis=0)
        rows.append({"bin": int(b), "cos": _cos(ma, mb), "frobenius": float(np.linalg.norm(ma - mb)),
                     "norm_pre": float(np.linalg.norm(ma)), "norm_new": float(np.linalg.norm(mb))})
    if not rows:
        raise ValueError("pre_bins and new_bins share no direction bin")
    ma, mb = A.mean(axis=0), B.mean(axis=0)
    return {"per_bin": rows, "cos": float(np.nanmean([r["cos"] for r in rows])),
            "frobenius": float(np.mean([r["frobenius"] for r in rows])), "pooled_cos": _cos(ma, mb),
            "pooled_frobenius": float(np.linalg.norm(ma - mb))}
