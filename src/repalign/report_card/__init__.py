"""The metric report card: test cases with known ground truth (issue 5).

``run_report_card(["dsa", "cka"], quick=True)`` runs every case of :data:`CASES` on every
measure; ``repalign bench --out DIR`` does the same from the command line and writes the
table (JSON, CSV) and one figure per case.  ``run_multiseed_card(seeds=range(20))`` (``repalign
bench --seeds 0-19``) gives pass rates over seeds with binomial intervals, parameters chosen on
disjoint tuning seeds and sensitivity heatmaps.  See docs/report_card.md.
"""

from .cases import CASES, DEFAULT_PARAMS, NOT_APPLICABLE, CaseResult, run_case, to_distance
from .multiseed import MultiSeedCard, run_multiseed_card
from .rates import binomial_interval, parse_seeds
from .report import DEFAULT_MEASURES, ReportCard, format_cell, plot_case, run_report_card

__all__ = [
    "CASES",
    "DEFAULT_PARAMS",
    "DEFAULT_MEASURES",
    "NOT_APPLICABLE",
    "CaseResult",
    "ReportCard",
    "run_case",
    "run_report_card",
    "run_multiseed_card",
    "MultiSeedCard",
    "binomial_interval",
    "parse_seeds",
    "to_distance",
    "format_cell",
    "plot_case",
]
