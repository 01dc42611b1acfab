"""Small MLPs and CNNs on scikit-learn's digits for ReSi's tests: data, training, a disk cache.

Inputs are the 8 x 8 digits scaled to [0, 1] and zero-padded to 10 x 10: the border row 0 is
where the shortcut test paints its label-leaking marker (pixel (0, c) lit for class c), so
every network of every test has the same input size. Data split (fixed): 360 stratified test
images (``random_state=0``), the other 1437 for training.

* ``mlp``: 100 -> ``width`` x ``depth`` (ReLU) -> 10. Layers: each hidden layer, then the logits.
* ``cnn``: conv 3x3 (8 ch) + ReLU + max-pool 2 -> conv 3x3 (16 ch) + ReLU + max-pool 2 ->
  dense ``width`` (ReLU) -> 10. Layers: the two pooled conv maps (flattened: 200 and 64
  units), the dense layer, the logits.

A network is fully described by a :class:`NetSpec` (architecture, width, epochs, training
subset, label noise, shortcut reliability, input-noise augmentation, seed); training is
deterministic given the spec (one thread, seeded generators). :func:`train_all` trains the
specs whose file is missing from the cache folder (in parallel processes when ``jobs > 1``)
and :func:`load_net` reads a file back with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

from .._runtime import limited_threads
from .._serialize import atomic_write
from .._validation import check_choice, check_scalar

N_CLASSES = 10
SIDE = 10  # padded image side
CACHE_ENV = "REPALIGN_RESI_CACHE"
JOBS_ENV = "REPALIGN_RESI_JOBS"
ARCHS = ("mlp", "cnn")


@dataclass(frozen=True)
class NetSpec:
    """One network: architecture and how it was trained.

    ``train_fraction`` of the training images (a seeded subset), ``label_noise``: that share
    of training labels replaced by uniformly random classes; ``shortcut``: None (no marker) or
    the probability that the marker shows the true class (else a uniformly random class);
    ``noise``: SD of Gaussian noise added to training inputs (fresh each epoch, pixels in [0, 1]).
    """

    arch: str = "mlp"
    width: int = 64
    depth: int = 4
    epochs: int = 10
    train_fraction: float = 1.0
    label_noise: float = 0.0
    shortcut: float | None = None
    noise: float = 0.0
    seed: int = 0
    lr: float = 5e-3
    batch: int = 128

    def __post_init__(self) -> None:
        check_choice(self.arch, "arch", ARCHS)
        checks = {"width": (int, 1, None, "both"), "depth": (int, 1, None, "both"), "epochs": (int, 1, None, "both"),
                  "batch": (int, 1, None, "both"), "seed": (int, 0, None, "both"),
                  "train_fraction": (float, 0.0, 1.0, "right"), "label_noise": (float, 0.0, 1.0, "both"),
                  "shortcut": (float, 0.0, 1.0, "both"), "noise": (float, 0.0, None, "both"),
                  "lr": (float, 0.0, None, "neither")}
        for name, (kind, lo, hi, inc) in checks.items():  # normalised (1 -> 1.0), so equal specs hash equal
            v = check_scalar(getattr(self, name), name, kind, min_val=lo, max_val=hi, include_boundaries=inc,
                             allow_none=name == "shortcut")
            object.__setattr__(self, name, v)

    def key(self) -> str:
        """A file name stem unique to the spec."""
        blob = json.dumps(asdict(self), sort_keys=True).encode()
        return f"{self.arch}-{hashlib.sha256(blob).hexdigest()[:16]}"


# ---------------------------------------------------------------------------- data
@lru_cache(maxsize=1)
def digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X_train, y_train, X_test, y_test); X: (n, 10, 10) float32 in [0, 1], y: (n,) int64."""
    d = load_digits()
    X = np.zeros((len(d.images), SIDE, SIDE), np.float32)
    X[:, 1:9, 1:9] = d.images / 16.0
    Xtr, Xte, ytr, yte = train_test_split(X, d.target.astype(np.int64), test_size=360, stratify=d.target,
                                          random_state=0)
    return Xtr, ytr, Xte, yte


def add_marker(X: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """A copy of X (n, 10, 10) with pixel (0, c) set to 1 for each image's marker class c."""
    out = X.copy()
    out[np.arange(len(X)), 0, classes] = 1.0
    return out


def training_data(spec: NetSpec) -> tuple[np.ndarray, np.ndarray]:
    """The training images and labels of ``spec`` (subset, label noise and marker applied)."""
    Xtr, ytr, _, _ = digits_split()
    rng = np.random.default_rng([spec.seed, 1])
    n = max(N_CLASSES, int(round(spec.train_fraction * len(ytr))))
    idx = np.sort(rng.permutation(len(ytr))[:n])
    X, y = Xtr[idx], ytr[idx].copy()
    if spec.shortcut is not None:  # the marker follows the true label, before any label noise
        random_cls = rng.integers(0, N_CLASSES, len(y))
        X = add_marker(X, np.where(rng.random(len(y)) < spec.shortcut, y, random_cls))
    noisy = rng.random(len(y)) < spec.label_noise
    y[noisy] = rng.integers(0, N_CLASSES, int(noisy.sum()))
    return X, y


def eval_inputs(n: int, shortcut: bool = False, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` test images (with uniformly random markers if ``shortcut``) and labels."""
    _, _, Xte, yte = digits_split()
    if not 2 <= n <= len(yte):
        raise ValueError(f"n must be in [2, {len(yte)}]; got {n}")
    X = Xte[:n]
    if shortcut:
        X = add_marker(X, np.random.default_rng([seed, 2]).integers(0, N_CLASSES, n))
    return X, yte[:n]


# ---------------------------------------------------------------------------- networks
class DigitsNet(nn.Module):
    """MLP or CNN of :class:`NetSpec`; ``forward`` returns the logits, ``layers`` every layer."""

    def __init__(self, spec: NetSpec) -> None:
        super().__init__()
        self.arch = spec.arch
        if spec.arch == "mlp":
            sizes = [SIDE * SIDE] + [spec.width] * spec.depth
            self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
            self.out = nn.Linear(spec.width, N_CLASSES)
        else:
            self.conv = nn.ModuleList([nn.Conv2d(1, 8, 3, padding=1), nn.Conv2d(8, 16, 3, padding=1)])
            self.hidden = nn.ModuleList([nn.Linear(16 * 2 * 2, spec.width)])
            self.out = nn.Linear(spec.width, N_CLASSES)

    def layers(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Activations of every layer for inputs (n, 10, 10): (n, units) each, logits last."""
        acts = []
        if self.arch == "mlp":
            h = x.reshape(len(x), -1)
        else:
            h = x.reshape(len(x), 1, SIDE, SIDE)
            for conv in self.conv:
                h = torch.max_pool2d(torch.relu(conv(h)), 2)
                acts.append(h.reshape(len(x), -1))
            h = h.reshape(len(x), -1)
        for lin in self.hidden:
            h = torch.relu(lin(h))
            acts.append(h)
        acts.append(self.out(h))
        return acts

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)[-1]


def train_net(spec: NetSpec) -> dict:
    """Train ``spec`` from scratch; {"state_dict", "meta"} (meta: the spec, clean test accuracy)."""
    with limited_threads(1):
        torch.manual_seed(spec.seed)
        net = DigitsNet(spec)
        X, y = training_data(spec)
        X, y = torch.from_numpy(X), torch.from_numpy(y)
        gen = torch.Generator().manual_seed(spec.seed)
        opt = torch.optim.Adam(net.parameters(), lr=spec.lr)
        for _ in range(spec.epochs):
            order = torch.randperm(len(y), generator=gen)
            for s in range(0, len(y), spec.batch):
                b = order[s:s + spec.batch]
                xb = X[b]
                if spec.noise > 0:
                    xb = xb + spec.noise * torch.randn(xb.shape, generator=gen)
                loss = nn.functional.cross_entropy(net(xb), y[b])
                opt.zero_grad()
                loss.backward()
                opt.step()
        Xte, yte = eval_inputs(len(digits_split()[3]))
        with torch.no_grad():
            acc = float((net(torch.from_numpy(Xte)).argmax(1).numpy() == yte).mean())
    return {"state_dict": net.state_dict(), "meta": {**asdict(spec), "test_accuracy": acc}}


# ---------------------------------------------------------------------------- cache
def cache_dir(path: str | os.PathLike | None = None) -> Path:
    """The cache folder: ``path``, else $REPALIGN_RESI_CACHE, else ~/.cache/repalign/resi."""
    p = path or os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "repalign" / "resi"
    return Path(p)


def _train_and_save(spec: NetSpec, folder: str) -> str:
    """Train ``spec`` and write it atomically to FOLDER/<key>.pt (a crash leaves no half file)."""
    trained = train_net(spec)
    return str(atomic_write(Path(folder) / f"{spec.key()}.pt", lambda fh: torch.save(trained, fh)))


def load_net(spec: NetSpec, folder: str | os.PathLike | None = None) -> tuple[DigitsNet, dict] | None:
    """(network in eval mode, meta) from the cache, or None if missing or made by another spec."""
    path = cache_dir(folder) / f"{spec.key()}.pt"
    if not path.is_file():
        return None
    blob = torch.load(path, map_location="cpu", weights_only=True)
    meta = blob.get("meta", {})
    if {k: meta.get(k) for k in asdict(spec)} != asdict(spec):
        return None
    net = DigitsNet(spec)
    net.load_state_dict(blob["state_dict"])
    return net.eval(), meta


def default_jobs() -> int:
    """$REPALIGN_RESI_JOBS, else min(2, CPUs)."""
    v = os.environ.get(JOBS_ENV)
    if v is not None:
        if not v.isdigit() or int(v) < 1:
            raise ValueError(f"{JOBS_ENV} must be a positive integer; got {v!r}")
        return int(v)
    return min(2, os.cpu_count() or 1)


def train_all(specs: list[NetSpec], folder: str | os.PathLike | None = None, jobs: int | None = None,
              progress=None) -> list[tuple[DigitsNet, dict]]:
    """Networks and metas of ``specs``: trained (and cached) where missing, else loaded.

    ``jobs > 1`` trains in that many local processes; each network is saved as soon as it is
    done (atomically), so an interrupted run resumes where it stopped.
    """
    folder = cache_dir(folder)
    folder.mkdir(parents=True, exist_ok=True)
    jobs = default_jobs() if jobs is None else jobs
    todo = list(dict.fromkeys(s for s in specs if load_net(s, folder) is None))
    say = progress or (lambda msg: print(msg, file=sys.stderr, flush=True))
    if todo:
        say(f"resi: training {len(todo)} network(s) into {folder} ({jobs} process(es))")
        if jobs > 1 and len(todo) > 1:
            with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
                for k, _ in enumerate(pool.map(_train_and_save, todo, [str(folder)] * len(todo)), 1):
                    if k % 10 == 0 or k == len(todo):
                        say(f"resi: {k}/{len(todo)} trained")
        else:
            for k, s in enumerate(todo, 1):
                _train_and_save(s, str(folder))
                if k % 10 == 0 or k == len(todo):
                    say(f"resi: {k}/{len(todo)} trained")
    out = [load_net(s, folder) for s in specs]
    if any(o is None for o in out):
        raise RuntimeError(f"resi: a network could not be read back from {folder}")
    return out


def representations(net: DigitsNet, X: np.ndarray) -> list[np.ndarray]:
    """Every layer's activations on inputs X (n, 10, 10), as float64 (n, units) arrays."""
    with limited_threads(1), torch.no_grad():
        return [a.numpy().astype(np.float64) for a in net.layers(torch.from_numpy(np.ascontiguousarray(X)))]
