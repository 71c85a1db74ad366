"""Centring: the one place conformations are moved to the centre-of-mass-free subspace."""

from __future__ import annotations


def centre(x):
    """Each conformation minus its (unweighted) centroid over atoms, axis -2 of (..., n_atoms, 3).

    Works on numpy arrays and torch tensors alike and keeps the type and dtype."""
    return x - x.mean(axis=-2, keepdims=True)
