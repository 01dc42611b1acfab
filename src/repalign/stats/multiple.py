"""Group comparisons of one score: Student t-tests, a permutation test over group labels,
Benjamini-Hochberg correction and bootstrap intervals on group means.

* :func:`benjamini_hochberg` — BH-adjusted p-values (equal to
  ``scipy.stats.false_discovery_control(p, method="bh")``).
* :func:`compare_groups` — every pair of groups: Student t (``scipy.stats.ttest_ind``), a
  permutation p-value of the difference of means (group labels shuffled within the pair),
  both BH-adjusted over the pairs.
* :func:`group_summary` — mean, sem, n and a bootstrap interval (``bootstrap_statistic``) per group.
* :func:`permutation_anova` — one omnibus permutation test of the F statistic over all groups.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any, Mapping, Sequence

import numpy as np

from .bootstrap import bootstrap_statistic
from .nulls import resampled_null
from .result import p_value


def benjamini_hochberg(p_values: Sequence[float]) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values, ``min_{j >= i} p_(j) m / j`` capped at 1, in the
    input order. NaN entries stay NaN and do not count in ``m``."""
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"p_values must be 1-D; got shape {p.shape}")
    ok = np.isfinite(p)
    if np.any((p[ok] < 0) | (p[ok] > 1)):
        raise ValueError("p_values must lie in [0, 1]")
    out = np.full(p.shape, np.nan)
    q = p[ok]
    m = q.size
    if m == 0:
        return out
    order = np.argsort(q)
    scaled = q[order] * m / np.arange(1, m + 1)
    adj = np.minimum.accumulate(scaled[::-1])[::-1]
    res = np.empty(m)
    res[order] = np.minimum(adj, 1.0)
    out[ok] = res
    return out


def _check_groups(values: Mapping[str, Any]) -> dict[str, np.ndarray]:
    if not isinstance(values, Mapping) or len(values) < 2:
        raise ValueError("values must map at least two group names to 1-D arrays of scores")
    out = {}
    for k, v in values.items():
        a = np.asarray(v, dtype=np.float64).ravel()
        a = a[np.isfinite(a)]
        out[str(k)] = a
    return out


class _LabelShuffle:
    """Difference of means after shuffling the labels of the pooled values (picklable)."""

    def __init__(self, a: np.ndarray, b: np.ndarray) -> None:
        self.pooled, self.n_a = np.concatenate([a, b]), a.size

    def __call__(self, rng: np.random.Generator) -> float:
        x = rng.permutation(self.pooled)
        return float(x[: self.n_a].mean() - x[self.n_a:].mean())


def compare_groups(values: Mapping[str, Any], pairs: Sequence[tuple[str, str]] | None = None, *,
                   n_perm: int = 2000, seed: Any = 0) -> list[dict]:
    """Each pair ``(a, b)`` (default: every unordered pair in the mapping's order): ``t``, ``p``
    (Student two-sample t-test), ``p_adj`` (BH over the pairs), ``diff`` (mean a - mean b),
    ``p_perm`` (two-sided permutation test over group labels, ``n_perm`` shuffles) and
    ``p_perm_adj``. Pairs where a group has fewer than 2 values get NaN."""
    from scipy import stats  # lazy: 2.8 s that `import repalign` need not pay

    groups = _check_groups(values)
    pairs = list(combinations(groups, 2)) if pairs is None else [tuple(p) for p in pairs]
    rows = []
    for i, (a, b) in enumerate(pairs):
        if a not in groups or b not in groups:
            raise ValueError(f"pairs: unknown group in {(a, b)}; groups are {list(groups)}")
        x, y = groups[a], groups[b]
        row = {"a": a, "b": b, "n_a": int(x.size), "n_b": int(y.size), "t": float("nan"), "p": float("nan"),
               "diff": float("nan"), "p_perm": float("nan")}
        if x.size >= 2 and y.size >= 2:
            t, p = stats.ttest_ind(x, y)
            diff = float(x.mean() - y.mean())
            null = resampled_null(_LabelShuffle(x, y), n=n_perm, seed=np.random.SeedSequence([int(seed), i])).null
            row.update(t=float(t), p=float(p), diff=diff, p_perm=p_value(diff, null, "two-sided"))
        rows.append(row)
    for key in ("p", "p_perm"):
        adj = benjamini_hochberg([r[key] for r in rows])
        for r, v in zip(rows, adj):
            r[key + "_adj"] = float(v)
    return rows


def group_summary(values: Mapping[str, Any], *, n_boot: int = 2000, ci: float = 0.95, seed: Any = 0) -> dict:
    """Per group: ``mean``, ``sem`` (std / sqrt(n)), ``n`` and a percentile bootstrap interval
    ``ci_low``/``ci_high`` of the mean (None with fewer than 2 values)."""
    out = {}
    for i, (k, v) in enumerate(_check_groups(values).items()):
        row = {"mean": float(v.mean()) if v.size else float("nan"),
               "sem": float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else float("nan"),
               "n": int(v.size), "ci_low": None, "ci_high": None}
        if v.size >= 2 and np.ptp(v) > 0:
            res = bootstrap_statistic(v, np.mean, n=n_boot, ci=ci, method="percentile", seed=np.random.SeedSequence([int(seed), i]))
            row["ci_low"], row["ci_high"] = (float(x) for x in res.interval)
        out[k] = row
    return out


def _f_stat(groups: list[np.ndarray]) -> float:
    allv = np.concatenate(groups)
    grand = allv.mean()
    between = sum(g.size * (g.mean() - grand) ** 2 for g in groups) / (len(groups) - 1)
    within = sum(((g - g.mean()) ** 2).sum() for g in groups) / (allv.size - len(groups))
    return float(between / within) if within > 0 else float("inf")


class _FShuffle:
    def __init__(self, groups: list[np.ndarray]) -> None:
        self.pooled = np.concatenate(groups)
        self.cuts = np.cumsum([g.size for g in groups])[:-1]

    def __call__(self, rng: np.random.Generator) -> float:
        return _f_stat(np.split(rng.permutation(self.pooled), self.cuts))


def permutation_anova(values: Mapping[str, Any], *, n_perm: int = 2000, seed: Any = 0) -> dict:
    """Omnibus test that all group means are equal: the one-way F statistic against
    ``n_perm`` shuffles of the group labels. Returns ``F``, ``p_perm``, ``n_perm``, ``groups``."""
    groups = {k: v for k, v in _check_groups(values).items() if v.size >= 1}
    arrs = list(groups.values())
    if len(arrs) < 2 or sum(a.size for a in arrs) <= len(arrs):
        return {"F": float("nan"), "p_perm": float("nan"), "n_perm": 0, "groups": list(groups)}
    F = _f_stat(arrs)
    null = resampled_null(_FShuffle(arrs), n=n_perm, seed=seed).null
    return {"F": F, "p_perm": p_value(F, null, "greater"), "n_perm": int(n_perm), "groups": list(groups)}
