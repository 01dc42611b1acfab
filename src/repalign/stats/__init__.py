"""Calibration: is a similarity score real? Null distributions, p-values and intervals.

* :func:`calibrate` — score two systems and test the score against a permutation null
  (optionally with a bootstrap interval); returns a :class:`CalibrationResult`.
* :func:`permutation_null` — shuffle the sample (or trial) correspondence, within groups.
* :func:`resampled_null` — recompute a statistic with fresh randomness, ``draw(rng)``.
* :func:`bootstrap_ci`, :func:`bootstrap_statistic` — percentile, basic and BCa intervals.
* :func:`paired_bootstrap` — is A closer to B than to C, on the same resamples?
* :func:`benjamini_hochberg`, :func:`compare_groups`, :func:`group_summary`,
  :func:`permutation_anova` — group comparisons of a score (t-tests, label permutations, BH).

Conventions (p-value with the +1 correction, two-sided definition, verdict thresholds) are
in :mod:`repalign.stats.result` and ``docs/calibration.md``.
"""

from .bootstrap import (
    BootstrapResult,
    PairedBootstrapResult,
    basic_interval,
    bca_interval,
    bootstrap_ci,
    bootstrap_statistic,
    paired_bootstrap,
    percentile_interval,
)
from .calibrate import calibrate
from .multiple import benjamini_hochberg, compare_groups, group_summary, permutation_anova
from .nulls import permutation_null, resampled_null
from .result import THRESHOLDS_TEXT, CalibrationResult, p_value, verdict, z_score

__all__ = [
    "calibrate",
    "benjamini_hochberg",
    "compare_groups",
    "group_summary",
    "permutation_anova",
    "permutation_null",
    "resampled_null",
    "bootstrap_ci",
    "bootstrap_statistic",
    "paired_bootstrap",
    "percentile_interval",
    "bca_interval",
    "basic_interval",
    "CalibrationResult",
    "BootstrapResult",
    "PairedBootstrapResult",
    "p_value",
    "z_score",
    "verdict",
    "THRESHOLDS_TEXT",
]
