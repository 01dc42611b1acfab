"""One report from study output folders: ``repalign report DIR [--out FILE]``.

Nothing is recomputed: each study's saved JSON (and its PNG figures, when present) is read
back and turned into one report section. Which files are recognised is the registry
:data:`~repalign.report.readers.READERS`, filled at the end of this module, in report order,
with :func:`~repalign.report.readers.register_reader`::

    register_reader("lorenz", "lorenz.json", lorenz_section)

where ``lorenz_section(rep, results, path)`` adds one section to ``rep`` (a
:class:`~repalign.report.Report`) with ``rep.section(title, finding=..., params=...,
data=...)``; ``results`` is the parsed JSON and ``path`` its file (figures sit beside it).
A demo folder (``demo_results.json``, written by ``repalign demo``) becomes the demo's full
report; study files found inside the demo's own stage folders are then not repeated.
The browser test (``tests/test_report_browser.py``) opens a report for every reader here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .html import Report
from .readers import READERS, StudyReader, register_reader, unique_data_name
from .demo import RESULTS_FILE
from .demo import build_report as demo_report
from .readers_compositional import compositional_section
from .readers_feedback import _feedback_reader, feedback_alignment_section
from .readers_groups import groups_seeds_section
from .readers_lorenz import lorenz_section
from .readers_transfer import transfer_section
from .readers_tutorial import tutorial_section



# the demo's stage folders: study files inside them belong to the demo's report
DEMO_STAGE_DIRS = ("report_card", "transfer", "learning", "feedback_alignment", "lorenz", "compositional")


def find_outputs(folder: str | Path) -> list[tuple[StudyReader, Path]]:
    """Every (reader, JSON file) under ``folder`` (depth <= 3), sorted by reader then path;
    files inside a demo's stage folders are left out when ``folder`` holds a demo."""

    folder = Path(folder)
    demo_dirs = {d.parent for d in _walk(folder, RESULTS_FILE)}
    found = []
    for reader in READERS:
        for path in sorted(_walk(folder, reader.pattern)):
            if any(path.is_relative_to(d / s) for d in demo_dirs for s in DEMO_STAGE_DIRS):
                continue
            found.append((reader, path))
    return found


def _walk(folder: Path, pattern: str, depth: int = 3) -> list[Path]:
    return [p for k in range(depth + 1) for p in folder.glob("/".join(["*"] * k + [pattern])) if p.is_file()]


def build_report(folder: str | Path, title: str | None = None) -> Report:
    """The report of everything recognised in ``folder`` (a demo and/or study outputs)."""

    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"folder: {str(folder)!r} is not a directory")
    demos = sorted(_walk(folder, RESULTS_FILE))
    studies = find_outputs(folder)
    if not demos and not studies:
        known = ", ".join([RESULTS_FILE] + [r.pattern for r in READERS])
        raise ValueError(f"folder: no study output found in {str(folder)!r} (looked for {known})")
    rep = Report(title or ("repalign demo" if demos and not studies else f"repalign report: {folder.name}"))
    for path in demos:
        demo_report(path.parent, rep)
    loaded = []
    for reader, path in studies:
        results = json.loads(path.read_text())
        if not isinstance(results, dict):
            raise ValueError(f"{path}: expected a JSON object")
        reader.build(rep, results, path)
        loaded.append((f"{reader.name} ({path.relative_to(folder)})", results))
    if not demos:
        rep.summary(_study_summary(folder, loaded, rep.versions))
    return rep


def _study_summary(folder: Path, loaded: list[tuple[str, dict]], versions: dict) -> dict:
    """Run summary of study outputs: where, which, the versions they ran with, seeds, times."""
    def seconds(r: dict) -> str:
        s = r.get("seconds")
        s = s.get("total") if isinstance(s, dict) else s
        return f"{s:.1f} s" if isinstance(s, (int, float)) else "n/a"

    ran = {f"{k} {v}" for _, r in loaded for k, v in (r.get("versions") or {}).items()
           if k in ("repalign", "python", "numpy", "torch")}
    return {"folder": str(folder), "studies": ", ".join(name for name, _ in loaded),
            "versions": ", ".join(sorted(ran)) or ", ".join(f"{k} {v}" for k, v in versions.items()
                                                           if k != "platform"),
            "seeds": ", ".join(f"{name.split(' ')[0]} {_seeds(r)}" for name, r in loaded),
            "wall time": ", ".join(f"{name.split(' ')[0]} {seconds(r)}" for name, r in loaded),
            "reused": "everything: rebuilt from the saved JSON and figures, nothing recomputed"}


def _seeds(r: dict) -> str:
    """The seeds a study output ran with: a ``seeds`` list (multi-seed runs, or in ``params``),
    the seeds of its ``networks`` list (transfer), else ``config["seed"]``."""
    for seeds in (r.get("seeds"), (r.get("params") or {}).get("seeds")):
        if isinstance(seeds, list):
            return " ".join(str(s) for s in seeds)
    nets = r.get("networks")
    if isinstance(nets, list) and nets and all(isinstance(n, dict) and "seed" in n for n in nets):
        return " ".join(str(s) for s in sorted({n["seed"] for n in nets}))
    return str((r.get("config") or {}).get("seed", "n/a"))


# ----------------------------------------------------------------------------- groups
def groups_section(rep: Report, res: dict, path: Path) -> None:
    """Group-operation study (``groups_<G>.json``); a multi-seed file (``seeds`` key, written by
    ``repalign study groups --seeds``) goes to :func:`~.readers_groups.groups_seeds_section`."""
    if "seeds" in res and "per_seed" in res:
        return groups_seeds_section(rep, res, path)
    s, g = res["summary"], res["group"]
    gen = s.get("generalisation_step")
    key = s.get("key_irreps") or []
    finding = (f"{g['name']} (order {g['order']}): " + (f"generalised at step {gen}" if gen is not None else
                                                        "did not generalise (test accuracy < 0.99)")
               + f"; test accuracy {s['test_accuracy']:.2f}, train {s['train_accuracy']:.2f}. Key irreps: "
               f"{', '.join(key) or 'none'} ({s.get('key_logit_variance_fraction', float('nan')):.2f} of the "
               f"centred logit variance); restricted loss {s['restricted_loss']:.3g} vs chance "
               f"{s['chance_loss']:.3g}. No null is computed for these fractions.")
    rep.section(f"Group operation: {g['name']}", finding=finding, params=res["config"])
    end = res["history"][-1]
    key_set = set(key)
    info = {r["name"]: r for r in res["irreps"]}
    cols = ["embed_left", "embed_right", "hidden_a", "hidden_b", "hidden_ab", "logit_similarity"]
    rep.table([{"irrep": name, "dim": info[name]["dim"], "key": "yes" if name in key_set else "",
                **{c: row[c] for c in cols}} for name, row in end["irreps"].items()],
              caption=f"Per irrep at the last checkpoint (step {end.get('step', 'n/a')}): fractions of "
                      "variance and logit similarity")
    stem = path.stem
    for suffix, caption in (("losses", "losses"), ("fractions", "per-irrep variance fractions"),
                            ("logit_similarity", "logit similarity")):
        fig = path.with_name(f"{stem}_{suffix}.png")
        if fig.is_file():
            rep.figure(fig, caption=f"{g['name']}: {caption}", data=_groups_series(res, suffix))
    rep.json(unique_data_name(rep, f"groups_{g['name']}"), res)


def _groups_series(res: dict, suffix: str) -> Any:
    hist = res["history"]
    steps = [h["step"] for h in hist]
    if suffix == "losses":
        return {"step": steps, **{k: [h.get(k) for h in hist] for k in ("train_loss", "test_loss",
                                                                          "restricted_loss", "excluded_loss")}}
    return {"step": steps, "irreps": {r: [h["irreps"][r] for h in hist] for r in hist[-1]["irreps"]}}


register_reader("feedback_alignment", "feedback_alignment.json", _feedback_reader)
register_reader("groups", "groups_*.json", groups_section)
# studies whose readers live in their own modules
register_reader("compositional", "compositional.json", compositional_section)
register_reader("lorenz", "lorenz.json", lorenz_section)
register_reader("transfer", "transfer.json", transfer_section)
register_reader("tutorial", "study_tutorial.json", tutorial_section)

__all__ = ["READERS", "StudyReader", "register_reader", "find_outputs", "build_report", "feedback_alignment_section"]
