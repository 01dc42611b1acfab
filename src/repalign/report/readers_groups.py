"""Report section of the multi-seed group study (``repalign study groups --seeds ...``).

Its ``groups_<G>.json`` shares the single-seed file's name, so the ``groups`` reader of
:mod:`repalign.report.studies` sends a document with a ``seeds`` key here. The finding gives
how many seeds generalised, the test accuracy across seeds, whether the seeds agree on the
key irreps and the fraction of the logits they explain (median and range over seeds; the
paper's S5 value beside it where the group is S5). No null is computed for these numbers.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from .html import Report
from .readers import unique_data_name
from .tables import span


def _median(values: list[float]) -> float | None:
    v = [float(x) for x in values if x is not None]
    return statistics.median(v) if v else None


def groups_seeds_finding(res: dict) -> str:
    """One sentence from the multi-seed JSON (key numbers, spread over seeds, agreement)."""
    g, per = res["group"], res["per_seed"]
    n = len(per)
    gen = [r["generalisation_step"] for r in per if r["generalisation_step"] is not None]
    keys = [tuple(r["key_irreps"]) for r in per]
    common = max(set(keys), key=keys.count)
    frac = [r["key_logit_fraction"]["seed_formula_all"] for r in per]
    test = [r["test_accuracy"] for r in per]
    paper = res.get("paper_values") or {}
    vs = (f" (paper, S5: {paper['percent_logits_explained']:.3f}; key irreps {', '.join(paper['key_irreps'])})"
          if g["name"] == "S5" and "percent_logits_explained" in paper else "")
    med = _median(frac)
    return (f"{g['name']} (order {g['order']}), {n} seeds: {len(gen)} of {n} generalised"
            + (f" (steps {span(gen, '.0f')})" if gen else "")
            + f"; test accuracy {span(test)} (median {_median(test):.2f}). Key irreps agree in "
            f"{keys.count(common)} of {n} seeds ({', '.join(common) or 'none'}); fraction of the logits "
            f"explained (seed formula, all irreps) median {med:.3f}, range {span(frac, '.3f')}{vs}. "
            "Spread is over seeds; no null is computed for these fractions.")


def _per_seed_series(res: dict, key: str) -> dict:
    return {"step": res["median"]["step"],
            **{f"seed {r['seed']}": [h[key] for h in r["history"]] for r in res["per_seed"]}}


def _figure_data(res: dict, suffix: str) -> Any:
    med = res["median"]
    if suffix in ("grokking_loss", "grokking_accuracy"):
        kind = suffix.split("_")[1]
        return {"step": med["step"], **{f"median {s}_{kind}": med[f"{s}_{kind}"] for s in ("train", "test")},
                "per_seed": {str(r["seed"]): {f"{s}_{kind}": [h[f"{s}_{kind}"] for h in r["history"]]
                                              for s in ("train", "test")} for r in res["per_seed"]}}
    if suffix == "weight_norm":
        return _per_seed_series(res, "weight_norm_sq")
    if suffix == "loss_ratio":
        return _per_seed_series(res, "test_restricted_loss_ratio")
    # the logit slices themselves are not stored in the JSON: the similarities that summarise them
    r = res["per_seed"][0]
    return {"seed": r["seed"], "seed_logit_similarity": r["seed_logit_similarity"],
            "logit_similarity": r["logit_similarity"]}


def groups_seeds_section(rep: Report, res: dict, path: Path) -> None:
    """Several seeds of the group study (``groups_<G>.json`` with a ``seeds`` key)."""
    g, per = res["group"], res["per_seed"]
    rep.section(f"Group operation: {g['name']}, {len(per)} seeds", finding=groups_seeds_finding(res),
                params={**res["config"], "seeds": res["seeds"]})
    rep.text("One network per seed, same configuration; curves are summarised by their median across seeds "
             "(the paper's grokking figure). `seed formula`: the paper's logit similarity; `double-centred`: "
             "repalign's, also removing each output's mean over pairs.")
    rep.table([{"seed": r["seed"], "generalised at": r["generalisation_step"], "train acc": r["train_accuracy"],
                "test acc": r["test_accuracy"], "key irreps": ", ".join(r["key_irreps"]) or "none",
                "key irreps (paper's rule)": ", ".join(r["paper_key_rule"]) or "none",
                "logits explained (seed formula)": r["key_logit_fraction"]["seed_formula_all"],
                "logits explained (double-centred)": r["key_logit_fraction"]["double_centred"],
                "reconstruction loss": r["irrep_ablations"].get("reconstruction_loss")} for r in per],
              caption="Per seed, at the end of training")
    irreps = [i["name"] for i in res["irreps"] if i["name"] != "trivial"]
    rep.table([{"irrep": name, **{f"seed {r['seed']}": r["seed_logit_similarity"].get(name) for r in per},
                "paper (S5)": (res.get("paper_values") or {}).get("seed_logit_similarity", {}).get(name)
                if g["name"] == "S5" else None} for name in irreps],
              caption="Logit similarity with tr rho(a b c^-1), seed formula")
    for suffix, caption in (("grokking_loss", "losses: seeds (faint) and median"),
                            ("grokking_accuracy", "accuracies: seeds (faint) and median"),
                            ("logit_cubes", "logits at c = identity vs tr rho(a b c^-1), first seed"),
                            ("weight_norm", "sum of squared weights"),
                            ("loss_ratio", "test loss / restricted loss")):
        fig = path.with_name(f"{path.stem}_{suffix}.png")
        if fig.is_file():
            rep.figure(fig, caption=f"{g['name']}: {caption}", data=_figure_data(res, suffix))
    rep.json(unique_data_name(rep, f"groups_{g['name']}_seeds"), res)
