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


def pareto_khat(log_w) -> dict:
    """Shape k of a generalised Pareto fit to the largest importance weights (the PSIS diagnostic of
    Vehtari, Simpson, Gelman, Yao and Gabry, "Pareto smoothed importance sampling", JMLR 2024).

    The M = ceil(min(N/5, 3 sqrt N)) largest finite weights, less the next largest, are fitted by the
    Zhang and Stephens (2009) posterior-mean estimator with the weakly informative prior of PSIS
    (k shrunk towards 0.5 by 10 pseudo-observations). The weights' variance is finite for k < 1/2
    and their mean for k < 1; above k = 0.7 the Kish ESS and any average over the weights are
    unreliable at this N whatever they print, which is what makes k the comparison of two weight
    sets that a single heavy draw cannot decide. Scale-free: a constant added to log w (log Z)
    leaves k unchanged. Returns {"khat", "tail_draws"}; weight-0 draws are left out."""
    log_w = np.asarray(log_w, dtype=np.float64)
    log_w = np.sort(log_w[np.isfinite(log_w)])
    n = log_w.size
    m = int(np.ceil(min(n / 5.0, 3.0 * np.sqrt(n))))
    if m < 5:
        raise ValueError(f"a Pareto tail fit needs at least 5 tail draws; {n} finite weights give {m}")
    w = np.exp(log_w - log_w[-1])  # largest weight 1: the fit is scale-free
    x = w[-m:] - w[-m - 1]
    if not (x > 0).any():
        return {"khat": float("-inf"), "tail_draws": m}
    return {"khat": _gpd_fit(x)[0], "tail_draws": m}


def _gpd_fit(x: np.ndarray) -> tuple[float, float]:
    """(k, sigma) of a generalised Pareto distribution (location 0) fitted to exceedances ``x``:
    the Zhang and Stephens (2009) posterior mean of b = -k / sigma on a grid, k its profile value,
    then k shrunk towards 0.5 by 10 pseudo-observations (PSIS's weakly informative prior; sigma
    keeps the unshrunk k, as in PSIS's reference implementation)."""
    x = np.sort(x)
    n_tail = len(x)
    m_grid = 30 + int(np.sqrt(n_tail))
    b = 1.0 - np.sqrt(m_grid / (np.arange(1, m_grid + 1) - 0.5))
    b = b / (3.0 * x[int(n_tail / 4 + 0.5) - 1]) + 1.0 / x[-1]
    k = np.log1p(-b[:, None] * x).mean(axis=1)
    profile = n_tail * (np.log(-b / k) - k - 1.0)  # profile log-likelihood of each grid point
    post = np.exp(profile - logsumexp(profile))
    b_mean = float(np.sum(b * post))
    k_hat = float(np.log1p(-b_mean * x).mean())
    sigma = -k_hat / b_mean
    return (n_tail * k_hat + 10 * 0.5) / (n_tail + 10), sigma


def psis_ess(log_w) -> dict:
    """Kish ESS fraction of Pareto-smoothed weights (PSIS, Vehtari et al., JMLR 2024).

    The M = ceil(min(N/5, 3 sqrt N)) largest finite weights are replaced by the expected order
    statistics of the generalised Pareto tail fitted to them (:func:`pareto_khat`'s fit): the
    cut-off weight plus the GPD quantiles at (i - 1/2) / M, none above the largest raw weight.
    One heavy draw then moves the ESS by what the fitted tail says such draws weigh on average,
    not by its own luck; the estimate stays unreliable above k = 0.7 (its k is returned beside
    it). Returns {"ess_fraction", "khat"}; weight-0 draws (-inf or NaN) count in N with weight 0;
    a +inf log-weight is an error."""
    log_w = np.asarray(log_w, dtype=np.float64)
    if np.isposinf(log_w).any():
        raise ValueError(f"{int(np.isposinf(log_w).sum())} log-weights are +inf: an infinite weight has no ESS")
    finite = np.isfinite(log_w)
    order = np.argsort(np.where(finite, log_w, -np.inf))
    lw = log_w[order][-int(finite.sum()):] if finite.any() else log_w[:0]
    n = lw.size
    m = int(np.ceil(min(n / 5.0, 3.0 * np.sqrt(n))))
    if m < 5:
        raise ValueError(f"a Pareto tail fit needs at least 5 tail draws; {n} finite weights give {m}")
    w = np.exp(lw - lw[-1])
    cut = w[-m - 1]
    x = w[-m:] - cut
    if not (x > 0).any():  # a flat top: nothing to smooth
        k = float("-inf")
    else:
        k, sigma = _gpd_fit(x)
        p = (np.arange(1, m + 1) - 0.5) / m
        # GPD quantile sigma / k ((1 - p)^-k - 1), its k -> 0 limit the exponential's -sigma log(1 - p)
        q = sigma / k * np.expm1(-k * np.log1p(-p)) if abs(k) > 1e-12 else -sigma * np.log1p(-p)
        w = w.copy()
        w[-m:] = np.minimum(cut + q, 1.0)
    w = w / w.sum()
    return {"ess_fraction": float(1.0 / (len(log_w) * np.sum(w * w))), "khat": k}
