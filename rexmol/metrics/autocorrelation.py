"""Integrated autocorrelation times: how many MD frames make one independent sample.

For a stationary series f_t with normalised autocorrelation rho(k),

    tau_int = 1 + 2 sum_{k=1}^{W} rho(k)      (in frames),

with Sokal's self-consistent window: the smallest W with W >= c tau_int(W) (c = 5). The
autocorrelation is estimated by FFT, averaged over independent trajectories of one length (each
trajectory's own mean removed is a small bias; the shared mean is used instead). A torsion is
an angle, so it enters as its two smooth components cos and sin; the time of a set of torsions
is the largest over all components: the slowest observable sets the decorrelation time.
"""

from __future__ import annotations

import numpy as np


def autocorrelation(series: np.ndarray) -> np.ndarray:
    """rho(k) for k = 0..T-1 of ``series`` (runs, T), averaged over runs, by zero-padded FFT."""
    x = np.atleast_2d(np.asarray(series, dtype=np.float64))
    x = x - x.mean()
    t = x.shape[1]
    f = np.fft.rfft(x, n=2 * t, axis=1)
    acov = np.fft.irfft(f * np.conj(f), axis=1)[:, :t].mean(0) / np.arange(t, 0, -1)
    if acov[0] <= 0:
        raise ValueError("the series is constant: its autocorrelation time is undefined")
    return acov / acov[0]


def integrated_time(series: np.ndarray, c: float = 5.0) -> float:
    """tau_int in frames with Sokal's window (see the module docstring)."""
    rho = autocorrelation(series)
    taus = 1.0 + 2.0 * np.cumsum(rho[1:])
    windows = np.arange(1, len(rho))
    ok = windows >= c * taus
    if not ok.any():
        raise ValueError(f"series too short for a reliable estimate (tau_int > {len(rho) / c:.0f} frames)")
    return float(taus[np.argmax(ok)])


def torsion_integrated_times(torsions_by_run: list[np.ndarray], names: list[str], c: float = 5.0) -> dict[str, float]:
    """tau_int (frames) of each torsion: the larger of its cos and sin components, over runs of equal length."""
    length = min(len(t) for t in torsions_by_run)
    out = {}
    for j, name in enumerate(names):
        angles = np.stack([t[:length, j] for t in torsions_by_run])
        out[name] = max(integrated_time(np.cos(angles), c), integrated_time(np.sin(angles), c))
    return out
