"""ReSi's scores (Klabunde et al. 2024) on a matrix of representational distances.

Every function takes *distances* (smaller = more similar; similarities are converted by
:func:`repalign.report_card.cases.to_distance` first) and works on plain numpy arrays:

* :func:`average_precision` -- the area under the precision-recall curve, computed as
  scikit-learn's ``average_precision_score`` does (step interpolation, ties grouped);
* :func:`group_auprc` -- ReSi's group-separation score: for each group, the within-group
  pairs are the positives and the pairs between a member and a non-member the negatives,
  ranked by similarity (-distance); the mean AUPRC over groups;
* :func:`mantel_spearman` -- Spearman correlation between the off-diagonal entries of two
  symmetric (N, N) matrices with a Mantel permutation p-value (models relabelled jointly in
  rows and columns, which respects that pairs sharing a model are dependent);
* :func:`layer_spearman`, :func:`violation_rate` -- ReSi's layer-monotonicity scores on an
  (L, L) matrix of distances between the layers of one network;
* :func:`permutation_pvalue` -- the one-sided p-value (1 + #null >= obs) / (1 + n).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata, spearmanr

from .._validation import check_random_state


def _square(D: np.ndarray, name: str = "D") -> np.ndarray:
    D = np.asarray(D, dtype=np.float64)
    if D.ndim != 2 or D.shape[0] != D.shape[1] or D.shape[0] < 2:
        raise ValueError(f"{name} must be a square (N, N) matrix with N >= 2; got shape {D.shape}")
    if not np.all(np.isfinite(D)):
        raise ValueError(f"{name} must be finite")
    return D


def average_precision(y_true, score) -> float:
    """AUPRC of ``score`` (higher = predicted positive) for binary ``y_true``.

    sum over distinct thresholds t (descending) of (R(t) - R(t_prev)) * P(t), as
    ``sklearn.metrics.average_precision_score``; tied scores enter together.
    """
    y = np.asarray(y_true, dtype=bool).ravel()
    s = np.asarray(score, dtype=np.float64).ravel()
    if y.shape != s.shape or y.size == 0:
        raise ValueError(f"y_true and score must have the same non-zero length; got {y.size} and {s.size}")
    if not y.any():
        raise ValueError("y_true has no positive entry: the AUPRC is undefined")
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s) != 0), s.size - 1]  # last index of each distinct score
    tp = np.cumsum(y)[last]
    precision = tp / (last + 1)
    recall = tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def group_pairs(D: np.ndarray, labels, group) -> tuple[np.ndarray, np.ndarray]:
    """(within-group distances d(a, b), a < b in the group; distances d(a, c), a in, c out)."""
    labels = np.asarray(labels)
    inside = labels == group
    iu = np.triu_indices(int(inside.sum()), 1)
    within = D[np.ix_(inside, inside)][iu]
    across = D[np.ix_(inside, ~inside)].ravel()
    return within, across


def group_auprc(D: np.ndarray, labels) -> float:
    """Mean over groups of the AUPRC separating within-group from cross-group pairs by -distance.

    Chance level is the mean share of positives, k(k-1)/2 / (k(k-1)/2 + k(N-k)) for groups of k.
    """
    D = _square(D)
    labels = np.asarray(labels)
    if labels.shape != (D.shape[0],):
        raise ValueError(f"labels must have one entry per row of D ({D.shape[0]}); got shape {labels.shape}")
    groups = np.unique(labels)
    if len(groups) < 2 or min(int(np.sum(labels == g)) for g in groups) < 2:
        raise ValueError("labels must name at least two groups of at least two members each")
    out = []
    for g in groups:
        within, across = group_pairs(D, labels, g)
        y = np.r_[np.ones(within.size, bool), np.zeros(across.size, bool)]
        out.append(average_precision(y, -np.r_[within, across]))
    return float(np.mean(out))


def chance_auprc(labels) -> float:
    """The expected AUPRC of a random ranking: the mean share of within-group pairs."""
    labels = np.asarray(labels)
    n = labels.size
    shares = []
    for g in np.unique(labels):
        k = int(np.sum(labels == g))
        pos = k * (k - 1) / 2
        shares.append(pos / (pos + k * (n - k)))
    return float(np.mean(shares))


def permutation_pvalue(observed: float, null: np.ndarray, greater: bool = True) -> float:
    """One-sided permutation p-value, (1 + #{null at least as extreme}) / (1 + n)."""
    null = np.asarray(null, dtype=np.float64)
    hits = np.sum(null >= observed) if greater else np.sum(null <= observed)
    return float((1 + hits) / (1 + null.size))


def group_auprc_test(D: np.ndarray, labels, n_perm: int, seed) -> dict:
    """The group AUPRC with a null from randomly relabelled models (group sizes kept)."""
    rng = check_random_state(seed)
    labels = np.asarray(labels)
    obs = group_auprc(D, labels)
    null = np.array([group_auprc(D, rng.permutation(labels)) for _ in range(n_perm)])
    return {"auprc": obs, "chance": chance_auprc(labels), "null_mean": float(null.mean()),
            "null_q95": float(np.quantile(null, 0.95)), "p_value": permutation_pvalue(obs, null), "n_perm": n_perm}


def mantel_spearman(A: np.ndarray, B: np.ndarray, n_perm: int, seed) -> dict:
    """Spearman rho between the upper triangles of symmetric A and B, Mantel p (one-sided, rho > 0)."""
    A, B = _square(A, "A"), _square(B, "B")
    if A.shape != B.shape:
        raise ValueError(f"A and B must have the same shape; got {A.shape} and {B.shape}")
    n = A.shape[0]
    iu = np.triu_indices(n, 1)
    a = rankdata(A[iu])
    if np.ptp(a) == 0 or np.ptp(B[iu]) == 0:
        return {"spearman": 0.0, "p_value": 1.0, "n_perm": n_perm}
    rho = float(spearmanr(A[iu], B[iu])[0])
    rng = check_random_state(seed)
    a = (a - a.mean()) / np.linalg.norm(a - a.mean())
    null = np.empty(n_perm)
    for k in range(n_perm):
        p = rng.permutation(n)
        b = rankdata(B[np.ix_(p, p)][iu])
        b = b - b.mean()
        null[k] = a @ b / np.linalg.norm(b)
    return {"spearman": rho, "p_value": permutation_pvalue(rho, null), "n_perm": n_perm}


def layer_spearman(D: np.ndarray) -> float:
    """ReSi's monotonicity correlation on an (L, L) layer-distance matrix.

    For every source layer, Spearman(distance to the layers above it, layer distance) and
    the same for the layers below; the mean over all defined values (a list of fewer than
    two layers or of constant distances gives none). 1: distance grows with layer distance.
    """
    D = _square(D)
    L = D.shape[0]
    rhos = []
    for i in range(L):
        for js in (range(i + 1, L), range(i - 1, -1, -1)):
            js = list(js)
            d = D[i, js]
            if len(js) >= 2 and np.ptp(d) > 0:
                rhos.append(spearmanr(d, np.abs(np.array(js) - i))[0])
    return float(np.mean(rhos)) if rhos else float("nan")


def violation_rate(D: np.ndarray) -> float:
    """Share of ordered layer triples (i, j, k), j strictly between i and k, with d(i, j) > d(i, k).

    ReSi's conformity test: a layer should be closer to a nearer layer than to a farther one
    on the same side. 0 for a monotone measure, about 0.5 for a random one. Ties do not count
    (as in ReSi): a blind measure scores 0 here, and only the shuffled-layer null of
    :func:`layer_order_test` (also 0, so p = 1) exposes it.
    """
    D = _square(D)
    L = D.shape[0]
    bad = total = 0
    for i in range(L):
        for side in (range(i + 1, L), range(i - 1, -1, -1)):
            side = list(side)
            for a in range(len(side)):
                for b in range(a + 1, len(side)):
                    total += 1
                    bad += int(D[i, side[a]] > D[i, side[b]])
    return bad / total if total else float("nan")


def layer_order_test(mats: list[np.ndarray], n_perm: int, seed) -> dict:
    """Mean violation rate and Spearman over networks, with a null from shuffled layer orders."""
    rng = check_random_state(seed)
    mats = [_square(M) for M in mats]
    vr = float(np.mean([violation_rate(M) for M in mats]))
    sps = np.array([layer_spearman(M) for M in mats])
    sp = float(np.mean(sps[np.isfinite(sps)])) if np.isfinite(sps).any() else float("nan")
    null = np.empty(n_perm)
    for k in range(n_perm):
        perms = [rng.permutation(M.shape[0]) for M in mats]
        null[k] = np.mean([violation_rate(M[np.ix_(p, p)]) for M, p in zip(mats, perms)])
    return {"violation_rate": vr, "spearman": sp, "null_mean": float(null.mean()),
            "p_value": permutation_pvalue(vr, null, greater=False), "n_perm": n_perm}
