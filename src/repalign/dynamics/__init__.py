"""Dynamical measures (delay embedding, DMD, vector-field Procrustes, DSA)."""
