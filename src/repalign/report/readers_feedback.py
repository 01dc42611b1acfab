"""The feedback-alignment section (``feedback_alignment.json``: DFA vs backprop, and seed 004's
penalised DFA), for study reports and the demo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .html import Report
from .readers import unique_data_name
from .tables import Interval, span

def feedback_alignment_section(rep: Report, fa: dict, figure: str | Path | None = None) -> None:
    """DFA vs backprop feedback alignment (``feedback_alignment.json``)."""
    nets = fa["networks"]
    parts = []
    for m, net in nets.items():
        layers = net["layers"]
        sig = [r for r in layers if r["verdict"] == "signal"]
        obs = [r["observed"] for r in layers]
        ps = [r["p_value"] for r in layers]
        parts.append(f"{m}: {len(sig)} of {len(layers)} layers aligned beyond chance (cosine "
                     f"{span(obs)}; p {span(ps, '.2g')}; verdicts "
                     f"{', '.join(sorted({r['verdict'] for r in layers}))})")
    acc = ", ".join(f"{m} {net['test_accuracy']:.2f}" for m, net in nets.items())
    n_null = fa["config"]["null_draws"]
    finding = "; ".join(parts) + f". Held-out accuracy {acc}; {n_null} random feedback draws per layer."
    if "deep_layer_mean" in fa:
        finding += " " + _deep_layer_finding(fa["deep_layer_mean"], fa["config"].get("penalty"))
    rep.section("Feedback alignment", finding=finding, params=fa["config"])
    rep.text("Direct feedback alignment vs backprop on the digits data: per layer, the mean cosine between "
             "the DFA update direction and the true gradient, against a null of random feedback matrices "
             "(null shown as mean [mean - 2 sd, mean + 2 sd]).")
    rows = [{"network": m, "layer": r["layer"], "cosine": r["observed"],
             "null": Interval(r["null_mean"], r["null_mean"] - 2 * r["null_sd"], r["null_mean"] + 2 * r["null_sd"])
             if r["null_mean"] is not None and r["null_sd"] is not None else None,
             "z": r["z"], "p": r["p_value"], "verdict": r["verdict"]}
            for m, net in nets.items() for r in net["layers"]]
    rep.table(rows, caption="held-out accuracy: " + ", ".join(
        f"{m} {net['test_accuracy']:.3f}" for m, net in nets.items()))
    if figure is not None and Path(figure).is_file():
        rep.figure(figure, caption="observed cosine vs null, per layer",
                   data=[{k: r.get(k) for k in ("network", "layer", "cosine")}
                         | {"null_mean": r["null"].mean if r["null"] else None} for r in rows])
    if "penalised" in fa:
        _penalised_table(rep, fa["penalised"])
    rep.json(unique_data_name(rep, "feedback_alignment"), fa)


def _deep_layer_finding(d: dict, penalty: Any) -> str:
    """The penalised-DFA network's deep-layer mean cosine against its fresh-B null (seed 004)."""
    num = (lambda v, spec=".3f": "n/a" if v is None else format(v, spec))
    return (f"Penalised DFA (output LayerNorm, lambda {penalty}): deep-layer mean cosine {num(d['observed'])} vs "
            f"fresh-B null {num(d['null_mean'])} +- {num(d['null_sd'])} (p {num(d['p_value'], '.2g')}, "
            f"{d['n_null']} draws): {d['verdict']}; seed's rule: {d['seed_rule']}.")


def _penalised_table(rep: Report, pen: dict) -> None:
    rows = [{"network": m, "statistic": r.get("layer", r["info"]["statistic"]), "cosine": r["observed"],
             "fresh-B null": Interval(r["null_mean"], r["null_mean"] - 2 * r["null_sd"], r["null_mean"] + 2 * r["null_sd"])
             if r["null_mean"] is not None and r["null_sd"] is not None else None,
             "z": r["z"], "p": r["p_value"], "verdict": r["verdict"]}
            for m, net in pen["networks"].items() for r in net["layers"] + [net["layer_mean"], net["deep_layer_mean"]]]
    rep.table(rows, caption="Seed 004's setting (output LayerNorm; fresh draws of all B jointly): held-out accuracy "
              + ", ".join(f"{m} {net['test_accuracy']:.3f}" for m, net in pen["networks"].items()))


def _feedback_reader(rep: Report, results: dict, path: Path) -> None:
    feedback_alignment_section(rep, results, path.with_name("feedback_alignment.png"))
