"""Distribution distances used to judge samples against MD: E-W2 and T-W2.

E-W2: the Wasserstein-2 distance between the 1-D distributions of reduced energies u = U/kT
(so in units of kT), computed exactly from quantile functions (POT's ``wasserstein_1d``),
optionally weighted. Outliers: non-finite energies cannot be transported; they are dropped
and counted (``n_dropped``), never silently. An explicit ``cap`` clips energies above it to the
cap (off by default; report it if you use it).

T-W2: the Wasserstein-2 distance between distributions of backbone torsions on the torus
T^k, with cost c(a, b) = sum_j d(a_j, b_j)^2, d the wrapped difference min(|a - b|, 2 pi - |a - b|),
solved exactly with POT's network simplex (``ot.emd2``) on subsamples of equal size (uniform or
given weights, so the reweighted variant is the same call with importance weights).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class EnergyW2:
    value: float  # W2 in kT
    n_dropped_a: int
    n_dropped_b: int


def _normalise(w, n):
    if w is None:
        return np.full(n, 1.0 / n)
    w = np.asarray(w, dtype=np.float64)
    if w.shape != (n,) or (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
        raise ValueError(f"weights must be {n} finite non-negative numbers with a positive sum")
    return w / w.sum()


def energy_w2(u_a, u_b, w_a=None, w_b=None, cap: float | None = None) -> EnergyW2:
    """Exact W2 between 1-D (weighted) empirical distributions of reduced energies (kT)."""
    import ot

    out = []
    for u, w in ((u_a, w_a), (u_b, w_b)):
        u = np.asarray(u, dtype=np.float64)
        if u.ndim != 1 or len(u) == 0:
            raise ValueError(f"energies must be a non-empty 1-D array, got shape {u.shape}")
        w = np.ones(len(u)) if w is None else _normalise(w, len(u))
        keep = np.isfinite(u) & (w > 0)
        n_dropped = int((~np.isfinite(u)).sum())
        if not keep.any():
            raise ValueError("no finite energies with positive weight")
        u, w = u[keep], w[keep]
        if cap is not None:
            u = np.minimum(u, cap)
        out.append((u, w / w.sum(), n_dropped))
    (ua, wa, da), (ub, wb, db) = out
    return EnergyW2(float(np.sqrt(max(ot.wasserstein_1d(ua, ub, wa, wb, p=2), 0.0))), da, db)


def torus_cost(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cost matrix C_ij = sum_k min(|a_ik - b_jk|, 2 pi - |a_ik - b_jk|)^2 for angles in radians."""
    d = np.abs(a[:, None, :] - b[None, :, :]) % (2 * np.pi)
    d = np.minimum(d, 2 * np.pi - d)
    return (d * d).sum(-1)


def torus_w2(a, b, w_a=None, w_b=None, n_max: int | None = 2000, seed: int = 0) -> float:
    """Exact W2 on the torus between (weighted) empirical torsion distributions (radians).

    A set larger than ``n_max`` is subsampled to n_max points: an unweighted set uniformly
    without replacement, a weighted set by its weights with replacement (then treated as
    uniform, which keeps the exact-OT problem square and small). Each set draws from its own
    stream, seeded by ``seed`` and its position, so a reference passed as ``b`` gets the same
    subsample whatever ``a`` is: raw and reweighted T-W2 of one sample set, called with one
    seed, are measured against the same reference frames.
    """
    import ot

    sets = []
    for position, (x, w_given) in enumerate(((a, w_a), (b, w_b))):
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or len(x) == 0:
            raise ValueError(f"torsions must be an (n, k) array, got shape {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError("torsions contain NaN or inf")
        w = _normalise(w_given, len(x))
        if n_max is not None and len(x) > n_max:
            rng = np.random.default_rng([seed, position])
            idx = (rng.choice(len(x), n_max, replace=False) if w_given is None
                   else rng.choice(len(x), n_max, replace=True, p=w))
            x, w = x[idx], np.full(n_max, 1.0 / n_max)
        sets.append((x, w))
    (xa, wa), (xb, wb) = sets
    if xa.shape[1] != xb.shape[1]:
        raise ValueError(f"torsion sets have {xa.shape[1]} and {xb.shape[1]} angles")
    cost = ot.emd2(wa, wb, torus_cost(xa, xb), numItermax=10_000_000)
    return float(np.sqrt(max(cost, 0.0)))
