"""Report reader of ``repalign study tutorial`` (``study_tutorial.json`` and its PNGs).

Registered in :data:`repalign.report.readers.READERS` by :mod:`repalign.report.studies`. The
finding is the study's own sentences (:func:`repalign.studies.tutorial_report.findings`, one
home for them). Tables: DSA against rank on Circle/Oval/Walk, the calibrated margins, the
tutorial's printed numbers beside repalign's and dsa-metric's, the held-out forecast grid's
best cell, the networks on digits with FGSM accuracy, and each layer's distance to the labels.
Either part (``--parts dynamics`` or ``paths``) may be missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .html import Report
from .readers import unique_data_name
from .tables import Interval

PAIRS = {"C-O": (0, 1), "C-W": (0, 2), "O-W": (1, 2)}
FIGURES = (("sensitivity", "DSA between Circle, Oval and Walk against DMD rank (mean +- sd over noise seeds, rad)"),
           ("fgsm", "test accuracy against FGSM epsilon, per network"),
           ("paths", "representational paths through layers (euclidean RDMs): arccos-cosine distances and MDS"),
           ("attack_paths", "paths on clean and FGSM images"))


def _interval(row: dict) -> Interval:
    return Interval(row["mean"], row.get("ci_low"), row.get("ci_high"))


def _dynamics_tables(rep: Report, dyn: dict) -> None:
    rep.table([{"rank": lab, **{p: float(np.mean(dyn["curve"][lab][p])) for p in PAIRS},
                "C-O closest (share of seeds)": dyn["closest"]["by_rank"][lab]["share_closest"]}
               for lab in dyn["ranks"]],
              caption=f"DSA against rank (n_delays {dyn['settings']['n_delays']}, delay_interval "
                      f"{dyn['settings']['delay_interval']}), mean over noise seeds, rad")
    rep.table([{"measure": k, "margin": stat, "mean [95% CI]": _interval(row), "verdict": row["verdict"]}
               for stat, rows in dyn["calibration"]["margins"].items() for k, row in rows.items()],
              caption="Margins over noise seeds, 95% percentile bootstrap of the mean")
    pr = dyn["printed"]
    tut = pr["tutorial"]["matrix_n_delays_20_interval_10"]
    dm = pr.get("dsa_metric_seed0") if isinstance(pr.get("dsa_metric_seed0"), dict) else {}
    rows = [{"setting": "n_delays 1", "pair": "C-O", "tutorial": pr["tutorial"]["oval_circle_n_delays_1"],
             "repalign": pr["repalign_seed0_n_delays_1_C-O"],
             "dsa-metric": ((dm.get("n_delays_1") or {}).get("matrix") or [[None, None]])[0][1]}]
    for lab, mat in pr["repalign_seed0"].items():
        theirs = (dm.get(lab) or {}).get("matrix")
        rows += [{"setting": f"rank {lab}", "pair": p, "tutorial": tut[i][j] if lab == "full" else None,
                  "repalign": mat[i][j], "dsa-metric": theirs[i][j] if theirs else None} for p, (i, j) in PAIRS.items()]
    rep.table(rows, caption="What the tutorial printed (n_delays 20, delay_interval 10; its rank is unstated, its "
                            "noise unseeded) beside repalign and dsa-metric on seed 0 at this run's settings")
    rep.table([{"system": name, "best n_delays": g["best"]["n_delays"], "best rank": g["best"]["rank"] or "full",
                "held-out error": g["best"]["error"], "cells": len(g["n_delays"]) * len(g["ranks"])}
               for name, g in dyn["forecast"].items()],
              caption="Held-out forecast: the best cell of the n_delays x rank grid (relative error)")


def _paths_tables(rep: Report, paths: dict) -> None:
    fg = paths["fgsm"]
    rep.table([{"network": k, "parameters": t["parameters"], "test accuracy": t["test_accuracy"],
                **{f"FGSM {e:g}": a for e, a in zip(fg["epsilons"], fg["accuracy"][k])}}
               for k, t in paths["training"].items()],
              caption=f"Networks on {paths['data']['source']}: accuracy under FGSM")
    c = fg["calibration"]
    eu = paths["paths"]["euclidean"]
    rep.table([{"statistic": c["statistic"], "value [95% CI]": Interval(c["observed"], c["ci_low"], c["ci_high"]),
                "verdict": c["verdict"]},
               {"statistic": paths["recurrent_dsa"]["what"], "value [95% CI]": paths["recurrent_dsa"]["observed"],
                "verdict": f"{paths['recurrent_dsa']['verdict']} (null mean {paths['recurrent_dsa']['null_mean']:.3g}, "
                           f"p {paths['recurrent_dsa']['p']:.2g})"}],
              caption="Calibrated comparisons of the bonus part")
    rep.table([{"network": k, "path length (rad)": eu["length"][k],
                "last layer to labels (rad)": (eu["to_labels"] or {}).get(k, [None])[-1],
                "clean-to-FGSM shift, last layer (rad)": (list(paths["attack_shift"][k].values())[-1]
                                                         if k in paths["attack_shift"] else None)}
               for k in eu["length"]],
              caption="Representational paths (euclidean RDMs, arccos of cosine between RDMs)")
    cmp_ = paths["comparators"]
    rep.text(f"RDM comparators on {cmp_['pair']} agree with rsatoolbox to {cmp_.get('max_abs_difference')} "
             "(max |difference|).")


def _figure_data(res: dict, key: str) -> Any:
    dyn, paths = res.get("dynamics"), res.get("paths")
    if key == "sensitivity" and dyn:
        return {"ranks": dyn["ranks"], "curve": dyn["curve"]}
    if key == "fgsm" and paths:
        return {k: paths["fgsm"][k] for k in ("epsilons", "accuracy")}
    if key == "paths" and paths:
        return {k: paths["paths"]["euclidean"][k] for k in ("names", "distance", "coords", "paths", "to_labels")}
    if key == "attack_paths" and paths:
        return paths["attack_paths"]
    return None


def tutorial_section(rep: Report, res: dict, path: Path) -> None:
    """The DSA tutorial study (``study_tutorial.json``)."""
    from ..studies.tutorial_report import findings

    rep.section("DSA tutorial (seed 003): Circle, Oval, Walk and representational paths",
                finding=" ".join(res.get("findings") or findings(res)) or "No part of the study was run.",
                params=res.get("config"))
    rep.text("Part 1: DSA, the Bures distance between state distributions and Procrustes on Circle, Oval and Walk "
             "over noise seeds and DMD ranks. Part 2 (the tutorial's bonus): a CNN, an FGSM-trained CNN and a "
             "recurrent CNN on scikit-learn's digits (MNIST cannot be downloaded here), their layer RDMs and paths.")
    if res.get("dynamics"):
        _dynamics_tables(rep, res["dynamics"])
    if res.get("paths"):
        _paths_tables(rep, res["paths"])
    for key, caption in FIGURES:
        fig, data = path.with_name(f"tutorial_{key}.png"), _figure_data(res, key)
        if fig.is_file() and data:
            rep.figure(fig, caption=caption, data=data)
    rep.json(unique_data_name(rep, "tutorial"), res)


__all__ = ["tutorial_section"]
