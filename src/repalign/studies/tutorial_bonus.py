"""Part 2 of study ``tutorial``: representational paths of three digit classifiers.

1. Train the standard, adversarially trained (FGSM) and recurrent CNNs
   (:mod:`repalign.studies.tutorial_train`).
2. FGSM accuracy against epsilon on the test set; calibration of "adversarial training makes the
   network more robust at ``attack_epsilon``": paired bootstrap over test images of the accuracy
   difference (adversarial - standard), interval and verdict.
3. RDMs per layer (correlation and the tutorial's euclidean) on ``per_class`` test images per
   digit; RDM-to-RDM distances (arccos of cosine, plus 1 - Pearson / Spearman, checked against
   rsatoolbox on one pair); every model's path through its layers (the recurrent one through its
   steps), with the labels' RDM as end point, embedded by MDS.
4. The same paths for FGSM images (each network attacked through its own gradient): how far each
   layer's RDM moves under attack, and how far the last layer ends from the labels.
5. DSA across the recurrent model's steps: trials = images, time = the drive plus 5 steps, units
   = 16 channel means. Clean against attacked dynamics (disjoint halves of the test images),
   calibrated by the split-half null (clean half against clean half, ``null_draws`` random splits).
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np
import torch

from ..api import compare
from ..models.cnn import fgsm, layer_activations
from ..stats.bootstrap import bootstrap_statistic
from ..stats.result import p_value, verdict, z_score
from .tutorial_paths import (fgsm_accuracy, fgsm_correct, layer_rdms, load_digits_split, representational_path,
                             stimulus_set, step_trajectories)
from .tutorial_train import accuracy, train_networks

__all__ = ["run_paths", "hooked_layers"]


def hooked_layers(model: torch.nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """``input`` and every layer of ``model.layers`` (recurrent steps expanded), in order."""
    base = list(dict.fromkeys(n.split("_")[0] if n.startswith("step_") else n for n in model.layers))
    feats = layer_activations(model, x, base)
    return {"input": feats["input"], **{n: feats[n] for n in model.layers}}


def run_paths(cfg, progress: Callable[[str], None] = print, ckpt: str | None = None) -> dict:
    t0 = time.perf_counter()
    torch.manual_seed(cfg.seed)
    data = load_digits_split(cfg.seed)
    nets = train_networks(data, epochs=cfg.epochs, lr=cfg.lr, recurrent_lr=cfg.recurrent_lr, batch_size=cfg.batch_size, adv_epsilon=cfg.adv_epsilon,
                          seed=cfg.seed, workers=cfg.workers, ckpt=ckpt, progress=progress)
    models = {k: v["model"] for k, v in nets.items()}
    xt, yt = torch.from_numpy(data["x_test"]), torch.from_numpy(data["y_test"])
    res: dict[str, Any] = {
        "data": {"source": "sklearn.datasets.load_digits (8x8; MNIST cannot be downloaded here)",
                 "n_train": int(len(data["y_train"])), "n_test": int(len(yt))},
        "training": {k: {"curve": v["curve"], "seconds": v["seconds"], "resumed": v["resumed"],
                         "test_accuracy": accuracy(v["model"], data["x_test"], data["y_test"]),
                         "parameters": int(sum(p.numel() for p in v["model"].parameters()))} for k, v in nets.items()},
    }
    res["fgsm"] = _fgsm_part(models, xt, yt, cfg)
    progress("  FGSM accuracy at eps %.2f: " % cfg.attack_epsilon
             + ", ".join(f"{k} {v:.3f}" for k, v in res["fgsm"]["at_attack"].items()))
    xs, ys = stimulus_set(data["x_test"], data["y_test"], cfg.per_class)
    xs_t, ys_t = torch.from_numpy(xs), torch.from_numpy(ys)
    feats = {k: hooked_layers(m, xs_t) for k, m in models.items()}
    res["paths"] = {method: _path_summary(representational_path(feats, ys, method, cfg.seed))
                    for method in ("euclidean", "correlation")}
    res["comparators"] = _comparators(feats, ys)
    attacked = {f"{k} (FGSM)": hooked_layers(models[k], fgsm(models[k], xs_t, ys_t, cfg.attack_epsilon))
                for k in ("standard", "adversarial")}
    both = {"standard": feats["standard"], "adversarial": feats["adversarial"], **attacked}
    res["attack_paths"] = _path_summary(representational_path(both, ys, "euclidean", cfg.seed))
    res["attack_shift"] = _attack_shift(feats, attacked)
    res["recurrent_dsa"] = _recurrent_dsa(models["recurrent"], xt, yt, cfg)
    progress(f"  recurrent DSA clean vs FGSM {res['recurrent_dsa']['observed']:.4f} "
             f"(split-half null mean {res['recurrent_dsa']['null_mean']:.4f}): {res['recurrent_dsa']['verdict']}")
    res["stimuli"] = {"per_class": cfg.per_class, "n": int(len(ys))}
    res["seconds"] = time.perf_counter() - t0
    return res


def _fgsm_part(models: dict, xt: torch.Tensor, yt: torch.Tensor, cfg) -> dict:
    curves = {k: fgsm_accuracy(m, xt, yt, cfg.epsilons) for k, m in models.items()}
    correct = {k: fgsm_correct(m, xt, yt, cfg.attack_epsilon) for k, m in models.items()}
    pairs = np.stack([correct["adversarial"], correct["standard"]], axis=1).astype(float)
    boot = bootstrap_statistic(pairs, lambda a: float(np.mean(a[:, 0] - a[:, 1])), n=cfg.n_boot,
                               method="percentile", seed=cfg.seed)
    lo, hi = (float(v) for v in boot.interval)
    word = ("adversarial training raises FGSM accuracy" if lo > 0 else
            "adversarial training lowers FGSM accuracy" if hi < 0 else "no difference resolved (interval contains 0)")
    return {"epsilons": list(cfg.epsilons), "accuracy": curves,
            "at_attack": {k: float(v.mean()) for k, v in correct.items()},
            "calibration": {"statistic": f"accuracy(adversarial) - accuracy(standard) at eps {cfg.attack_epsilon}, "
                                         "paired percentile bootstrap over test images",
                            "observed": float(boot.observed), "ci_low": lo, "ci_high": hi, "verdict": word}}


def _path_summary(p: dict) -> dict:
    return {"names": [f"{m}:{layer}" for m, layer in p["names"]], "method": p["method"],
            "distance": p["distance"], "coords": p["coords"], "paths": p["paths"], "length": p["length"],
            "to_labels": p["to_labels"]}


def _comparators(feats: dict, labels: np.ndarray) -> dict:
    """Last-layer RDMs of the standard and recurrent models: repalign's comparators next to
    rsatoolbox's on the same pair (correlation RDMs)."""
    from ..geometry.rsa import compare_rdms

    a = layer_rdms({"x": feats["standard"]["fc2"]}, "correlation")["x"]
    b = layer_rdms({"x": feats["recurrent"]["readout"]}, "correlation")["x"]
    ours = {m: float(compare_rdms(a, b, m)) for m in ("cosine", "pearson", "spearman")}
    out = {"pair": "standard fc2 vs recurrent readout (correlation RDMs)", "repalign": ours}
    try:
        from rsatoolbox.rdm import RDMs, compare as rsa_compare

        theirs = {m: float(rsa_compare(RDMs(a[None]), RDMs(b[None]), method=m)[0, 0])
                  for m in ("cosine", "corr", "spearman")}
        out["rsatoolbox"] = theirs
        out["max_abs_difference"] = float(max(abs(ours["cosine"] - theirs["cosine"]), abs(ours["pearson"] - theirs["corr"]),
                                              abs(ours["spearman"] - theirs["spearman"])))
    except ImportError as exc:
        out["rsatoolbox"] = f"not installed ({exc})"
    return out


def _attack_shift(clean: dict, attacked: dict) -> dict:
    """Per model and layer: arccos-cosine distance between the clean and the FGSM RDM (euclidean)."""
    from .tutorial_paths import rdm_distance_matrix

    out = {}
    for k in ("standard", "adversarial"):
        rc = layer_rdms(clean[k], "euclidean")
        ra = layer_rdms(attacked[f"{k} (FGSM)"], "euclidean")
        out[k] = {layer: float(rdm_distance_matrix([rc[layer], ra[layer]])[0, 1]) for layer in rc}
    return out


def _recurrent_dsa(model: torch.nn.Module, xt: torch.Tensor, yt: torch.Tensor, cfg) -> dict:
    clean = step_trajectories(model, xt)
    attacked = step_trajectories(model, fgsm(model, xt, yt, cfg.attack_epsilon))
    rng = np.random.default_rng(cfg.seed)
    n = len(clean)
    kw = {"n_delays": 1, "rank": None}
    obs, null = [], []
    for _ in range(cfg.null_draws):
        perm = rng.permutation(n)
        a, b = perm[: n // 2], perm[n // 2:]
        obs.append(compare(list(clean[a]), list(attacked[b]), "dsa", **kw))
        null.append(compare(list(clean[a]), list(clean[b]), "dsa", **kw))
    observed, null = float(np.mean(obs)), np.asarray(null)
    p, z = p_value(observed, null, "greater"), z_score(observed, null)
    return {"what": "DSA (n_delays 1, full rank 16) between the recurrent model's step dynamics on clean and "
                    f"FGSM (eps {cfg.attack_epsilon}) test images, disjoint halves; null: clean half vs clean half",
            "observed": observed, "observed_per_split": obs, "null_mean": float(null.mean()),
            "null_sd": float(null.std(ddof=1)) if len(null) > 1 else None, "p": p, "z": z,
            "verdict": verdict(p, z, "greater"), "n_images": int(n), "steps": int(clean.shape[1])}
