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


# --------------------------------------------------------------------------- toy measures stay local
@pytest.fixture(scope="session", autouse=True)
def _no_toy_measures_at_import():
    """A test module that registers a measure at import leaks it into every module collected
    after it (test_core's contract test picked up test_engine's failing toy when test_engine
    was collected first). Register toys with ``_helpers.toy_measures`` inside a fixture instead."""
    from _helpers import toy_measure_names

    leaked = toy_measure_names()
    assert not leaked, f"measures registered at import by a test module: {sorted(leaked)}; use _helpers.toy_measures"


@pytest.fixture(autouse=True)
def _no_toy_measure_leaks():
    """A test must leave the registry as it found it (module-scoped toys are set up before this)."""
    from _helpers import toy_measure_names
    from repalign.registry import unregister
    from repalign import registry

    before = toy_measure_names()
    yield
    leaked = toy_measure_names() - before
    for name in sorted(leaked):
        if name in registry._REGISTRY:  # an alias may have gone with its class
            unregister(name)
    if leaked:
        pytest.fail(f"the test left measures registered: {sorted(leaked)}; use _helpers.toy_measures")
