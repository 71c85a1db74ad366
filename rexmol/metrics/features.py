"""Backbone torsions of tri-alanine conformations, with mdtraj."""

from __future__ import annotations

import numpy as np

from rexmol.molecules import ala3


def backbone_torsions(xyz: np.ndarray, topology_path=ala3.TOPOLOGY_PDB) -> tuple[np.ndarray, list[str]]:
    """All defined backbone torsions, in radians in (-pi, pi].

    Returns (angles of shape (n, k), names). For Ala-Ala-Ala these are psi1, phi2, psi2, phi3,
    psi3: phi_i = C(i-1)-N-CA-C, psi_i = N-CA-C-N(i+1), and for the C-terminal residue
    psi = N-CA-C-OXT (the carboxylate's second oxygen stands in for the next N; the two
    oxygens keep their labels in MD and samples alike). phi1 is undefined (NH3+ terminus).
    """
    import mdtraj

    xyz = np.asarray(xyz, dtype=np.float32)
    if xyz.ndim != 3 or xyz.shape[1:] != (ala3.N_ATOMS, 3):
        raise ValueError(f"conformations must have shape (n, {ala3.N_ATOMS}, 3), got {xyz.shape}")
    traj = mdtraj.Trajectory(xyz, mdtraj.load_topology(str(topology_path)))
    phi_idx, phi = mdtraj.compute_phi(traj)
    psi_idx, psi = mdtraj.compute_psi(traj)
    names, columns = [], []
    for kind, idx, values in (("phi", phi_idx, phi), ("psi", psi_idx, psi)):
        for j, quad in enumerate(idx):
            residue = traj.topology.atom(int(quad[1] if kind == "phi" else quad[2])).residue.index + 1
            names.append(f"{kind}{residue}")
            columns.append(values[:, j])
    top = traj.topology
    last = top.residue(top.n_residues - 1)
    oxt = [a.index for a in last.atoms if a.name == "OXT"]
    if oxt:
        quad = [next(a.index for a in last.atoms if a.name == n) for n in ("N", "CA", "C")] + oxt
        names.append(f"psi{last.index + 1}")
        columns.append(mdtraj.compute_dihedrals(traj, [quad])[:, 0])
    order = sorted(range(len(names)), key=lambda i: (int(names[i][3:]), names[i][:3] == "psi"))
    return np.stack([columns[i] for i in order], axis=1).astype(np.float64), [names[i] for i in order]


# Ramachandran regions of one residue, in degrees: phi > 0 is the left-handed side (alpha_L, C7ax);
# with phi <= 0, psi in [-150, 100) is the right-handed helix (alpha_R), the rest beta and PPII
_ALPHA_R_PSI_DEG = (-150.0, 100.0)


def residue_regions(phi, psi) -> np.ndarray:
    """Region of each (phi, psi) in radians: "L" (phi > 0), else "a" (alpha_R: -150 deg <= psi <
    100 deg) or "b" (beta / PPII). Arrays of one shape in, a string array of that shape out."""
    phi, psi = np.asarray(phi, dtype=np.float64), np.asarray(psi, dtype=np.float64)
    if phi.shape != psi.shape:
        raise ValueError(f"phi and psi must have one shape, got {phi.shape} and {psi.shape}")
    if not (np.isfinite(phi).all() and np.isfinite(psi).all()):
        raise ValueError("phi and psi must be finite")
    lo, hi = np.deg2rad(_ALPHA_R_PSI_DEG)
    return np.where(phi > 0, "L", np.where((psi >= lo) & (psi < hi), "a", "b"))


def backbone_states(torsions: np.ndarray) -> np.ndarray:
    """The two-letter metastable state of each tri-alanine conformation, from the columns psi1,
    phi2, psi2, phi3, psi3 of :func:`backbone_torsions`: residue 2's region
    (:func:`residue_regions`: "a", "b" or "L"), then residue 3's side of phi only ("R" for
    phi3 <= 0, "L" for phi3 > 0). Residue 3's alpha_R and beta are not told apart: its psi3 is
    N-CA-C-OXT, and the carboxylate's two oxygens are equivalent, so a half-turn of the group moves
    psi3 by 180 degrees (alpha_R's -40 onto beta's 140) without changing the conformation. Residue
    1 has no phi. E.g. "bR": residue 2 in beta, residue 3 with phi < 0."""
    torsions = np.asarray(torsions, dtype=np.float64)
    if torsions.ndim != 2 or torsions.shape[1] != 5:
        raise ValueError(f"torsions must be (n, 5): psi1, phi2, psi2, phi3, psi3; got shape {torsions.shape}")
    if not np.isfinite(torsions).all():
        raise ValueError("torsions must be finite")
    r2 = residue_regions(torsions[:, 1], torsions[:, 2])
    return np.char.add(r2, np.where(torsions[:, 3] > 0, "L", "R"))
