"""Representational similarity analysis: RDMs and the comparators between them.

An RDM (representational dissimilarity matrix) of a system is the matrix of dissimilarities
between its responses to ``n`` conditions; it is handled as the *condensed* vector of its
``n (n - 1) / 2`` upper-triangle entries in row-major order (scipy's ``pdist`` order, which is
also rsatoolbox's). RSA scores two systems by comparing their RDMs.

RDM methods (``rdm(X, method)``), for patterns ``x_i`` (rows, one per condition) over ``p``
channels:

* ``"euclidean"``: ``||x_i - x_j||`` (plain, not squared, not scaled).
* ``"sqeuclidean"``: ``||x_i - x_j||^2``.
* ``"correlation"``: ``1 - pearson(x_i, x_j)`` (correlation across channels).
* ``"cosine"``: ``1 - cos(x_i, x_j)``.
* ``"mahalanobis"``: ``(x_i - x_j)^T P (x_i - x_j)`` (squared) for a noise precision ``P``.
* ``"crossnobis"``: the cross-validated (unbiased) squared Mahalanobis distance: with
  leave-one-partition-out folds, ``mean_f (xbar_i - xbar_j)_{train f}^T P (x_i - x_j)_{test f}``.

``per_channel=True`` divides the squared methods by ``p``: that is rsatoolbox's convention,
whose ``'euclidean'`` RDM is ``||x_i - x_j||^2 / p`` (= repalign's ``rdm(X, 'sqeuclidean',
per_channel=True)`` = ``rdm(X, 'euclidean')**2 / p``); its 'mahalanobis' and 'crossnobis' are
divided by ``p`` likewise.

Comparators (``compare_rdms(a, b, method)``), all in [-1, 1], all invariant to scaling an RDM:

* ``"cosine"``, ``"pearson"``: cosine / Pearson correlation of the condensed vectors.
* ``"spearman"``: Pearson correlation of tie-averaged ranks.
* ``"rho_a"``: ``12 / (m^3 - m) * sum_k (r_k - rbar)(s_k - sbar)`` for ``m`` entries (Spearman
  without the tie correction of the denominator; rsatoolbox's 'rho-a').
* ``"kendall_tau_b"``, ``"tau_a"``: Kendall's tau with and without tie correction.
* ``"cosine_cov"``, ``"corr_cov"``: cosine / correlation after whitening by the covariance
  ``V`` of RDM entries under i.i.d. noise on the patterns (Diedrichsen et al. 2021):
  ``a^T V^-1 b / sqrt(a^T V^-1 a  b^T V^-1 b)``, ``corr_cov`` on mean-centred vectors. With
  ``Xi = C C^T`` (``C`` the pairwise-contrast matrix) ``V = Xi * Xi`` (elementwise); its inverse
  is never formed: ``a^T V^-1 b`` is proportional to ``<G_a, G_b>_F`` for the double-centred
  second-moment matrices ``G = -1/2 H D H`` (``D = squareform(a)``, ``H`` the centring matrix),
  so whitening an RDM is an O(n^2) double centring.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from scipy import linalg, stats
from scipy.spatial.distance import pdist
from scipy.spatial.distance import squareform as _sp_squareform

from .._validation import check_finite, to_numpy
from ..registry import Measure, register

RDM_METHODS = ("euclidean", "sqeuclidean", "correlation", "cosine", "mahalanobis", "crossnobis")
SQUARED_METHODS = ("sqeuclidean", "mahalanobis", "crossnobis")
NOISE_METHODS = ("diag", "full", "shrinkage_eye", "shrinkage_diag")
COMPARATORS = ("cosine", "pearson", "spearman", "rho_a", "cosine_cov", "corr_cov", "kendall_tau_b", "tau_a")
DOT_COMPARATORS = ("cosine", "pearson", "spearman", "rho_a", "cosine_cov", "corr_cov")

# "shrinkage" is rsatoolbox's default estimator (shrinkage towards the diagonal).
_NOISE_ALIASES = {"shrinkage": "shrinkage_diag"}


# ----------------------------------------------------------------------------- RDMs
def rdm(
    X: Any,
    method: str = "euclidean",
    *,
    conditions: Any = None,
    partitions: Any = None,
    noise: Any = None,
    per_channel: bool = False,
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
        Divide the squared methods by the number of channels (rsatoolbox's convention).

    Returns
    -------
    ndarray, (n (n - 1) / 2,)
        Dissimilarities in the units of the data (squared units for the squared methods,
        dimensionless for correlation/cosine).
    """
    _check_choice(method, RDM_METHODS, "method")
    if per_channel and method not in SQUARED_METHODS:
        raise ValueError(
            f"per_channel=True applies to the squared methods {SQUARED_METHODS}; got method={method!r}"
        )
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
            d = _plain_rdm(means, method)
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


def _plain_rdm(M: np.ndarray, method: str) -> np.ndarray:
    if method in ("euclidean", "sqeuclidean"):
        return pdist(M, method)
    if method == "correlation":
        M = M - M.mean(axis=1, keepdims=True)
    norms = np.sqrt(np.einsum("ij,ij->i", M, M))
    bad = np.flatnonzero(norms == 0)
    if bad.size:
        what = "constant across channels" if method == "correlation" else "all zero"
        raise ValueError(f"X: the pattern of condition #{bad[0]} is {what}; {method} distance is undefined")
    U = M / norms[:, None]
    return _condensed(1.0 - U @ U.T)


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
    _check_choice(method, NOISE_METHODS, "noise")
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


# ----------------------------------------------------------------------------- comparators
@dataclass(frozen=True)
class _RDMState:
    """An RDM prepared for one comparator.

    ``vec``: for the dot-product comparators, a vector whose inner product with another
    prepared vector *is* the score; for the Kendall comparators, the raw condensed RDM.
    ``ties``: number of tied pairs of entries (tau_a only).
    """

    vec: np.ndarray
    ties: int = 0


def compare_rdms(a: Any, b: Any, method: str = "spearman") -> float:
    """Similarity of two RDMs, each condensed ``(n (n - 1) / 2,)`` or square ``(n, n)``.

    ``method`` is one of ``COMPARATORS`` (see the module docstring); needs ``n >= 3``.
    """
    _check_choice(method, COMPARATORS, "method")
    va, vb = _as_condensed(a, "a"), _as_condensed(b, "b")
    if va.size != vb.size:
        raise ValueError(
            f"a and b must be RDMs of the same conditions; got {_n_conditions(va.size, 'a')} and "
            f"{_n_conditions(vb.size, 'b')} conditions"
        )
    return _score(prepare_rdm(va, method), prepare_rdm(vb, method), method)


def prepare_rdm(d: np.ndarray, method: str) -> _RDMState:
    """The per-RDM work of a comparator (ranks, centring, whitening, normalisation)."""
    m = d.size
    if method == "cosine":
        return _RDMState(_unit(d, method))
    if method == "pearson":
        return _RDMState(_unit(_centred(d, method), method))
    if method in ("spearman", "rho_a"):
        r = _centred(stats.rankdata(d), method)
        if method == "spearman":
            return _RDMState(_unit(r, method))
        return _RDMState(r * np.sqrt(12.0 / (float(m) ** 3 - m)))
    if method == "cosine_cov":
        return _RDMState(_unit(_whiten(d), method))
    if method == "corr_cov":
        return _RDMState(_unit(_whiten(_centred(d, method)), method))
    if method == "kendall_tau_b":
        _centred(d, method)  # raises for a constant RDM, where tau-b is undefined
        return _RDMState(d)
    _, counts = np.unique(d, return_counts=True)
    return _RDMState(d, int(np.sum(counts * (counts - 1) // 2)))


def _score(a: _RDMState, b: _RDMState, method: str) -> float:
    if method in DOT_COMPARATORS:
        return float(np.clip(a.vec @ b.vec, -1.0, 1.0))
    if method == "kendall_tau_b":
        return float(stats.kendalltau(a.vec, b.vec).statistic)
    return _tau_a(a, b)


def _tau_a(a: _RDMState, b: _RDMState) -> float:
    """(concordant - discordant) / all pairs, from scipy's O(m log m) tau-b.

    tau_b = (C - D) / sqrt((n0 - t_a)(n0 - t_b)) with ``t`` the tied pairs of each RDM, so
    C - D is recovered exactly; an RDM with all entries tied has C - D = 0.
    """
    m = a.vec.size
    n0 = m * (m - 1) // 2
    if a.ties == n0 or b.ties == n0:
        return 0.0
    tau_b = stats.kendalltau(a.vec, b.vec).statistic
    c_minus_d = tau_b * np.sqrt(float(n0 - a.ties)) * np.sqrt(float(n0 - b.ties))
    return float(np.clip(c_minus_d / n0, -1.0, 1.0))


def _whiten(d: np.ndarray) -> np.ndarray:
    """Vector ``w`` with ``w_a . w_b`` proportional to ``a^T V^-1 b`` (see module docstring).

    ``w`` = the upper triangle of ``G = -1/2 H D H`` times sqrt(2) (each off-diagonal entry
    appears twice in G), then the diagonal of ``G``.
    """
    D = _sp_squareform(d, checks=False)
    r = D.mean(axis=1)
    G = -0.5 * (D - r[:, None] - r[None, :] + r.mean())
    return np.concatenate([np.sqrt(2.0) * _condensed(G), np.diag(G)])


def _centred(v: np.ndarray, method: str) -> np.ndarray:
    if np.ptp(v) == 0:
        raise ValueError(f"the RDM is constant (all dissimilarities equal); comparator {method!r} is undefined")
    return v - v.mean()


def _unit(v: np.ndarray, method: str) -> np.ndarray:
    norm = np.sqrt(v @ v)
    if norm == 0:
        raise ValueError(f"the RDM is all zeros (all patterns identical); comparator {method!r} is undefined")
    return v / norm


def _as_condensed(D: Any, name: str) -> np.ndarray:
    arr = to_numpy(D, name)
    check_finite(arr, name)
    if arr.ndim == 2:
        try:
            arr = squareform(arr)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    elif arr.ndim != 1:
        raise ValueError(f"{name} must be a condensed RDM (1-D) or a square RDM; got shape {arr.shape}")
    _n_conditions(arr.size, name)
    return arr


def _n_conditions(m: int, name: str, minimum: int = 3) -> int:
    """n with n (n - 1) / 2 == m, or ValueError."""
    n = int(round((1 + np.sqrt(1 + 8 * m)) / 2))
    if n * (n - 1) // 2 != m:
        raise ValueError(f"{name} has {m} entries, which is not n (n - 1) / 2 for any n: not a condensed RDM")
    if n < minimum:
        raise ValueError(f"{name} is an RDM of {n} conditions; at least {minimum} are needed")
    return n


def _permuted_condensed(d: np.ndarray, rows: np.ndarray, block: int = 2**18) -> np.ndarray:
    """Condensed RDM of the conditions reordered by ``rows`` (new i = old rows[i]), built in
    blocks of whole rows of about ``block`` entries, so that no index array as large as the RDM
    is formed."""
    n = rows.size
    out = np.empty_like(d)
    counts = n - 1 - np.arange(n - 1)  # entries of condensed row i
    ends = np.cumsum(counts)
    i0 = 0
    while i0 < n - 1:
        i1 = max(i0 + 1, int(np.searchsorted(ends, ends[i0] - counts[i0] + block, side="right")))
        i1 = min(i1, n - 1)
        start = ends[i0] - counts[i0]
        ii = np.repeat(np.arange(i0, i1), counts[i0:i1])
        jj = np.arange(start, ends[i1 - 1]) - np.repeat(ends[i0:i1] - counts[i0:i1], counts[i0:i1]) + ii + 1
        a, b = rows[ii], rows[jj]
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        out[start:ends[i1 - 1]] = d[n * lo - lo * (lo + 1) // 2 + (hi - lo - 1)]
        i0 = i1
    return out


def _check_choice(value, options, name: str) -> None:
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {list(options)}; got {value!r}")


# ----------------------------------------------------------------------------- measure
@register
class RSA(Measure):
    """Representational similarity analysis: a comparator between the systems' RDMs.

    Parameters: ``rdm`` (RDM method, default 'correlation'), ``compare`` (comparator, default
    'spearman'), ``noise`` (for 'mahalanobis'/'crossnobis', see :func:`rdm`) and
    ``n_partitions``: the rows of X are ``n_partitions`` repeated measurements of the
    conditions, partition-major (row ``k = partition * n_conditions + condition``, what a
    ``(partitions, conditions, channels)`` array becomes); required by 'crossnobis', and
    the other methods average the repeats.

    Declared invariances are those of the defaults (correlation RDM, Spearman): permutation
    and isotropic scaling of the units, monotonic maps of the dissimilarities. Other choices
    differ: a euclidean/sqeuclidean RDM is invariant to orthogonal maps and translation, and
    only the rank comparators are invariant to monotonic maps.
    """

    name = "rsa"
    kind = "similarity"
    range = (-1.0, 1.0)
    invariances = frozenset({"permutation", "isotropic_scaling", "monotonic"})
    is_metric = False
    symmetric = True
    matched_samples = True
    min_samples = 3
    defaults = {"rdm": "correlation", "compare": "spearman", "noise": None, "n_partitions": None}

    def _validate_params(self) -> None:
        _check_choice(self.params["rdm"], RDM_METHODS, "rdm")
        _check_choice(self.params["compare"], COMPARATORS, "compare")
        P = self.params["n_partitions"]
        if P is not None and not (isinstance(P, (int, np.integer)) and P >= 1):
            raise ValueError(f"n_partitions must be a positive int or None; got {P!r}")
        if self.params["rdm"] == "crossnobis" and (P is None or P < 2):
            raise ValueError("rdm='crossnobis' needs n_partitions >= 2 (repeated measurements)")
        if self.params["noise"] is not None and self.params["rdm"] not in ("mahalanobis", "crossnobis"):
            raise ValueError(f"noise is only used by rdm='mahalanobis' or 'crossnobis'; got rdm={self.params['rdm']!r}")

    def _min_samples(self) -> int:
        return 3 * (self.params["n_partitions"] or 1)

    memory_way_out = ("use fewer conditions (average repeated samples into conditions), or a measure computed "
                      "in feature space such as linear 'cka' or 'procrustes'")

    def _memory_need(self, n: int, p: int) -> tuple[float, str]:
        """The condensed RDM and the comparator's copies of it (ranks, argsorts, centring: ~8 vectors of
        n_c (n_c - 1) / 2 float64); the whitening comparators also form n_c x n_c matrices."""
        n_c = n // (self.params["n_partitions"] or 1)
        m = n_c * (n_c - 1) / 2
        need = 8.0 * m * 8 + 2.0 * n * p * 8
        arrays = f"~8 condensed RDMs of {int(m):,} float64 entries, {n_c:,} conditions"
        if self.params["compare"] in ("cosine_cov", "corr_cov") or self.params["rdm"] in ("mahalanobis", "crossnobis"):
            need += 4.0 * n_c * n_c * 8
            arrays += f", and 4 {n_c:,} x {n_c:,} matrices"
        return need, arrays

    def _prepare(self, X: np.ndarray) -> _RDMState:
        P = self.params["n_partitions"]
        if P is None:
            d = rdm(X, self.params["rdm"], noise=self.params["noise"])
        else:
            n = X.shape[0]
            if n % P:
                raise ValueError(f"X has {n} rows, not a multiple of n_partitions={P}")
            d = rdm(X.reshape(P, n // P, X.shape[1]), self.params["rdm"], noise=self.params["noise"])
        return prepare_rdm(d, self.params["compare"])

    @property
    def permutes_state(self) -> bool:
        """Rows are conditions (so a permutation of rows permutes the RDM) only without partitions."""
        return self.params["n_partitions"] is None

    def _permute_state(self, state: _RDMState, rows: np.ndarray) -> _RDMState:
        """State of ``X[rows]``: the RDM's rows and columns permuted, not rebuilt. Every comparator's
        vector is an entrywise function of the RDM's entries (ranks, centring, scaling) or, for the
        whitened ones, the condensed entries then the diagonal of G, so it permutes the same way."""
        n = len(rows)
        m = n * (n - 1) // 2
        vec = np.empty_like(state.vec)
        vec[:m] = _permuted_condensed(state.vec[:m], np.asarray(rows))
        if state.vec.size > m:  # whitened: diagonal of G after the condensed part
            vec[m:] = state.vec[m:][rows]
        return _RDMState(vec, state.ties)

    def _compare(self, a: _RDMState, b: _RDMState) -> float:
        return _score(a, b, self.params["compare"])

    def _compare_many(self, A: list, B: list, symmetric: bool = False):
        """One matrix product for the dot-product comparators; Kendall's go through the loop."""
        if self.params["compare"] not in DOT_COMPARATORS:
            return None
        Va = np.stack([s.vec for s in A])
        Vb = Va if B is A else np.stack([s.vec for s in B])
        return np.clip(Va @ Vb.T, -1.0, 1.0)
