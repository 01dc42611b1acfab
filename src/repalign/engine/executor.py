"""Backends of the sweep engine: ``map(fn, tasks)`` yielding results as tasks complete.

``"serial"`` (in this process), ``"processes"`` (joblib loky, ``n_jobs`` workers) and ``"dask"``
(``scheduler="tcp://host:8786"`` or ``client=`` a ``distributed.Client``). At most
``2 x workers`` tasks are in flight, so the client's memory stays bounded.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterable, Iterator

from joblib import Parallel, delayed
from tqdm.auto import tqdm

BACKENDS = ("serial", "processes", "dask")


def _check_backend(backend: str, scheduler, client) -> str:
    if (scheduler is not None or client is not None) and backend in ("processes", None):
        backend = "dask"
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}; got {backend!r}")
    if backend != "dask" and (scheduler is not None or client is not None):
        raise ValueError(f"scheduler/client are for backend='dask', not {backend!r}")
    return backend


class _Executor:
    """``map(fn, tasks)`` yielding results as tasks complete, on the chosen backend."""

    def __init__(self, backend: str, n_jobs: int | None, scheduler: str | None, client: Any) -> None:
        self.backend, self.n_jobs, self.scheduler = backend, n_jobs, scheduler
        self.client, self._own_client = client, False

    def __enter__(self) -> "_Executor":
        if self.backend == "dask" and self.client is None:
            self.client = _dask_client(self.scheduler)
            self._own_client = True
        return self

    def __exit__(self, *exc) -> None:
        if self._own_client:
            self.client.close()

    def map(self, fn: Callable, tasks: Iterable) -> Iterator:
        if self.backend == "serial":
            return (fn(t) for t in tasks)
        if self.backend == "processes":
            return self._loky(fn, tasks)
        return self._dask(fn, tasks)

    def _loky(self, fn, tasks):
        n_jobs = self.n_jobs or os.cpu_count() or 1
        par = Parallel(n_jobs=n_jobs, backend="loky", return_as="generator_unordered", pre_dispatch="2*n_jobs")
        return par(delayed(fn)(t) for t in tasks)

    def _dask(self, fn, tasks):
        from distributed import as_completed  # optional extra (repalign[cluster])

        workers = max(1, sum(self.client.nthreads().values()))
        it = iter(tasks)
        pending = as_completed()
        for t in _take(it, 2 * workers):
            pending.add(self.client.submit(fn, t, pure=False))
        for fut in pending:
            result = fut.result()
            fut.release()
            for t in _take(it, 1):
                pending.add(self.client.submit(fn, t, pure=False))
            yield result


def _take(it: Iterator, k: int) -> list:
    out = []
    for _ in range(k):
        try:
            out.append(next(it))
        except StopIteration:
            break
    return out


def _dask_client(scheduler: str | None):
    try:
        from distributed import Client
    except ImportError:
        raise ValueError("backend='dask' needs dask.distributed: pip install 'repalign[cluster]'") from None
    if scheduler is None:
        raise ValueError("backend='dask' needs scheduler='tcp://host:8786' or client=Client(...)")
    try:
        return Client(scheduler)  # connect timeout: dask config distributed.comm.timeouts.connect
    except (OSError, TimeoutError) as exc:
        raise ValueError(f"scheduler: cannot connect to the Dask scheduler at {scheduler} ({exc})") from None


def _bar(iterable, progress: bool, desc: str, show: bool, total: int | None = None):
    return tqdm(iterable, total=total, desc=desc, disable=not (progress and show), leave=False)
