"""Importance weights of a Boltzmann generator and their effective sample size.

log w_i = -u(x_i) - log q(x_i), with u = U/kT the reduced energy and q the model density.
Weights are normalised with log-sum-exp; non-finite log-weights (infinite energy) get weight 0.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp


def normalised_weights(log_w) -> np.ndarray:
    """w_i / sum_j w_j from log-weights; entries that are -inf or NaN get 0."""
    log_w = np.asarray(log_w, dtype=np.float64)
    log_w = np.where(np.isfinite(log_w), log_w, -np.inf)
    if not np.isfinite(log_w).any():
        raise ValueError("every log-weight is non-finite: no sample has a finite energy and density")
    return np.exp(log_w - logsumexp(log_w))


def kish_ess(log_w) -> float:
    """Kish effective sample size as a fraction of N: (sum w)^2 / (N sum w^2), in (0, 1]."""
    w = normalised_weights(log_w)
    return float(1.0 / (len(w) * np.sum(w * w)))


def log_w_quantiles(log_w) -> dict:
    """Median and spread (half the 16-84% range) of log-weights over *all* draws, a draw with weight
    0 (-inf or NaN: a fold, a D residue, a non-finite energy) counted as the lowest, so that losing
    a draw can never raise the median. Empirical quantiles (``inverted_cdf``: values of the sample,
    no interpolation); -inf where more than 16% (50%) of the draws have weight 0."""
    log_w = np.asarray(log_w, dtype=np.float64)
    if log_w.size == 0:
        raise ValueError("no log-weights")
    log_w = np.where(np.isfinite(log_w), log_w, -np.inf)
    lo, median, hi = np.quantile(log_w, [0.16, 0.5, 0.84], method="inverted_cdf")
    spread = (hi - lo) / 2 if np.isfinite(lo) else np.inf
    return {"log_w_median": float(median), "log_w_spread": float(spread)}
