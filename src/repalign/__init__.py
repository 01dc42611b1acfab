"""repalign: how alike are two neural systems, in representational geometry and dynamics,
and is that likeness real?

Quick start::

    import repalign
    repalign.compare(X, Y, "cka")                 # one pair
    repalign.pairwise([X1, X2, X3], "procrustes") # symmetric matrix, each system prepared once
    repalign.measures()                           # what is available, with metadata
"""

from ._memory import MemoryBudgetError, get_options, set_options
from ._validation import InputError, as_system, as_trials
from .api import compare, compare_detailed, pairwise
from .registry import Comparison, Measure, MeasureInfo, Prepared, get_measure, measures, register
from .stats import calibrate

# Importing the measure families registers their measures (the registry itself imports none of
# them: families depend on the protocol, never the reverse). Every `import repalign.x` runs this first.
from . import dynamics, geometry  # noqa: F401

__version__ = "0.1.0"


def __getattr__(name):
    if name == "record":  # lazy: repalign.train imports torch, which `import repalign` must not
        from .train import record

        return record
    raise AttributeError(f"module 'repalign' has no attribute {name!r}")

__all__ = [
    "compare",
    "compare_detailed",
    "pairwise",
    "calibrate",
    "record",
    "measures",
    "get_measure",
    "register",
    "Measure",
    "MeasureInfo",
    "Prepared",
    "Comparison",
    "as_system",
    "as_trials",
    "set_options",
    "get_options",
    "MemoryBudgetError",
    "InputError",
    "__version__",
]
