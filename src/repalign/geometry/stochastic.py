"""Distances between the *distributions* of states of two systems (samples need not match).

``"bures"``: the 2-Wasserstein distance between the Gaussian fits of the two state clouds.
System X, an ``(n_x, p)`` array (samples, features), is summarised by its mean ``mu_x`` (p,) and
covariance ``S_x = X_c^T X_c / n_x`` (the Gaussian maximum-likelihood fit, divisor n). Then::

    W2^2 = ||mu_x - mu_y||^2 + tr S_x + tr S_y - 2 tr (S_x^{1/2} S_y S_x^{1/2})^{1/2}

in squared units of the data. The last three terms are the squared Bures distance between the
covariances, which equals ``min_R ||F_x - F_y R||_F^2`` over orthogonal R for any factors with
``F F^T = S``; repalign computes it that way (factors ``F = V diag(sqrt(l))`` from
``scipy.linalg.eigh(S)``, tiny negative eigenvalues clipped to 0; from the thin SVD of X_c when
there are more units than samples, so no (p, p) matrix is formed), so the trace term
``tr (S_x^{1/2} S_y S_x^{1/2})^{1/2} = ||F_y^T F_x||_*`` never needs a matrix square root, and
small distances are accurate (explicit residual, no cancellation).

Parameters:

* ``align="orthogonal"`` minimises over rotations/reflections Q of Y's feature space and
  translations. The mean term vanishes and, because ``max_Q ||A^{1/2} Q^T B^{1/2}||_* =
  sum_i sqrt(l_A,i l_B,i)`` (eigenvalues sorted descending; von Neumann's trace inequality,
  attained by matching eigenvectors in order), the distance depends only on the spectra::

      sqrt( sum_i (sqrt(l_x,i) - sqrt(l_y,i))^2 )

* ``normalize=True`` rescales each *distribution* by ``1 / sqrt(tr S)`` (covariance to unit
  trace, mean scaled by the same factor), so only its shape counts and the distance is
  invariant to isotropic scaling. A system with zero variance is then rejected.
* ``means=False`` drops the mean term (translation invariance without alignment).

Different widths: the narrower system is zero-padded (extra units constant at 0). This is the
natural choice for ``align="orthogonal"`` (spectra padded with zeros); without alignment it
assumes the first ``min(p, q)`` units of the two systems correspond.

Relation to netrep's Gaussian stochastic shape metric (Duong et al. 2023, ICLR): there each of M
matched conditions has a Gaussian (trial-to-trial noise) and the distance is
``sqrt(mean_i ||mu_i - Q mu'_i||^2 + Bures^2(S_i, Q S'_i Q^T))`` with one shared rotation Q,
found iteratively. ``"bures"`` here is the single-Gaussian case (M = 1) applied to the cloud of
all states of a system; with ``align="orthogonal"`` the shared rotation is optimal in closed
form, and a translation is also allowed, which drops the mean term.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import eigh

from .._validation import check_choice, check_nonconstant
from ..registry import Measure, register
from .shape import aligned_sq_residual


@dataclass(frozen=True)
class _GaussianState:
    mean: np.ndarray  # (p,)
    factor: np.ndarray  # (p, r) with factor @ factor.T = covariance, r = number of positive eigenvalues
    eigvals: np.ndarray  # (p,) covariance eigenvalues, descending, >= 0


def _covariance_eig(Xc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (p,), descending and >= 0, and eigenvectors (p, k) of ``S = X_c^T X_c / n``.

    ``k = p`` from ``eigh(S)`` when p <= n; with more units than samples the thin SVD of X_c gives
    the k = n possibly nonzero ones without forming the (p, p) matrix (the rest are 0).
    """
    n, p = Xc.shape
    if p <= n:
        lam, V = eigh(Xc.T @ Xc / n)
        return np.clip(lam[::-1], 0.0, None), V[:, ::-1]
    _, s, Vt = np.linalg.svd(Xc, full_matrices=False)
    return np.concatenate([s**2 / n, np.zeros(p - len(s))]), Vt.T


def gaussian_fit(X: np.ndarray, normalize: bool = False) -> _GaussianState:
    """Mean, covariance factor and spectrum of a ``(n, p)`` system (see module docstring)."""
    mu = X.mean(axis=0)
    Xc = X - mu
    if normalize:
        check_nonconstant(Xc, "X", "the trace-normalised Gaussian fit ('normalize=True')")
    lam, V = _covariance_eig(Xc)
    if normalize:
        scale = 1.0 / np.sqrt(lam.sum())
        mu, lam = mu * scale, lam * scale**2
    # Rounding leaves ~eps * l_max in zero eigenvalues, which sqrt would blow up to ~1e-8.
    lam = np.where(lam > lam[0] * len(lam) * np.finfo(float).eps, lam, 0.0)
    pos = np.flatnonzero(lam[: V.shape[1]])
    return _GaussianState(mu, V[:, pos] * np.sqrt(lam[pos]), lam)


def _pad_rows(A: np.ndarray, rows: int) -> np.ndarray:
    return A if A.shape[0] == rows else np.vstack([A, np.zeros((rows - A.shape[0],) + A.shape[1:])])


def _pad(v: np.ndarray, size: int) -> np.ndarray:
    return v if v.shape[0] == size else np.concatenate([v, np.zeros(size - v.shape[0])])


def bures_sq(a: _GaussianState, b: _GaussianState) -> float:
    """Squared Bures distance between the covariances of two fits (zero-padded to a common width)."""
    p = max(a.factor.shape[0], b.factor.shape[0])
    return aligned_sq_residual(_pad_rows(a.factor, p), _pad_rows(b.factor, p))


def spectral_sq(a: _GaussianState, b: _GaussianState) -> float:
    """``sum_i (sqrt(l_a,i) - sqrt(l_b,i))^2``: the squared Bures distance minimised over rotations."""
    p = max(len(a.eigvals), len(b.eigvals))
    diff = np.sqrt(_pad(a.eigvals, p)) - np.sqrt(_pad(b.eigvals, p))
    return float(diff @ diff)


class _BuresBase(Measure):
    kind = "distance"
    range = (0.0, np.inf)
    is_metric = True
    matched_samples = False
    min_samples = 2
    def _validate_params(self) -> None:
        check_choice(self._setting("align"), "align", ("none", "orthogonal"))
        for flag in ("normalize", "means"):
            if not isinstance(self._setting(flag), (bool, np.bool_)):
                raise ValueError(f"{flag} must be True or False; got {self._setting(flag)!r}")

    def _prepare(self, X: np.ndarray) -> _GaussianState:
        return gaussian_fit(X, bool(self._setting("normalize")))

    def _compare(self, a: _GaussianState, b: _GaussianState) -> float:
        if self._setting("align") == "orthogonal":
            return float(np.sqrt(spectral_sq(a, b)))
        sq = bures_sq(a, b)
        if self._setting("means"):
            p = max(len(a.mean), len(b.mean))
            d = _pad(a.mean, p) - _pad(b.mean, p)
            sq += float(d @ d)
        return float(np.sqrt(max(sq, 0.0)))


@register
class Bures(_BuresBase):
    """2-Wasserstein distance between Gaussian fits of the two state distributions (unmatched samples)."""

    name = "bures"
    # Further invariances depend on the parameters: means=False adds translation,
    # normalize=True isotropic scaling, align="orthogonal" translation, orthogonal and permutation.
    invariances = frozenset({"sample_permutation"})
    defaults = {"align": "none", "normalize": False, "means": True}


@register
class BuresSpectral(_BuresBase):
    """Bures distance minimised over rotations of trace-normalised covariances: compares spectra only."""

    name = "bures_spectral"
    range = (0.0, float(np.sqrt(2.0)))  # two unit vectors with nonnegative entries
    invariances = frozenset(
        {"sample_permutation", "translation", "orthogonal", "permutation", "isotropic_scaling"}
    )
    defaults = {}
    fixed = {"align": "orthogonal", "normalize": True, "means": False}
