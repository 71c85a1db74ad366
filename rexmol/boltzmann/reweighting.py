"""Importance reweighting of generated conformers towards the Boltzmann distribution.

The target is p(x) ∝ exp(-u(x)) on the centre-of-mass-free subspace, u = U/kT the reduced
energy (kT = k_B 300 K = 2.494 kJ/mol), restricted to all-L tri-alanine: the MD reference
samples only that molecule, and a mirror-image (D) residue is a different stereoisomer that no
finite-temperature MD reaches. With q the generator's density (nats per nm^D), each sample gets

    log w_i = -u(x_i) - log q(x_i),       w_i / sum_j w_j by log-sum-exp,

and weight zero (counted, never a crash) if u is not finite, a residue is D, or the sampler's
map folded there (its log q is NaN: no density, see :mod:`rexmol.flows.jacobian`). Kish's effective
sample size (sum w)^2 / (N sum w^2) is reported as a fraction of N. No clipping or trimming
happens unless ``clip_quantile`` is given, and then it is recorded in the result.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from rexmol.metrics.weights import kish_ess, normalised_weights, pareto_khat


@dataclass
class Reweighting:
    log_w: np.ndarray  # unnormalised log-weights, -inf where excluded
    weights: np.ndarray  # normalised, sum to 1
    ess_fraction: float
    n_nonfinite_energy: int
    n_d_chirality: int
    clip_quantile: float | None = None
    n_folded: int = 0

    def summary(self) -> dict:
        d = asdict(self)
        del d["log_w"], d["weights"]
        d["n"] = int(len(self.weights))
        d["ess"] = self.ess_fraction * len(self.weights)
        d["max_weight"] = float(self.weights.max())
        # the tail shape of these weights (PSIS k-hat): above 0.7 the ESS above is not reliable at
        # this n; None where too few weights are finite to fit a tail, or clipping flattened it
        finite = int(np.isfinite(self.log_w).sum())
        d["pareto_khat"] = pareto_khat(self.log_w)["khat"] if finite >= 25 and self.clip_quantile is None else None
        return d


def importance_weights(u, log_q, l_chirality=None, clip_quantile: float | None = None) -> Reweighting:
    """Boltzmann importance weights of samples with reduced energies ``u`` and log-densities ``log_q``.

    ``l_chirality``: boolean per sample, False to exclude (a D residue). ``log_q`` NaN marks a
    draw whose map folded (weight 0, counted in ``n_folded``); +-inf is an error (a failed solve).
    ``clip_quantile``: cap the log-weights at this quantile of the finite ones (biased; off by
    default). If no draw keeps a finite weight, the weights are all 0 and the ESS is 0."""
    u = np.asarray(u, dtype=np.float64)
    log_q = np.asarray(log_q, dtype=np.float64)
    if u.shape != log_q.shape or u.ndim != 1:
        raise ValueError(f"u and log_q must be 1-D of equal length, got {u.shape} and {log_q.shape}")
    if np.isinf(log_q).any():
        raise ValueError(f"{int(np.isinf(log_q).sum())} log-densities are infinite (a failed solve?)")
    folded = np.isnan(log_q)
    log_w = -u - np.where(folded, 0.0, log_q)
    nonfinite = ~np.isfinite(u)
    keep = ~nonfinite & ~folded
    n_d = 0
    if l_chirality is not None:
        l_chirality = np.asarray(l_chirality, dtype=bool)
        n_d = int((~l_chirality).sum())
        keep &= l_chirality
    log_w = np.where(keep, log_w, -np.inf)
    if not keep.any():
        return Reweighting(log_w, np.zeros_like(log_w), 0.0, int(nonfinite.sum()), n_d, clip_quantile,
                           int(folded.sum()))
    if clip_quantile is not None:
        if not 0.0 < clip_quantile <= 1.0:
            raise ValueError(f"clip_quantile must lie in (0, 1], got {clip_quantile}")
        cap = np.quantile(log_w[keep], clip_quantile)
        log_w = np.minimum(log_w, cap)
    w = normalised_weights(log_w)
    return Reweighting(log_w, w, kish_ess(log_w), int(nonfinite.sum()), n_d, clip_quantile, int(folded.sum()))


def systematic_resample(weights, n: int | None = None, seed: int = 0) -> np.ndarray:
    """Indices of n draws from the normalised weights by systematic resampling (one uniform
    offset, n evenly spaced points through the cumulative weights: lower variance than multinomial)."""
    w = np.asarray(weights, dtype=np.float64)
    n = len(w) if n is None else int(n)
    positions = (np.random.default_rng(seed).random() + np.arange(n)) / n
    cdf = np.cumsum(w)
    cdf[-1] = 1.0
    return np.searchsorted(cdf, positions, side="right").clip(0, len(w) - 1)
