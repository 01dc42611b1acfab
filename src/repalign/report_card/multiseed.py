"""The report card over many seeds: pass rates with binomial intervals, held-out tuning, sensitivity.

``run_multiseed_card(seeds=range(20), tuning_seeds=range(1000, 1005))`` runs, for every
(measure, case):

1. **tuning** (measures with a grid in :data:`repalign.report_card.tuning.TUNING_GRIDS`): every grid
   point on the tuning seeds; the parameters are chosen by :data:`repalign.report_card.tuning.RULE`;
2. **evaluation**: the chosen parameters on the evaluation seeds (disjoint from the tuning
   seeds), summarised as ``k/n`` passes, a binomial interval (:mod:`repalign.report_card.rates`),
   a verdict and the score's median and interquartile range;
3. **sensitivity**: every grid point on the sensitivity seeds (default: the evaluation seeds;
   reported only, never used to choose), drawn as a heatmap per case.

Every (measure, case, params, seed) cell is stored under ``out/cells`` as it finishes and reused
when the run is resumed (:mod:`repalign.report_card.cells`).
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from .._serialize import to_jsonable, versions, write_json
from .cells import Cell, run_cells
from .rates import VERDICT_RULE, format_rate, parse_seeds, summarise
from .report import _check_names
from .tuning import RULE, cell_params, choose, grid_for, grid_points, rate_table

DEFAULT_TUNING_SEEDS = tuple(range(1000, 1005))


@dataclass
class MultiSeedCard:
    """Result of :func:`run_multiseed_card` (see the module docstring); ``cells[(m, c)]`` is a dict."""

    measures: list[str]
    cases: list[str]
    quick: bool
    evaluation_seeds: list[int]
    tuning_seeds: list[int]
    sensitivity_seeds: list[int]
    interval: dict
    verdict_rule: str
    cells: dict = field(default_factory=dict)
    tuning: dict = field(default_factory=dict)  # measure -> case -> {grid, points, chosen, rule}
    sensitivity: dict = field(default_factory=dict)  # measure -> case -> {grid, k, n, chosen}
    skipped: dict = field(default_factory=dict)
    run: dict = field(default_factory=dict)

    def table(self) -> list[list[str]]:
        """A header, then one row per measure; cells like ``17/20 PASS [0.64, 0.95]``."""
        rows = [["measure", *self.cases]]
        for m in self.measures:
            rows.append([m, *[format_rate(self.cells[(m, c)]) for c in self.cases]])
        return rows

    def score_table(self) -> list[list[str]]:
        """Median [Q1, Q3] of the score over the seeds with a verdict."""
        def fmt(s: dict) -> str:
            if s["n_seeds"] == 0:
                return "n.a."
            med, (q1, q3) = s["score_median"], s["score_iqr"]
            return f"{_g(med)} [{_g(q1)}, {_g(q3)}]"

        return [["measure", *self.cases]] + [[m, *[fmt(self.cells[(m, c)]) for c in self.cases]]
                                             for m in self.measures]

    def format_table(self, scores: bool = False) -> str:
        rows = self.score_table() if scores else self.table()
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def to_dict(self) -> dict:
        chosen = {m: {c: {"params": self.cells[(m, c)]["params"], "rule": self.cells[(m, c)]["params_rule"]}
                      for c in self.cases} for m in self.measures}
        return to_jsonable({
            "measures": self.measures, "cases": self.cases, "quick": self.quick,
            "evaluation_seeds": self.evaluation_seeds, "tuning_seeds": self.tuning_seeds,
            "sensitivity_seeds": self.sensitivity_seeds, "interval": self.interval,
            "verdict_rule": self.verdict_rule, "tuning_rule": RULE, "chosen": chosen,
            "cells": [{"measure": m, "case": c, **s} for (m, c), s in self.cells.items()],
            "tuning": self.tuning, "sensitivity": self.sensitivity, "skipped": self.skipped, "run": self.run,
            "versions": versions()})

    def write(self, out: str | Path, figures: bool = True) -> list[Path]:
        """report_card.json, report_card.csv, report_card.md and a sensitivity heatmap per case."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        paths = [out / "report_card.json", out / "report_card.csv", out / "report_card.md"]
        write_json(paths[0], self.to_dict())
        with open(paths[1], "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["measure", "case", "n_pass", "n_seeds", "pass_rate", "ci_low", "ci_high", "verdict",
                        "score_median", "score_q1", "score_q3", "n_not_applicable", "n_error", "params"])
            for (m, c), s in self.cells.items():
                lo, hi = s["interval"] or (None, None)
                w.writerow([m, c, s["n_pass"], s["n_seeds"], _g(s["pass_rate"]), _g(lo), _g(hi), s["verdict"],
                            _g(s["score_median"]), _g(s["score_iqr"][0]), _g(s["score_iqr"][1]),
                            s["n_not_applicable"], s["n_error"], s["params"]])
        paths[2].write_text(self.markdown())
        if figures:
            from .sensitivity_plot import plot_sensitivity

            paths += [p for c in self.cases if (p := plot_sensitivity(self, c, out / f"sensitivity_{c}.png"))]
        return paths

    def markdown(self) -> str:
        ev, tu = self.evaluation_seeds, self.tuning_seeds
        head = (f"Pass rates over evaluation seeds {_span(ev)} ({len(ev)} seeds, quick={self.quick}); "
                f"{self.interval['confidence']:.0%} {self.interval['method']} intervals; parameters chosen on "
                f"tuning seeds {_span(tu) if tu else '(none)'}.\n\n")
        return head + _md(self.table()) + "\n\nScore median [Q1, Q3]:\n\n" + _md(self.score_table()) + "\n"


def _g(x) -> str:
    return "" if x is None else f"{x:.3g}"


def _span(seeds: Sequence[int]) -> str:
    s = list(seeds)
    return f"{s[0]}-{s[-1]}" if s and s == list(range(s[0], s[-1] + 1)) and len(s) > 1 else ",".join(map(str, s))


def _md(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows[1:]])


def run_multiseed_card(
    measures: Sequence[str] | None = None,
    cases: Sequence[str] | None = None,
    seeds: Sequence[int] | str = tuple(range(20)),
    quick: bool = False,
    tuning_seeds: Sequence[int] | str | None = DEFAULT_TUNING_SEEDS,
    sensitivity_seeds: Sequence[int] | str | None = None,
    params: dict | None = None,
    out: str | Path | None = None,
    jobs: int = 1,
    scheduler: str | None = None,
    confidence: float = 0.95,
    interval: str = "wilson",
    threshold: float = 0.5,
    progress: Callable[[str], None] | None = None,
) -> MultiSeedCard:
    """Run the report card over ``seeds`` with held-out tuning and a sensitivity panel.

    Parameters
    ----------
    measures, cases : as :func:`repalign.report_card.run_report_card` (defaults: dsa, procrustes,
        cka, rsa; every registered case).
    seeds : ints or ``"0-19"``
        Evaluation seeds: each cell's pass rate is over these.
    quick : bool
        The cases' quick sizes.
    tuning_seeds : ints, ``"1000-1004"`` or None
        Seeds on which tunable parameters are chosen; must not share a seed with ``seeds``.
        None (or empty): no tuning, the defaults of ``DEFAULT_PARAMS`` are used.
    sensitivity_seeds : ints, ``"0-9"`` or None
        Seeds of the sensitivity panel (pass rate at every grid point); None: the evaluation
        seeds; ``()``: no panel.
    params : dict, optional
        ``{measure: {case: {param: value}}}``: fixed by the caller, not tuned.
    out : folder, optional
        Where finished cells are stored (``out/cells``) and reused on a resumed run.
    jobs, scheduler : local worker processes, or a Dask scheduler address.
    confidence, interval, threshold : the binomial interval (``"wilson"`` or ``"exact"``) and
        the verdict's threshold on the pass rate (:data:`repalign.report_card.rates.VERDICT_RULE`).
    progress : callable, optional
        Called with one line per finished cell.
    """
    t0 = time.perf_counter()
    seeds = parse_seeds(seeds, "seeds")
    tuning = parse_seeds(tuning_seeds, "tuning_seeds") if tuning_seeds not in (None, (), [], "") else []
    overlap = sorted(set(tuning) & set(seeds))
    if overlap:
        raise ValueError(f"tuning_seeds must be disjoint from the evaluation seeds; both contain {overlap}")
    sens = seeds if sensitivity_seeds is None else (
        parse_seeds(sensitivity_seeds, "sensitivity_seeds") if sensitivity_seeds not in ((), [], "") else [])
    measures, cases, skipped = _check_names(measures, cases)
    summary = {"confidence": confidence, "method": interval, "threshold": threshold}
    summarise([], [], confidence, interval, threshold)  # validates the three before any work
    card = MultiSeedCard(measures, cases, quick, seeds, tuning, sens,
                         {"method": interval, "confidence": confidence}, VERDICT_RULE.format(t=threshold),
                         skipped=skipped)
    fixed = {(m, c): cell_params(m, c, None) | (params or {}).get(m, {}).get(c, {})
             for m in measures for c in cases}
    given = {(m, c) for m in measures for c in cases if (params or {}).get(m, {}).get(c)}
    tuned = {(m, c): grid_for(m, c) for m in measures for c in cases
             if tuning and grid_for(m, c) and (m, c) not in given}
    runner = dict(root=out, jobs=jobs, scheduler=scheduler, progress=progress)

    def grid_cells(m: str, c: str, seed_list: list[int]) -> dict[tuple, list[Cell]]:
        return {tuple(p.values()): [Cell(m, c, cell_params(m, c, p), quick, s) for s in seed_list]
                for p in grid_points(tuned[(m, c)] if (m, c) in tuned else grid_for(m, c))}

    # 1. tuning
    tune_cells = {mc: grid_cells(*mc, tuning) for mc in tuned}
    res = run_cells([x for g in tune_cells.values() for cs in g.values() for x in cs], label="tune ", **runner)
    card.run["tuning"] = {"computed": res.computed, "reused": res.reused, "seconds": res.seconds}
    for (m, c), grid in tuned.items():
        counts = {v: _count([res.get(x) for x in cs]) for v, cs in tune_cells[(m, c)].items()}
        pick = choose(grid, counts)
        card.tuning.setdefault(m, {})[c] = _grid_record(grid, counts, pick, tuning)
        if pick is not None:
            fixed[(m, c)] = cell_params(m, c, pick)
    # 2. evaluation
    eval_cells = {mc: [Cell(*mc, fixed[mc], quick, s) for s in seeds] for mc in fixed}
    res = run_cells([x for cs in eval_cells.values() for x in cs], label="eval ", **runner)
    card.run["evaluation"] = {"computed": res.computed, "reused": res.reused, "seconds": res.seconds}
    for mc, cs in eval_cells.items():
        rows = [res.get(x) for x in cs]
        rec = card.tuning.get(mc[0], {}).get(mc[1])
        rule = ("given by the caller" if mc in given else "held-out tuning" if rec and rec["chosen"] is not None
                else "defaults (DEFAULT_PARAMS), not tuned")
        card.cells[mc] = {"params": fixed[mc], "params_rule": rule, "seeds": seeds,
                          "statuses": [r["status"] for r in rows], "scores": [r["score"] for r in rows],
                          "seconds": sum(r["seconds"] for r in rows),
                          **summarise([r["status"] for r in rows], [r["score"] for r in rows], **summary)}
    # 3. sensitivity
    panel = {(m, c): grid_cells(m, c, sens) for m in measures for c in cases
             if sens and grid_for(m, c) and (m, c) not in given}
    # seed by seed (every grid point of seed 0 first ...): a run stopped early leaves whole seeds to reuse
    todo = sorted((x for g in panel.values() for cs in g.values() for x in cs), key=lambda x: x.seed)
    res = run_cells(todo, label="sens ", **runner)
    card.run["sensitivity"] = {"computed": res.computed, "reused": res.reused, "seconds": res.seconds}
    for (m, c), g in panel.items():
        counts = {v: _count([res.get(x) for x in cs]) for v, cs in g.items()}
        chosen = {a: fixed[(m, c)].get(a) for a in grid_for(m, c)}
        card.sensitivity.setdefault(m, {})[c] = _grid_record(grid_for(m, c), counts, chosen, sens)
    card.run["seconds"] = time.perf_counter() - t0
    card.run["jobs"] = jobs
    return card


def _count(rows: list[dict]) -> tuple[int, int]:
    k = sum(r["status"] == "PASS" for r in rows)
    return k, k + sum(r["status"] == "FAIL" for r in rows)


def _grid_record(grid: dict, counts: dict, chosen: dict | None, seeds: list[int]) -> dict:
    k, n = rate_table(grid, counts)
    return {"grid": {a: list(v) for a, v in grid.items()}, "seeds": seeds, "k": k.tolist(), "n": n.tolist(),
            "chosen": chosen}
