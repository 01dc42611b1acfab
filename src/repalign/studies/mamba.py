"""Mamba side of the compositional-learning study: state reduction for DSA, and the RNN-vs-Mamba reading.

* :func:`reduce_states` — project ``(trials, time, units)`` states onto their top ``k`` uncentred
  principal axes (what DSA sees of a 512-dimensional SSM state; see docs/mamba.md for the cost
  and the sensitivity of the result to ``k``).
* :data:`PAPER_MAMBA` — the paper's mean dissimilarity to master for Mamba models.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_finite, to_numpy

# The paper's Mamba figures: mean dissimilarity to master (partial: the range over the five groups).
PAPER_MAMBA = {
    "dsa": {"untrained": 0.462, "master_frozen": 0.615, "pretrain_partial": (0.385, 0.462),
            "pretrain_frozen": 0.466, "pretrain_unfrozen": 0.451},
    "cka": {"untrained": 0.381, "master_frozen": 0.339, "pretrain_partial": (0.47, 0.59),
            "pretrain_frozen": 0.638, "pretrain_unfrozen": 0.667},
    "procrustes": {"untrained": 0.416, "master_frozen": 0.365, "pretrain_partial": (0.49, 0.55),
                   "pretrain_frozen": 0.586, "pretrain_unfrozen": 0.598},
}


def reduce_states(hidden: Any, n_components: int | None) -> tuple[np.ndarray, float]:
    """Project states onto their top ``n_components`` uncentred principal axes.

    hidden: ``(trials, time, units)``. Returns ``(reduced (trials, time, k), explained)`` where
    ``explained`` is the share of ``sum(hidden**2)`` kept. The axes are the top eigenvectors of
    ``X^T X`` for ``X`` the ``(trials * time, units)`` stack, not centred, as DMD does not centre:
    the projection is the best rank-k approximation of the data DMD would see, and an orthogonal
    change of the kept axes (the eigenvector signs) leaves DSA unchanged. ``None`` or
    ``k >= units``: no reduction (``explained = 1``). Memory: ``units^2`` floats besides the copy.
    """
    X = to_numpy(hidden, "hidden")
    if X.ndim != 3:
        raise ValueError(f"hidden must have shape (trials, time, units); got {X.shape}")
    check_finite(X, "hidden")
    if n_components is not None and (isinstance(n_components, bool) or not isinstance(n_components, int)
                                     or n_components < 1):
        raise ValueError(f"n_components must be a positive integer or None; got {n_components!r}")
    n, T, p = X.shape
    if n_components is None or n_components >= p:
        return X, 1.0
    flat = X.reshape(n * T, p)
    evals, evecs = np.linalg.eigh(flat.T @ flat)
    top = evecs[:, ::-1][:, :n_components]
    total = float(evals.clip(min=0).sum())
    kept = float(evals[::-1][:n_components].clip(min=0).sum())
    return (flat @ top).reshape(n, T, n_components), kept / total if total > 0 else 1.0

# The paper's RNN figures (issue 16), for the side-by-side table.
PAPER_RNN = {
    "dsa": {"untrained": 0.607, "master_frozen": 0.427, "pretrain_partial": (0.29, 0.37),
            "pretrain_frozen": 0.271, "pretrain_unfrozen": 0.306},
    "cka": {"untrained": 0.426, "master_frozen": 0.419, "pretrain_partial": (0.37, 0.44),
            "pretrain_frozen": 0.403, "pretrain_unfrozen": 0.405},
    "procrustes": {"untrained": 0.444, "master_frozen": 0.412, "pretrain_partial": (0.39, 0.42),
                   "pretrain_frozen": 0.415, "pretrain_unfrozen": 0.417},
}
NOT_PRETRAINED = ("untrained", "master", "master_frozen")


def pretrained_groups(groups) -> list[str]:
    """Every group except untrained / master / master_frozen: the pretrained ones (full and partial)."""
    return [g for g in groups if g not in NOT_PRETRAINED]


def _values(group_values: dict, names, what: str) -> np.ndarray:
    missing = [g for g in names if g not in group_values]
    if missing:
        raise ValueError(f"{what} names groups missing from the values: {missing}; have {sorted(group_values)}")
    vals = np.concatenate([np.asarray(group_values[g], dtype=np.float64).ravel() for g in names])
    vals = vals[np.isfinite(vals)]
    if vals.size < 2:
        raise ValueError(f"{what} needs at least 2 finite values; got {vals.size}")
    return vals


def separation(group_values: dict, *, reference: str = "untrained", others=None, n_boot: int = 2000,
               n_perm: int = 2000, ci: float = 0.95, seed: Any = 0, return_boot: bool = False) -> dict:
    """Does a measure separate the ``reference`` group from the ``others`` (default: pretrained groups)?

    group_values: group -> per-model dissimilarities to master. Statistic: ``mean(reference) -
    mean(others pooled)``. Returns ``{diff, ci (stratified bootstrap, percentile), p (two-sided
    permutation of the labels, +1 corrected), hedges_g, n_ref, n_other, separated}`` where
    ``separated`` means the interval excludes 0; with ``return_boot`` also ``boot`` (the draws).
    """
    from ..stats import p_value
    from .._validation import check_random_state

    others = pretrained_groups(group_values) if others is None else list(others)
    a, b = _values(group_values, [reference], "reference"), _values(group_values, others, "others")
    rng = check_random_state(seed)
    diff = float(a.mean() - b.mean())
    boot = np.array([rng.choice(a, a.size).mean() - rng.choice(b, b.size).mean() for _ in range(n_boot)])
    lo, hi = np.quantile(boot, [(1 - ci) / 2, (1 + ci) / 2])
    pooled = np.concatenate([a, b])
    null = np.empty(n_perm)
    for i in range(n_perm):
        perm = rng.permutation(pooled)
        null[i] = perm[: a.size].mean() - perm[a.size:].mean()
    sd = np.sqrt(((a.size - 1) * a.var(ddof=1) + (b.size - 1) * b.var(ddof=1)) / (a.size + b.size - 2))
    g = diff / sd * (1 - 3 / (4 * (a.size + b.size) - 9)) if sd > 0 else float("nan")
    out = {"diff": diff, "ci": [float(lo), float(hi)], "ci_level": ci, "p": p_value(diff, null, "two-sided"),
           "hedges_g": float(g), "n_ref": int(a.size), "n_other": int(b.size), "separated": bool(lo > 0 or hi < 0)}
    if return_boot:
        out["boot"] = boot
    return out


def compare_architectures(rnn: dict, mamba: dict, *, seed: Any = 0, n_boot: int = 2000, n_perm: int = 2000) -> dict:
    """RNN vs Mamba, per measure: each one's separation of untrained from pretrained models
    (:func:`separation`) and the difference of the two separations (RNN - Mamba) with a bootstrap
    interval from the two independent bootstrap distributions.

    rnn, mamba: measure -> group -> per-model dissimilarities to master (measures in both are used).
    """
    out = {}
    for measure in [m for m in rnn if m in mamba]:
        r = separation(rnn[measure], seed=seed, n_boot=n_boot, n_perm=n_perm, return_boot=True)
        m = separation(mamba[measure], seed=seed, n_boot=n_boot, n_perm=n_perm, return_boot=True)
        dd = r.pop("boot") - m.pop("boot")
        lo, hi = np.quantile(dd, [0.025, 0.975])
        out[measure] = {"rnn": r, "mamba": m, "rnn_minus_mamba": {
            "diff": r["diff"] - m["diff"], "ci": [float(lo), float(hi)], "different": bool(lo > 0 or hi < 0)}}
    return out
