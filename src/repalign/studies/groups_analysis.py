"""The analyses of Chughtai, Chan & Nanda (2023) on one trained group MLP, as their notebook computes them.

Builds on :class:`repalign.studies.groups.Analysis` (irrep bases, double-centred character
tensors). Names follow the paper's code where one exists; where repalign's own variant differs,
both are given and named plainly. Shapes: ``|G|`` elements, ``|G|^2`` pairs ``p = a |G| + b``,
``hidden`` neurons; the network is ``logits = U relu(W [E_L[a]; E_R[b]])`` with ``U`` (|G|, hidden).

* **Effective embeddings** ``x_embed = E_L W_L^T``, ``y_embed = E_R W_R^T`` (|G|, hidden): what a
  left / right element adds to each neuron's pre-activation; ``W_U = U^T`` (hidden, |G|).
* **Seed's logit similarity** (``seed_logit_similarity``): cosine of the logit tensor, with each
  pair's mean over ``c`` removed, and the *raw* character tensor ``tr rho(a b c^-1)``, as the
  paper's ``logit_trace_similarity``. repalign's ``logit_similarity`` also removes each output's
  mean over pairs (double-centring). A non-trivial character tensor already has zero row and
  column sums (sums of the character over the group), so the two share the numerator; the
  seed's denominator keeps the per-output bias, so its value is never larger.
* **Weight fractions** (``percent_x_embed`` etc. in the paper): ``||Q_rho^T M||^2 / ||M||^2`` for
  ``M`` = ``x_embed``, ``y_embed`` (rows = input element) or ``W_U^T`` (rows = output element),
  *not* centred, with ``Q_rho`` the orthonormal basis of ``g -> rho(g)_ij`` (trivial irrep
  included, so the fractions over all irreps sum to 1). Residual = 1 - sum over key irreps.
* **Hidden fractions**: centred ``H`` projected on the spans of ``rho(a)``, ``rho(b)``, ``rho(ab)``
  (as ``Analysis``); ``total`` = their sum; ``total_hidden_explained`` = sum over key irreps.
* **Ablations** (the paper's cell "only rho(ab) is important" and its restricted / excluded
  metrics): with ``P`` the orthogonal projector on a direction set (``x`` = rho(a) span, ``y`` =
  rho(b), ``xy`` = rho(ab), ``trivial`` = constant), the *excluded* loss is the cross-entropy over
  all pairs of ``(H - P H) U^T`` and the *restricted* loss that of ``(P H) U^T`` (uncentred ``H``,
  as the paper). Totals over the key irreps' ``rho(ab)``: restricted on all pairs, excluded on the
  training pairs (the paper's ``total_hidden_*``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .groups import Analysis, cosine, cross_entropy, forward_numpy, orthonormal_span

DIRECTIONS = ("x", "y", "xy")


def effective_embeddings(params: dict) -> tuple[np.ndarray, np.ndarray]:
    """``x_embed = E_L W_L^T`` and ``y_embed = E_R W_R^T``, each (|G|, hidden)."""
    d = params["embed_left"].shape[1]
    return params["embed_left"] @ params["W"][:, :d].T, params["embed_right"] @ params["W"][:, d:].T


def raw_fraction(M: np.ndarray, Q: np.ndarray) -> float:
    """``||Q^T M||^2 / ||M||^2`` without centring; NaN if ``M`` is zero. M (n, k), Q (n, r)."""
    total = float(np.sum(M * M))
    return float(np.sum((Q.T @ M) ** 2) / total) if total > 0 else float("nan")


def seed_logit_similarity(L: np.ndarray, T: np.ndarray) -> float:
    """The paper's cosine: logits ``L`` (pairs, |G|) less each pair's mean over c, against raw ``T``."""
    return cosine(L - L.mean(axis=1, keepdims=True), T)


class SeedAnalysis:
    """The paper's analyses on top of an :class:`Analysis` (same group, split and irreps)."""

    def __init__(self, an: Analysis) -> None:
        self.an = an
        g = an.group
        self.order = g.order
        self.elem_all = {r.name: orthonormal_span(r.matrices.reshape(g.order, -1)) for r in an.irreps}
        self.trivial = next(r.name for r in an.irreps if r.name == "trivial")
        self.const = np.full((g.order**2, 1), g.order**-1.0)  # unit vector over pairs

    # ------------------------------------------------------------------ per checkpoint (cheap)
    def basis(self, name: str, direction: str) -> np.ndarray:
        """Orthonormal (|G|^2, r) basis of one direction set of one irrep (or the constant)."""
        if direction == "trivial" or name == self.trivial:
            return self.const
        return self.an.pairs[name][{"x": "a", "y": "b", "xy": "ab"}[direction]]

    def checkpoint_metrics(self, params: dict, key: list[str]) -> dict:
        """Seed-style numbers cheap enough for every checkpoint (see module doc)."""
        H, L = forward_numpy(params, self.order)
        U = params["U"]
        xe, ye = effective_embeddings(params)
        out: dict[str, Any] = {
            "seed_logit_similarity": {r.name: seed_logit_similarity(L, self.an.chars[r.name]) for r in self.an.nontrivial},
            "weight_fractions": self.weight_fractions(xe, ye, U),
        }
        out["seed_logit_fraction_all"] = float(sum(v**2 for v in out["seed_logit_similarity"].values()))
        out["seed_logit_fraction_key"] = float(sum(out["seed_logit_similarity"][k] ** 2 for k in key))
        out.update(self.total_losses(H, U, key))
        return out

    def weight_fractions(self, xe: np.ndarray, ye: np.ndarray, U: np.ndarray) -> dict:
        """Per irrep (trivial included): uncentred fractions of x_embed, y_embed, W_U."""
        return {
            kind: {name: raw_fraction(M, Q) for name, Q in self.elem_all.items()}
            for kind, M in (("x_embed", xe), ("y_embed", ye), ("unembed", U))
        }

    def total_losses(self, H: np.ndarray, U: np.ndarray, key: list[str]) -> dict:
        """The paper's ``total_hidden_restricted_loss`` (all pairs) and ``_excluded_loss`` (train)."""
        if not key:
            return {"seed_restricted_loss": float("nan"), "seed_excluded_loss": float("nan")}
        Q = orthonormal_span(np.concatenate([self.an.pairs[k]["ab"] for k in key], axis=1))
        part = Q @ (Q.T @ H)
        m, y = self.an.mask, self.an.y
        return {
            "seed_restricted_loss": cross_entropy(part @ U.T, y),
            "seed_excluded_loss": cross_entropy(((H - part) @ U.T)[m], y[m]),
        }

    # ------------------------------------------------------------------ end of training
    def final(self, params: dict, key: list[str], off_fraction: float = 0.01, assign_fraction: float = 0.5) -> dict:
        """Every end-of-training analysis of the module doc, as a JSON-ready dict."""
        H, L = forward_numpy(params, self.order)
        U = params["U"]
        xe, ye = effective_embeddings(params)
        wf = self.weight_fractions(xe, ye, U)
        clusters = self.neuron_clusters(xe, ye, H, key, off_fraction, assign_fraction)
        return {
            "unembed_fractions": {**wf["unembed"], "residual": 1.0 - sum(wf["unembed"][k] for k in key)},
            "x_embed_fractions": {**wf["x_embed"], "residual": 1.0 - sum(wf["x_embed"][k] for k in key)},
            "y_embed_fractions": {**wf["y_embed"], "residual": 1.0 - sum(wf["y_embed"][k] for k in key)},
            "hidden_fractions": self.hidden_fractions(H, key),
            "neuron_clusters": clusters,
            "irrep_ablations": self.irrep_ablations(H, U, key, clusters),
        }

    def hidden_fractions(self, H: np.ndarray, key: list[str]) -> dict:
        """Centred-H fractions on rho(a), rho(b), rho(ab) per non-trivial irrep; key total."""
        Hc = H - H.mean(axis=0)
        tot = float(np.sum(Hc * Hc))
        per = {}
        for r in self.an.nontrivial:
            f = {d: float(np.sum((self.basis(r.name, d).T @ Hc) ** 2) / tot) if tot > 0 else float("nan")
                 for d in DIRECTIONS}
            per[r.name] = {**f, "total": sum(f.values())}
        return {"per_irrep": per, "total_hidden_explained": float(sum(per[k]["total"] for k in key))}

    def neuron_clusters(self, xe, ye, H, key, off_fraction: float, assign_fraction: float) -> dict:
        """Off neurons, neurons per irrep, unaccounted ones; per cluster, post-ReLU variance fractions.

        A neuron is *off* when its embedding weight ``||x_embed[:, n]||^2 + ||y_embed[:, n]||^2``
        is below ``off_fraction`` times the mean over neurons (the paper: an absolute threshold
        of 1 on its own scale). Otherwise it belongs to every non-trivial irrep holding at least
        ``assign_fraction`` of that weight (the paper: squared coefficients above 1). Per cluster,
        the fractions of its centred post-ReLU variance on the irrep's x, y, xy and trivial
        directions (the trivial one is 0 once centred, as in the paper: kept for the comparison).
        """
        weight = np.sum(xe * xe, axis=0) + np.sum(ye * ye, axis=0)
        off = weight < off_fraction * weight.mean()
        assigned: dict[str, list[int]] = {}
        for r in self.an.nontrivial:
            Q = self.elem_all[r.name]
            share = (np.sum((Q.T @ xe) ** 2, axis=0) + np.sum((Q.T @ ye) ** 2, axis=0)) / np.where(weight > 0, weight, 1)
            assigned[r.name] = [int(i) for i in np.flatnonzero((share >= assign_fraction) & ~off)]
        covered = set().union(*assigned.values()) if assigned else set()
        unaccounted = [int(i) for i in range(H.shape[1]) if not off[i] and i not in covered]
        Hc = H - H.mean(axis=0)
        variance = {}
        for name in key:
            idx = assigned[name]
            sub = Hc[:, idx]
            tot = float(np.sum(sub * sub))
            variance[name] = {
                d: (float(np.sum((self.basis(name, d).T @ sub) ** 2) / tot) if tot > 0 else float("nan"))
                for d in (*DIRECTIONS, "trivial")
            }
        return {
            "off_fraction": off_fraction,
            "assign_fraction": assign_fraction,
            "off": [int(i) for i in np.flatnonzero(off)],
            "irreps": assigned,
            "counts": {"off": int(off.sum()), **{k: len(v) for k, v in assigned.items()}, "unaccounted": len(unaccounted)},
            "unaccounted": unaccounted,
            "variance_fractions": variance,
        }

    def irrep_ablations(self, H: np.ndarray, U: np.ndarray, key: list[str], clusters: dict) -> dict:
        """Restricted / excluded losses per irrep and direction, W_U in the irrep basis, reconstruction."""
        y, m = self.an.y, self.an.mask
        base = cross_entropy(H @ U.T, y)
        per: dict[str, dict] = {}
        for r in self.an.nontrivial:
            per[r.name] = {}
            for d in (*DIRECTIONS, "trivial"):
                Q = self.basis(r.name, d)
                part = Q @ (Q.T @ H)
                per[r.name][d] = {"restricted": cross_entropy(part @ U.T, y), "excluded": cross_entropy((H - part) @ U.T, y)}
            per[r.name]["xy_excluded_train"] = cross_entropy(((H - self._proj(r.name, H)) @ U.T)[m], y[m])
        out = {"baseline_loss": base, "per_irrep": per, **self.total_losses(H, U, key)}
        out["unembed_in_irrep_basis"] = {k: self.unembed_basis(H, U, k, clusters["irreps"][k]) for k in key}
        out.update(self.unembed_restriction(H, U, key))
        out["reconstruction_loss"] = self.reconstruction_loss(H, U, key)
        return out

    def _proj(self, name: str, H: np.ndarray) -> np.ndarray:
        Q = self.basis(name, "xy")
        return Q @ (Q.T @ H)

    def unembed_basis(self, H: np.ndarray, U: np.ndarray, name: str, neurons: list[int]) -> dict:
        """``M = C U^T Q`` (r, r): hidden rho(ab) coordinates ``C = Q[ab]^T H / sqrt|G|`` (rows unit
        norm) mapped to output coordinates ``Q`` (the element basis, the same coordinates). A network computing ``tr rho(a b c^-1)``
        has ``M`` proportional to the identity (``identity_cosine`` = 1). ``fraction_explained``:
        the share of ``W_U``'s squared norm on the cluster's neurons in the irrep's output span
        (the paper's "percentage of W_U explained")."""
        Q = self.elem_all[name]
        Qxy = Q[self.an.y] / np.sqrt(self.order)  # the same coordinates, read at ab: orthonormal over pairs
        C = Qxy.T @ H
        norms = np.linalg.norm(C, axis=1, keepdims=True)
        C = C / np.where(norms > 0, norms, 1)
        M = C @ U.T @ Q
        r = M.shape[0]
        Wn = U[:, neurons].T  # (k, |G|)
        return {
            "matrix": M.tolist(),
            "identity_cosine": cosine(M, np.eye(r)),
            "fraction_explained": raw_fraction(Wn.T, Q) if neurons else float("nan"),
            "n_neurons": len(neurons),
        }

    def unembed_restriction(self, H: np.ndarray, U: np.ndarray, key: list[str]) -> dict:
        """Loss (all pairs) with ``W_U`` projected on the key irreps' output spans, and on the rest."""
        if not key:
            return {"unembed_restricted_loss": float("nan"), "unembed_excluded_loss": float("nan")}
        Q = orthonormal_span(np.concatenate([self.elem_all[k] for k in key], axis=1))
        Uk = Q @ (Q.T @ U)
        y = self.an.y
        return {"unembed_restricted_loss": cross_entropy(H @ Uk.T, y),
                "unembed_excluded_loss": cross_entropy(H @ (U - Uk).T, y)}

    def reconstruction_loss(self, H: np.ndarray, U: np.ndarray, key: list[str]) -> float:
        """Loss (all pairs) of an idealised hidden layer: for each key irrep, its rho(ab) basis
        written into the neurons through unit-norm coordinate rows, scaled to the norm of ``H``'s
        own rho(ab) part (the paper's reconstruction from change-of-basis and one coefficient)."""
        if not key:
            return float("nan")
        Hr = np.zeros_like(H)
        for k in key:
            Q = self.basis(k, "xy")
            C = Q.T @ H
            norms = np.linalg.norm(C, axis=1, keepdims=True)
            Cn = C / np.where(norms > 0, norms, 1)
            Hr += np.linalg.norm(C) / np.sqrt(C.shape[0]) * (Q @ Cn)
        return cross_entropy(Hr @ U.T, self.an.y)

    def logit_cube_slice(self, params: dict, key: list[str], c: int | None = None) -> dict:
        """``L[a, b, c]`` and each key irrep's ``tr rho(a b c^-1)`` at one output ``c`` (default the
        identity), each divided by its largest absolute value: (|G|, |G|) arrays."""
        c = self.an.group.identity if c is None else c
        _, L = forward_numpy(params, self.order)
        n = self.order
        sl = {"observed": L[:, c].reshape(n, n)}
        for k in key:
            sl[k] = self.an.chars[k][:, c].reshape(n, n)
        return {k: v / max(np.abs(v).max(), 1e-300) for k, v in sl.items()}
