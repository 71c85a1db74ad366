"""Paired bootstrap intervals of importance-weighted metrics.

A reweighted metric of n draws rests on the few draws that carry the weight, so its spread is
estimated by resampling the draws: B index sets of size n, drawn with replacement, and the
statistic recomputed on each with the weights renormalised within the resample. Rows that share
their prior draws (solvers or settings run on the same seeds) are resampled with the same index
sets, so ratios between rows are paired. Intervals are the 16-84% percentiles (one standard
deviation of a normal either side).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rexmol.metrics.distances import energy_w2, torus_w2

#: A statistic of one row's arrays (``u``, ``weights``, ``torsions``, ...) at resampled indices.
Statistic = Callable[[dict, np.ndarray], float]


def resample_indices(n: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) draw indices, with replacement; the same for every caller with the same seed."""
    if n < 1 or n_boot < 1:
        raise ValueError(f"a bootstrap needs n >= 1 draws and n_boot >= 1 resamples, got n={n}, n_boot={n_boot}")
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def paired_bootstrap(arrays: dict[str, dict], statistic: Statistic, n_boot: int = 200, seed: int = 0
                     ) -> dict[str, np.ndarray]:
    """``statistic(arrays[name], idx)`` for every row over the same ``n_boot`` index sets."""
    sizes = {len(a["weights"]) for a in arrays.values()}
    if len(sizes) != 1:
        raise ValueError(f"paired bootstrap needs the same number of draws per row, got {sorted(sizes)}")
    idx = resample_indices(sizes.pop(), n_boot, seed)
    return {name: np.array([statistic(a, i) for i in idx], dtype=np.float64) for name, a in arrays.items()}


def interval(values: np.ndarray, lo: float = 16.0, hi: float = 84.0) -> list[float] | None:
    """[lo, hi] percentiles of the finite values; None if there is none."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return [float(np.percentile(v, lo)), float(np.percentile(v, hi))] if len(v) else None


def ess_count(a: dict, idx: np.ndarray) -> float:
    """Kish ESS (a count) of the resampled weights: (sum w)^2 / sum w^2; 0 if all are zero."""
    w = a["weights"][idx]
    return float(w.sum() ** 2 / np.square(w).sum()) if w.any() else 0.0


def ess_fraction(a: dict, idx: np.ndarray) -> float:
    """Kish ESS of the resample as a fraction of its size."""
    return ess_count(a, idx) / len(idx)


def reweighted_energy_w2(reference_u: np.ndarray) -> Statistic:
    """E-W2 (kT) of the resampled draws' reduced energies ``u``, weighted, against ``reference_u``;
    NaN where every resampled weight is zero."""
    def statistic(a: dict, idx: np.ndarray) -> float:
        u, w = a["u"][idx], a["weights"][idx]
        keep = w > 0
        return energy_w2(u[keep], reference_u, w_a=w[keep] / w[keep].sum()).value if keep.any() else np.nan
    return statistic


def reweighted_torus_w2(reference_torsions: np.ndarray, n_max: int = 2000, seed: int = 0) -> Statistic:
    """T-W2 (rad) of the resampled draws' ``torsions``, weighted, against ``reference_torsions``
    (the same reference subsample as :func:`torus_w2` with this seed); NaN where every weight is zero."""
    def statistic(a: dict, idx: np.ndarray) -> float:
        # a resample repeats draws: each distinct draw once, with its weight times its count, is the
        # same weighted measure and a smaller transport problem (about 0.63 n rows instead of n). Where
        # more than n_max draws are kept, torus_w2 subsamples them by weight, from fewer rows: the same
        # measure, another random subsample than the repeated rows would give
        draws, counts = np.unique(idx, return_counts=True)
        tors, w = a["torsions"][draws], a["weights"][draws] * counts
        keep = w > 0
        return (torus_w2(tors[keep], reference_torsions, w_a=w[keep] / w[keep].sum(), n_max=n_max, seed=seed)
                if keep.any() else np.nan)
    return statistic


def paired_bootstrap_e_w2(arrays: dict[str, dict], reference_u: np.ndarray, n_boot: int = 200, seed: int = 0
                          ) -> dict[str, np.ndarray]:
    """Reweighted E-W2 (kT) of each row over ``n_boot`` paired resamples of the draw indices.

    ``arrays[name]`` holds ``u`` (reduced energies) and ``weights`` (normalised importance
    weights, 0 for discarded draws) of the same n prior draws. A resample whose weights are all
    zero gives NaN."""
    return paired_bootstrap(arrays, reweighted_energy_w2(reference_u), n_boot, seed)


def paired_ratio(base: dict, other: dict, statistic: Statistic, n_boot: int = 200, seed: int = 0) -> dict:
    """statistic(other) / statistic(base) on all n draws, with a 16-84% interval of the ratio over
    ``n_boot`` resamples that pick the same draw indices for both rows.

    The rows must be paired: draw i of each comes from the same prior draw (two samplers, or two
    models, run on the same noise). The ratio's interval is then that of the ratio itself, not of
    two independent intervals; a statistic that differs between the rows by a constant factor
    gives that factor as both ends. Also returns each row's point value and interval. The ratio is
    None where the baseline's statistic is 0 on all draws."""
    n = len(base["weights"])
    if len(other["weights"]) != n:
        raise ValueError(f"a paired ratio needs the same draws in both rows, got {n} and {len(other['weights'])}")
    everything = np.arange(n)
    value_base, value_other = statistic(base, everything), statistic(other, everything)
    boots = paired_bootstrap({"base": base, "other": other}, statistic, n_boot, seed)
    with np.errstate(divide="ignore", invalid="ignore"):  # a resample where the baseline is 0 is left out
        ratios = boots["other"] / boots["base"]
    return {"base": float(value_base), "other": float(value_other),
            "ratio": float(value_other / value_base) if value_base != 0 else None,  # None: the baseline is 0
            "ratio_interval_16_84": interval(ratios),
            "base_interval_16_84": interval(boots["base"]), "other_interval_16_84": interval(boots["other"]),
            "bootstrap": {"resamples": n_boot, "seed": seed}}
