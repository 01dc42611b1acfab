"""The metric report card: test cases with known ground truth (issue 5).

``run_report_card(["dsa", "cka"], quick=True)`` runs every case of :data:`CASES` on every
measure; ``repalign bench --out DIR`` does the same from the command line and writes the
table (JSON, CSV) and one figure per case.  See docs/report_card.md.
"""

from .cases import CASES, DEFAULT_PARAMS, NOT_APPLICABLE, CaseResult, run_case, to_distance
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
    "to_distance",
    "format_cell",
    "plot_case",
]
