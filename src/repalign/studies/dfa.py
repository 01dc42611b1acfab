"""Direct feedback alignment, the building blocks of the feedback-alignment studies: the digits
data, the seeded residual MLP, DFA and backprop training, the true per-sample gradients and the
per-layer alignment with its resampled null.  The studies are :mod:`repalign.studies.feedback_alignment`
(the setup in words is its docstring) and :mod:`repalign.studies.feedback_penalised` (seed 004's
setting), which both build on this module.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

from .._validation import as_seed_sequence, check_choice, check_scalar
from ..stats import CalibrationResult, resampled_null

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
            check_scalar(getattr(self, name), name, int, min_val=1)
        check_scalar(self.seed, "seed", int, min_val=0)
        if not self.lr > 0:
            raise ValueError(f"lr must be positive; got {self.lr!r}")
        check_choice(self.optimizer, "optimizer", ("adam", "sgd"))
        if not 0 < self.test_size < 1:
            raise ValueError(f"test_size must be in (0, 1); got {self.test_size!r}")


# ---------------------------------------------------------------------- data and network
def load_data(seed: int = 0, test_size: float = 0.25) -> dict[str, np.ndarray]:
    """Standardised digits: ``x_train (n, 64)``, ``y_train (n,)``, ``x_test``, ``y_test``."""
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
    logits, hs = model(x, local=True)
    e = (torch.softmax(logits, dim=1) - F.one_hot(y, logits.shape[1]).to(logits.dtype)).detach()
    surrogate = sum((h * (e @ b)).sum() for h, b in zip(hs, B)) / x.shape[0]
    return F.cross_entropy(logits, y) + surrogate


def backprop_loss(model, x, y):
    logits, _ = model(x)
    return F.cross_entropy(logits, y)


def train(method: str, data: dict, cfg: Config, B: list[np.ndarray]):
    """Train a fresh network (init seeded by ``cfg.seed``) with "dfa" or "backprop".

    Returns the model and the held-out accuracy after each epoch.
    """
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
    with torch.no_grad():
        logits, _ = model(torch.as_tensor(x, dtype=next(model.parameters()).dtype))
    return float((logits.argmax(dim=1).numpy() == y).mean())


# ---------------------------------------------------------------------- alignment
def true_gradients(model, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """In float64: ``e`` (m, n_out) and the per-sample gradients ``d loss_i / d h_l`` (m, width).

    The loss is the summed cross-entropy, so row i of each gradient is sample i's own.
    """
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
    e, grads = true_gradients(model, x, y)
    out = []
    seeds = as_seed_sequence(seed).spawn(len(B))
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


def _num(v, spec: str = ".4f") -> str:
    return "n/a" if v is None else format(v, spec)
