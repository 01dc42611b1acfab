"""Helpers shared by the test modules: ``from _helpers import orthogonal, ...`` (pytest puts
``tests/`` on ``sys.path``, as for ``_browser.py``). Each one was copied across test files
before; the checks here are the ones every measure family repeats."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import numpy as np
import pytest

import repalign
from repalign import registry


# --------------------------------------------------------------------------- data
def published_pair() -> tuple[np.ndarray, np.ndarray]:
    """The pair behind the published CKA/CCA values: legacy ``np.random.seed(1337)``, then
    X = randn(100, 10), Y = randn(100, 10) + X (drawn from a RandomState of that seed, the same
    numbers, without touching NumPy's global state)."""
    rs = np.random.RandomState(1337)
    X = rs.randn(100, 10)
    Y = rs.randn(100, 10) + X
    return X, Y


def orthogonal(rng: np.random.Generator, p: int) -> np.ndarray:
    """A (p, p) orthogonal matrix drawn from the Haar measure (QR of a Gaussian, signs fixed)."""
    Q, R = np.linalg.qr(rng.standard_normal((p, p)))
    return Q * np.sign(np.diag(R))


def transform(kind: str, Y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``Y`` (samples, units) under one random transformation named as in ``repalign.registry.INVARIANCES``."""
    p = Y.shape[1]
    if kind == "translation":
        return Y + rng.normal(0, 5, size=p)
    if kind == "isotropic_scaling":
        return Y * rng.uniform(0.1, 10)
    if kind == "orthogonal":
        return Y @ orthogonal(rng, p)
    if kind == "permutation":
        return Y[:, rng.permutation(p)]
    if kind == "invertible_linear":
        return Y @ (orthogonal(rng, p) @ np.diag(rng.uniform(0.3, 3, p)) @ orthogonal(rng, p))
    if kind == "sample_permutation":
        return Y[rng.permutation(Y.shape[0])]
    raise AssertionError(f"unknown transformation {kind!r}")


def to_numpy(t) -> np.ndarray:
    """A torch tensor as a float64 array (detached)."""
    return t.detach().numpy().astype(np.float64)


# --------------------------------------------------------------------------- shared checks
def assert_pairwise_matches_compare(systems: list, name: str, *, atol: float = 1e-12, rtol: float = 0.0,
                                    **params) -> np.ndarray:
    """``pairwise(systems)`` equals ``compare`` over every ordered pair (within ``atol``/``rtol``),
    ``pairwise(first half, others=second half)`` equals that block of the matrix (to 1e-12), and
    neither call changes the caller's arrays. Returns the matrix."""
    copies = [np.array(s, copy=True) for s in systems]
    M = repalign.pairwise(systems, name, **params)
    loop = np.array([[repalign.compare(a, b, name, **params) for b in systems] for a in systems])
    np.testing.assert_allclose(M, loop, rtol=rtol, atol=atol)
    k = len(systems) // 2
    R = repalign.pairwise(systems[:k], name, others=systems[k:], **params)
    np.testing.assert_allclose(R, M[:k, k:], rtol=1e-12, atol=1e-12)
    for s, c in zip(systems, copies):
        assert np.array_equal(s, c), "pairwise/compare changed an input array"
    return M


def assert_inputs_unchanged(X, Y, name: str, **params) -> None:
    """``compare(X, Y)`` and ``pairwise([X, Y])`` leave the caller's arrays as they were."""
    X0, Y0 = np.array(X, copy=True), np.array(Y, copy=True)
    repalign.compare(X, Y, name, **params)
    repalign.pairwise([X, Y], name, **params)
    assert np.array_equal(X, X0) and np.array_equal(Y, Y0)


def assert_rejects_bad_arrays(X, Y, name: str, **params) -> None:
    """Boundary validation every (samples, units) measure shares: a NaN in X and an inf in Y are
    refused naming the argument, and so is a 1-D X."""
    bad_x, bad_y = np.array(X, dtype=float), np.array(Y, dtype=float)
    bad_x[0, 0], bad_y[-1, -1] = np.nan, np.inf
    with pytest.raises(ValueError, match="X contains non-finite"):
        repalign.compare(bad_x, Y, name, **params)
    with pytest.raises(ValueError, match="Y contains non-finite"):
        repalign.compare(X, bad_y, name, **params)
    with pytest.raises(ValueError, match="X must be 2-D"):
        repalign.compare(np.asarray(X)[:, 0], Y, name, **params)


# --------------------------------------------------------------------------- toy measures
def toy_measure_names() -> set[str]:
    """Registered names whose class is not repalign's own: the toy measures of test modules."""
    return {n for n, (cls, _) in registry._REGISTRY.items() if not cls.__module__.startswith("repalign.")}


@contextmanager
def toy_measures(*classes: type) -> Iterator[list[str]]:
    """Register toy measure classes for a ``with`` block (a test, or a module-scoped fixture),
    then unregister them, so that no other test module ever sees them. Yields their names."""
    done = []
    try:
        for cls in classes:
            registry.register(cls)
            done.append(cls.name)
        yield list(done)
    finally:
        for name in reversed(done):
            if name in registry._REGISTRY:
                registry.unregister(name)
