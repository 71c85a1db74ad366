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


_PI_TICKS = [-np.pi, -np.pi / 2, 0.0, np.pi / 2, np.pi]
_PI_LABELS = ["-π", "-π/2", "0", "π/2", "π"]


def ramachandran(sets: dict[str, tuple[np.ndarray, np.ndarray | None]], names: list[str], path, bins: int = 60):
    """Per-residue (phi_i, psi_i) panels, one row per set ({label: (torsions, weights or None)}).

    The first set is the reference (MD). Its density is drawn in every panel, on a log colour
    scale so that sparse basins show. Each later set is drawn as points over that density, with a
    point's area proportional to its weight when weights are given. Tens of samples then show as
    tens of points, not as a few pixels of a 2-D histogram."""
    from matplotlib.colors import LogNorm

    plt = _pyplot()
    pairs = [(names.index(f"phi{r}"), names.index(f"psi{r}"), r)
             for r in range(1, 10) if f"phi{r}" in names and f"psi{r}" in names]
    labels = list(sets)
    ref_tors, ref_w = sets[labels[0]]
    edges = np.linspace(-np.pi, np.pi, bins + 1)
    densities = []
    for i, j, _ in pairs:
        with np.errstate(invalid="ignore", divide="ignore"):  # an empty reference plots as blank, not a crash
            h, _, _ = np.histogram2d(ref_tors[:, i], ref_tors[:, j], bins=[edges, edges], weights=ref_w, density=True)
        densities.append(np.where(np.isfinite(h) & (h > 0), h, np.nan).T)  # (psi, phi); empty bins blank
    positive = np.concatenate([d[np.isfinite(d)] for d in densities]) if densities else np.zeros(0)
    norm = LogNorm(positive.min(), positive.max()) if positive.size else None
    fig, axes = plt.subplots(len(labels), len(pairs), figsize=(3.0 * len(pairs) + 1.0, 2.9 * len(labels)),
                             squeeze=False, sharex=True, sharey=True, layout="constrained")
    mesh = None
    for row, label in enumerate(labels):
        tors, w = sets[label]
        for col, ((i, j, r), dens) in enumerate(zip(pairs, densities)):
            ax = axes[row, col]
            if norm is not None:
                mesh = ax.pcolormesh(edges, edges, dens, norm=norm, cmap="Blues", rasterized=True)
            if row == 0:
                title = f"{label} (n = {len(tors)})"
            else:
                few = len(tors) <= 200
                base = float(np.clip(2400.0 / max(len(tors), 1), 1.0, 12.0))  # smaller points when there are many
                if w is None:
                    size, title = base, f"{label} (n = {len(tors)})"
                else:
                    w = np.asarray(w, dtype=float)
                    top = w.max() if len(w) and w.max() > 0 else 1.0
                    size, title = np.maximum(0.4 * base, 160.0 * w / top), f"{label} (n = {len(tors)}, area ~ weight)"
                ax.scatter(tors[:, i], tors[:, j], s=size, c="tab:orange", edgecolors="black",
                           linewidths=0.4 if few else 0.0, alpha=0.85 if few else 0.5, zorder=3)
            ax.set_title(f"{title}\nresidue {r}", fontsize=8)
            ax.set_xlim(-np.pi, np.pi)
            ax.set_ylim(-np.pi, np.pi)
            ax.set_xticks(_PI_TICKS, _PI_LABELS)
            ax.set_yticks(_PI_TICKS, _PI_LABELS)
            ax.set_aspect("equal")
            if row == len(labels) - 1:
                ax.set_xlabel(f"phi{r} (rad)")
            if col == 0:
                ax.set_ylabel("psi (rad)")
    if mesh is not None:
        fig.colorbar(mesh, ax=axes, shrink=0.6, label=f"{labels[0]} density (rad$^{{-2}}$, log scale)")
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
