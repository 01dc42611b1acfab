"""Seeded, parallel, batched random draws whose results do not depend on ``n_jobs``.

Every draw ``i`` gets its own Generator built from child ``i`` of
``np.random.SeedSequence(seed).spawn(n)``; workers only decide *where* a draw runs, never
*which* random numbers it sees, so ``n_jobs=1`` and ``n_jobs=4`` give identical arrays.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from .._validation import as_seed_sequence, check_scalar


def seed_from_child(seed: Any, start: int) -> np.random.SeedSequence:
    """A SeedSequence whose ``spawn(k)`` gives children ``start .. start + k - 1`` of ``seed``'s
    (counted from the next child ``seed`` itself would spawn). A caller's SeedSequence is read,
    never advanced; a Generator is advanced by one draw (:func:`as_seed_sequence`)."""
    ss = as_seed_sequence(seed)
    return np.random.SeedSequence(ss.entropy, spawn_key=ss.spawn_key, pool_size=ss.pool_size,
                                  n_children_spawned=ss.n_children_spawned + int(start))


def check_n(n: Any, name: str = "n") -> int:
    """The number of draws: an int >= 1."""
    return check_scalar(n, name, int, min_val=1)


def check_n_jobs(n_jobs: Any) -> int:
    """joblib workers: None (1), an int >= 1, or -1 (all cores)."""
    if n_jobs == -1 and not isinstance(n_jobs, bool):
        return -1
    return 1 if n_jobs is None else check_scalar(n_jobs, "n_jobs (or -1: all cores)", int, min_val=1)


def run_draws(
    batch_fn: Callable[[Sequence[np.random.Generator]], np.ndarray],
    n: int,
    seed: Any,
    *,
    n_jobs: int | None = 1,
    progress: bool = False,
    batch_size: int = 50,
    desc: str = "draws",
) -> np.ndarray:
    """Run ``n`` random draws, ``batch_fn(generators) -> values`` handling a batch at a time.

    Parameters
    ----------
    batch_fn : callable
        Takes a list of ``k`` Generators (one per draw) and returns ``k`` floats. Batching lets
        a caller vectorise (e.g. one ``compare_many`` call for ``k`` permutations).
    n : int
        Number of draws.
    seed : int, None, SeedSequence or Generator
    n_jobs : int
        joblib workers (-1: all cores). The result does not depend on it.
    progress : bool
        Show a tqdm bar over batches.

    Returns
    -------
    ndarray, (n,) float64
    """
    n = check_n(n)
    n_jobs = check_n_jobs(n_jobs)
    children = as_seed_sequence(seed).spawn(n)
    batches = [children[i : i + batch_size] for i in range(0, n, batch_size)]
    if n_jobs == 1:
        results = (_run_batch(batch_fn, b) for b in batches)
    else:
        from joblib import Parallel, delayed  # lazy: 0.26 s that `import repalign` need not pay

        results = Parallel(n_jobs=n_jobs, return_as="generator")(delayed(_run_batch)(batch_fn, b) for b in batches)
    if progress:
        from tqdm.auto import tqdm  # lazy, likewise (0.1 s)

        results = tqdm(results, total=len(batches), desc=desc, unit="batch")
    out = np.concatenate([np.asarray(r, dtype=np.float64).ravel() for r in results])
    if out.size != n:
        raise RuntimeError(f"draw function returned {out.size} values for {n} draws")
    return out


def _run_batch(batch_fn, seeds: Sequence[np.random.SeedSequence]) -> np.ndarray:
    rngs = [np.random.default_rng(s) for s in seeds]
    values = np.asarray(batch_fn(rngs), dtype=np.float64).ravel()
    if values.size != len(rngs):
        raise ValueError(f"draw function returned {values.size} values for a batch of {len(rngs)} draws")
    return values
