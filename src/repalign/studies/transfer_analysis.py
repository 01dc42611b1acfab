"""Transfer geometry, the analyses (re-exported by :mod:`repalign.studies.transfer`): epoch
states, the new task's variance in the pretraining PCs, the same for modulation matrices, and the
geometry of learned rule-input columns.  Formulas and conventions: ``docs/transfer.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Sequence

import numpy as np

from .._validation import as_system, check_finite, check_nonconstant, check_scalar, to_numpy
from ..geometry.subspace import cross_variance_explained, participation_ratio, pca_basis, principal_angles


# ---------------------------------------------------------------------------- epochs
def epoch_states(
    hidden: Any, epochs: Any, epoch: str, drop_first: float = 0.25, *, return_trials: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Hidden states of one epoch, stacked across trials, after each trial's first part.

    Parameters
    ----------
    hidden : array-like, (trials, time, ...)
        Recorded states; trailing dimensions are flattened into units (so a modulation
        recording ``(trials, time, out, in)`` gives ``out * in`` "units").
    epochs : mapping or object with an ``epochs`` attribute (e.g. a task Batch)
        ``epochs[epoch]`` gives per-trial boundaries ``[start, end)`` in time steps: a pair
        ``(starts, ends)`` of ``(trials,)`` arrays (or scalars), or an array ``(trials, 2)``.
        A trial whose start or end is negative or NaN/None does not have the epoch and is
        skipped.
    epoch : str
        Epoch name, e.g. ``"stim1"``.
    drop_first : float in [0, 1)
        Fraction of each trial's epoch dropped at its start (``floor(drop_first * length)``
        steps), leaving the settled part of the response.
    return_trials : bool
        Also return the trial index of every sample (use it to label samples, e.g.
        ``stim_dirs[trial_index]``).

    Returns
    -------
    states : ndarray, (samples, units) float64
    trial_index : ndarray, (samples,) int, only with ``return_trials=True``
    """
    H = to_numpy(hidden, "hidden")
    if H.ndim < 3:
        raise ValueError(f"hidden must be (trials, time, units) or (trials, time, ...); got shape {H.shape}")
    check_finite(H, "hidden")
    n_trials, n_time = H.shape[:2]
    H = H.reshape(n_trials, n_time, -1)
    check_scalar(drop_first, "drop_first", float, min_val=0.0, max_val=1.0, include_boundaries="left")
    starts, ends = _epoch_bounds(epochs, epoch, n_trials)
    present = np.isfinite(starts) & np.isfinite(ends) & (starts >= 0) & (ends >= 0)
    if np.any(ends[present] > n_time):
        raise ValueError(f"epochs[{epoch!r}] ends after the recording's {n_time} time steps")
    if np.any(ends[present] < starts[present]):
        raise ValueError(f"epochs[{epoch!r}] has a trial whose end precedes its start")
    chunks, index = [], []
    for i in np.flatnonzero(present):
        s, e = int(starts[i]), int(ends[i])
        s += int(np.floor(drop_first * (e - s)))
        if e > s:
            chunks.append(H[i, s:e])
            index.append(np.full(e - s, i))
    if not chunks:
        raise ValueError(f"no trial has a non-empty epoch {epoch!r} (after dropping {drop_first:g} of it)")
    states = np.concatenate(chunks, axis=0)
    return (states, np.concatenate(index)) if return_trials else states


def _epoch_bounds(epochs: Any, epoch: str, n_trials: int) -> tuple[np.ndarray, np.ndarray]:
    table = getattr(epochs, "epochs", epochs)
    if not isinstance(table, Mapping):
        raise ValueError(f"epochs must be a mapping epoch -> (start, end) or have an .epochs mapping; "
                         f"got {type(epochs).__name__}")
    if epoch not in table:
        raise ValueError(f"epoch {epoch!r} is not in epochs (available: {sorted(table)})")
    value = table[epoch]

    def arr(v: Any) -> np.ndarray:
        a = np.array([np.nan if x is None else x for x in np.ravel(np.asarray(v, dtype=object))], dtype=np.float64)
        return np.broadcast_to(a if a.size > 1 else a.reshape(()), (n_trials,)).astype(np.float64)

    try:
        if isinstance(value, (tuple, list)) and len(value) == 2:
            return arr(value[0]), arr(value[1])
        a = np.asarray(value, dtype=np.float64)
        if a.shape == (n_trials, 2):
            return a[:, 0].copy(), a[:, 1].copy()
    except (TypeError, ValueError):
        pass
    raise ValueError(
        f"epochs[{epoch!r}] must be (starts, ends) with one value per trial ({n_trials}) or an array "
        f"({n_trials}, 2); got {type(value).__name__} {np.shape(value)}"
    )


def direction_bins(directions: Any, n_bins: int | None = 8, name: str = "directions") -> np.ndarray:
    """Integer bin labels for per-sample stimulus directions (radians).

    With ``n_bins`` = B, bin ``b`` is centred on ``2 pi b / B`` (width ``2 pi / B``), so
    directions drawn from B equally spaced values fall one per bin. With ``n_bins=None`` the
    values are taken as labels already (each distinct value is a bin).

    Returns
    -------
    ndarray, (samples,) int
    """
    d = to_numpy(directions, name).ravel()
    check_finite(d, name)
    if n_bins is None:
        return np.unique(d, return_inverse=True)[1].astype(int)
    check_scalar(n_bins, "n_bins", int, min_val=1, allow_none=True)
    width = 2 * np.pi / n_bins
    return (np.round(np.mod(d, 2 * np.pi) / width).astype(int)) % n_bins


# ---------------------------------------------------------------------------- cross-task variance
def cross_task_variance(
    pre_states: Any,
    new_states: Any,
    n_components: int = 10,
    *,
    direction_matched: bool = False,
    pre_dirs: Any = None,
    new_dirs: Any = None,
    n_bins: int | None = 8,
) -> dict[str, Any]:
    """Driscoll et al. (2024) cross-task variance explained, angles and dimensionality.

    Parameters
    ----------
    pre_states : array-like, (n_pre, units)
        States during the pretraining task (e.g. from :func:`epoch_states`); its top PCs
        form the basis.
    new_states : array-like, (n_new, units)
        States during the new task, same units.
    n_components : int
        K, the number of pretraining PCs (capped at the rank of ``pre_states``).
    direction_matched : bool
        Also compute the curves within each stimulus-direction bin (PCs of the pretraining
        states of that direction, variance of the new states of that direction) and average
        them over bins; shared direction-dependent means then no longer count as overlap.
    pre_dirs, new_dirs : array-like, (n_pre,) and (n_new,)
        Per-sample stimulus directions (radians) or labels; needed for ``direction_matched``.
    n_bins : int or None
        Direction bins (see :func:`direction_bins`); None uses the labels as given.

    Returns
    -------
    dict with
        ``cross`` (K,): fraction of the new task's centred variance inside the first k
        pretraining PCs, k = 1..K; ``self`` (K,): inside the new task's own first k PCs;
        ``n_components``: K; ``fraction``: ``cross[-1]``; ``area_ratio``:
        ``sum(cross) / sum(self)`` in [0, 1];
        ``angles`` (radians, ascending): principal angles between the top-K subspaces;
        ``pr_pre``, ``pr_new``: participation ratios of each task; ``pr_new_in_pre``: of the
        new task's projection onto the top-K pretraining PCs;
        ``direction_matched`` (when asked): dict with the bin-averaged ``cross``, ``self``,
        ``fraction``, ``area_ratio``, per-bin curves ``per_bin_cross``, ``per_bin_self``
        (bins, K), the ``bins`` used, their sample counts and the ``skipped_bins`` (fewer
        than 2 samples or no variance on either side).
    """
    pre, new = _two_tasks(pre_states, new_states)
    cv = cross_variance_explained(pre, new, n_components)
    K = cv["n_components"]
    basis = pca_basis(pre, K)
    out: dict[str, Any] = {
        "cross": cv["cross"],
        "self": cv["self"],
        "n_components": K,
        "fraction": float(cv["cross"][-1]),
        "area_ratio": float(cv["cross"].sum() / cv["self"].sum()),
        "angles": principal_angles(pre, new, K),
        "pr_pre": participation_ratio(pre),
        "pr_new": participation_ratio(new),
        "pr_new_in_pre": _projected_pr(new, basis),
    }
    if direction_matched:
        out["direction_matched"] = _direction_matched(pre, new, pre_dirs, new_dirs, n_components, n_bins)
    return out


def _two_tasks(pre_states: Any, new_states: Any) -> tuple[np.ndarray, np.ndarray]:
    pre = as_system(pre_states, "pre_states", min_samples=2)
    new = as_system(new_states, "new_states", min_samples=2)
    if pre.shape[1] != new.shape[1]:
        raise ValueError(
            f"pre_states and new_states must record the same units; got {pre.shape[1]} and {new.shape[1]}"
        )
    check_nonconstant(pre - pre.mean(axis=0), "pre_states", "cross-task variance")
    check_nonconstant(new - new.mean(axis=0), "new_states", "cross-task variance")
    return pre, new


def _projected_pr(new: np.ndarray, basis: np.ndarray) -> float:
    coords = (new - new.mean(axis=0)) @ basis
    if not np.any(np.abs(coords) > 1e-12 * max(1.0, np.abs(new).max())):
        return float("nan")  # nothing of the new task inside the basis
    return participation_ratio(coords)


def _padded(curve: np.ndarray, k: int) -> np.ndarray:
    """Extend a cumulative curve to length k with its last value (it has saturated)."""
    return np.concatenate([curve, np.full(k - curve.size, curve[-1])]) if curve.size < k else curve[:k]


def _direction_matched(pre, new, pre_dirs, new_dirs, n_components, n_bins) -> dict[str, Any]:
    if pre_dirs is None or new_dirs is None:
        raise ValueError("direction_matched=True needs pre_dirs and new_dirs (one direction per sample)")
    lp = direction_bins(pre_dirs, n_bins, "pre_dirs")
    ln = direction_bins(new_dirs, n_bins, "new_dirs")
    if lp.size != pre.shape[0]:
        raise ValueError(f"pre_dirs must have one entry per sample of pre_states ({pre.shape[0]}); got {lp.size}")
    if ln.size != new.shape[0]:
        raise ValueError(f"new_dirs must have one entry per sample of new_states ({new.shape[0]}); got {ln.size}")
    k = int(n_components)
    crosses, selves, used, counts, skipped = [], [], [], [], []
    for b in np.union1d(lp, ln):
        P, N = pre[lp == b], new[ln == b]
        if min(len(P), len(N)) < 2 or _flat(P) or _flat(N):
            skipped.append(int(b))
            continue
        crosses.append(_padded(cross_variance_explained(P, N, k)["cross"], k))
        selves.append(_padded(cross_variance_explained(N, N, k)["cross"], k))
        used.append(int(b))
        counts.append((len(P), len(N)))
    if not used:
        raise ValueError("direction_matched: no direction bin has at least 2 varying samples in both tasks")
    cross, own = np.mean(crosses, axis=0), np.mean(selves, axis=0)
    return {
        "cross": cross,
        "self": own,
        "fraction": float(cross[-1]),
        "area_ratio": float(cross.sum() / own.sum()),
        "per_bin_cross": np.array(crosses),
        "per_bin_self": np.array(selves),
        "bins": used,
        "n_samples": counts,
        "skipped_bins": skipped,
    }


def _flat(X: np.ndarray) -> bool:
    Xc = X - X.mean(axis=0)
    return not np.abs(Xc).max() > 1e-12 * max(1.0, np.abs(X).max())


# ---------------------------------------------------------------------------- modulation
def modulation_states(M: Any, W: Any = None) -> np.ndarray:
    """Flatten modulation matrices to ``(samples, out * in)``, optionally as ``W * M``.

    Parameters
    ----------
    M : array-like, (..., out, in)
        Modulation matrices of a multi-plastic network, one per sample (leading dimensions,
        e.g. (samples,) or (trials, time), are flattened into samples).
    W : array-like, (out, in), optional
        Fixed weights; with it the states are the elementwise product ``W * M``, the part
        of the effective weight ``W * (1 + M)`` that the modulation contributes.

    Returns
    -------
    ndarray, (samples, out * in) float64
    """
    A = to_numpy(M, "M")
    if A.ndim < 3:
        raise ValueError(f"M must be (samples, out, in) (or more leading dimensions); got shape {A.shape}")
    check_finite(A, "M")
    if W is not None:
        Wa = to_numpy(W, "W")
        if Wa.shape != A.shape[-2:]:
            raise ValueError(f"W must have the shape of one modulation matrix {A.shape[-2:]}; got {Wa.shape}")
        check_finite(Wa, "W")
        A = A * Wa
    return A.reshape(-1, A.shape[-2] * A.shape[-1])


def cross_task_modulation(
    pre_M: Any, new_M: Any, n_components: int = 10, *, W: Any = None, **kwargs: Any
) -> dict[str, Any]:
    """:func:`cross_task_variance` on modulation matrices.

    Parameters
    ----------
    pre_M, new_M : array-like, (samples, out, in)
        Modulation matrices during the pretraining and the new task.
    n_components : int
    W : array-like, (out, in), optional
        Analyse ``W * M`` instead of ``M`` (see :func:`modulation_states`).
    **kwargs
        Passed to :func:`cross_task_variance` (``direction_matched``, ``pre_dirs``, ...).
    """
    return cross_task_variance(modulation_states(pre_M, W), modulation_states(new_M, W), n_components, **kwargs)


# ---------------------------------------------------------------------------- rule vectors
def rule_geometry(W_rule: Any, pre_idx: Sequence[int], new_idx: int) -> dict[str, Any]:
    """Geometry of learned rule-input columns.

    Parameters
    ----------
    W_rule : array-like, (units, n_rules)
        Rule-input weights, one column per rule slot.
    pre_idx : sequence of int
        Columns of the pretraining rules.
    new_idx : int
        Column of the new rule.

    Returns
    -------
    dict with
        ``cosines`` (n_pre + 1, n_pre + 1): cosine similarities among the columns
        ``[*pre_idx, new_idx]``; ``cos_new_pre`` (n_pre,): of the new column with each
        pretrained one; ``norms`` (n_pre + 1,); ``span_fraction``: ``||P w_new||^2 /
        ||w_new||^2`` with P the orthogonal projector onto span(pretrained columns), in
        [0, 1]; ``angle_to_span``: ``arccos(sqrt(span_fraction))`` in radians.
    """
    W = to_numpy(W_rule, "W_rule")
    if W.ndim != 2:
        raise ValueError(f"W_rule must be 2-D (units, n_rules); got shape {W.shape}")
    check_finite(W, "W_rule")
    n_rules = W.shape[1]
    pre = _check_indices(pre_idx, n_rules)
    new = _check_index(new_idx, n_rules, "new_idx")
    if new in pre:
        raise ValueError(f"new_idx ({new}) must not be one of pre_idx {pre}")
    cols = W[:, pre + [new]]
    norms = np.linalg.norm(cols, axis=0)
    if np.any(norms == 0):
        zero = [c for c, nrm in zip(pre + [new], norms) if nrm == 0]
        raise ValueError(f"W_rule has all-zero columns {zero}; their direction (cosine) is undefined")
    unit = cols / norms
    cos = np.clip(unit.T @ unit, -1.0, 1.0)
    U, s, _ = np.linalg.svd(cols[:, :-1], full_matrices=False)
    U = U[:, s > max(cols.shape) * np.finfo(np.float64).eps * s[0]]
    frac = float(min(1.0, np.sum((U.T @ cols[:, -1]) ** 2) / norms[-1] ** 2))
    return {
        "cosines": cos,
        "cos_new_pre": cos[-1, :-1].copy(),
        "norms": norms,
        "span_fraction": frac,
        "angle_to_span": float(np.arccos(np.sqrt(frac))),
        "columns": pre + [new],
    }


def _check_index(i: Any, n: int, name: str) -> int:
    return check_scalar(i, f"{name} (a column index of W_rule)", int, min_val=-n, max_val=n,
                        include_boundaries="left") % n


def _check_indices(idx: Any, n: int) -> list[int]:
    if isinstance(idx, (int, np.integer)):
        idx = [idx]
    try:
        out = [_check_index(i, n, "pre_idx") for i in idx]
    except TypeError:
        raise ValueError(f"pre_idx must be a sequence of column indices; got {idx!r}") from None
    if not out:
        raise ValueError("pre_idx must name at least one pretrained rule column")
    if len(set(out)) != len(out):
        raise ValueError(f"pre_idx has repeated columns: {out}")
    return out

