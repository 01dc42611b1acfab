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
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._runtime import limited_threads

GRAD_FLOOR = 1e-8
LAYER_NAMES_PREFIX = "block"


@dataclass(frozen=True)
class Config:
    """Parameters of one run of the study (all stored in the JSON)."""

    epochs: int = 20
    null_draws: int = 200
    seed: int = 0
    width: int = 256
    n_blocks: int = 4
    batch_size: int = 64
    lr: float = 0.01
    optimizer: str = "sgd"  # SGD with momentum 0.9; or "adam"
    test_size: float = 0.25
    penalised: bool = False  # also run seed 004's setting (repalign.studies.feedback_penalised)
    penalty: float = 0.01  # its alignment penalty lambda

    def validate(self) -> None:
        for name in ("epochs", "null_draws", "width", "n_blocks", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer; got {v!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer; got {self.seed!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive; got {self.lr!r}")
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer must be 'adam' or 'sgd'; got {self.optimizer!r}")
        if not 0 < self.test_size < 1:
            raise ValueError(f"test_size must be in (0, 1); got {self.test_size!r}")


# ---------------------------------------------------------------------- data and network
def load_data(seed: int = 0, test_size: float = 0.25) -> dict[str, np.ndarray]:
    """Standardised digits: ``x_train (n, 64)``, ``y_train (n,)``, ``x_test``, ``y_test``."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(X, y, test_size=test_size, stratify=y, random_state=seed)
    mean, sd = x_tr.mean(axis=0), x_tr.std(axis=0)
    sd[sd == 0] = 1.0
    return {
        "x_train": (x_tr - mean) / sd,
        "y_train": y_tr.astype(np.int64),
        "x_test": (x_te - mean) / sd,
        "y_test": y_te.astype(np.int64),
    }


def layer_names(n_blocks: int) -> list[str]:
    return ["stem"] + [f"{LAYER_NAMES_PREFIX}{i + 1}" for i in range(n_blocks)]


def make_network(n_in: int = 64, width: int = 256, n_blocks: int = 4, n_out: int = 10, seed: int = 0,
                 output_norm: bool = False):
    """The residual MLP (torch module) with a seeded initialisation; ``output_norm`` puts a
    LayerNorm before the readout (seed 004's network). The LayerNorm draws no random numbers, so
    the other weights are the same with or without it."""
    import torch
    from torch import nn

    class ResidualMLP(nn.Module):
        """x (batch, n_in) -> logits (batch, n_out), plus the layer outputs h_0..h_L."""

        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Linear(n_in, width)
            self.blocks = nn.ModuleList(nn.Linear(width, width) for _ in range(n_blocks))
            self.out_ln = nn.LayerNorm(width) if output_norm else nn.Identity()
            self.readout = nn.Linear(width, n_out)

        def forward(self, x, local: bool = False):
            """``local=True`` detaches every layer's input (DFA: no gradient crosses layers)."""
            h = torch.relu(self.stem(x))
            hs = [h]
            for block in self.blocks:
                inp = h.detach() if local else h
                h = inp + torch.relu(block(inp))
                hs.append(h)
            logits = self.readout(self.out_ln(h.detach() if local else h))
            return logits, hs

    torch.manual_seed(seed)
    return ResidualMLP()


def feedback_matrices(n_layers: int, n_out: int, width: int, seed: int) -> list[np.ndarray]:
    """Fixed DFA feedback ``B_l`` (n_out, width), entries i.i.d. N(0, 1/width), float64."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    return [draw_feedback(rng, n_out, width) for _ in range(n_layers)]


def draw_feedback(rng: np.random.Generator, n_out: int, width: int) -> np.ndarray:
    return rng.standard_normal((n_out, width)) / np.sqrt(width)


# ---------------------------------------------------------------------- training
def dfa_loss(model, x, y, B: list):
    """Surrogate loss whose gradient is the DFA update (see module docstring).

    ``cross_entropy(readout(h_L.detach()))`` trains the readout with its true gradient;
    ``sum_l <stopgrad(e B_l), h_l> / batch`` injects ``e B_l`` at layer ``l``'s output, the
    mean-loss scaling matching the cross-entropy's.
    """
    import torch
    import torch.nn.functional as F

    logits, hs = model(x, local=True)
    e = (torch.softmax(logits, dim=1) - F.one_hot(y, logits.shape[1]).to(logits.dtype)).detach()
    surrogate = sum((h * (e @ b)).sum() for h, b in zip(hs, B)) / x.shape[0]
    return F.cross_entropy(logits, y) + surrogate


def backprop_loss(model, x, y):
    import torch.nn.functional as F

    logits, _ = model(x)
    return F.cross_entropy(logits, y)


def train(method: str, data: dict, cfg: Config, B: list[np.ndarray]):
    """Train a fresh network (init seeded by ``cfg.seed``) with "dfa" or "backprop".

    Returns the model and the held-out accuracy after each epoch.
    """
    import torch

    if method not in ("dfa", "backprop"):
        raise ValueError(f"method must be 'dfa' or 'backprop'; got {method!r}")
    model = make_network(data["x_train"].shape[1], cfg.width, cfg.n_blocks, len(B[0]), cfg.seed)
    if cfg.optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9)
    xt = torch.as_tensor(data["x_train"], dtype=torch.float32)
    yt = torch.as_tensor(data["y_train"])
    Bt = [torch.as_tensor(b, dtype=torch.float32) for b in B]
    order_rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 11]))
    accuracy = []
    for _ in range(cfg.epochs):
        order = torch.as_tensor(order_rng.permutation(len(yt)))
        for start in range(0, len(yt), cfg.batch_size):
            idx = order[start : start + cfg.batch_size]
            opt.zero_grad()
            loss = dfa_loss(model, xt[idx], yt[idx], Bt) if method == "dfa" else backprop_loss(model, xt[idx], yt[idx])
            if not torch.isfinite(loss):
                raise RuntimeError(f"{method} training diverged (non-finite loss); lower lr (now {cfg.lr:g})")
            loss.backward()
            opt.step()
        accuracy.append(evaluate(model, data["x_test"], data["y_test"]))
    return model, accuracy


def evaluate(model, x: np.ndarray, y: np.ndarray) -> float:
    import torch

    with torch.no_grad():
        logits, _ = model(torch.as_tensor(x, dtype=next(model.parameters()).dtype))
    return float((logits.argmax(dim=1).numpy() == y).mean())


# ---------------------------------------------------------------------- alignment
def true_gradients(model, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """In float64: ``e`` (m, n_out) and the per-sample gradients ``d loss_i / d h_l`` (m, width).

    The loss is the summed cross-entropy, so row i of each gradient is sample i's own.
    """
    import copy

    import torch
    import torch.nn.functional as F

    net = copy.deepcopy(model).double()
    xt = torch.as_tensor(x, dtype=torch.float64)
    yt = torch.as_tensor(y)
    logits, hs = net(xt)
    loss = F.cross_entropy(logits, yt, reduction="sum")
    grads = torch.autograd.grad(loss, hs)
    e = torch.softmax(logits, dim=1) - F.one_hot(yt, logits.shape[1]).to(torch.float64)
    return e.detach().numpy(), [g.numpy() for g in grads]


def mean_cosine(e: np.ndarray, B: np.ndarray, g: np.ndarray, floor: float = GRAD_FLOOR) -> float:
    """Mean over samples of cos(e_i B, g_i), over samples with ``||g_i|| >= floor``.

    e : (m, n_out); B : (n_out, width); g : (m, width). NaN if no sample qualifies.
    """
    f = e @ B
    nf, ng = np.linalg.norm(f, axis=1), np.linalg.norm(g, axis=1)
    keep = (ng >= floor) & (nf > 0)
    if not keep.any():
        return float("nan")
    return float(np.mean(np.einsum("ij,ij->i", f[keep], g[keep]) / (nf[keep] * ng[keep])))


class _NullCosine:
    """``draw(rng)``: the mean cosine with a fresh random feedback matrix (picklable)."""

    def __init__(self, e: np.ndarray, g: np.ndarray) -> None:
        self.e, self.g = e, g

    def __call__(self, rng: np.random.Generator) -> float:
        return mean_cosine(self.e, draw_feedback(rng, self.e.shape[1], self.g.shape[1]), self.g)


def calibrate_layers(model, B: list[np.ndarray], x: np.ndarray, y: np.ndarray, null_draws: int, seed: Any) -> list[dict]:
    """Per layer: observed mean cosine against its resampled null, with the floor flag."""
    from ..stats import CalibrationResult, resampled_null
    from ..stats._draws import seed_sequence

    e, grads = true_gradients(model, x, y)
    out = []
    seeds = seed_sequence(seed).spawn(len(B))
    for name, b, g, ss in zip(layer_names(len(B) - 1), B, grads, seeds):
        norms = np.linalg.norm(g, axis=1)
        median_norm = float(np.median(norms))
        flagged = median_norm < GRAD_FLOOR
        observed = mean_cosine(e, b, g)
        if np.isfinite(observed):
            result = resampled_null(
                _NullCosine(e, g), null_draws, ss, observed, alternative="greater", info={"layer": name}
            )
        else:  # no sample has a usable gradient: there is nothing to calibrate
            result = CalibrationResult(None, np.empty(0), "greater", method="resampled", info={"layer": name})
            result.undefined = "no sample has a nonzero feedback and a gradient above the floor"
        if flagged:
            result.undefined = f"median backprop gradient norm {median_norm:.2g} < {GRAD_FLOOR:g}: cosine meaningless"
        row = result.to_dict(include_null=False)
        row.update(
            layer=name,
            median_grad_norm=median_norm,
            fraction_below_floor=float(np.mean(norms < GRAD_FLOOR)),
            flagged=bool(flagged),
            null_values=result.null.tolist(),
        )
        out.append(row)
    return out


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
    out: dict[str, Any] = {"config": asdict(cfg), "versions": _versions(), "grad_floor": GRAD_FLOOR, "networks": {}}
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
    from . import feedback_penalised as fp

    pcfg = fp.Config(epochs=cfg.epochs, null_draws=cfg.null_draws, seed=cfg.seed, width=cfg.width,
                     n_blocks=cfg.n_blocks, batch_size=cfg.batch_size, penalty=cfg.penalty, test_size=cfg.test_size)
    pen = fp.run_study(pcfg, progress)
    deep = pen["networks"]["dfa_penalised"]["deep_layer_mean"]
    keys = ("observed", "null_mean", "null_sd", "p_value", "z", "verdict", "seed_rule", "n_null")
    return {"penalised": pen, "deep_layer_mean": {k: deep[k] for k in keys}}


def _versions() -> dict:
    import sklearn
    import torch

    from .. import __version__

    return {
        "repalign": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "scikit-learn": sklearn.__version__,
    }


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
        from .feedback_penalised import summary_table as penalised_table

        lines += ["", "seed 004 setting (output LayerNorm; fresh-B null over all layers jointly):",
                  penalised_table(results["penalised"])]
    return "\n".join(lines)


def _num(v, spec: str = ".4f") -> str:
    return "n/a" if v is None else format(v, spec)


def plot(results: dict, path: str | Path) -> Path:
    """Per layer: observed cosine (point) and null mean +/- 2 sd (band), DFA and backprop."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    from ..report.figstyle import OKABE_ITO

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
    from ..report.figstyle import save_figure

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
