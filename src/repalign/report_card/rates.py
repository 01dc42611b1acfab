"""Pass rates over seeds: seed lists, the binomial interval, score summaries and the verdict.

A multi-seed report-card cell is ``k`` passes in ``n`` seeds (seeds where the case gave a
verdict: "not applicable" and errors are counted apart).  Its interval is the Wilson score
interval (default) or the exact Clopper-Pearson interval for a binomial proportion, the same
numbers as ``scipy.stats.binomtest(k, n).proportion_ci(method="wilson" | "exact")``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.stats import beta as beta_dist
from scipy.stats import norm

from .._validation import check_choice, check_scalar

INTERVAL_METHODS = ("wilson", "exact")
VERDICT_RULE = ("PASS if the interval's lower bound > {t:g}, FAIL if its upper bound < {t:g}, "
                "MIXED otherwise (the pass rate is not distinguishable from {t:g} with these seeds)")


def parse_seeds(text: str | Sequence[int], name: str = "seeds") -> list[int]:
    """``"0-19"``, ``"0,3,5-7"`` or a sequence of ints -> sorted list of distinct seeds >= 0."""
    if isinstance(text, str):
        seeds: list[int] = []
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            lo, sep, hi = part.partition("-")
            try:
                a, b = int(lo), int(hi) if sep else int(lo)
            except ValueError:
                raise ValueError(f"{name} must look like '0-19' or '0,3,5-7'; got {text!r}") from None
            if b < a:
                raise ValueError(f"{name}: range {part!r} is empty (end before start)")
            seeds.extend(range(a, b + 1))
    else:
        seeds = list(text)
    if not seeds:
        raise ValueError(f"{name} must name at least one seed; got {text!r}")
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0:
            raise ValueError(f"{name} must be integers >= 0; got {s!r}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"{name} must be distinct; got {sorted(seeds)}")
    return sorted(int(s) for s in seeds)


def binomial_interval(k: int, n: int, confidence: float = 0.95, method: str = "wilson") -> tuple[float, float]:
    """Confidence interval for a binomial proportion, ``k`` successes in ``n`` trials.

    ``method="wilson"``: the Wilson score interval (no continuity correction);
    ``method="exact"``: Clopper-Pearson, from the beta quantiles.  Returns (low, high) in
    [0, 1]; ``(0, 1)`` when ``n == 0``.
    """
    check_choice(method, "method", INTERVAL_METHODS)
    confidence = check_scalar(confidence, "confidence", float, min_val=0.0, max_val=1.0, include_boundaries="neither")
    k, n = check_scalar(k, "k", int, min_val=0), check_scalar(n, "n", int, min_val=0)
    if k > n:
        raise ValueError(f"need 0 <= k <= n; got k={k!r}, n={n!r}")
    if n == 0:
        return 0.0, 1.0
    alpha = 1.0 - confidence
    if method == "exact":
        lo = 0.0 if k == 0 else float(beta_dist.ppf(alpha / 2, k, n - k + 1))
        hi = 1.0 if k == n else float(beta_dist.ppf(1 - alpha / 2, k + 1, n - k))
        return lo, hi
    z = float(norm.ppf(1 - alpha / 2))
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def verdict(interval: tuple[float, float], n: int, threshold: float = 0.5) -> str:
    """PASS / FAIL / MIXED from the interval (see :data:`VERDICT_RULE`); "n.a." when n == 0."""
    check_scalar(threshold, "threshold", float, min_val=0.0, max_val=1.0)
    if n == 0:
        return "n.a."
    lo, hi = interval
    return "PASS" if lo > threshold else ("FAIL" if hi < threshold else "MIXED")


def quantiles(scores: Sequence[float | None], qs: Sequence[float] = (0.25, 0.5, 0.75),
              none_as: float = np.inf) -> list[float | None]:
    """Quantiles (linear interpolation) of the scores; ``None`` scores count as ``none_as``.

    A case whose score can be censored (e.g. ``noise_robustness``: None = separation never
    lost, up to the largest noise tested) passes ``none_as=inf``; a quantile that falls on
    the censored values is returned as None.  Empty input gives Nones.
    """
    x = np.sort(np.array([none_as if s is None else float(s) for s in scores], dtype=np.float64))
    x = x[~np.isnan(x)]
    if x.size == 0:
        return [None] * len(qs)
    out = []
    for q in qs:
        pos = q * (x.size - 1)
        lo, hi = x[int(np.floor(pos))], x[int(np.ceil(pos))]
        v = lo if lo == hi else lo + (hi - lo) * (pos - np.floor(pos))
        out.append(None if not np.isfinite(v) else float(v))
    return out


def summarise(statuses: Sequence[str], scores: Sequence[float | None], confidence: float = 0.95,
              method: str = "wilson", threshold: float = 0.5) -> dict:
    """One cell's summary from its per-seed statuses (PASS/FAIL/n.a./ERROR) and scores."""
    k = sum(s == "PASS" for s in statuses)
    n = k + sum(s == "FAIL" for s in statuses)
    lo, hi = binomial_interval(k, n, confidence, method)
    judged = [sc for st, sc in zip(statuses, scores) if st in ("PASS", "FAIL")]
    q1, med, q3 = quantiles(judged)
    return {"n_pass": k, "n_seeds": n, "n_not_applicable": sum(s == "n.a." for s in statuses),
            "n_error": sum(s == "ERROR" for s in statuses), "pass_rate": k / n if n else None,
            "interval": [lo, hi] if n else None, "verdict": verdict((lo, hi), n, threshold),
            "score_median": med, "score_iqr": [q1, q3]}


def format_rate(summary: dict) -> str:
    """``17/20 PASS [0.64, 0.95]``; ``n.a.`` or ``ERROR`` when no seed gave a verdict."""
    if summary["n_seeds"] == 0:
        return "ERROR" if summary["n_error"] else "n.a."
    lo, hi = summary["interval"]
    cell = f"{summary['n_pass']}/{summary['n_seeds']} {summary['verdict']} [{lo:.2f}, {hi:.2f}]"
    return cell + (f" +{summary['n_error']} err" if summary["n_error"] else "")
