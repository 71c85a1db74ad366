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
