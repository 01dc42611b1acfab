"""Training the tutorial study's three classifiers on the digits, in parallel, with checkpoints.

Three networks: ``standard`` (:class:`~repalign.models.cnn.SmallCNN`), ``adversarial`` (the same
architecture trained on half clean, half FGSM loss, the FGSM images made from the current
network at ``adv_epsilon``; Goodfellow et al. 2015) and ``recurrent``
(:class:`~repalign.models.cnn.RecurrentCNN`). Adam, mini-batches shuffled by a seeded generator,
``torch.manual_seed`` for initialisation and dropout, one torch thread per process.

Each network runs in its own process (``workers`` > 1, ``concurrent.futures``) and writes
``<dir>/<name>.pt`` after every epoch (model and optimiser state, epoch, loss curve; read back
with ``torch.load(weights_only=True)``). A re-run with the same settings resumes from the last
finished epoch (model, optimiser and torch's random state restored, so the result equals an
uninterrupted run) and returns a finished network without training again; asking for more
epochs continues from the checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.nn import functional as F

from .._runtime import limited_threads
from .._serialize import atomic_write
from .._validation import check_scalar
from ..models.cnn import MODELS, fgsm

__all__ = ["NETWORKS", "train_networks", "train_one", "build"]

NETWORKS = {"standard": ("cnn", False), "adversarial": ("cnn", True), "recurrent": ("recurrent", False)}


def build(name: str) -> torch.nn.Module:
    return MODELS[NETWORKS[name][0]]()


def _spec_key(spec: dict) -> str:
    return hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def train_one(spec: dict) -> dict:
    """Train (or resume) one network; ``spec``: name, epochs, lr, batch_size, adv_epsilon, seed,
    data (the arrays), ckpt (folder or None). Returns ``{"name", "state", "curve", "seconds", "resumed"}``."""
    with limited_threads(1):
        return _train_one(spec)


def _train_one(spec: dict) -> dict:
    name, data = spec["name"], spec["data"]
    key_spec = {k: v for k, v in spec.items() if k not in ("data", "ckpt", "epochs")}  # more epochs resume
    key_spec["data_sha1"] = hashlib.sha1(np.ascontiguousarray(data["x_train"]).tobytes()
                                         + np.ascontiguousarray(data["y_train"]).tobytes()).hexdigest()
    key = _spec_key(key_spec)
    torch.manual_seed(int(spec["seed"]) * 1000 + list(NETWORKS).index(name))
    model = build(name)
    opt = torch.optim.Adam(model.parameters(), lr=spec["lr"])
    start, curve, resumed = 0, [], False
    path = None if spec["ckpt"] is None else Path(spec["ckpt"]) / f"{name}.pt"
    if path is not None and path.exists():
        ck = torch.load(path, weights_only=True)
        if ck.get("key") == key and int(ck["epoch"]) <= int(spec["epochs"]):  # else: train afresh
            model.load_state_dict(ck["model"])
            opt.load_state_dict(ck["opt"])
            start, curve, resumed = int(ck["epoch"]), list(ck["curve"]), True
            torch.set_rng_state(ck["rng"])  # dropout draws continue as in an uninterrupted run
    x, y = torch.from_numpy(data["x_train"]), torch.from_numpy(data["y_train"])
    adversarial = NETWORKS[name][1]
    t0 = time.perf_counter()
    for epoch in range(start, spec["epochs"]):
        gen = torch.Generator().manual_seed(int(spec["seed"]) * 7919 + epoch)
        order = torch.randperm(len(x), generator=gen)
        model.train()
        total = 0.0
        for b in range(0, len(x), spec["batch_size"]):
            xb, yb = x[order[b:b + spec["batch_size"]]], y[order[b:b + spec["batch_size"]]]
            loss = F.cross_entropy(model(xb), yb)
            if adversarial:
                loss = 0.5 * loss + 0.5 * F.cross_entropy(model(fgsm(model, xb, yb, spec["adv_epsilon"])), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(xb)
        curve.append(total / len(x))
        if path is not None:
            _save(path, {"key": key, "model": model.state_dict(), "opt": opt.state_dict(), "epoch": epoch + 1,
                         "curve": curve, "rng": torch.get_rng_state()})
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return {"name": name, "state": state, "curve": curve, "seconds": time.perf_counter() - t0, "resumed": resumed}


def _save(path: Path, obj: dict) -> None:
    atomic_write(path, lambda fh: torch.save(obj, fh))


def train_networks(data: dict, *, epochs: int, lr: float = 1e-3, recurrent_lr: float = 1e-2, batch_size: int = 64,
                   adv_epsilon: float = 0.1,
                   seed: int = 0, workers: int = 1, ckpt: str | Path | None = None,
                   progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train the three networks (module docstring); Adam at ``lr``, the small recurrent network
    at ``recurrent_lr`` (at 1e-3 it reaches only ~50 % test accuracy in 8 epochs, ~93 % at 1e-2).
    Returns ``{name: {"model", "curve", "seconds", "resumed"}}`` with each model in eval mode."""
    workers = check_scalar(workers, "workers", int, min_val=1)
    specs = [{"name": n, "epochs": int(epochs), "lr": float(recurrent_lr if n == "recurrent" else lr), "batch_size": int(batch_size),
              "adv_epsilon": float(adv_epsilon), "seed": int(seed), "data": data,
              "ckpt": None if ckpt is None else str(ckpt)} for n in NETWORKS]
    if workers == 1:
        results = map(train_one, specs)
        return _collect(results, progress)
    with ProcessPoolExecutor(max_workers=min(workers, len(specs))) as pool:
        return _collect(pool.map(train_one, specs), progress)


def _collect(results, progress) -> dict[str, Any]:
    out = {}
    for r in results:
        model = build(r["name"])
        model.load_state_dict(r["state"])
        model.eval()
        out[r["name"]] = {"model": model, "curve": [float(v) for v in r["curve"]], "seconds": r["seconds"],
                          "resumed": r["resumed"]}
        if progress:
            tail = f"final training loss {r['curve'][-1]:.3f}" if r["curve"] else "no epochs"
            progress(f"  trained {r['name']}: {len(r['curve'])} epochs, {tail} ({r['seconds']:.1f} s"
                     f"{', resumed' if r['resumed'] else ''})")
    return out


def accuracy(model: torch.nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    with torch.no_grad():
        return float((model(torch.from_numpy(x)).argmax(1).numpy() == y).mean())
