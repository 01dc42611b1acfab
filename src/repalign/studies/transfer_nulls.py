"""Transfer geometry, the nulls (re-exported by :mod:`repalign.studies.transfer`): is the new
task more inside the pretraining basis than inside a random basis, and does the trained rule column
beat random columns on the new task?  Formulas and conventions: ``docs/transfer.md``.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .._validation import check_choice, check_finite, check_scalar, to_numpy
from ..geometry.subspace import pca_basis, projection_fraction
from ..stats import resampled_null
from .transfer_analysis import _two_tasks

BASIS_METHODS = ("uniform", "rotation", "covariance")
PROBE_NULLS = ("norm", "init")


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
    pre, new = _two_tasks(pre_states, new_states)
    p = pre.shape[1]
    check_scalar(k, "k", int, min_val=1, max_val=p, include_boundaries="left")
    check_choice(method, "method", BASIS_METHODS)
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
    if not callable(evaluate):
        raise ValueError(f"evaluate must be a callable evaluate(column) -> (loss, accuracy); got "
                         f"{type(evaluate).__name__}")
    shape = _check_shape(rule_shape)
    col = to_numpy(observed, "observed")
    if col.shape != shape:
        raise ValueError(f"observed must have rule_shape {shape}; got {col.shape}")
    check_finite(col, "observed")
    check_choice(null, "null", PROBE_NULLS)
    check_choice(statistic, "statistic", ("accuracy", "loss"))
    norm = float(np.linalg.norm(col))
    if null == "norm" and norm == 0:
        raise ValueError("observed is an all-zero column; a same-norm null is undefined (use null='init')")
    if null == "init":
        check_scalar(init_std, "init_std (for null='init')", float, min_val=0.0, include_boundaries="neither")
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
