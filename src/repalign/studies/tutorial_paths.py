"""The DSA tutorial's bonus: representational paths of feedforward, adversarially trained and
recurrent CNNs (seed 003), on scikit-learn's digits.

MNIST cannot be downloaded here (no network); scikit-learn ships the 1797 8 x 8 digits, so the
models of :mod:`repalign.models.cnn` are trained on those (75 % train / 25 % test, stratified).

* :func:`layer_rdms` -- RDMs of every recorded layer (repalign's :func:`~repalign.geometry.rsa.rdm`).
* :func:`representational_path` -- all RDMs against each other by the arccos of their cosine
  (the tutorial's RDM-to-RDM distance), embedded in 2-D by metric MDS (scikit-learn); each model's
  layers (and recurrent steps) in order form its path, the labels' RDM is the end point.
* :func:`fgsm_accuracy` -- accuracy under FGSM against epsilon (white-box: each model attacked
  through its own gradient).
* :func:`step_trajectories` -- the recurrent model's channel means over its steps, one trial per
  image, for DSA across time steps.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch.nn import functional as F

from ..geometry.rsa import compare_rdms, rdm
from ..models.cnn import fgsm, layer_activations

__all__ = ["load_digits_split", "layer_rdms", "rdm_distance_matrix", "representational_path",
           "fgsm_accuracy", "per_sample_loss", "step_trajectories", "stimulus_set", "mds_2d"]

RDM_CALC = {"euclidean": ("sqeuclidean", True), "correlation": ("correlation", False)}


def load_digits_split(seed: int = 0, test_fraction: float = 0.25) -> dict[str, np.ndarray]:
    """sklearn's digits as ``(n, 1, 8, 8)`` float32 in [0, 1] (pixel / 16), stratified split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=test_fraction, stratify=y, random_state=int(seed))
    return {"x_train": Xtr, "y_train": ytr.astype(np.int64), "x_test": Xte, "y_test": yte.astype(np.int64)}


def stimulus_set(x: np.ndarray, y: np.ndarray, per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``per_class`` images of each class, grouped by class (the RDMs' conditions)."""
    idx = np.concatenate([np.flatnonzero(y == c)[:per_class] for c in np.unique(y)])
    return x[idx], y[idx]


def layer_rdms(features: Mapping[str, Any], method: str = "correlation") -> dict[str, np.ndarray]:
    """Condensed RDM per layer. ``method``: "correlation" (1 - Pearson across units) or
    "euclidean" in rsatoolbox's (and so the tutorial's) convention, the squared distance per unit
    ``||x_i - x_j||^2 / p`` (repalign ``rdm(X, "sqeuclidean", per_channel=True)``)."""
    if method not in RDM_CALC:
        raise ValueError(f"method must be one of {tuple(RDM_CALC)}; got {method!r}")
    how, per_channel = RDM_CALC[method]
    out = {}
    for name, f in features.items():
        arr = f.detach().cpu().numpy() if hasattr(f, "detach") else np.asarray(f)
        arr = arr.reshape(arr.shape[0], -1).astype(np.float64)
        if method == "correlation" and np.any(arr.std(axis=1) == 0):
            arr = arr + 1e-12 * np.arange(arr.shape[1])  # a silent pattern: correlation undefined
        out[name] = rdm(arr, how, per_channel=per_channel) if per_channel else rdm(arr, how)
    return out


def labels_rdm(labels: np.ndarray, method: str = "correlation") -> np.ndarray:
    """The RDM of one-hot labels: the ideal end point of a classifier's path."""
    onehot = np.eye(int(labels.max()) + 1)[labels]
    return layer_rdms({"labels": onehot}, method)["labels"]


def rdm_distance_matrix(rdms: Sequence[np.ndarray], comparator: str = "arccos_cosine") -> np.ndarray:
    """Pairwise distances between condensed RDMs: ``arccos(cosine)`` (the tutorial's, radians,
    in [0, pi/2] for non-negative RDMs) or ``1 - r`` for a repalign comparator (``"pearson"``,
    ``"spearman"``, ``"cosine"``, ... as rsatoolbox's compare)."""
    n = len(rdms)
    D = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            if comparator == "arccos_cosine":
                c = compare_rdms(rdms[i], rdms[j], "cosine")
                D[i, j] = float(np.arccos(np.clip(c, -1.0, 1.0)))
            else:
                D[i, j] = 1.0 - compare_rdms(rdms[i], rdms[j], comparator)
            D[j, i] = D[i, j]
    return D


def mds_2d(D: np.ndarray, seed: int = 0) -> np.ndarray:
    """Metric MDS of a precomputed distance matrix to 2-D (scikit-learn; classical-MDS start
    where the installed version offers it)."""
    from sklearn.manifold import MDS

    with np.errstate(invalid="ignore", divide="ignore"):  # all-zero distances: sklearn's stress ratio is 0/0
        try:
            mds = MDS(n_components=2, metric="precomputed", init="classical_mds", random_state=seed, max_iter=300)
            return mds.fit_transform(D)
        except (TypeError, ValueError):  # scikit-learn < 1.8
            mds = MDS(n_components=2, dissimilarity="precomputed", n_init=4, random_state=seed, max_iter=300,
                      normalized_stress="auto")
            return mds.fit_transform(D)


def representational_path(models: Mapping[str, Mapping[str, Any]], labels: np.ndarray | None = None,
                          method: str = "euclidean", seed: int = 0) -> dict:
    """The representational path of each model through its layers.

    ``models``: ``{model: {layer: features (n, ...)}}`` in layer order, all on the same ``n``
    stimuli; a layer named ``"input"`` whose RDM equals the first model's input RDM is shared
    (kept once, first; attacked images differ and keep their own input point). ``labels`` (n,) adds the
    one-hot labels' RDM as the end point. Returns ``{"names": [(model, layer)], "distance":
    arccos-cosine matrix, "coords": (k, 2) MDS, "paths": {model: indices}, "length": {model:
    summed step distance}, "to_labels": {model: [distance of each layer to the labels' RDM]}}``.
    """
    names, rdms, paths, first_input = [], [], {}, None
    for model, feats in models.items():
        idx = []
        for layer, r in layer_rdms(feats, method).items():
            shared = layer == "input" and (first_input is None or np.array_equal(r, first_input))
            if shared and first_input is not None:  # the same stimuli as the first model's: one point
                idx.append(names.index(("input", "input")))
                continue
            if shared:
                first_input = r
            names.append(("input", "input") if shared else (model, layer))
            rdms.append(r)
            idx.append(len(names) - 1)
        paths[model] = idx
    if labels is not None:
        names.append(("labels", "labels"))
        rdms.append(labels_rdm(np.asarray(labels), method))
    D = rdm_distance_matrix(rdms)
    coords = mds_2d(D, seed) if len(rdms) > 2 else np.zeros((len(rdms), 2))
    return {"names": names, "method": method, "distance": D, "coords": coords, "paths": paths,
            "length": {m: float(sum(D[a, b] for a, b in zip(p[:-1], p[1:]))) for m, p in paths.items()},
            "to_labels": ({m: [float(D[i, -1]) for i in p] for m, p in paths.items()} if labels is not None else None)}


def per_sample_loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Cross-entropy of each sample (eval mode, no gradient)."""
    was = model.training
    model.eval()
    with torch.no_grad():
        loss = F.cross_entropy(model(x), y, reduction="none").cpu().numpy()
    model.train(was)
    return loss


def fgsm_correct(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, epsilon: float) -> np.ndarray:
    """Per-sample correctness (bool, (n,)) of ``model`` on its own FGSM images at ``epsilon``."""
    was = model.training
    model.eval()
    xa = fgsm(model, x, y, epsilon) if epsilon > 0 else x
    with torch.no_grad():
        ok = (model(xa).argmax(1) == y).cpu().numpy()
    model.train(was)
    return ok


def fgsm_accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, epsilons: Sequence[float]) -> list[float]:
    """Accuracy on FGSM images (white-box) for each epsilon (0 = clean)."""
    return [float(fgsm_correct(model, x, y, float(e)).mean()) for e in epsilons]


def step_trajectories(model: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    """``(images, time_steps + 1, 16)``: the recurrent model's channel means, from the drive
    ``conv1`` (the state ``x_0``) through every step's state."""
    feats = layer_activations(model, x, ["conv1", "step"])
    order = ["conv1"] + ["step" if t == 0 else f"step_{t}" for t in range(model.time_steps)]
    n = x.shape[0]
    return np.stack([feats[k].reshape(n, 16, -1).mean(-1).cpu().numpy() for k in order], axis=1).astype(np.float64)
