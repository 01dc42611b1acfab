"""Runtime settings shared by studies, the demo and benchmarks."""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator


def available_cpus() -> int:
    """CPUs this process may run on (its affinity where the platform tells, else the count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@contextmanager
def limited_threads(n: int | None = 1) -> Iterator[int]:
    """Run with torch and BLAS/OpenMP limited to ``n`` threads (None: every CPU this process
    may use, capped there); the previous settings are restored afterwards. Yields the number used.

    The default is 1: the products in the studies (batch 64 x width 256; 450 x 10 x 256 per null
    draw) are too small to gain from threads, and on a shared, loaded 2-core machine two threads
    spin against other processes: 10 DFA epochs took 122 s with 2 torch threads and 5 s with 1,
    and a null draw 14 ms with 2 BLAS threads instead of well under 1 ms.
    """
    import torch  # lazy: `import repalign` does not pull torch
    from threadpoolctl import threadpool_limits

    avail = available_cpus()
    n = max(1, min(n or avail, avail))
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with threadpool_limits(limits=n):
            yield n
    finally:
        torch.set_num_threads(before)
