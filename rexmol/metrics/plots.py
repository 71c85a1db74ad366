"""Plots a person would rather look at than read: Ramachandran densities and energy histograms."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rexmol.io import atomic_path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight")
    _pyplot().close(fig)
    return Path(path)


def ramachandran(sets: dict[str, tuple[np.ndarray, np.ndarray | None]], names: list[str], path, bins: int = 60):
    """Per-residue (phi_i, psi_i) log-densities, one row per set ({label: (torsions, weights)})."""
    plt = _pyplot()
    pairs = [(names.index(f"phi{r}"), names.index(f"psi{r}"), r)
             for r in range(1, 10) if f"phi{r}" in names and f"psi{r}" in names]
    fig, axes = plt.subplots(len(sets), len(pairs), figsize=(3.2 * len(pairs), 3.0 * len(sets)), squeeze=False)
    edges = np.linspace(-np.pi, np.pi, bins + 1)
    for row, (label, (tors, w)) in enumerate(sets.items()):
        for col, (i, j, r) in enumerate(pairs):
            with np.errstate(invalid="ignore", divide="ignore"):  # an empty set plots as blank, not a crash
                h, _, _ = np.histogram2d(tors[:, i], tors[:, j], bins=[edges, edges], weights=w, density=True)
            ax = axes[row, col]
            ax.imshow(np.log(h.T + 1e-3), origin="lower", extent=[-np.pi, np.pi, -np.pi, np.pi], cmap="viridis")
            ax.set_title(f"{label}: residue {r}", fontsize=9)
            ax.set_xlabel("phi (rad)")
            ax.set_ylabel("psi (rad)")
    return _save(fig, path)


def energy_histogram(sets: dict[str, tuple[np.ndarray, np.ndarray | None]], path, bins: int = 80,
                     span: tuple[float, float] | None = None):
    """Histograms of reduced energies u = U/kT, one line per set ({label: (energies, weights)})."""
    plt = _pyplot()
    finite = np.concatenate([u[np.isfinite(u)] for u, _ in sets.values()])
    lo, hi = span or (np.percentile(finite, 0.1), np.percentile(finite, 99.5))
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, (u, w) in sets.items():
        keep = np.isfinite(u)
        ax.hist(u[keep], bins=bins, range=(lo, hi), weights=None if w is None else w[keep], density=True,
                histtype="step", label=label)
    ax.set_xlabel("reduced energy u = U / kT")
    ax.set_ylabel("density")
    ax.legend()
    return _save(fig, path)
