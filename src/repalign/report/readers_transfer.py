"""Report reader of ``repalign study transfer`` (``transfer.json`` and ``figures/``).

Registered in :data:`repalign.report.readers.READERS` by :mod:`repalign.report.studies`. The
section's finding counts the headline comparisons whose bootstrap interval over seeds
(``transfer.json["findings"]``) survives, and quotes the first of them and the new task's
final accuracy per rule set; the tables show every comparison and the spectra at the
headline k. Figures are found beside the JSON even when the folder was moved.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .html import Report
from .readers import unique_data_name
from .tables import Interval, span

SPECTRA = ("variance_spectrum", "modulation_raw", "modulation_weighted")
EPOCHS = ("stimulus", "response")


def _interval(f: dict) -> Interval:
    iv = f.get("interval") or (None, None)
    return Interval(f["estimate"], iv[0], iv[1]) if f.get("estimate") is not None else Interval(float("nan"))


def _new_task_accuracy(res: dict) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for n in res["networks"]:
        out.setdefault(n["ruleset"], []).append(list(n["accuracy"]["stage2"].values())[0])
    return out


def transfer_finding(res: dict) -> str:
    """One sentence: survivors among the headline comparisons, the first one with its
    interval and verdict, and the new task's final accuracy per rule set."""
    p, rows = res["params"], res["findings"]
    acc = _new_task_accuracy(res)
    n_seeds = min(len(v) for v in acc.values())
    calibrated = [r for r in rows if r.get("interval") is not None]
    survive = [r for r in calibrated if r["verdict"] == "survives"]
    head = calibrated[0] if calibrated else rows[0]
    iv = _interval(head)
    if calibrated:
        count = (f"{len(survive)} of {len(calibrated)} headline comparisons survive their bootstrap interval over "
                 f"seeds")
        verdict = head["verdict"]
    else:
        count = (f"none of the {len(rows)} headline comparisons is calibrated (the bootstrap over seeds needs "
                 f"2 or more seeds per rule set)")
        verdict = "not calibrated"
    text = (f"{p['model']} networks (hidden {p['hidden']}), {n_seeds} seed(s) per rule set: {count}. "
            f"{head['claim']}: {iv}, {verdict}. New-task ({p.get('new_task', 'new task')}) accuracy after "
            "stage 2: " + "; ".join(f"{rs} {span(v)}" for rs, v in acc.items()) + ".")
    return text


def _locate(recorded: str, folder: Path) -> Path | None:
    """The figure ``recorded`` (a path as written at run time) under ``folder``: the longest
    tail of its path that exists there (the run's folder may have moved since)."""
    parts = Path(recorded).parts
    for k in range(len(parts)):
        cand = folder.joinpath(*parts[k:])
        if cand.is_file():
            return cand
    return None


def _curves(res: dict, ruleset: str | None, stage2_only: bool) -> list[dict]:
    out = []
    for n in res["networks"]:
        if ruleset is not None and n["ruleset"] != ruleset:
            continue
        stages = ("stage2",) if stage2_only else ("stage1", "stage2")
        out.append({"ruleset": n["ruleset"], "seed": n["seed"],
                    **{s: [{"step": h["step"], "accuracy": h["accuracy"]} for h in n["curves"][s]] for s in stages}})
    return out


def _figure_data(res: dict, key: str) -> Any:
    if key == "cross_ruleset":
        return _curves(res, None, stage2_only=True)
    kind, rs, *rest = key.split("/")
    if kind == "learning_curves":
        return _curves(res, rs, stage2_only=False)
    if kind in SPECTRA and rest:
        a = res["aggregate"][rs][kind][rest[0]]
        return {"cross": a["cross"], "self": a["self"],
                "direction_matched": {k: a["direction_matched"][k] for k in ("cross", "self")}}
    return None


def transfer_section(rep: Report, res: dict, path: Path) -> None:
    """The transfer-geometry study (``transfer.json``)."""
    p = res["params"]
    rep.section("Transfer geometry", finding=transfer_finding(res), params=p)
    rep.text(f"Networks pretrained on each rule set ({', '.join(p['rulesets'])}) until accuracy "
             f"{p['stop_accuracy']} (at most {p['steps1']} updates), then taught {p.get('new_task')} through a new "
             "rule column only. Each comparison: mean over seeds with a bootstrap interval; the verdict says "
             "whether the interval excludes zero in the claimed direction.")
    rep.table([{"claim": r["claim"], "estimate": _interval(r), "n": r["n"], "direction": r["direction"],
                "networks p <= 0.05": r.get("networks_p_below_alpha", ""), "verdict": r["verdict"]}
               for r in res["findings"]], caption="Headline comparisons (bootstrap over seeds)")
    rep.table([{"rule set": n["ruleset"], "seed": n["seed"], "stage-1 updates": n["steps"]["stage1"],
                "criterion": "yes" if n["stage1_reached_criterion"] else "no",
                "stage-1 accuracy": ", ".join(f"{k} {v:.2f}" for k, v in n["accuracy"]["stage1"].items()),
                "stage-2 updates": n["steps"]["stage2"],
                "new-task accuracy": list(n["accuracy"]["stage2"].values())[0]} for n in res["networks"]],
              caption="Networks")
    rows = []
    for rs, a in res["aggregate"].items():
        for key in SPECTRA:
            for lab in EPOCHS:
                if key not in a or lab not in a[key]:
                    continue
                at, dm = a[key][lab]["at_k"], a[key][lab]["direction_matched"]["at_k"]
                for k in at:
                    rows.append({"rule set": rs, "states": key, "epoch": lab, "k": int(k),
                                 "cross fraction": _ms(at[k]["fraction"]), "self fraction": _ms(at[k]["self"]),
                                 "direction-matched cross": _ms(dm[k]["fraction"])})
    if rows:
        rep.table(rows, caption="New-task variance captured by the top-k pretraining components (mean +/- s.e.m.)")
    folder = path.parent
    skipped = []
    for key, recorded in res.get("figures", {}).items():
        data = _figure_data(res, key)
        fig = _locate(recorded, folder)
        if data is None or fig is None:
            skipped.append(Path(recorded).name)
            continue
        rep.figure(fig, caption=key.replace("/", ", "), data=data)
    if skipped:
        rep.text(f"Not embedded ({len(skipped)}; per-network sanity plots or files not found): "
                 + ", ".join(f"`{s}`" for s in skipped[:12]) + (" ..." if len(skipped) > 12 else ""))
    rep.json(unique_data_name(rep, "transfer"), res)


def _ms(entry: Any) -> Interval | str:
    if not isinstance(entry, dict) or entry.get("mean") is None:
        return "n/a"
    return Interval.from_sem(entry["mean"], entry.get("sem"))



__all__ = ["transfer_section", "transfer_finding"]
