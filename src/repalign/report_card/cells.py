"""Report-card cells over seeds: one (measure, case, params, quick, seed) run per task.

Each finished cell is written atomically as one JSON file under ``DIR/cells/`` (its key inside),
so an interrupted run resumes where it stopped: :func:`run_cells` reuses every cell whose file
holds the same key and computes only the rest.  Tasks run on the engine's executors: in this
process (``jobs=1``), in local processes (joblib loky, ``jobs > 1``) or on a Dask cluster
(``scheduler="tcp://host:8786"``).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from .._runtime import limited_threads
from .._serialize import to_jsonable, write_json
from .._validation import check_scalar
from ..engine.executor import _Executor
from .cases import CaseResult, run_case

CELL_FORMAT = 1  # bump when a case's numbers change meaning, so old cell files are not reused
CELL_ERRORS = (ValueError, ArithmeticError, np.linalg.LinAlgError, RuntimeError)


@dataclass(frozen=True)
class Cell:
    """One run of one case: ``params`` are the overrides passed to :func:`run_case`."""

    measure: str
    case: str
    params: dict = field(hash=False)
    quick: bool
    seed: int

    def key(self) -> dict:
        return to_jsonable({"format": CELL_FORMAT, "measure": self.measure, "case": self.case,
                            "params": dict(sorted(self.params.items())), "quick": self.quick, "seed": self.seed})

    def digest(self) -> str:
        return hashlib.sha1(json.dumps(self.key(), sort_keys=True).encode()).hexdigest()[:20]

    def path(self, root: Path) -> Path:
        return Path(root) / "cells" / self.measure / self.case / f"{self.digest()}.json"


def compute_cell(cell: Cell) -> dict:
    """Run one cell (single-threaded) and return its result as a JSON-able dict."""
    t0 = time.perf_counter()
    with limited_threads(1):
        try:
            r = run_case(cell.case, cell.measure, dict(cell.params), cell.quick, cell.seed)
        except CELL_ERRORS as exc:
            r = CaseResult(cell.case, cell.measure, None, None, "", {"error": f"{type(exc).__name__}: {exc}"})
    out = r.to_dict()
    out.pop("figure_data", None)  # the per-seed figures are not drawn; the numbers stay in detail
    out["seed"] = cell.seed
    out["seconds"] = time.perf_counter() - t0
    return to_jsonable(out)


def _task(cell: Cell) -> tuple[str, dict]:
    return cell.digest(), compute_cell(cell)


def load_cell(cell: Cell, root: Path | None) -> dict | None:
    """The stored result of ``cell`` under ``root``, or None (absent, unreadable or another key)."""
    if root is None:
        return None
    path = cell.path(root)
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return stored.get("result") if stored.get("key") == cell.key() else None


@dataclass
class CellRun:
    """What :func:`run_cells` did: results by digest, and how many were computed / reused."""

    results: dict = field(default_factory=dict)
    computed: int = 0
    reused: int = 0
    seconds: float = 0.0

    def get(self, cell: Cell) -> dict:
        return self.results[cell.digest()]


def run_cells(cells: Iterable[Cell], root: str | Path | None = None, jobs: int = 1, scheduler: str | None = None,
              progress: Callable[[str], None] | None = None, label: str = "") -> CellRun:
    """Run every cell not already stored under ``root`` (each written as it finishes).

    Parameters
    ----------
    cells : iterable of Cell
        Duplicates (same key) run once.
    root : folder, optional
        Where ``cells/`` lives; None keeps results in memory only (no resume).
    jobs : int
        1: in this process; > 1: that many local worker processes (ignored with ``scheduler``).
    scheduler : str, optional
        A Dask scheduler address: run the cells on that cluster.
    progress : callable, optional
        Called with one line per finished cell (``[done/total] measure case seed status s``).
    """
    jobs = check_scalar(jobs, "jobs", int, min_val=1)
    t0 = time.perf_counter()
    unique = {c.digest(): c for c in cells}
    run = CellRun()
    root = None if root is None else Path(root)
    todo = []
    for d, c in unique.items():
        stored = load_cell(c, root)
        if stored is None:
            todo.append(c)
        else:
            run.results[d] = stored
            run.reused += 1
    total = len(unique)
    if progress and run.reused:
        progress(f"{label}reusing {run.reused} of {total} finished cells")
    backend = "dask" if scheduler else ("processes" if jobs > 1 and len(todo) > 1 else "serial")
    with _Executor(backend, jobs, scheduler, None) as ex:
        for d, result in ex.map(_task, todo):
            cell = unique[d]
            if root is not None:
                write_json(cell.path(root), {"key": cell.key(), "result": result})
            run.results[d] = result
            run.computed += 1
            if progress:
                progress(f"{label}[{run.reused + run.computed}/{total}] {cell.measure} {cell.case} seed {cell.seed}"
                         f" {result['status']} {result['seconds']:.1f} s")
    run.seconds = time.perf_counter() - t0
    return run
