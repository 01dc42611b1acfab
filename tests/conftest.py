"""Shared test settings.

pytest runs with two xdist workers on a 2-core machine; letting each worker's BLAS (and
torch) also start one thread per core oversubscribes the CPU and can make a 2 ms SVD take a
second. Each worker therefore computes single-threaded.
"""

import os

if os.environ.get("PYTEST_XDIST_WORKER"):
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
