"""Feedback-alignment study: does direct feedback alignment make the random feedback useful?

Setup
-----
* Data: scikit-learn's ``load_digits`` (1797 images, 8x8 = 64 features, 10 classes), split
  stratified into train / held-out (25 %) by ``seed``; features standardised with the
  training mean and sd (constant pixels are left at 0).
* Network: ``h_0 = relu(W_0 x + b_0)`` (the "stem", 64 -> width), then ``n_blocks`` residual
  blocks ``h_l = h_{l-1} + relu(W_l h_{l-1} + b_l)`` (width -> width), readout
  ``logits = W_out h_L + b_out`` (width -> 10). Layers analysed: the stem and each block,
  through their outputs ``h_l``.
* Direct feedback alignment (DFA; Nokland 2016): with ``e = softmax(logits) - onehot(y)``
  (the gradient of the summed cross-entropy w.r.t. the logits), layer ``l``'s output receives
  the teaching signal ``delta_l = e B_l`` for a fixed random ``B_l`` of shape (10, width), entries
  i.i.d. ``N(0, 1 / width)`` (so ``||e B_l|| ~= ||e||``). The signal is pushed through that
  layer only (its input is detached), so no gradient crosses layers; the readout is trained
  with its true gradient. Backprop trains the same network (same init, same batches) with
  autograd. Both use SGD with momentum 0.9, learning rate 0.01, batches of 64 (DFA diverges
  at 0.02 here). Adam is available but, normalising away the shrinking error, it keeps
  pushing DFA's layers and saturates the held-out softmax (median ``||e||`` ~1e-10 after 30
  epochs), which drives the true gradients towards the floor below.
* Alignment: on the held-out set, in float64, the per-sample cosine between ``e_i B_l`` and the
  true gradient ``g_il = d loss_i / d h_l`` (autograd through the whole network) is averaged
  over samples. Its null: the same average with a fresh ``B'`` of the same distribution,
  ``null_draws`` times (:func:`repalign.stats.resampled_null`). For one sample and Gaussian
  ``B'``, ``e_i B'`` is an isotropic Gaussian vector, so the cosine has mean 0 and variance
  ``1 / width`` exactly.
* Numerical floor: a layer is flagged when the median per-sample ``||g_il||`` is below
  ``GRAD_FLOOR = 1e-8`` (computed in float64, whose relative precision is 2.2e-16: such a
  gradient is ~1e-8 of an O(1) logit gradient and its direction is dominated by rounding of
  nearly-cancelling terms). Samples with ``||g_il|| < GRAD_FLOOR`` are left out of the mean;
  a flagged layer's verdict is "undefined".
"""


from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np

from .._runtime import limited_threads
from .._serialize import versions
from ..report.figstyle import OKABE_ITO, save_figure
from . import feedback_penalised
from .dfa import (
    GRAD_FLOOR,
    LAYER_NAMES_PREFIX,
    Config,
    _NullCosine,
    _num,
    backprop_loss,
    calibrate_layers,
    dfa_loss,
    draw_feedback,
    evaluate,
    feedback_matrices,
    layer_names,
    load_data,
    make_network,
    mean_cosine,
    train,
    true_gradients,
)

__all__ = ["GRAD_FLOOR", "LAYER_NAMES_PREFIX", "Config", "load_data", "layer_names", "make_network",
           "feedback_matrices", "draw_feedback", "dfa_loss", "backprop_loss", "train", "evaluate", "true_gradients",
           "mean_cosine", "calibrate_layers", "run_study", "summary_table", "plot", "save", "_NullCosine"]


# ---------------------------------------------------------------------- the study
def run_study(cfg: Config | None = None, progress: bool = False, threads: int | None = 1) -> dict:
    """Train DFA and backprop networks and calibrate every layer's feedback alignment.

    ``threads``: torch and BLAS threads during the run (see :func:`limited_threads`).

    Returns a JSON-ready dict: config, versions, held-out accuracies, per-layer results for
    ``"dfa"`` and ``"backprop"`` (both scored against the same DFA feedback matrices).
    """
    cfg = cfg or Config()
    cfg.validate()
    with limited_threads(threads) as n_threads:
        out = _run(cfg, progress)
    out["threads"] = n_threads
    return out


def _run(cfg: Config, progress: bool) -> dict:
    t0 = time.perf_counter()
    data = load_data(cfg.seed, cfg.test_size)
    B = feedback_matrices(cfg.n_blocks + 1, 10, cfg.width, cfg.seed)
    out: dict[str, Any] = {"config": asdict(cfg), "versions": versions(), "grad_floor": GRAD_FLOOR, "networks": {}}
    for k, method in enumerate(("dfa", "backprop")):
        if progress:
            print(f"training with {method} ({cfg.epochs} epochs) ...", flush=True)
        model, acc = train(method, data, cfg, B)
        layers = calibrate_layers(
            model, B, data["x_test"], data["y_test"], cfg.null_draws, np.random.SeedSequence([cfg.seed, 3, k])
        )
        out["networks"][method] = {"test_accuracy": acc[-1], "accuracy_per_epoch": acc, "layers": layers}
    if cfg.penalised:
        out.update(_penalised(cfg, progress))
    out["seconds"] = time.perf_counter() - t0
    return out


def _penalised(cfg: Config, progress: bool) -> dict:
    """Seed 004's networks (output LayerNorm; penalised DFA, DFA, backprop) and statistics."""
    pcfg = feedback_penalised.Config(epochs=cfg.epochs, null_draws=cfg.null_draws, seed=cfg.seed, width=cfg.width,
                     n_blocks=cfg.n_blocks, batch_size=cfg.batch_size, penalty=cfg.penalty, test_size=cfg.test_size)
    pen = feedback_penalised.run_study(pcfg, progress)
    deep = pen["networks"]["dfa_penalised"]["deep_layer_mean"]
    keys = ("observed", "null_mean", "null_sd", "p_value", "z", "verdict", "seed_rule", "n_null")
    return {"penalised": pen, "deep_layer_mean": {k: deep[k] for k in keys}}


def summary_table(results: dict) -> str:
    """Plain-text table: one row per network and layer."""
    head = f"{'network':<9} {'layer':<7} {'cosine':>8} {'null mean':>10} {'null sd':>8} {'z':>7} {'p':>7}  verdict"
    lines = [head, "-" * len(head)]
    for method, net in results["networks"].items():
        for r in net["layers"]:
            lines.append(
                f"{method:<9} {r['layer']:<7} {_num(r['observed']):>8} {_num(r['null_mean']):>10} "
                f"{_num(r['null_sd']):>8} {_num(r['z'], '.1f'):>7} {_num(r['p_value']):>7}  {r['verdict']}"
            )
    accs = ", ".join(f"{m}: {net['test_accuracy']:.3f}" for m, net in results["networks"].items())
    lines.append(f"held-out accuracy: {accs}")
    if "penalised" in results:
        lines += ["", "seed 004 setting (output LayerNorm; fresh-B null over all layers jointly):",
                  feedback_penalised.summary_table(results["penalised"])]
    return "\n".join(lines)


def plot(results: dict, path: str | Path) -> Path:
    """Per layer: observed cosine (point) and null mean +/- 2 sd (band), DFA and backprop."""
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # after choosing the Agg backend (pyplot picks one on import)

    fig, ax = plt.subplots(figsize=(7, 4))
    styles = {"dfa": (OKABE_ITO[1], -0.15), "backprop": (OKABE_ITO[0], 0.15)}  # colour-blind safe
    for method, net in results["networks"].items():
        color, dx = styles[method]
        rows = net["layers"]
        xs = np.arange(len(rows)) + dx
        means = np.array([_nan(r["null_mean"]) for r in rows])
        sds = np.array([_nan(r["null_sd"]) for r in rows])
        ax.bar(xs, 4 * sds, bottom=means - 2 * sds, width=0.25, color=color, alpha=0.2, label=f"{method}: null mean +/- 2 sd")
        ax.plot(xs, [_nan(r["observed"]) for r in rows], "o", color=color, label=f"{method}: observed")
    names = [r["layer"] for r in next(iter(results["networks"].values()))["layers"]]
    ax.set_xticks(np.arange(len(names)), names)
    ax.axhline(0.0, color="grey", lw=0.8)
    ax.set_ylabel("mean cosine(e B_l, backprop gradient)")
    ax.set_title(f"Feedback alignment on digits ({results['config']['null_draws']} null draws per layer)")
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    path = save_figure(fig, Path(path), dpi=120, tight=False)
    plt.close(fig)
    return path


def _nan(v) -> float:
    return float("nan") if v is None else float(v)


def save(results: dict, out_dir: str | Path) -> dict[str, Path]:
    """Write ``feedback_alignment.json`` and ``feedback_alignment.png`` into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "feedback_alignment.json"
    json_path.write_text(json.dumps(results, indent=1))
    png_path = plot(results, out_dir / "feedback_alignment.png")
    return {"json": json_path, "figure": png_path}
