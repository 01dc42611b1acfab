"""Representational dissimilarity matrices (RDMs): construction and noise estimates.

An RDM (representational dissimilarity matrix) of a system is the matrix of dissimilarities
between its responses to ``n`` conditions; it is handled as the *condensed* vector of its
``n (n - 1) / 2`` upper-triangle entries in row-major order (scipy's ``pdist`` order, which is
also rsatoolbox's). The comparators between RDMs are in :mod:`repalign.geometry.rsa_compare`,
the RSA measures in :mod:`repalign.geometry.rsa` (which re-exports everything public here).

RDM methods (``rdm(X, method)``), for patterns ``x_i`` (rows, one per condition) over ``p``
channels:

* ``"euclidean"``: ``||x_i - x_j||`` (plain, not squared, not scaled).
* ``"sqeuclidean"``: ``||x_i - x_j||^2``.
* ``"correlation"``: ``1 - pearson(x_i, x_j)`` (correlation across channels).
* ``"cosine"``: ``1 - cos(x_i, x_j)``.
* ``"mahalanobis"``: ``(x_i - x_j)^T P (x_i - x_j)`` (squared) for a noise precision ``P``.
* ``"crossnobis"``: the cross-validated (unbiased) squared Mahalanobis distance: with
  leave-one-partition-out folds, ``mean_f (xbar_i - xbar_j)_{train f}^T P (x_i - x_j)_{test f}``.
* ``"poisson"``: the symmetrised Kullback-Leibler divergence between independent Poisson
  channels, ``sum_c (m_ic - m_jc)(log m_ic - log m_jc)`` for the rates ``m = (x + 0.1) / 1.1``
  (rsatoolbox's prior: rate 1 with weight 0.1); needs ``x >= 0`` (counts or rates).
* ``"gaussian"``: ``1 - exp(-||x_i - x_j||^2 / (2 sigma^2))``, one minus the Gaussian (RBF)
  kernel, in [0, 1); ``sigma^2`` is the median of the ``n (n - 1) / 2`` squared distances
  unless ``sigma`` is given (rsatoolbox has no Gaussian RDM).

``per_channel=True`` divides the channel-summed methods by ``p``: that is rsatoolbox's
convention, whose ``'euclidean'`` RDM is ``||x_i - x_j||^2 / p`` (= repalign's ``rdm(X,
'sqeuclidean', per_channel=True)`` = ``rdm(X, 'euclidean')**2 / p``); its 'mahalanobis',
'crossnobis' and 'poisson' are divided by ``p`` likewise.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
from scipy import linalg
from scipy.spatial.distance import pdist
from scipy.spatial.distance import squareform as _sp_squareform

from .._validation import check_choice, check_finite, to_numpy

RDM_METHODS = ("euclidean", "sqeuclidean", "correlation", "cosine", "mahalanobis", "crossnobis",
               "poisson", "gaussian")
SQUARED_METHODS = ("sqeuclidean", "mahalanobis", "crossnobis")
PER_CHANNEL_METHODS = SQUARED_METHODS + ("poisson",)
NOISE_METHODS = ("diag", "full", "shrinkage_eye", "shrinkage_diag")
POISSON_PRIOR = (1.0, 0.1)  # (prior rate, prior weight): rsatoolbox's calc_rdm_poisson defaults

# "shrinkage" is rsatoolbox's default estimator (shrinkage towards the diagonal).
_NOISE_ALIASES = {"shrinkage": "shrinkage_diag"}


def rdm(
    X: Any,
    method: str = "euclidean",
    *,
    conditions: Any = None,
    partitions: Any = None,
    noise: Any = None,
    per_channel: bool = False,
    sigma: float | None = None,
) -> np.ndarray:
    """The condensed RDM of a system.

    Parameters
    ----------
    X : array-like
        ``(conditions, channels)``: one pattern per condition; or ``(samples, channels)`` with
        ``conditions`` (and for crossnobis ``partitions``) labelling each row; or
        ``(partitions, conditions, channels)`` repeated measurements (runs/sessions).
        Repeated measurements of a condition are averaged, except by crossnobis, which
        cross-validates over partitions.
    method : str
        One of ``RDM_METHODS`` (see the module docstring).
    conditions : array-like, (samples,), optional
        Condition label of each row of a 2-D ``X``. The RDM's conditions are the sorted unique
        labels.
    partitions : array-like, (samples,), optional
        Partition (run) label of each row of a 2-D ``X``; needed by crossnobis for 2-D input.
        Every partition must contain every condition.
    noise : None, str or array, optional
        For 'mahalanobis' and 'crossnobis' only. ``None``: identity precision (Euclidean);
        a ``(channels, channels)`` *precision* matrix (inverse noise covariance, as rsatoolbox
        takes); or the name of an estimator of the noise covariance from the residuals
        ``x - mean(x | condition)`` with ``samples - conditions`` degrees of freedom
        (rsatoolbox's ``prec_from_unbalanced``): ``'diag'``, ``'full'``, ``'shrinkage_eye'``
        (Ledoit & Wolf 2004), ``'shrinkage_diag'`` (Schaefer & Strimmer 2005; alias
        ``'shrinkage'``).
    per_channel : bool
        Divide the channel-summed methods (``PER_CHANNEL_METHODS``) by the number of channels
        (rsatoolbox's convention).
    sigma : float, optional
        For 'gaussian' only: the kernel width, in the units of the data (default: the median
        rule in the module docstring).

    Returns
    -------
    ndarray, (n (n - 1) / 2,)
        Dissimilarities in the units of the data (squared units for the squared methods,
        dimensionless for correlation/cosine/gaussian, rate units for poisson).
    """
    check_choice(method, "method", RDM_METHODS)
    if per_channel and method not in PER_CHANNEL_METHODS:
        raise ValueError(
            f"per_channel=True applies to the channel-summed methods {PER_CHANNEL_METHODS}; got method={method!r}"
        )
    if sigma is not None and (method != "gaussian" or not (np.isfinite(sigma) and sigma > 0)):
        raise ValueError(f"sigma must be a positive number, and only with method='gaussian'; got {sigma!r}")
    if noise is not None and method not in ("mahalanobis", "crossnobis"):
        raise ValueError(f"noise is only used by 'mahalanobis' and 'crossnobis'; got method={method!r}")
    data, cond, part = _parse_data(X, conditions, partitions, crossnobis=method == "crossnobis")
    n_channels = data.shape[1]
    if method == "crossnobis":
        d = _crossnobis(data, cond, part, _noise_inner(noise, data, cond))
    else:
        means = _condition_means(data, cond)
        if method == "mahalanobis":
            d = _kernel_distances(means, means, _noise_inner(noise, data, cond))
        else:
            d = _plain_rdm(means, method, sigma)
    return d / n_channels if per_channel else d


def squareform(D: Any) -> np.ndarray:
    """Convert a condensed RDM ``(n (n - 1) / 2,)`` to its square ``(n, n)`` form and back.

    A square input must be symmetric with a zero diagonal.
    """
    arr = to_numpy(D, "D")
    check_finite(arr, "D")
    if arr.ndim == 1:
        _n_conditions(arr.size, "D", minimum=1)
        return _sp_squareform(arr, checks=False)
    if arr.ndim == 2 and arr.shape[0] == arr.shape[1]:
        scale = max(float(np.abs(arr).max()), 1.0)
        if not np.allclose(arr, arr.T, rtol=0.0, atol=1e-12 * scale):
            raise ValueError("D must be symmetric to be condensed")
        if np.any(np.diag(arr) != 0):
            raise ValueError("D must have a zero diagonal to be condensed")
        return _sp_squareform(arr, checks=False)
    raise ValueError(f"D must be a condensed vector or a square matrix; got shape {arr.shape}")


def _parse_data(X, conditions, partitions, crossnobis: bool):
    """(samples, channels) data with integer condition and partition codes per row."""
    arr = to_numpy(X, "X")
    if arr.ndim == 3:
        if conditions is not None or partitions is not None:
            raise ValueError("conditions/partitions are implied by a 3-D X (partitions, conditions, channels)")
        n_part, n_cond, _ = arr.shape
        cond = np.tile(np.arange(n_cond), n_part)
        part = np.repeat(np.arange(n_part), n_cond)
        arr = arr.reshape(n_part * n_cond, arr.shape[2])
    elif arr.ndim == 2:
        cond = np.arange(arr.shape[0]) if conditions is None else _codes(conditions, arr.shape[0], "conditions")
        if partitions is not None and conditions is None:
            raise ValueError("partitions need conditions: label every row of X with its condition")
        part = None if partitions is None else _codes(partitions, arr.shape[0], "partitions")
    else:
        raise ValueError(
            f"X must be 2-D (conditions or samples, channels) or 3-D (partitions, conditions, channels); "
            f"got shape {arr.shape}"
        )
    check_finite(arr, "X")
    if arr.shape[1] < 1:
        raise ValueError("X has no channels")
    n_cond = int(cond.max()) + 1 if cond.size else 0
    if n_cond < 2:
        raise ValueError(f"X has {n_cond} condition(s); an RDM needs at least 2")
    if crossnobis:
        part = _check_partitions(part, cond, n_cond)
    return arr, cond, part


def _codes(labels, n: int, name: str) -> np.ndarray:
    lab = np.asarray(labels)
    if lab.ndim != 1 or lab.shape[0] != n:
        raise ValueError(f"{name} must be a 1-D array with one label per row of X ({n}); got shape {lab.shape}")
    return np.unique(lab, return_inverse=True)[1].ravel()


def _check_partitions(part, cond, n_cond: int) -> np.ndarray:
    if part is None:
        raise ValueError(
            "crossnobis needs repeated measurements: pass X as (partitions, conditions, channels) "
            "or 2-D X with conditions= and partitions= labels"
        )
    n_part = int(part.max()) + 1
    if n_part < 2:
        raise ValueError(f"crossnobis needs at least 2 partitions; got {n_part}")
    present = np.zeros((n_part, n_cond), dtype=bool)
    present[part, cond] = True
    if not present.all():
        p, c = np.argwhere(~present)[0]
        raise ValueError(f"every partition must contain every condition; partition #{p} lacks condition #{c}")
    return part


def _condition_means(data: np.ndarray, cond: np.ndarray) -> np.ndarray:
    n_cond = int(cond.max()) + 1
    if n_cond == data.shape[0] and np.array_equal(cond, np.arange(n_cond)):
        return data
    sums = np.zeros((n_cond, data.shape[1]))
    np.add.at(sums, cond, data)
    return sums / np.bincount(cond, minlength=n_cond)[:, None]


def _plain_rdm(M: np.ndarray, method: str, sigma: float | None = None) -> np.ndarray:
    if method in ("euclidean", "sqeuclidean"):
        return pdist(M, method)
    if method == "poisson":
        return _poisson_rdm(M)
    if method == "gaussian":
        return _gaussian_rdm(M, sigma)
    if method == "correlation":
        M = M - M.mean(axis=1, keepdims=True)
    norms = np.sqrt(np.einsum("ij,ij->i", M, M))
    bad = np.flatnonzero(norms == 0)
    if bad.size:
        what = "constant across channels" if method == "correlation" else "all zero"
        raise ValueError(f"X: the pattern of condition #{bad[0]} is {what}; {method} distance is undefined")
    U = M / norms[:, None]
    return _condensed(1.0 - U @ U.T)


def _poisson_rdm(M: np.ndarray) -> np.ndarray:
    """Symmetrised KL divergence of Poisson channels with rsatoolbox's prior (module docstring)."""
    if np.any(M < 0):
        i = int(np.argmin(M.min(axis=1)))
        raise ValueError(f"X must be nonnegative (counts or rates) for the poisson RDM; condition #{i} is negative")
    rate, weight = POISSON_PRIOR
    rates = (M + rate * weight) / (1.0 + weight)
    return _kernel_distances(rates, np.log(rates), lambda A, B: A @ B.T)


def _gaussian_rdm(M: np.ndarray, sigma: float | None) -> np.ndarray:
    """1 - exp(-||m_i - m_j||^2 / (2 sigma^2)), sigma^2 = median squared distance by default."""
    sq = pdist(M, "sqeuclidean")
    sigma2 = float(np.median(sq)) if sigma is None else float(sigma) ** 2
    if sigma2 <= 0:
        raise ValueError("X has more than half of its conditions' patterns coinciding; the gaussian RDM's width is 0")
    return -np.expm1(-sq / (2.0 * sigma2))


def _condensed(S: np.ndarray) -> np.ndarray:
    return S[np.triu_indices(S.shape[0], 1)]


def _kernel_distances(A: np.ndarray, B: np.ndarray, inner: Callable) -> np.ndarray:
    """Condensed ``(a_i - a_j)^T P (b_i - b_j)`` from the kernel ``K = A P B^T``."""
    K = inner(A, B)
    k = np.diag(K)
    return _condensed(k[:, None] + k[None, :] - K - K.T)


def _crossnobis(data, cond, part, inner: Callable) -> np.ndarray:
    """Leave-one-partition-out cross-validated squared Mahalanobis distances (averaged folds)."""
    total = 0.0
    folds = np.unique(part)
    for f in folds:
        test = part == f
        train_means = _condition_means(data[~test], cond[~test])
        test_means = _condition_means(data[test], cond[test])
        total = total + _kernel_distances(train_means, test_means, inner)
    return total / folds.size


# ----------------------------------------------------------------------------- noise
def noise_covariance(X: Any, conditions: Any, method: str = "shrinkage_diag") -> np.ndarray:
    """Noise covariance ``(channels, channels)`` estimated from the residuals of ``X``.

    Residuals are ``x - mean(x | condition)`` over all rows of the ``(samples, channels)``
    array ``X``; degrees of freedom ``samples - conditions``. ``method`` is one of
    ``NOISE_METHODS`` (or ``'shrinkage'``); the estimators are rsatoolbox's (see :func:`rdm`).
    """
    arr = to_numpy(X, "X")
    if arr.ndim != 2:
        raise ValueError(f"X must be 2-D (samples, channels); got shape {arr.shape}")
    check_finite(arr, "X")
    return _estimate_noise_cov(arr, _codes(conditions, arr.shape[0], "conditions"), method)


def _estimate_noise_cov(data: np.ndarray, cond: np.ndarray, method: str) -> np.ndarray:
    method = _NOISE_ALIASES.get(method, method)
    check_choice(method, "noise", NOISE_METHODS)
    n_cond = int(cond.max()) + 1
    R = data - _condition_means(data, cond)[cond]
    dof = R.shape[0] - n_cond
    if dof < 1:
        raise ValueError(
            f"noise={method!r} needs repeated measurements: X has {R.shape[0]} samples for {n_cond} "
            "conditions, leaving no residual degrees of freedom"
        )
    if method == "diag":
        return np.diag(np.einsum("ij,ij->j", R, R) / dof)
    if method == "full":
        return R.T @ R / dof
    if method == "shrinkage_eye":
        return _shrink_to_eye(R, dof)
    return _shrink_to_diag(R, dof)


def _shrink_to_eye(R: np.ndarray, dof: int) -> np.ndarray:
    """Ledoit & Wolf (2004) shrinkage towards a multiple of the identity."""
    n, p = R.shape
    s = R.T @ R / n
    R2 = R * R
    b2 = np.sum(R2.T @ R2 / n - s * s) / n
    m = np.trace(s) / p
    d2 = np.sum((s - m * np.eye(p)) ** 2)
    if d2 == 0:  # already a multiple of the identity
        return s * n / dof
    b2 = min(d2, b2)
    return (b2 / d2 * m * np.eye(p) + (d2 - b2) / d2 * s) * n / dof


def _shrink_to_diag(R: np.ndarray, dof: int) -> np.ndarray:
    """Schaefer & Strimmer (2005) shrinkage of the correlations towards zero.

    The normalisations (``n - 1`` for the mean correlations, ``dof`` for the covariance)
    follow rsatoolbox 0.3.2 exactly.
    """
    n, p = R.shape
    S = R.T @ R
    s = S / dof
    var = np.diag(s)
    if np.any(var == 0):
        raise ValueError(f"noise: channel #{int(np.argmin(var))} has zero residual variance")
    if p == 1:
        return s
    std = np.sqrt(var)
    R2 = R * R
    s_mean = S / np.outer(std, std) / (n - 1)
    s2_mean = (R2.T @ R2) / np.outer(var, var) / (n - 1)
    var_hat = n / dof**2 * (s2_mean - s_mean**2)
    off = ~np.eye(p, dtype=bool)
    denom = np.sum(s_mean[off] ** 2)
    lamb = 1.0 if denom == 0 else min(max(np.sum(var_hat[off]) / denom, 0.0), 1.0)
    return s * np.where(off, 1.0 - lamb, 1.0)


def _noise_inner(noise, data: np.ndarray, cond: np.ndarray) -> Callable:
    """``inner(A, B) = A P B^T`` for the noise precision ``P`` (never formed from a covariance)."""
    p = data.shape[1]
    if noise is None:
        return lambda A, B: A @ B.T
    if isinstance(noise, str):
        cov = _estimate_noise_cov(data, cond, noise)
        if np.count_nonzero(cov - np.diag(np.diag(cov))) == 0:
            var = np.diag(cov)
            if np.any(var <= 0):
                raise ValueError("noise: a channel has zero residual variance; the precision is undefined")
            return lambda A, B: (A / var) @ B.T
        try:
            factor = linalg.cho_factor(cov)
        except linalg.LinAlgError:
            raise ValueError(
                f"noise={noise!r}: the estimated covariance is singular (fewer residual degrees of "
                "freedom than channels?); use 'shrinkage_diag' or 'diag'"
            ) from None
        return lambda A, B: A @ linalg.cho_solve(factor, B.T)
    P = to_numpy(noise, "noise")
    if P.shape != (p, p):
        raise ValueError(
            f"noise must be None, an estimator name or a ({p}, {p}) precision matrix; got shape {P.shape}"
        )
    check_finite(P, "noise")
    if not np.allclose(P, P.T, rtol=1e-10, atol=0.0):
        raise ValueError("noise (a precision matrix) must be symmetric")
    return lambda A, B: A @ P @ B.T



def _n_conditions(m: int, name: str, minimum: int = 3) -> int:
    """n with n (n - 1) / 2 == m, or ValueError."""
    n = int(round((1 + np.sqrt(1 + 8 * m)) / 2))
    if n * (n - 1) // 2 != m:
        raise ValueError(f"{name} has {m} entries, which is not n (n - 1) / 2 for any n: not a condensed RDM")
    if n < minimum:
        raise ValueError(f"{name} is an RDM of {n} conditions; at least {minimum} are needed")
    return n
