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


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def report_browser():
    """A headless system Chromium driven by Playwright (see tests/_browser.py)."""
    from _browser import ReportBrowser, chromium_path, unavailable

    try:
        import playwright  # noqa: F401
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[test]')")
    exe = chromium_path()
    if exe is None:
        unavailable("no chromium executable (apt-get install -y chromium, or set REPALIGN_CHROMIUM)")
    browser = ReportBrowser(exe)
    yield browser
    browser.close()
