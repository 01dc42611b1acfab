"""Dynamical measures (delay embedding, DMD, vector-field Procrustes, DSA)."""
from . import dmd, spectral, dsa  # noqa: F401
