"""The study readers of ``repalign report``: one :class:`StudyReader` per study (a glob for its
JSON file and the function that adds its section), listed in :data:`READERS` in report order
(:mod:`repalign.report.studies` registers them all), and the one naming helper they share."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .html import Report


@dataclass(frozen=True)
class StudyReader:
    """``name``: the study; ``pattern``: a glob for its JSON file (searched in DIR and its
    sub-folders); ``build(rep, results, path)``: adds the study's section to ``rep``."""

    name: str
    pattern: str
    build: Callable[[Report, dict, Path], None]


READERS: list[StudyReader] = []


def register_reader(name: str, pattern: str, build: Callable[[Report, dict, Path], None]) -> StudyReader:
    """Add (or replace, by ``name``) a study reader; returns it."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string; got {name!r}")
    if not isinstance(pattern, str) or not pattern.endswith(".json"):
        raise ValueError(f"pattern must be a glob ending in .json; got {pattern!r}")
    if not callable(build):
        raise ValueError(f"build must be callable; got {type(build).__name__}")
    reader = StudyReader(name, pattern, build)
    READERS[:] = [r for r in READERS if r.name != name] + [reader]
    return reader


def unique_data_name(rep: Report, name: str) -> str:
    """``name``, or ``name_2``, ``name_3`` ... when an earlier section (e.g. the demo's, or a
    second run of the same study) already stored data under it."""
    used = rep.to_dict()["data"]
    k, out = 1, name
    while out in used:
        k += 1
        out = f"{name}_{k}"
    return out
