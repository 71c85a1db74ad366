"""Integrated autocorrelation times: how many MD frames make one independent sample.

For a stationary series f_t with normalised autocorrelation rho(k),

    tau_int = 1 + 2 sum_{k=1}^{W} rho(k)      (in frames),

with Sokal's self-consistent window: the smallest W with W >= c tau_int(W) (c = 5). The
autocorrelation is estimated by FFT, pooled over independent trajectories of any lengths: the
autocovariance at lag k sums x_t x_{t+k} over every trajectory longer than k and divides by the
number of such pairs, about the mean of all frames (each trajectory's own mean removed is a small
bias; the shared mean is used instead). Trajectories still growing thus count with every frame
they have, instead of cutting all of them to the shortest one's length. A torsion is
an angle, so it enters as its two smooth components cos and sin; the time of a set of torsions
is the largest over all components: the slowest observable sets the decorrelation time.
"""

from __future__ import annotations

import numpy as np


def autocorrelation(series) -> np.ndarray:
    """rho(k) for k = 0..T_max-1, pooled over runs: ``series`` is one run (T,), runs of one length
    (runs, T), or a list of 1-D runs of any lengths (zero-padded FFT per run)."""
    if isinstance(series, (list, tuple)) and len(series) and np.ndim(series[0]) == 1:
        runs = [np.asarray(r, dtype=np.float64) for r in series]  # runs of any lengths
    else:
        arr = np.asarray(series, dtype=np.float64)
        if arr.ndim > 2:
            raise ValueError(f"a series is (T,) or (runs, T), or a list of 1-D runs; got shape {arr.shape}")
        runs = list(np.atleast_2d(arr))
    if any(r.ndim != 1 for r in runs):
        raise ValueError(f"every run must be 1-D, got shapes {[r.shape for r in runs]}")
    if not runs or min(len(r) for r in runs) == 0:
        raise ValueError("autocorrelation needs at least one non-empty run")
    mean = np.concatenate(runs).mean()
    t_max = max(len(r) for r in runs)
    lagged = np.zeros(t_max)  # sum over runs of sum_t x_t x_{t+k}
    pairs = np.zeros(t_max)  # sum over runs of (T_r - k), the number of such products
    for r in runs:
        t = len(r)
        f = np.fft.rfft(r - mean, n=2 * t)
        lagged[:t] += np.fft.irfft(f * np.conj(f), n=2 * t)[:t]
        pairs[:t] += np.arange(t, 0, -1)
    acov = lagged / pairs
    if acov[0] <= 0:
        raise ValueError("the series is constant: its autocorrelation time is undefined")
    return acov / acov[0]


def sokal_time(rho: np.ndarray, c: float = 5.0) -> tuple[float, bool]:
    """(tau_int, converged) from an autocorrelation ``rho``: tau_int at Sokal's window (the smallest
    W with W >= c tau_int(W)), or, where there is none, at the longest window rho supports
    (W = len(rho) / c), flagged as not converged."""
    taus = 1.0 + 2.0 * np.cumsum(rho[1:])
    ok = np.arange(1, len(rho)) >= c * taus
    if ok.any():
        return float(taus[np.argmax(ok)]), True
    return float(taus[max(0, int(len(rho) / c) - 1)]), False


def integrated_time(series: np.ndarray, c: float = 5.0, unconverged: str = "raise") -> float:
    """tau_int in frames with Sokal's window (see the module docstring).

    Where no window W satisfies W >= c tau_int(W) (the runs are too short for the slowest mode),
    ``unconverged="raise"`` raises; ``"bound"`` returns tau_int at the longest window the runs
    support, W = T_max / c, a lower bound in practice (the sum is still growing there)."""
    if unconverged not in ("raise", "bound"):
        raise ValueError(f"unconverged must be 'raise' or 'bound', got {unconverged!r}")
    rho = autocorrelation(series)
    tau, converged = sokal_time(rho, c)
    if not converged and unconverged == "raise":
        raise ValueError(f"series too short for a reliable estimate (tau_int > {len(rho) / c:.0f} frames)")
    return tau


def converges(series, c: float = 5.0) -> bool:
    """Whether Sokal's window exists for ``series`` (see :func:`integrated_time`)."""
    return sokal_time(autocorrelation(series), c)[1]


def torsion_integrated_times(torsions_by_run: list[np.ndarray], names: list[str], c: float = 5.0,
                             unconverged: str = "raise") -> dict[str, float]:
    """tau_int (frames) of each torsion: the larger of its cos and sin components, pooled over runs
    of any lengths (``unconverged`` as in :func:`integrated_time`)."""
    return {name: tau for name, (tau, _) in torsion_times_and_convergence(torsions_by_run, names, c, unconverged).items()}


def torsion_times_and_convergence(torsions_by_run: list[np.ndarray], names: list[str], c: float = 5.0,
                                  unconverged: str = "bound") -> dict[str, tuple[float, bool]]:
    """(tau_int, converged) of each torsion, one autocorrelation per component: tau_int the larger
    of its cos and sin components' (at the longest window where one has no Sokal window, or raising
    with ``unconverged="raise"``), converged whether both components have one."""
    if unconverged not in ("raise", "bound"):
        raise ValueError(f"unconverged must be 'raise' or 'bound', got {unconverged!r}")
    out = {}
    for j, name in enumerate(names):
        angles = [np.asarray(t)[:, j] for t in torsions_by_run]
        parts = [sokal_time(autocorrelation([f(a) for a in angles]), c) for f in (np.cos, np.sin)]
        if unconverged == "raise" and not all(ok for _, ok in parts):
            raise ValueError(f"torsion {name}: series too short for a reliable estimate of tau_int")
        out[name] = (max(tau for tau, _ in parts), all(ok for _, ok in parts))
    return out
