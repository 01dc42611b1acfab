"""Report reader of ``repalign study compositional`` (``compositional.json`` and its PNGs).

Registered in :data:`repalign.report.readers.READERS` by :mod:`repalign.report.studies`. Works for
any ``--model`` (leaky RNN, GRU, or another registered type such as ``mamba``): the model
name is read from the JSON. The finding says, per measure, how many of the paper's expected
orderings of the groups' dissimilarity to master are detected (Benjamini-Hochberg adjusted
t-tests), the omnibus permutation test across the paper's groups, and how many pairs failed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .html import Report
from .readers import unique_data_name
from .tables import Interval

CAPTIONS = {"heatmaps": "group-by-group dissimilarity, per measure",
            "over_learning": "dissimilarity to master against the fraction of training",
            "regressions": "dissimilarity against accuracy, with the fitted line",
            "accuracy": "final accuracy per group",
            "pipeline": "corrected pipeline vs the paper's, dissimilarity to master",
            "mamba": "untrained minus pretrained dissimilarity to master, 95% bootstrap interval"}


def compositional_finding(res: dict) -> str:
    """Per measure: expected orderings detected, omnibus permutation p; the failed pairs."""
    parts = []
    for m, eo in res["expected_ordering"].items():
        om = (res.get("omnibus") or {}).get(m) or {}
        p = om.get("p_perm")
        parts.append(f"{m} {eo['n_detected']} of {len(eo['pairs'])}"
                     + (f" (omnibus F {om['F']:.3g}, permutation p {p:.2g})" if p is not None and om.get("F") is not None
                        else ""))
    n_cfg = len(res.get("configurations") or [])
    failed = {m: len(v) for m, v in (res.get("failures") or {}).items() if v}
    fail_text = ("; pairs the engine could not compute: " + ", ".join(f"{m} {n}" for m, n in failed.items())
                 if failed else "; every pair computed")
    return (f"{res['model']} networks at the {res['preset']} preset ({n_cfg} configurations): the paper's expected "
            f"orderings of dissimilarity to master detected (t-test, Benjamini-Hochberg p_adj < 0.05): "
            + "; ".join(parts) + fail_text + ". " + _key_pair(res) + _mamba_finding(res))


def _mamba_finding(res: dict) -> str:
    """``--model mamba``: per measure, untrained minus pretrained dissimilarity to master with its
    interval, permutation p and verdict (the paper reads DSA as not separating them for Mamba)."""
    sep = (res.get("mamba") or {}).get("separation") or {}
    cells = [f"{m} {Interval(s['diff'], *s['ci'])} (p {s['p']:.2g}): {'separated' if s['separated'] else 'not separated'}"
             if s else f"{m} n/a (too few models)" for m, s in sep.items()]
    return (" Untrained minus pretrained, dissimilarity to master: " + "; ".join(cells) + ".") if cells else ""


def _key_pair(res: dict) -> str:
    """The first expected ordering of the first measure: both groups' dissimilarity to master
    with their bootstrap intervals, the paper's values and whether it was detected."""
    m, eo = next(iter(res["expected_ordering"].items()))
    if not eo["pairs"]:
        return ""
    r, d, paper = eo["pairs"][0], res["dissimilarity"][m], (res.get("paper_table") or {}).get(m, {})

    def show(g: str) -> str:
        iv = _interval(d.get(g) or {})
        return f"{g} {iv if iv is not None else 'n/a'}" + (f" (paper {paper[g]})" if g in paper else "")

    return (f"{m} to master: {show(r['further'])} vs {show(r['closer'])}: "
            f"{'detected' if r['detected'] else 'not detected'} (p_adj "
            f"{'n/a' if _number(r.get('p_adj')) is None else format(r['p_adj'], '.2g')}).")


def _figure_data(res: dict, key: str) -> Any:
    if key == "heatmaps":
        return res.get("group_matrix")
    if key == "over_learning":
        ol = res.get("over_learning") or {}
        return {k: ol.get(k) for k in ("grid", "binned")} if ol else None
    if key == "regressions":
        return (res.get("over_learning") or {}).get("regressions")
    if key == "accuracy":
        return res.get("final_accuracy")
    if key == "mamba":
        return (res.get("mamba") or {}).get("separation")
    if key == "pipeline":
        pp = res.get("paper_pipeline") or {}
        return {"corrected": res.get("dissimilarity"),
                "paper_pipeline": {m: v.get("dissimilarity") for m, v in pp.items()}} if pp else None
    return None


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None  # "nan" is stored as text


def _interval(d: dict) -> Interval | None:
    mean = _number(d.get("mean"))
    return None if mean is None else Interval(mean, _number(d.get("ci_low")), _number(d.get("ci_high")))


def _locate(recorded: str, folder: Path) -> Path | None:
    p = folder / Path(recorded).name
    return p if p.is_file() else None


def compositional_section(rep: Report, res: dict, path: Path, setting: str | None = None) -> None:
    """The compositional-learning study (``compositional.json``). ``setting``: a note on a reduced
    run (e.g. the demo's ``"tiny preset"``), added to the title and after the finding."""
    title = f"Compositional learning ({res['model']})" + (f", {setting}" if setting else "")
    note = (f" {setting[0].upper()}{setting[1:]}: a smoke run of the pipeline, not a test of the paper's claim "
            "(docs/compositional.md).") if setting else ""
    rep.section(title, finding=compositional_finding(res) + note, params=res.get("params"))
    rep.text("Networks pretrained on subsets of the PDM task family, then trained on the final task; each group's "
             "dissimilarity to the master network on the same seeded test trials (CKA as 1 - CKA), with the "
             "paper's values beside repalign's.")
    paper = res.get("paper_table") or {}
    rep.table([{"measure": m, "group": g, "dissimilarity": _interval(d), "n": d.get("n"),
                "paper": paper.get(m, {}).get(g)}
               for m, groups in res["dissimilarity"].items() for g, d in groups.items()],
              caption="Dissimilarity to master per group: mean [bootstrap interval]")
    rep.table([{"measure": m, "further": r["further"], "closer": r["closer"], "difference": r["diff"],
                "p_adj": r["p_adj"], "detected": "yes" if r["detected"] else "no"}
               for m, eo in res["expected_ordering"].items() for r in eo["pairs"]],
              caption="The paper's expected orderings (further from master > closer to master)")
    sep = (res.get("mamba") or {}).get("separation") or {}
    if sep:
        rep.table([{"measure": m, "untrained - pretrained": Interval(s["diff"], *s["ci"]), "p (permutation)": s["p"],
                    "Hedges' g": s["hedges_g"], "n": f"{s['n_ref']} vs {s['n_other']}",
                    "verdict": "separated" if s["separated"] else "not separated"} if s else
                   {"measure": m, "verdict": "too few models"} for m, s in sep.items()],
                  caption="Mamba: does a measure separate pretrained from untrained models?")
    for key, recorded in (res.get("figures") or {}).items():
        fig, data = _locate(recorded, path.parent), _figure_data(res, key)
        if fig is not None and data:
            rep.figure(fig, caption=CAPTIONS.get(key, key), data=data)
    rep.json(unique_data_name(rep, f"compositional_{res['model']}"), res)



__all__ = ["compositional_section", "compositional_finding"]
