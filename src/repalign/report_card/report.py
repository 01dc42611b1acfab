"""The metric report card: every case on every measure, as a table, JSON, CSV and figures."""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..registry import names as registered_names
from .._serialize import to_jsonable, write_json
from .cases import CASES, DEFAULT_CASES, CaseResult, run_case

DEFAULT_MEASURES = ("dsa", "procrustes", "cka", "rsa")


@dataclass
class ReportCard:
    """Results of :func:`run_report_card`: ``results[i]`` is one (measure, case) cell."""

    measures: list[str]
    cases: list[str]
    quick: bool
    seed: int
    results: list[CaseResult] = field(default_factory=list)
    skipped: dict = field(default_factory=dict)  # measure -> why it was not run

    def cell(self, measure: str, case: str) -> CaseResult | None:
        return next((r for r in self.results if r.measure == measure and r.case == case), None)

    def table(self) -> list[list[str]]:
        """Rows of strings: a header, then one row per measure (cells 'score STATUS')."""
        rows = [["measure", *self.cases]]
        for m in self.measures:
            rows.append([m, *[format_cell(self.cell(m, c)) for c in self.cases]])
        return rows

    def format_table(self) -> str:
        rows = self.table()
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return to_jsonable({"measures": self.measures, "cases": self.cases, "quick": self.quick, "seed": self.seed,
                          "skipped": self.skipped, "results": [r.to_dict() for r in self.results]})

    def write(self, out: str | Path, figures: bool = True) -> list[Path]:
        """Write report_card.json, report_card.csv and (optionally) one PNG per case."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        paths = [out / "report_card.json", out / "report_card.csv"]
        write_json(paths[0], self.to_dict(), indent=1)
        with open(paths[1], "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["measure", "case", "score", "status", "criterion", "params", "seconds"])
            for r in self.results:
                w.writerow([r.measure, r.case, "" if r.score is None else f"{r.score:.6g}", r.status, r.criterion,
                            json.dumps(to_jsonable(r.detail.get("params", {}))), f"{r.detail.get('seconds', 0):.2f}"])
        if figures:
            paths += [plot_case(self, c, out / f"{c}.png") for c in self.cases]
        return paths


def format_cell(r: CaseResult | None) -> str:
    if r is None:
        return "-"
    if r.status in ("n.a.", "ERROR"):
        return r.status
    if r.case == "noise_robustness":  # score: the noise SD at which separation is lost
        lost = f">{r.detail.get('max_tested', '?'):g}" if r.score is None else f"{r.score:g}"
        return f"lost@{lost} {r.status}"
    return f"{r.score:.3g} {r.status}"


def run_report_card(
    measures: Sequence[str] | None = None,
    cases: Sequence[str] | None = None,
    quick: bool = False,
    seed: int = 0,
    params: dict | None = None,
    progress: Callable[[str], None] | None = None,
) -> ReportCard:
    """Run ``cases`` (default: all) on ``measures`` (default: dsa, procrustes, cka, rsa).

    Parameters
    ----------
    measures : sequence of str
        Registered measure names; unregistered ones are skipped (listed in ``skipped``).
    cases : sequence of str
        Names from :data:`repalign.report_card.cases.CASES` (default: ``DEFAULT_CASES``, all but ReSi's).
    quick : bool
        Smaller systems and fewer realisations (the whole card in well under 2 minutes).
    seed : int
        Seed of every random draw of every case.
    params : dict, optional
        ``{measure: {case: {param: value}}}`` overriding the defaults of
        :data:`repalign.report_card.cases.DEFAULT_PARAMS`.
    progress : callable, optional
        Called with a one-line message after each cell.
    """
    measures, cases, skipped = _check_names(measures, cases)
    card = ReportCard(measures, cases, quick, seed, skipped=skipped)
    for m in card.measures:
        for c in cases:
            t0 = time.perf_counter()
            try:
                r = run_case(c, m, (params or {}).get(m, {}).get(c), quick, seed)
            except (ValueError, np.linalg.LinAlgError, FloatingPointError) as exc:
                r = CaseResult(c, m, None, None, "", {"error": f"{type(exc).__name__}: {exc}"})
            r.detail["seconds"] = time.perf_counter() - t0
            card.results.append(r)
            if progress:
                progress(f"{m:>14} {c:<22} {format_cell(r):<14} {r.detail['seconds']:6.1f} s")
    return card


def _check_names(measures: Sequence[str] | None, cases: Sequence[str] | None) -> tuple[list, list, dict]:
    """(measures, cases, skipped): unknown names raise ValueError, except unregistered
    default measures, which are skipped (listed with the reason)."""
    cases = list(cases) if cases is not None else list(DEFAULT_CASES)
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        raise ValueError(f"unknown case(s) {unknown}; valid: {', '.join(CASES)}")
    wanted = list(measures) if measures is not None else list(DEFAULT_MEASURES)
    known = set(registered_names())
    skipped = {m: "not a registered measure" for m in wanted if m not in known}
    if measures is not None and skipped:
        raise ValueError(f"unknown measure(s) {sorted(skipped)}; registered: {', '.join(sorted(known))}")
    return [m for m in wanted if m in known], cases, skipped


# ---------------------------------------------------------------------------- figures
def plot_case(card: ReportCard, case: str, path: str | Path) -> Path:
    """One figure for ``case``: a panel per measure (distance matrices or curves)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = [r for m in card.measures if (r := card.cell(m, case)) is not None]
    n = max(len(results), 1)
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.4), squeeze=False)
    for ax, r in zip(axes[0], results):
        ax.set_title(f"{r.measure}: {format_cell(r)}", fontsize=9)
        _PLOTTERS.get(r.figure_data.get("kind"), _plot_empty)(ax, r)
    fig.suptitle(case.replace("_", " "), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return Path(path)


def _plot_empty(ax, r: CaseResult) -> None:
    msg = r.detail.get("reason") or r.detail.get("error") or "no data"
    ax.text(0.5, 0.5, msg, ha="center", va="center", wrap=True, fontsize=8, transform=ax.transAxes)
    ax.set_axis_off()


def _plot_matrix(ax, r: CaseResult) -> None:
    D = np.asarray(r.figure_data["matrix"])
    im = ax.imshow(D, cmap="viridis")
    labels = r.figure_data["labels"]
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=6)
    ax.set_yticks(range(len(labels)), labels, fontsize=6)
    ax.figure.colorbar(im, ax=ax, fraction=0.046, label="distance")


def _plot_deformation(ax, r: CaseResult) -> None:
    fd = r.figure_data
    ax.plot(fd["lam"], fd["d_interp"], "o-", label="ring -> arc(lam)")
    for i, (name, d) in enumerate(fd["deformations"].items()):
        ax.plot([0.0], [d], "x", label=name, color=f"C{i + 1}")
    ax.axhline(fd["threshold"], ls="--", color="gray", label="threshold")
    ax.set_xlabel("lam (0 ring, 1 line)")
    ax.set_ylabel("distance to ring")
    ax.legend(fontsize=6)


def _plot_noise(ax, r: CaseResult) -> None:
    fd = r.figure_data
    ax.plot(fd["levels"], fd["min_between"], "o-", label="min between")
    ax.plot(fd["levels"], fd["max_within"], "s--", label="max within")
    ax.set_xlabel("observation noise SD (relative)")
    ax.set_ylabel("distance")
    ax.legend(fontsize=7)


def _plot_scatter(ax, r: CaseResult) -> None:
    fd = r.figure_data
    jitter = np.linspace(-0.08, 0.08, len(fd["x"])) if fd.get("jitter", True) else 0.0  # off: continuous x
    ax.plot(np.asarray(fd["x"]) + jitter, fd["y"], "o", alpha=0.7)
    ax.set_xlabel(fd.get("xlabel", "shared motifs"))
    ax.set_ylabel("distance")


_PLOTTERS = {"matrix": _plot_matrix, "deformation": _plot_deformation, "noise": _plot_noise, "scatter": _plot_scatter}
