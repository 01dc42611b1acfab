"""Geometric measures, one module per family. Importing this package registers them."""

from . import cka  # noqa: F401
