"""Report reader of ``repalign study lorenz`` (``lorenz.json`` and its PNGs).

Registered in :data:`repalign.report.readers.READERS` by :mod:`repalign.report.studies`. The
finding is the study's own verdict headline followed by the first effect size it rests on:
every measure's value with its bootstrap interval and, against DSA, the paired difference's
winner. Tables: the paper's numbers beside repalign's and every effect-size table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .html import Report
from .readers import unique_data_name
from .tables import Interval

EFFECT_TABLES = ("noise_effects", "motif_effects")
FIGURES = (("regimes", "distance matrices between Lorenz regimes (rad)"),
           ("within_across", "within- vs across-regime distances (rad)"),
           ("noise_ratio", "noise and ratio tests, mean +- s.e.m. over pattern pairs (rad)"),
           ("motifs", "distance against shared motifs, mean +- s.e.m., beside the paper's DSA"))


def _ci(e: dict) -> Interval:
    lo, hi = (e.get("ci") or (None, None))
    return Interval(e["value"], lo, hi) if e.get("value") is not None else Interval(float("nan"))


def _effect_tables(res: dict) -> list[tuple[str, dict]]:
    out = [(k, res[k]) for k in EFFECT_TABLES if isinstance(res.get(k), dict)]
    out += [(f"regime_effects ({ic})", t) for ic, t in (res.get("regime_effects") or {}).items()]
    return out


def lorenz_finding(res: dict) -> str:
    """The verdict headline and the first effect: per measure value [95% CI], winners vs DSA."""
    headline = (res.get("verdict") or {}).get("headline", "no verdict stored")
    tables = _effect_tables(res)
    if not tables:
        return f"{headline}. No effect sizes stored (distances in radians)."
    name, table = tables[0]
    effect, row = next(iter(table.items()))
    values = "; ".join(f"{m} {_ci(v)}" for m, v in row["measures"].items())
    vs = "; ".join(f"dsa - {m} {_ci(d)} ({d['winner']})" for m, d in row["vs_dsa"].items())
    cfg = res.get("config") or {}
    return (f"{headline}. {effect} ({row['better']} is better; 95% bootstrap interval, {cfg.get('n_boot', '?')} "
            f"draws): {values}. Paired against DSA: {vs}. Distances in radians; {cfg.get('trials', '?')} "
            "trajectories per system.")


def _figure_data(res: dict, key: str) -> Any:
    ms = (res.get("config") or {}).get("measures", [])
    if key == "regimes" and "regimes" in res:
        return {m: {k: res["regimes"][m].get(k) for k in ("rho", "matrix", "ic")} for m in ms}
    if key == "within_across" and "regimes" in res:
        return {m: {k: res["regimes"][m].get(k) for k in ("within", "across")} for m in ms}
    if key == "noise_ratio":
        return {t: {m: {k: res[t][m][k] for k in ("epochs", "sem", "r2")} for m in ms}
                for t in ("noise", "ratio") if t in res}
    if key == "motifs" and "motifs" in res:
        return {m: v for m, v in res["motifs"].items() if m != "pairs"}
    return None


def lorenz_section(rep: Report, res: dict, path: Path, setting: str | None = None) -> None:
    """The Lorenz attractor study (``lorenz.json``). ``setting``: a note on a reduced run (e.g. the
    demo's ``"tiny setting"``), added to the title and after the finding."""
    from ..studies.lorenz_report import head_to_head

    title = "Lorenz attractor test cases (Guilhot et al. 2024)" + (f", {setting}" if setting else "")
    note = (f" {setting[0].upper()}{setting[1:]} (few trajectories, small DSA rank): compare shapes, not values; "
            "the paper's setting is in docs/lorenz.md.") if setting else ""
    rep.section(title, finding=lorenz_finding(res) + note, params=res.get("config"))
    rep.text("DSA, CKA and Procrustes, all as angles in radians, on the paper's Lorenz tests; effect sizes are "
             "scale-free and bootstrapped over pattern pairs (noise, ratio), systems (regimes) or motif pairs.")
    rep.table(head_to_head(res), caption="repalign beside the paper's numbers (as printed and in radians)")
    for name, table in _effect_tables(res):
        rep.table([{"effect": f"{e} ({row['better']} is better)", "measure": m, "value [95% CI]": _ci(v),
                    "dsa - measure [95% CI]": _ci(row["vs_dsa"][m]) if m in row["vs_dsa"] else None,
                    "winner": row["vs_dsa"][m]["winner"] if m in row["vs_dsa"] else ""}
                   for e, row in table.items() for m, v in row["measures"].items()], caption=name)
    for key, caption in FIGURES:
        fig = path.with_name(f"lorenz_{key}.png")
        data = _figure_data(res, key)
        if fig.is_file() and data:
            rep.figure(fig, caption=caption, data=data)
    rep.json(unique_data_name(rep, "lorenz"), res)



__all__ = ["lorenz_section", "lorenz_finding"]
