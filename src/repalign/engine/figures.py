"""Figures from a results table: clustered heatmap, MDS embedding, a series' path through it.

Scores are turned into distances before clustering/embedding by the measure's own
:meth:`~repalign.registry.Measure.to_distance` (one convention, the report card's too): a
distance is used as it is; a similarity becomes ``upper - s`` with ``upper`` the end of the
measure's range, or ``arccos(s)`` for a measure whose ``distance_form`` is "angle" (a cosine
such as CKA). A store whose measure is not registered here is converted from its stored kind and
range ("gap" form).

The diagonal is set to 0 and the matrix symmetrised as ``(D + D^T) / 2`` (asymmetric
measures). Missing entries are an error: clustering and MDS need every pair.
"""

from __future__ import annotations

import inspect
import json
from functools import partial
from typing import Any, Callable, Sequence

import numpy as np

from ..registry import Measure, get_measure, similarity_to_distance


def to_distance(matrix, measure: str | Measure = "cka", **params: Any):
    """Distance DataFrame/array from a square score matrix of ``measure`` (a name, with its
    ``params``, or an instance): see the module docstring."""
    return _as_distance(matrix, get_measure(measure, **params).to_distance)


def _as_distance(matrix, convert: Callable[[np.ndarray], np.ndarray]):
    import pandas as pd  # lazy: figures are optional (repalign[plot])

    labels = list(matrix.index) if isinstance(matrix, pd.DataFrame) else None
    S = np.array(matrix, dtype=np.float64)
    if S.ndim != 2 or S.shape[0] != S.shape[1]:
        raise ValueError(f"matrix must be square; got shape {S.shape}")
    n = S.shape[0]
    off = ~np.eye(n, dtype=bool)
    if np.isnan(S[off]).any():
        missing = int(np.isnan(S[off]).sum())
        raise ValueError(f"matrix has {missing} missing off-diagonal entries; compute every pair first "
                         "(sweep with pairs='all') or pass systems= to select a complete subset")
    np.fill_diagonal(S, np.nan)  # the diagonal (self-similarity) never sets an unbounded range's top
    D = convert(S)
    D = (D + D.T) / 2.0
    np.fill_diagonal(D, 0.0)
    if (D < -1e-12).any():
        raise ValueError("distances must be non-negative; a similarity beyond its measure's declared range?")
    D = np.maximum(D, 0.0)
    return pd.DataFrame(D, index=labels, columns=labels) if labels is not None else D


def _stored_measure(results, measure: str, params: dict | None) -> tuple[str, Callable]:
    """(kind, score-to-distance conversion) of a measure as stored with the results: the
    registered measure's own, else from the stored kind and range."""
    mkey = results.select(measure, params)["measure_key"].iloc[0]
    spec = json.loads(mkey)
    try:
        m = get_measure(spec["measure"], **spec["params"])
    except (ValueError, TypeError):  # not registered in this session (or its parameters changed)
        info = results.info(mkey)
        upper = info.get("range_high")
        upper = float(upper) if upper is not None and np.isfinite(upper) else None
        kind = info.get("kind", "similarity")
        return kind, partial(similarity_to_distance, kind=kind, upper=upper)
    return m.kind, m.to_distance


def distance_matrix(results, measure: str, params: dict | None = None, systems: Sequence[str] | None = None):
    """Distance DataFrame of one measure from a :class:`Results` (converted as documented)."""
    _, convert = _stored_measure(results, measure, params)
    return _as_distance(results.matrix(measure, params, systems), convert)


def cluster_order(D, method: str = "average") -> list[int]:
    """Leaf order of a hierarchical clustering (scipy linkage, optimal leaf ordering)."""
    from scipy.cluster.hierarchy import leaves_list, linkage, optimal_leaf_ordering
    from scipy.spatial.distance import squareform

    D = np.asarray(D, dtype=np.float64)
    if D.shape[0] < 3:
        return list(range(D.shape[0]))
    y = squareform(D, checks=False)
    Z = linkage(y, method=method)
    return [int(i) for i in leaves_list(optimal_leaf_ordering(Z, y))]


def heatmap(results, measure: str, params: dict | None = None, systems: Sequence[str] | None = None,
            ax: Any = None, method: str = "average", cmap: str = "viridis"):
    """Heatmap of a measure's scores with rows/columns in hierarchical-clustering order.

    Returns ``(ax, order)`` with ``order`` the list of system names as drawn.
    """
    import matplotlib.pyplot as plt

    M = results.matrix(measure, params, systems)
    kind, convert = _stored_measure(results, measure, params)
    order_idx = cluster_order(_as_distance(M, convert).values, method)
    names = [M.index[i] for i in order_idx]
    M = M.loc[names, names]
    if ax is None:
        _, ax = plt.subplots(figsize=(1 + 0.35 * len(names), 0.8 + 0.35 * len(names)))
    im = ax.imshow(M.values, cmap=cmap)
    ax.set_xticks(range(len(names)), names, rotation=90)
    ax.set_yticks(range(len(names)), names)
    ax.figure.colorbar(im, ax=ax, label=f"{measure} ({kind})")
    ax.set_title(f"{measure}, clustered ({method} linkage)")
    return ax, names


def mds_embedding(D, n_components: int = 2, seed: int = 0, n_init: int = 4):
    """Metric MDS (scikit-learn, SMACOF) of a precomputed distance matrix.

    ``D``: (N, N) distances (DataFrame keeps the labels). Returns an (N, n_components)
    DataFrame (or array). Same seed, same embedding.
    """
    import pandas as pd

    labels = list(D.index) if isinstance(D, pd.DataFrame) else None
    X = np.asarray(D, dtype=np.float64)
    if not np.allclose(X, X.T) or np.any(np.diag(X) != 0):
        raise ValueError("D must be a symmetric distance matrix with a zero diagonal (see to_distance)")
    coords = _mds(n_components, seed, n_init).fit_transform(X)
    cols = [f"mds{i + 1}" for i in range(n_components)]
    return pd.DataFrame(coords, index=labels, columns=cols) if labels is not None else coords


def _mds(n_components: int, seed: int, n_init: int):
    from sklearn.manifold import MDS

    params = inspect.signature(MDS).parameters
    kw = dict(n_components=n_components, random_state=seed, n_init=n_init)
    if "metric_mds" in params:  # scikit-learn >= 1.8
        kw.update(metric="precomputed", metric_mds=True, init="random")
    else:
        kw.update(dissimilarity="precomputed", metric=True)
    return MDS(**kw)


def plot_embedding(coords, ax: Any = None, path: Sequence[str] | None = None, labels: bool = True):
    """Scatter an MDS embedding; ``path`` (an ordered list of names, e.g. checkpoints or
    layers) is drawn as a line with arrows through the points, from first to last."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    xy = coords.iloc[:, :2].to_numpy()
    ax.scatter(xy[:, 0], xy[:, 1], s=18, color="0.5", zorder=2)
    if labels:
        for name, (x, y) in zip(coords.index, xy):
            ax.annotate(str(name), (x, y), fontsize=7, xytext=(2, 2), textcoords="offset points")
    if path is not None:
        plot_path(coords, path, ax)
    ax.set_xlabel("MDS 1")
    ax.set_ylabel("MDS 2")
    ax.set_aspect("equal", adjustable="datalim")
    return ax


def path_coordinates(coords, series: Sequence[str]) -> np.ndarray:
    """(len(series), 2) coordinates of an ordered series of systems in an embedding."""
    missing = [s for s in series if s not in coords.index]
    if missing:
        raise ValueError(f"series: systems {missing} are not in the embedding")
    if len(series) < 2:
        raise ValueError("series must name at least two systems")
    return coords.loc[list(series)].iloc[:, :2].to_numpy()


def plot_path(coords, series: Sequence[str], ax: Any = None, color: str = "C3"):
    """Draw the path of an ordered series through an embedding; returns the axes."""
    import matplotlib.pyplot as plt

    P = path_coordinates(coords, series)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    ax.plot(P[:, 0], P[:, 1], "-", color=color, lw=1.5, zorder=3)
    for (x0, y0), (x1, y1) in zip(P[:-1], P[1:]):
        ax.annotate("", (x1, y1), (x0, y0), arrowprops=dict(arrowstyle="->", color=color, lw=1.5), zorder=4)
    ax.scatter(*P[0], marker="o", s=50, color=color, zorder=5, label=f"start: {series[0]}")
    ax.scatter(*P[-1], marker="s", s=50, color=color, zorder=5, label=f"end: {series[-1]}")
    ax.legend(fontsize=7)
    return ax
