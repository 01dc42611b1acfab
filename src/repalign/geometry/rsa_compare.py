"""Comparators between RDMs (see :mod:`repalign.geometry.rdm` for the RDMs themselves).

Comparators (``compare_rdms(a, b, method)``) of two condensed RDMs ``a``, ``b`` of ``n``
conditions. The similarities (``COMPARATORS``) are in [-1, 1] and invariant to scaling an RDM:

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
* ``"bures"``: the Bures (fidelity) similarity of those second-moment matrices,
  ``tr (G_a^1/2 G_b G_a^1/2)^1/2 / sqrt(tr G_a tr G_b)`` = ``||A^T B||_* / (||A||_F ||B||_F)``
  for factors ``G_a = A A^T``, in [0, 1] (rsatoolbox's 'bures'). Negative eigenvalues of ``G``
  (an RDM that is not a squared Euclidean distance matrix, e.g. crossnobis with noise) are
  dropped: ``G`` is replaced by its nearest positive semidefinite matrix, so the score stays
  symmetric; rsatoolbox keeps them on one side, and the two differ only for such RDMs.
  (``G`` of a plain Euclidean RDM is positive semidefinite too: Euclidean distances are of
  negative type.)

The distances (``DISTANCE_COMPARATORS``), >= 0, not scale invariant:

* ``"euclidean"``: ``||a - b||_2`` of the condensed vectors, in the RDM's units (ReSi's RSA
  with ``outer="euclidean"``).
* ``"bures_metric"``: the *squared* Bures-Wasserstein distance of the second-moment matrices,
  ``tr G_a + tr G_b - 2 ||A^T B||_*`` (rsatoolbox's 'bures_metric', squared as there).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats
from scipy.spatial.distance import cdist
from scipy.spatial.distance import squareform as _sp_squareform

from .._validation import check_choice, check_finite, to_numpy
from ._blocks import blockwise_cross, nuclear_norms
from .rdm import _condensed, _n_conditions, squareform

COMPARATORS = ("cosine", "pearson", "spearman", "rho_a", "cosine_cov", "corr_cov", "kendall_tau_b", "tau_a",
               "bures")
DISTANCE_COMPARATORS = ("euclidean", "bures_metric")
DOT_COMPARATORS = ("cosine", "pearson", "spearman", "rho_a", "cosine_cov", "corr_cov")
BURES_COMPARATORS = ("bures", "bures_metric")


@dataclass(frozen=True)
class _RDMState:
    """An RDM prepared for one comparator.

    ``vec``: for the dot-product comparators, a vector whose inner product with another
    prepared vector *is* the score; for the Kendall comparators, the raw condensed RDM.
    ``ties``: number of tied pairs of entries (tau_a only). The euclidean comparator keeps
    the raw condensed RDM in ``vec``; the bures ones an empty ``vec`` and a factor of ``G``.
    """

    vec: np.ndarray
    ties: int = 0
    factor: np.ndarray | None = None  # bures comparators: A (n, r) with G = A A^T
    trace: float = 0.0  # bures comparators: tr G (= ||A||_F^2)


def compare_rdms(a: Any, b: Any, method: str = "spearman") -> float:
    """Similarity (or distance) of two RDMs, each condensed ``(n (n - 1) / 2,)`` or square ``(n, n)``.

    ``method`` is one of ``COMPARATORS`` or ``DISTANCE_COMPARATORS`` (see the module
    docstring); needs ``n >= 3``.
    """
    check_choice(method, "method", COMPARATORS + DISTANCE_COMPARATORS)
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
    if method in BURES_COMPARATORS:
        return _bures_state(d)
    if method == "euclidean":
        return _RDMState(d)
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
    if method == "euclidean":
        return float(np.linalg.norm(a.vec - b.vec))
    if method in BURES_COMPARATORS:
        return float(_bures_from_nuclear(nuclear_norms((a.factor.T @ b.factor)[None])[0], a.trace, b.trace,
                                         method))
    return _tau_a(a, b)


def score_block(A: list, B: list, method: str) -> np.ndarray | None:
    """Scores of every prepared RDM in A against every one in B, ``(len(A), len(B))``, for the
    comparators with a batched form (None for the Kendall ones: they loop)."""
    if method in DOT_COMPARATORS:
        Va = np.stack([s.vec for s in A])
        Vb = Va if B is A else np.stack([s.vec for s in B])
        return np.clip(Va @ Vb.T, -1.0, 1.0)
    if method == "euclidean":
        return cdist(np.stack([s.vec for s in A]), np.stack([s.vec for s in B]))
    if method in BURES_COMPARATORS:
        nuc = blockwise_cross([s.factor for s in A], [s.factor for s in B], nuclear_norms, symmetric=B is A)
        if B is A:
            nuc = np.triu(nuc) + np.triu(nuc, 1).T
        ta = np.array([s.trace for s in A])[:, None]
        tb = np.array([s.trace for s in B])[None, :]
        return _bures_from_nuclear(nuc, ta, tb, method)
    return None


def _bures_from_nuclear(nuc, trace_a, trace_b, method: str):
    if method == "bures":
        return np.clip(nuc / np.sqrt(trace_a * trace_b), 0.0, 1.0)
    return np.maximum(trace_a + trace_b - 2.0 * nuc, 0.0)


def _bures_state(d: np.ndarray) -> _RDMState:
    """Factor A (n, r) of the positive part of G = -1/2 H D H (module docstring), and tr G."""
    D = _sp_squareform(d, checks=False)
    r = D.mean(axis=1)
    G = -0.5 * (D - r[:, None] - r[None, :] + r.mean())
    lam, U = np.linalg.eigh(G)
    tol = max(lam.max(initial=0.0), 0.0) * G.shape[0] * np.finfo(float).eps
    keep = lam > tol
    if not np.any(keep):
        raise ValueError("the RDM has no positive second moment (all patterns identical?); "
                         "comparator 'bures' is undefined")
    factor = np.ascontiguousarray(U[:, keep] * np.sqrt(lam[keep]))
    return _RDMState(np.zeros(0), 0, factor, float(lam[keep].sum()))


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


