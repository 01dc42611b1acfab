"""The pairwise engine: many systems x measures into a crash-safe SQLite store.

::

    from repalign import engine
    summary = engine.sweep("data/*.npy", ["cka", {"name": "dsa", "params": {"n_delays": 5}}],
                           "results.db", backend="processes")
    print(summary)
    res = engine.load("results.db")
    res.table                 # tidy pandas DataFrame
    res.matrix("cka")         # labelled square DataFrame

See ``docs/engine.md`` for the design (content hashes, chunks, backends, crash safety).
"""

from .results import Results, load
from . import sources as _sources
from .sources import Source, content_hash, resolve_systems
from .store import Store, measure_key
from .sweep import SweepSummary, sweep

__all__ = ["sweep", "load", "Results", "SweepSummary", "Source", "Store", "content_hash",
           "measure_key", "resolve_systems", "run_config", "load_config"]


def __getattr__(name):  # config needs yaml: imported on first use only
    if name == "System":  # deprecated alias of Source (warns)
        return _sources.System
    if name in ("run_config", "load_config"):
        from . import config

        return getattr(config, name)
    raise AttributeError(name)
