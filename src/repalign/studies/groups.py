"""Group-operation study: how a one-hidden-layer MLP learns to compose group elements.

After Chughtai, Chan & Nanda (2023), "A Toy Model of Universality" (ICML), scaled down for CPU.

Setup
-----
* Task: for a finite group G (:func:`repalign.studies.finite_groups.get_group`), predict ``c = a b`` from the
  pair ``(a, b)``; all ``|G|^2`` pairs, indexed ``p = a |G| + b``. A seeded ``train_fraction``
  of them is the training set, the rest the test set.
* Network (no biases): ``logits(a, b) = U relu(W [E_L[a] ; E_R[b]])`` with left / right
  embeddings ``E_L, E_R`` (|G|, embed_dim), ``W`` (hidden, 2 embed_dim), unembedding ``U``
  (|G|, hidden). Float64 throughout.
* Training: full-batch AdamW (``lr``, ``weight_decay``, betas (0.9, ``beta2``)) on the mean
  cross-entropy of the training pairs; metrics at ``n_checkpoints`` log-spaced steps
  (:func:`checkpoint_steps`), where the parameters are also kept (in memory).

Metrics (per checkpoint; all on every pair unless said otherwise)
-----------------------------------------------------------------
For each real irrep rho of G (:func:`repalign.studies.finite_groups.real_irreps`, dimension d):

* Embedding fraction: the span of rho in R^|G| is that of the d^2 functions ``g -> rho(g)_ij``
  (orthonormalised; a realified complex irrep spans fewer than d^2 dimensions). With ``E``
  centred over the group elements, ``fraction = ||P_rho E||^2 / ||E||^2``. The non-trivial
  irreps' spans are orthogonal and fill the centred space (Peter-Weyl), so these fractions sum
  to 1 over the non-trivial irreps.
* Hidden fractions: the hidden activations ``H`` (|G|^2 pairs, hidden), centred over pairs,
  projected onto the span of ``(a, b) -> rho(a)_ij``, ``rho(b)_ij`` or ``rho(ab)_ij``.
* Logit similarity: cosine between the logits ``L`` (|G|^2, |G|) and the character tensor
  ``T_rho[(a, b), c] = tr rho(a b c^-1)``, both double-centred (the mean over ``c`` of each
  pair, which softmax ignores, and the mean over pairs of each ``c``, a bias that cannot depend
  on the inputs, are removed). The character tensors of distinct irreps are orthogonal, so the
  squared similarities are fractions of the centred logit variance and sum to at most 1.
* Key irreps: non-trivial irreps whose logit similarity is at least ``key_threshold``
  (default 0.1, i.e. >= 1 % of the centred logit variance; in trained networks unused irreps
  end at <= 0.05 and used ones at >= 0.18, see docs/groups.md), chosen at the last checkpoint
  and held fixed along training.
* Restricted loss: ``H`` replaced by its mean over pairs plus its projection onto the key
  irreps' ``rho(ab)`` span, cross-entropy over all pairs. Excluded loss: that projection
  subtracted from ``H``, cross-entropy over the training pairs.
* Also: train / test loss and accuracy, sum of squared weights.

The generalisation step is the first checkpoint with test accuracy >= 0.99.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._runtime import available_cpus
from .._serialize import versions
from .._validation import check_choice, check_scalar
from .finite_groups import Group, Irrep, get_group, real_irreps
from ..report.figstyle import save_figure
from ..train.checkpoint import write_json
from ..train.config import checkpoint_steps as _log_schedule

GENERALISED_ACCURACY = 0.99


@dataclass(frozen=True)
class Config:
    """Parameters of one run of the study (all stored in the JSON)."""

    group: str = "S4"
    steps: int = 10000
    train_fraction: float = 0.6
    seed: int = 0
    embed_dim: int = 64
    hidden: int = 128
    lr: float = 1e-2
    weight_decay: float = 2.0
    beta2: float = 0.98
    n_checkpoints: int = 30
    key_threshold: float = 0.1
    embed_scale: float = 0.3
    dtype: str = "float64"  # or "float32" (the paper's; ~2.5x faster on S5); analysis is float64 either way

    def validate(self) -> None:
        for name in ("steps", "embed_dim", "hidden", "n_checkpoints"):
            check_scalar(getattr(self, name), name, int, min_val=1)
        check_scalar(self.seed, "seed", int, min_val=0)
        if not 0 < self.train_fraction < 1:
            raise ValueError(f"train_fraction must be in (0, 1); got {self.train_fraction!r}")
        if not self.lr > 0 or not self.weight_decay >= 0 or not 0 < self.beta2 < 1:
            raise ValueError(
                f"need lr > 0, weight_decay >= 0, 0 < beta2 < 1; got {self.lr!r}, {self.weight_decay!r}, {self.beta2!r}"
            )
        if self.n_checkpoints < 2:
            raise ValueError(f"n_checkpoints must be >= 2; got {self.n_checkpoints!r}")
        if not self.embed_scale > 0:
            raise ValueError(f"embed_scale must be positive; got {self.embed_scale!r}")
        if not 0 < self.key_threshold < 1:
            raise ValueError(f"key_threshold must be in (0, 1); got {self.key_threshold!r}")
        check_choice(self.dtype, "dtype", ("float64", "float32"))
        get_group(self.group)  # raises ValueError naming the expected form


# ---------------------------------------------------------------------- data
def pair_indices(order: int) -> tuple[np.ndarray, np.ndarray]:
    """``a, b`` (order^2,) int arrays: pair ``p = a * order + b``."""
    a, b = np.divmod(np.arange(order * order), order)
    return a, b


def split_pairs(order: int, train_fraction: float, seed: Any = 0) -> np.ndarray:
    """(order^2,) bool mask of training pairs: ``round(train_fraction order^2)`` drawn at random.

    Both sets are non-empty.
    """
    if not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must be in (0, 1); got {train_fraction!r}")
    n = order * order
    k = int(np.clip(round(train_fraction * n), 1, n - 1))
    rng = np.random.default_rng(seed)
    mask = np.zeros(n, dtype=bool)
    mask[rng.permutation(n)[:k]] = True
    return mask


def checkpoint_steps(steps: int, n: int) -> list[int]:
    """Log-spaced checkpoint steps in [0, steps] (``repalign.train``'s schedule with ``n`` points,
    plus 0 and ``steps``)."""
    steps = check_scalar(steps, "steps", int, min_val=1)
    n = check_scalar(n, "n (checkpoints)", int, min_val=2)
    return _log_schedule(steps, n)


# ---------------------------------------------------------------------- network
def make_network(order: int, embed_dim: int, hidden: int, seed: int = 0, embed_scale: float = 1.0):
    """Torch float64 MLP ``U relu(W [E_L[a]; E_R[b]])`` with no biases (see module doc).

    Init: embeddings N(0, embed_scale^2); ``W`` and ``U`` N(0, 1 / fan_in).
    """
    class GroupMLP(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            g = torch.Generator().manual_seed(int(seed))

            def normal(shape, sd):
                return torch.nn.Parameter(torch.randn(*shape, generator=g, dtype=torch.float64) * sd)

            self.embed_left = normal((order, embed_dim), embed_scale)
            self.embed_right = normal((order, embed_dim), embed_scale)
            self.W = normal((hidden, 2 * embed_dim), (2 * embed_dim) ** -0.5)
            self.U = normal((order, hidden), hidden**-0.5)

        def hidden_layer(self, a, b):
            # relu(W [E_L[a]; E_R[b]]) computed per element first: (E_L W_L^T)[a] + (E_R W_R^T)[b],
            # the same function at a fraction of the cost when pairs outnumber elements.
            left = self.embed_left @ self.W[:, :embed_dim].T
            right = self.embed_right @ self.W[:, embed_dim:].T
            return torch.relu(left[a] + right[b])

        def forward(self, a, b):
            return self.hidden_layer(a, b) @ self.U.T

    return GroupMLP()


def train(group: Group, cfg: Config, on_checkpoint=None) -> list[dict]:
    """Train the network of ``cfg`` on ``group``; returns ``[{"step", "params"}]`` per checkpoint.

    ``params`` maps parameter names to float64 numpy copies. ``on_checkpoint(step, params)``
    is called as each is taken.
    """
    n = group.order
    a, b = pair_indices(n)
    mask = split_pairs(n, cfg.train_fraction, cfg.seed)
    a_t, b_t = torch.as_tensor(a[mask]), torch.as_tensor(b[mask])
    y_t = torch.as_tensor(group.table[a[mask], b[mask]])
    model = make_network(n, cfg.embed_dim, cfg.hidden, cfg.seed, cfg.embed_scale).to(getattr(torch, cfg.dtype))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, cfg.beta2))
    wanted = set(checkpoint_steps(cfg.steps, cfg.n_checkpoints))
    out = []
    for step in range(cfg.steps + 1):
        if step in wanted:
            params = {k: v.detach().to(torch.float64).numpy().copy() for k, v in model.named_parameters()}
            out.append({"step": step, "params": params})
            if on_checkpoint is not None:
                on_checkpoint(step, params)
        if step == cfg.steps:
            break
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(a_t, b_t), y_t)
        loss.backward()
        opt.step()
    return out


def forward_numpy(params: dict, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Hidden activations (order^2, hidden) and logits (order^2, order) for every pair."""
    a, b = pair_indices(order)
    x = np.concatenate([params["embed_left"][a], params["embed_right"][b]], axis=1)
    H = np.maximum(x @ params["W"].T, 0.0)
    return H, H @ params["U"].T


# ---------------------------------------------------------------------- representation bases
def orthonormal_span(F: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    """Orthonormal basis (n, r) of the column span of ``F`` (n, k); rank by relative ``tol``."""
    U, s, _ = np.linalg.svd(F, full_matrices=False)
    return U[:, s > tol * max(1.0, s[0] if s.size else 0.0)]


def element_basis(irrep: Irrep) -> np.ndarray:
    """(|G|, r) orthonormal basis of the functions ``g -> rho(g)_ij``."""
    return orthonormal_span(irrep.matrices.reshape(irrep.matrices.shape[0], -1))


def pair_bases(group: Group, irrep: Irrep) -> dict[str, np.ndarray]:
    """Orthonormal bases (|G|^2, r) of ``(a,b) -> rho(a)_ij``, ``rho(b)_ij``, ``rho(ab)_ij``."""
    a, b = pair_indices(group.order)
    M = irrep.matrices.reshape(group.order, -1)
    return {
        "a": orthonormal_span(M[a]),
        "b": orthonormal_span(M[b]),
        "ab": orthonormal_span(M[group.table[a, b]]),
    }


def character_tensor(group: Group, irrep: Irrep) -> np.ndarray:
    """(|G|^2, |G|) ``T[(a, b), c] = tr rho(a b c^-1)``."""
    a, b = pair_indices(group.order)
    ab = group.table[a, b]
    return irrep.character[group.table[ab[:, None], group.inverse[None, :]]]


def variance_fraction(X: np.ndarray, Q: np.ndarray) -> float:
    """``||Q^T Xc||^2 / ||Xc||^2`` with ``Xc`` = X centred over rows; NaN if X is constant."""
    Xc = X - X.mean(axis=0)
    total = float(np.sum(Xc * Xc))
    if total == 0.0:
        return float("nan")
    return float(np.sum((Q.T @ Xc) ** 2) / total)


def double_centre(L: np.ndarray) -> np.ndarray:
    """Remove row means and column means (a copy)."""
    return L - L.mean(axis=1, keepdims=True) - L.mean(axis=0, keepdims=True) + L.mean()


def cosine(X: np.ndarray, Y: np.ndarray) -> float:
    nx, ny = np.linalg.norm(X), np.linalg.norm(Y)
    if nx == 0.0 or ny == 0.0:
        return float("nan")
    return float(np.sum(X * Y) / (nx * ny))


def cross_entropy(logits: np.ndarray, y: np.ndarray) -> float:
    """Mean cross-entropy (nats) of integer labels ``y`` under ``logits`` (n, classes)."""
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(y.size), y].mean())


class Analysis:
    """Precomputed irrep bases for a group; :meth:`metrics` scores one checkpoint."""

    def __init__(self, group: Group, mask: np.ndarray, seed: int = 0) -> None:
        self.group = group
        self.mask = mask
        self.irreps = real_irreps(group, seed=seed)
        self.nontrivial = [r for r in self.irreps if r.name != "trivial"]
        self.elem = {r.name: element_basis(r) for r in self.nontrivial}
        self.pairs = {r.name: pair_bases(group, r) for r in self.nontrivial}
        self.chars = {r.name: double_centre(character_tensor(group, r)) for r in self.nontrivial}
        a, b = pair_indices(group.order)
        self.y = group.table[a, b]

    def metrics(self, params: dict, key: list[str] | None = None) -> dict:
        """Every metric of the module doc for one checkpoint's ``params``.

        ``key`` names the key irreps for the restricted / excluded losses (skipped if None).
        """
        H, L = forward_numpy(params, self.group.order)
        Lc = double_centre(L)
        m, y = self.mask, self.y
        pred = L.argmax(axis=1)
        out: dict[str, Any] = {
            "train_loss": cross_entropy(L[m], y[m]),
            "test_loss": cross_entropy(L[~m], y[~m]),
            "train_accuracy": float(np.mean(pred[m] == y[m])),
            "test_accuracy": float(np.mean(pred[~m] == y[~m])),
            "weight_norm_sq": float(sum(np.sum(v * v) for v in params.values())),
            "irreps": {},
        }
        for r in self.nontrivial:
            out["irreps"][r.name] = {
                "embed_left": variance_fraction(params["embed_left"], self.elem[r.name]),
                "embed_right": variance_fraction(params["embed_right"], self.elem[r.name]),
                **{f"hidden_{k}": variance_fraction(H, Q) for k, Q in self.pairs[r.name].items()},
                "logit_similarity": cosine(Lc, self.chars[r.name]),
            }
        if key:
            out.update(self.ablation_losses(H, params["U"], key))
        return out

    def key_irreps(self, params: dict, threshold: float) -> list[str]:
        """Non-trivial irreps whose logit similarity is >= ``threshold``."""
        _, L = forward_numpy(params, self.group.order)
        Lc = double_centre(L)
        return [r.name for r in self.nontrivial if cosine(Lc, self.chars[r.name]) >= threshold]

    def ablation_losses(self, H: np.ndarray, U: np.ndarray, key: list[str]) -> dict:
        """Restricted loss (all pairs) and excluded loss (training pairs); see module doc."""
        Q = orthonormal_span(np.concatenate([self.pairs[k]["ab"] for k in key], axis=1))
        mean = H.mean(axis=0)
        proj = Q @ (Q.T @ (H - mean))
        m, y = self.mask, self.y
        return {
            "restricted_loss": cross_entropy((mean + proj) @ U.T, y),
            "excluded_loss": cross_entropy(((H - proj) @ U.T)[m], y[m]),
        }

    def key_logit_fraction(self, params: dict, key: list[str]) -> float:
        """Fraction of the double-centred logit variance in the key irreps' character tensors."""
        _, L = forward_numpy(params, self.group.order)
        Lc = double_centre(L)
        return float(sum(cosine(Lc, self.chars[k]) ** 2 for k in key))


# ---------------------------------------------------------------------- the study
def run_study(cfg: Config | None = None, progress: bool = False) -> dict:
    """Train, then score every checkpoint. Returns a JSON-ready dict (see :func:`save`)."""
    cfg = cfg or Config()
    cfg.validate()
    t0 = time.perf_counter()
    group = get_group(cfg.group)
    mask = split_pairs(group.order, cfg.train_fraction, cfg.seed)
    if progress:
        print(f"training on {group.name} (|G| = {group.order}) for {cfg.steps} steps ...", flush=True)
    ckpts = train(group, cfg)
    t_train = time.perf_counter() - t0
    an = Analysis(group, mask)
    final = ckpts[-1]["params"]
    key = an.key_irreps(final, cfg.key_threshold)
    history = [{"step": c["step"], **an.metrics(c["params"], key or None)} for c in ckpts]
    gen = next((h["step"] for h in history if h["test_accuracy"] >= GENERALISED_ACCURACY), None)
    end = history[-1]
    summary = {
        "generalisation_step": gen,
        "key_irreps": key,
        "key_logit_variance_fraction": an.key_logit_fraction(final, key),
        "chance_loss": float(np.log(group.order)),
        **{k: end[k] for k in end if k != "irreps" and k != "step"},
    }
    return {
        "config": asdict(cfg),
        "versions": versions(),
        "group": {"name": group.name, "order": group.order, "n_train_pairs": int(mask.sum())},
        "irreps": [
            {"name": r.name, "dim": r.dim, "kind": r.kind, "span_dim": int(element_basis(r).shape[1])} for r in an.irreps
        ],
        "summary": summary,
        "history": history,
        "seconds": {"train": t_train, "total": time.perf_counter() - t0},
        "_checkpoints": ckpts,
    }


def summary_table(results: dict) -> str:
    """Markdown table of end-of-training numbers: one row per non-trivial irrep, then totals.

    ``isotropic`` is the embedding fraction an isotropic random embedding has on average:
    the irrep's span dimension over ``|G| - 1``.
    """
    end = results["history"][-1]
    key = set(results["summary"]["key_irreps"])
    cols = ["embed_left", "embed_right", "hidden_a", "hidden_b", "hidden_ab", "logit_similarity"]
    lines = ["| irrep | dim | key | isotropic | " + " | ".join(cols) + " |", "|" + "---|" * (len(cols) + 4)]
    info = {r["name"]: r for r in results["irreps"]}
    n = results["group"]["order"]
    for name, row in end["irreps"].items():
        vals = " | ".join(f"{row[c]:.3f}" for c in cols)
        iso = info[name].get("span_dim", np.nan) / (n - 1)
        lines.append(f"| {name} | {info[name]['dim']} | {'yes' if name in key else ''} | {iso:.3f} | {vals} |")
    s = results["summary"]
    lines.append("")
    for k in ("generalisation_step", "key_irreps", "key_logit_variance_fraction", "chance_loss", "train_loss",
              "test_loss", "train_accuracy", "test_accuracy", "restricted_loss", "excluded_loss", "weight_norm_sq"):
        if k in s:
            v = s[k]
            lines.append(f"- {k}: {v:.4g}" if isinstance(v, float) else f"- {k}: {v}")
    return "\n".join(lines)


def plot(results: dict, out_dir: str | Path) -> dict[str, Path]:
    """Three PNGs in ``out_dir``: losses, per-irrep variance fractions, logit similarity."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    hist = results["history"]
    steps = np.array([max(h["step"], 1) for h in hist])  # step 0 drawn at 1 on the log axis
    gen = results["summary"]["generalisation_step"]
    name = results["group"]["name"]
    paths = {}

    fig, ax = plt.subplots(figsize=(6, 4))
    for k in ("train_loss", "test_loss", "restricted_loss", "excluded_loss"):
        if k in hist[0]:
            ax.plot(steps, [h[k] for h in hist], marker=".", label=k.replace("_", " "))
    ax.axhline(results["summary"]["chance_loss"], color="grey", ls=":", lw=1, label="chance (log |G|)")
    _mark(ax, gen)
    ax.set(xscale="log", yscale="log", xlabel="step", ylabel="cross-entropy (nats)", title=f"{name}: losses")
    ax.legend(fontsize=7)
    paths["losses"] = _save(fig, out_dir / f"groups_{name}_losses.png")

    irreps = list(hist[-1]["irreps"])
    panels = [("embed_left", "left embedding"), ("hidden_ab", "hidden, rho(ab)"), ("hidden_a", "hidden, rho(a)")]
    fig, axes = plt.subplots(1, len(panels), figsize=(11, 3.4), sharey=True)
    for ax, (k, title) in zip(axes, panels):
        for r in irreps:
            ax.plot(steps, [h["irreps"][r][k] for h in hist], label=r)
        _mark(ax, gen)
        ax.set(xscale="log", xlabel="step", title=title, ylim=(0, 1))
    axes[0].set_ylabel("fraction of variance")
    axes[-1].legend(fontsize=7)
    paths["fractions"] = _save(fig, out_dir / f"groups_{name}_fractions.png")

    fig, ax = plt.subplots(figsize=(6, 4))
    for r in irreps:
        ax.plot(steps, [h["irreps"][r]["logit_similarity"] for h in hist], label=r)
    _mark(ax, gen)
    ax.axhline(results["config"]["key_threshold"], color="grey", ls=":", lw=1, label="key threshold")
    ax.set(xscale="log", xlabel="step", ylabel="cosine(logits, tr rho(a b c^-1))", title=f"{name}: logit similarity")
    ax.legend(fontsize=7)
    paths["logit_similarity"] = _save(fig, out_dir / f"groups_{name}_logit_similarity.png")
    return paths


def _mark(ax, gen) -> None:
    if gen is not None:
        ax.axvline(max(gen, 1), color="k", ls="--", lw=0.8, label=f"test acc >= {GENERALISED_ACCURACY} (step {gen})")


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    save_figure(fig, path, dpi=80, tight=False)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def save(results: dict, out_dir: str | Path, checkpoints: bool = False) -> dict[str, Path]:
    """Write ``groups_<G>.json``, ``groups_<G>.md`` (table), the figures and, if asked,
    ``groups_<G>_checkpoints.npz`` (parameters per checkpoint, keys ``step<k>/<name>``)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = results["group"]["name"]
    body = {k: v for k, v in results.items() if not k.startswith("_")}
    paths = {"json": out_dir / f"groups_{name}.json", "table": out_dir / f"groups_{name}.md"}
    write_json(paths["json"], body)
    paths["table"].write_text(summary_table(results) + "\n")
    paths.update(plot(results, out_dir))
    if checkpoints and "_checkpoints" in results:
        arrays = {f"step{c['step']}/{k}": v for c in results["_checkpoints"] for k, v in c["params"].items()}
        paths["checkpoints"] = out_dir / f"groups_{name}_checkpoints.npz"
        np.savez_compressed(paths["checkpoints"], **arrays)
    return paths


def set_threads(n: int | None = None) -> int:
    """Limit torch to the CPUs this process may use (or ``n``)."""
    avail = available_cpus()
    n = max(1, min(n or avail, avail))
    torch.set_num_threads(n)
    return n
