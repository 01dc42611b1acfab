"""Transfer geometry: does a new task, learned through its rule input only, reuse the
pretrained network's activity subspace?

Setting (Driscoll, Shenoy & Sussillo 2024, Nat. Neurosci. 27:1349-1363): a network is
trained on some tasks, then frozen except for the input column of a new rule; the new task
must be solved with the pretrained dynamics. The functions here work on plain numpy arrays
(hidden states, modulation matrices, rule-input columns), so they apply to any recording:

* :func:`epoch_states` — stack one epoch's hidden states across trials, ``(samples, units)``.
* :func:`cross_task_variance` — the new task's variance captured by the pretraining task's
  top-k PCs (with the new task's own curve as the ceiling), optionally per stimulus
  direction; principal angles; participation ratios.
* :func:`modulation_states`, :func:`cross_task_modulation` — the same for the modulation
  matrices ``M`` of multi-plastic networks, raw or weighted by ``W``.
* :func:`rule_geometry` — cosines between learned rule-input columns and the fraction of the
  new one inside the span of the pretrained ones.
* :func:`random_basis_null` — is the new task more inside the pretraining basis than
  inside a random k-dimensional basis?
* :func:`backbone_probe` — does the trained rule column beat random columns of the same
  norm (or initial distribution) on the new task?
* :func:`aggregate` — mean +/- s.e.m. across seeds; ``plot_*`` — figures.

Formulas and conventions: ``docs/transfer.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .._validation import as_system, check_finite, check_nonconstant, to_numpy
from ..geometry.subspace import (
    cross_variance_explained,
    participation_ratio,
    pca_basis,
    principal_angles,
    projection_fraction,
)

__all__ = [
    "epoch_states",
    "direction_bins",
    "cross_task_variance",
    "modulation_states",
    "cross_task_modulation",
    "rule_geometry",
    "random_basis_null",
    "backbone_probe",
    "aggregate",
    "plot_variance_curves",
    "plot_angle_spectrum",
    "plot_seed_scatter",
]

BASIS_METHODS = ("uniform", "rotation", "covariance")
PROBE_NULLS = ("norm", "init")


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
    if not (isinstance(drop_first, (int, float)) and 0.0 <= drop_first < 1.0):
        raise ValueError(f"drop_first must be a fraction in [0, 1); got {drop_first!r}")
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
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer or None; got {n_bins!r}")
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
    if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not -n <= i < n:
        raise ValueError(f"{name} must be a column index of W_rule (0 <= i < {n}); got {i!r}")
    return int(i) % n


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


# ---------------------------------------------------------------------------- nulls
def random_basis_null(
    pre_states: Any,
    new_states: Any,
    k: int,
    n_draws: int = 1000,
    seed: Any = 0,
    *,
    method: str = "uniform",
    n_jobs: int | None = 1,
):
    """Is the new task's variance more inside the pretraining basis than in a random one?

    Observed: ``projection_fraction(new_states, pca_basis(pre_states, k))``, the fraction of
    the new task's centred variance inside the top-k pretraining PCs. Null: the same
    fraction for random k-dimensional subspaces of unit space:

    * ``method="uniform"``: uniformly random k-frames (QR of a Gaussian (units, k) matrix);
      the null mean is ``k / units``.
    * ``method="rotation"``: the pretraining basis turned by a uniformly random rotation of
      unit space (Haar on O(units); costs a (units, units) QR per draw). Its span has the
      same distribution as ``"uniform"`` (the Haar measure is rotation invariant); offered
      to make that explicit and checkable.
    * ``method="covariance"``: random subspaces drawn in proportion to the data's covariance
      (Elsayed et al. 2016, Nat. Commun. 7:13239): k Gaussian vectors with the covariance of
      both tasks' pooled centred states, orthonormalised. A stricter null: it asks whether
      the overlap exceeds what any high-variance directions of this network would give.
      When the pooled states have rank <= k every draw spans all of their variance and the
      null is degenerate (all draws 1).

    Parameters
    ----------
    pre_states : array-like, (n_pre, units)
    new_states : array-like, (n_new, units)
    k : int
        Basis dimension, 1 <= k < units and k <= rank of ``pre_states``.
    n_draws : int
    seed : int, None or numpy Generator
    method : {"uniform", "rotation", "covariance"}
    n_jobs : int

    Returns
    -------
    repalign.stats.CalibrationResult
        ``observed`` fraction, ``null`` (n_draws,), ``p_value`` and ``z`` (alternative
        "greater"), ``verdict``; ``info`` holds k, units and the method.
    """
    from ..stats import resampled_null

    pre, new = _two_tasks(pre_states, new_states)
    p = pre.shape[1]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k < p:
        raise ValueError(f"k must be an integer with 1 <= k < units ({p}); got {k!r}")
    if method not in BASIS_METHODS:
        raise ValueError(f"method must be one of {BASIS_METHODS}; got {method!r}")
    basis = pca_basis(pre)
    if basis.shape[1] < k:
        raise ValueError(f"k={k} exceeds the number of nonzero principal components of pre_states ({basis.shape[1]})")
    basis = basis[:, : int(k)]
    observed = projection_fraction(new, basis)
    R = _thin_factor(new - new.mean(axis=0))
    draw = _BasisDraw(R, int(k))
    if method == "covariance":
        pooled = np.vstack([pre - pre.mean(axis=0), new - new.mean(axis=0)])
        draw.sampler = _thin_factor(pooled)  # v = sampler.T @ z has the pooled covariance
    elif method == "rotation":
        draw.rotate = basis
    info = {"k": int(k), "units": p, "method": method, "statistic": "fraction of new-task variance in basis"}
    return resampled_null(draw, n=n_draws, seed=seed, observed=observed, alternative="greater", n_jobs=n_jobs,
                          info=info)


def _thin_factor(Xc: np.ndarray) -> np.ndarray:
    """A (r, p) matrix F with F^T F = Xc^T Xc (r = rank), from the thin SVD."""
    _, s, Vt = np.linalg.svd(Xc, full_matrices=False)
    keep = s > s[0] * 1e-10 if s.size and s[0] > 0 else np.zeros(s.shape, bool)
    if not np.any(keep):
        raise ValueError("the states have zero variance (all samples identical); the fraction is undefined")
    return s[keep, None] * Vt[keep]


class _BasisDraw:
    """One null draw: the variance fraction of ``R`` inside a random k-dim subspace."""

    def __init__(self, R: np.ndarray, k: int) -> None:
        self.R, self.k = R, k
        self.sampler: np.ndarray | None = None  # (r, p) factor of a covariance to sample from
        self.rotate: np.ndarray | None = None  # (p, k) basis to rotate
        self.total = float(np.sum(R**2))

    def __call__(self, rng: np.random.Generator) -> float:
        p = self.R.shape[1]
        if self.rotate is not None:
            Q, T = np.linalg.qr(rng.standard_normal((p, p)))
            Q = (Q * np.sign(np.diag(T))) @ self.rotate  # Haar rotation (Mezzadri 2007) of the basis
        else:
            V = rng.standard_normal((p, self.k)) if self.sampler is None else (
                self.sampler.T @ rng.standard_normal((self.sampler.shape[0], self.k)))
            Q, _ = np.linalg.qr(V)
        return float(np.sum((self.R @ Q) ** 2) / self.total)


def backbone_probe(
    evaluate: Callable[[np.ndarray], tuple[float, float]],
    rule_shape: Any,
    n_draws: int,
    seed: Any,
    observed: Any,
    *,
    null: str = "norm",
    init_std: float | None = None,
    statistic: str = "accuracy",
    n_jobs: int | None = 1,
):
    """Does the trained rule column beat random columns on the new task?

    The pretrained backbone is fixed; only the new rule's input column differs between the
    observed network and the null networks. A "signal" verdict means the task is solved by
    the learned column, not by any input of that size.

    Parameters
    ----------
    evaluate : callable
        ``evaluate(column) -> (loss, accuracy)``: the new task's loss and accuracy with the
        trained rule column replaced by ``column`` (an array of ``rule_shape``).
    rule_shape : int or tuple
        Shape of a rule column, e.g. ``(units,)``.
    n_draws : int
    seed : int, None or numpy Generator
    observed : array-like, ``rule_shape``
        The trained rule column.
    null : {"norm", "init"}
        ``"norm"``: isotropic Gaussian directions scaled to the trained column's norm;
        ``"init"``: i.i.d. ``N(0, init_std^2)`` entries (the initialisation distribution).
    init_std : float
        Needed for ``null="init"``.
    statistic : {"accuracy", "loss"}
        Compared with alternative "greater" (accuracy) or "less" (loss).
    n_jobs : int

    Returns
    -------
    repalign.stats.CalibrationResult
        ``info`` holds the observed loss and accuracy, the null kind and the column norm.
    """
    from ..stats import resampled_null

    if not callable(evaluate):
        raise ValueError(f"evaluate must be a callable evaluate(column) -> (loss, accuracy); got "
                         f"{type(evaluate).__name__}")
    shape = _check_shape(rule_shape)
    col = to_numpy(observed, "observed")
    if col.shape != shape:
        raise ValueError(f"observed must have rule_shape {shape}; got {col.shape}")
    check_finite(col, "observed")
    if null not in PROBE_NULLS:
        raise ValueError(f"null must be one of {PROBE_NULLS}; got {null!r}")
    if statistic not in ("accuracy", "loss"):
        raise ValueError(f"statistic must be 'accuracy' or 'loss'; got {statistic!r}")
    norm = float(np.linalg.norm(col))
    if null == "norm" and norm == 0:
        raise ValueError("observed is an all-zero column; a same-norm null is undefined (use null='init')")
    if null == "init" and not (isinstance(init_std, (int, float)) and init_std > 0):
        raise ValueError(f"init_std must be a positive number for null='init'; got {init_std!r}")
    loss, acc = _evaluated(evaluate, col.copy())
    draw = _ProbeDraw(evaluate, shape, null, norm if null == "norm" else float(init_std), statistic)
    info = {"loss": loss, "accuracy": acc, "null": null, "norm": norm, "statistic": statistic,
            "init_std": init_std}
    return resampled_null(draw, n=n_draws, seed=seed, observed=acc if statistic == "accuracy" else loss,
                          alternative="greater" if statistic == "accuracy" else "less", n_jobs=n_jobs, info=info)


def _check_shape(shape: Any) -> tuple[int, ...]:
    t = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if not t or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1 for s in t):
        raise ValueError(f"rule_shape must be a positive int or a tuple of positive ints; got {shape!r}")
    return tuple(int(s) for s in t)


def _evaluated(evaluate: Callable, column: np.ndarray) -> tuple[float, float]:
    out = evaluate(column)
    try:
        loss, acc = (float(v) for v in out)
    except (TypeError, ValueError):
        raise ValueError(f"evaluate must return (loss, accuracy); got {out!r}") from None
    if not (np.isfinite(loss) and np.isfinite(acc)):
        raise ValueError(f"evaluate returned non-finite values (loss={loss}, accuracy={acc})")
    return loss, acc


class _ProbeDraw:
    def __init__(self, evaluate: Callable, shape: tuple[int, ...], null: str, scale: float, statistic: str):
        self.evaluate, self.shape, self.null, self.scale, self.statistic = evaluate, shape, null, scale, statistic

    def __call__(self, rng: np.random.Generator) -> float:
        z = rng.standard_normal(self.shape)
        z *= self.scale / np.linalg.norm(z) if self.null == "norm" else self.scale
        loss, acc = _evaluated(self.evaluate, z)
        return acc if self.statistic == "accuracy" else loss


# ---------------------------------------------------------------------------- aggregation
def aggregate(results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Mean +/- standard error across seeds, key by key.

    Parameters
    ----------
    results : sequence of dicts
        One dict per seed (e.g. :func:`cross_task_variance` outputs). Numbers and numeric
        arrays are aggregated; nested dicts recursively; other values are left out. Curves
        of different lengths are NaN-padded at the end, so each position averages the seeds
        that have it.

    Returns
    -------
    dict mapping each numeric key to ``{"mean", "sem", "n"}`` (arrays for curves; ``sem`` =
    sample sd (ddof=1) / sqrt(n), NaN where n < 2), and each nested dict to its aggregate.
    """
    if isinstance(results, Mapping) or not isinstance(results, Sequence) or not results:
        raise ValueError("results must be a non-empty list of dicts (one per seed)")
    for i, r in enumerate(results):
        if not isinstance(r, Mapping):
            raise ValueError(f"results[{i}] must be a dict; got {type(r).__name__}")
    out: dict[str, Any] = {}
    keys: list[str] = []
    for r in results:
        keys += [k for k in r if k not in keys]
    for key in keys:
        values = [r[key] for r in results if key in r]
        if all(isinstance(v, Mapping) for v in values):
            out[key] = aggregate(values)
        elif all(_numeric(v) for v in values):
            out[key] = _mean_sem(values)
    return out


def _numeric(v: Any) -> bool:
    if isinstance(v, (bool, np.bool_)):
        return False
    if isinstance(v, (int, float, np.number)):
        return True
    return isinstance(v, np.ndarray) and v.dtype.kind in "iuf"


def _mean_sem(values: list[Any]) -> dict[str, Any]:
    arrays = [np.asarray(v, dtype=np.float64) for v in values]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        if any(a.ndim != 1 for a in arrays):
            raise ValueError(f"cannot aggregate arrays of different shapes {sorted(shapes)} (only 1-D curves)")
        n = max(a.size for a in arrays)
        arrays = [np.concatenate([a, np.full(n - a.size, np.nan)]) for a in arrays]
    stack = np.stack(arrays)
    count = np.sum(np.isfinite(stack), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(stack, axis=0) / count
        dev = np.where(np.isfinite(stack), stack - mean, 0.0)
        sd = np.sqrt(np.sum(dev**2, axis=0) / (count - 1))
        sem = np.where(count >= 2, sd / np.sqrt(count), np.nan)
    mean = np.where(count > 0, mean, np.nan)
    if stack.ndim == 1:
        return {"mean": float(mean), "sem": float(sem), "n": int(count)}
    return {"mean": mean, "sem": sem, "n": count}


# ---------------------------------------------------------------------------- figures
def _figure(ax: Any, size: tuple[float, float]):
    from matplotlib.figure import Figure

    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=size)
    return fig, fig.add_subplot(1, 1, 1)


def _save(fig: Any, path: str | Path | None) -> None:
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        from ..report.figstyle import save_figure

        save_figure(fig, path, dpi=120)


def _mean_band(entry: Any) -> tuple[np.ndarray, np.ndarray | None]:
    if isinstance(entry, Mapping):
        return np.asarray(entry["mean"], dtype=float), np.asarray(entry["sem"], dtype=float)
    return np.asarray(entry, dtype=float), None


def plot_variance_curves(result: Mapping[str, Any], *, ax: Any = None, path: str | Path | None = None,
                         title: str | None = None):
    """Cumulative new-task variance in the pretraining PCs (``cross``) and in its own
    (``self``, dashed), against the number of components k.

    Parameters
    ----------
    result : dict
        A :func:`cross_task_variance` output or its :func:`aggregate` (then the mean is
        drawn with a +/- s.e.m. band). The direction-matched curves are added when present.
    ax : matplotlib Axes, optional
    path : str or Path, optional
        Save the figure there as PNG.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not isinstance(result, Mapping) or "cross" not in result or "self" not in result:
        raise ValueError("result must be a cross_task_variance dict (or its aggregate) with 'cross' and 'self'")
    fig, ax = _figure(ax, (4.8, 3.6))
    series = [("cross (pretraining PCs)", result["cross"], "C0", "-"), ("self (own PCs)", result["self"], "C0", "--")]
    dm = result.get("direction_matched")
    if isinstance(dm, Mapping):
        series += [("direction-matched cross", dm["cross"], "C1", "-"),
                   ("direction-matched self", dm["self"], "C1", "--")]
    for label, entry, color, style in series:
        mean, sem = _mean_band(entry)
        k = np.arange(1, mean.size + 1)
        ax.plot(k, mean, style, color=color, marker="o", ms=3, label=label)
        if sem is not None and np.any(np.isfinite(sem)):
            ax.fill_between(k, mean - sem, mean + sem, color=color, alpha=0.2, linewidth=0)
    ax.set(xlabel="number of components k", ylabel="fraction of new-task variance", ylim=(0, 1.02),
           title=title or "Cross-task variance explained")
    ax.legend(fontsize=7, loc="lower right")
    _save(fig, path)
    return fig


def plot_angle_spectrum(angles: Any, *, labels: Sequence[str] | None = None, ax: Any = None,
                        path: str | Path | None = None, title: str | None = None):
    """Principal angles (degrees) against their index, one line per seed or condition.

    Parameters
    ----------
    angles : array (k,), a list of such arrays, or an aggregate ``{"mean", "sem"}`` dict
        Angles in radians.
    labels : sequence of str, optional
        One per line.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if isinstance(angles, Mapping):
        lines = [_mean_band(angles)]
    elif isinstance(angles, np.ndarray) and angles.ndim == 1:
        lines = [(angles, None)]
    elif isinstance(angles, (list, tuple)) and angles and np.ndim(angles[0]) == 1:
        lines = [(np.asarray(a, float), None) for a in angles]
    else:
        raise ValueError("angles must be a 1-D array, a list of 1-D arrays or an aggregate dict")
    if labels is not None and len(labels) != len(lines):
        raise ValueError(f"labels must have one entry per line ({len(lines)}); got {len(labels)}")
    fig, ax = _figure(ax, (4.8, 3.6))
    for i, (a, sem) in enumerate(lines):
        deg = np.degrees(a)
        k = np.arange(1, deg.size + 1)
        ax.plot(k, deg, marker="o", ms=3, label=None if labels is None else labels[i])
        if sem is not None:
            ax.fill_between(k, deg - np.degrees(sem), deg + np.degrees(sem), alpha=0.2, linewidth=0)
    ax.set(xlabel="index", ylabel="principal angle (degrees)", ylim=(0, 91), title=title or "Principal angles")
    if labels is not None:
        ax.legend(fontsize=7)
    _save(fig, path)
    return fig


def plot_seed_scatter(x: Any, y: Any, *, labels: Sequence[str] | None = None, xlabel: str = "x",
                      ylabel: str = "y", identity: bool = True, ax: Any = None,
                      path: str | Path | None = None, title: str | None = None):
    """One point per seed (e.g. observed fraction vs null mean, or vs new-task accuracy).

    Parameters
    ----------
    x, y : array-like, (seeds,)
    labels : sequence of str, optional
        Annotates each point.
    identity : bool
        Draw the line y = x.

    Returns
    -------
    matplotlib.figure.Figure
    """
    xa, ya = to_numpy(x, "x").ravel(), to_numpy(y, "y").ravel()
    if xa.size != ya.size or xa.size == 0:
        raise ValueError(f"x and y must be non-empty with one value per seed each; got {xa.size} and {ya.size}")
    check_finite(xa, "x")
    check_finite(ya, "y")
    if labels is not None and len(labels) != xa.size:
        raise ValueError(f"labels must have one entry per seed ({xa.size}); got {len(labels)}")
    fig, ax = _figure(ax, (4.0, 4.0))
    ax.scatter(xa, ya, s=20)
    if labels is not None:
        for xi, yi, lab in zip(xa, ya, labels):
            ax.annotate(str(lab), (xi, yi), fontsize=7, xytext=(3, 3), textcoords="offset points")
    if identity:
        lo, hi = min(xa.min(), ya.min()), max(xa.max(), ya.max())
        ax.plot([lo, hi], [lo, hi], color="0.5", lw=0.8, ls=":")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title or "")
    _save(fig, path)
    return fig
