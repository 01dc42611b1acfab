"""Geometric measures, one module per family. Importing this package registers them."""

from . import cka  # noqa: F401
from . import cca, subspace, neighbors  # noqa: F401
from . import shape, stochastic, stochastic_shape  # noqa: F401
from . import matching, gulp, rsm, overlap, descriptive  # noqa: F401
from . import rsa  # noqa: F401
from . import knn_measures, predictivity  # noqa: F401
