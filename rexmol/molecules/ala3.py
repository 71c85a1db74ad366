"""Tri-alanine (Ala-Ala-Ala zwitterion): topology, starting structure and OpenMM System.

Everything is built offline. The backbone (N, CA, C, O of three residues) is placed
from ideal internal coordinates with the NeRF construction, then PDBFixer adds the
missing heavy atoms (CB, OXT) and the hydrogens at pH 7, which gives the zwitterion
(NH3+ ... COO-) with 33 atoms. PDBFixer's template fit for the C-terminal residue puts
CB on the wrong side of CA (a D-alanine); :func:`enforce_l_chirality` reflects the
CA substituents of any such residue through the N-CA-C plane, and the build checks
that every residue is L.

Reference ensemble (see ``shared/design/boltzmann.md``; never change it silently):
amber14-all + implicit/obc2, no cutoff, 300 K: the *old* ensemble, which the shipped data set and
model still belong to and which :func:`create_system` scores (unconstrained) until the switch to
:data:`rexmol.molecules.target.AAA`; new MD builds its System from that target. Units: nm, kJ/mol,
ps, amu.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from rexmol.io import atomic_path

FORCEFIELD_FILES = ("amber14-all.xml", "implicit/obc2.xml")
TEMPERATURE_K = 300.0
N_ATOMS = 33
TOPOLOGY_PDB = Path(__file__).resolve().parents[2] / "data" / "ala3" / "topology.pdb"

# Ideal backbone geometry (Engh & Huber): lengths in Angstrom, angles in degrees.
_BOND = {"N-CA": 1.458, "CA-C": 1.525, "C-N": 1.329, "C-O": 1.231}
_ANGLE = {"N-CA-C": 111.2, "CA-C-N": 116.2, "C-N-CA": 121.7, "CA-C-O": 120.5}


def kT_kJ_per_mol(temperature_k: float = TEMPERATURE_K) -> float:
    """Thermal energy kT = k_B T in kJ/mol (k_B = R = 8.314462618e-3 kJ/(mol K))."""
    return 8.314462618e-3 * temperature_k


def _place(a: np.ndarray, b: np.ndarray, c: np.ndarray, bond: float, angle: float, torsion: float) -> np.ndarray:
    """NeRF: the point d with |cd| = bond, angle(b, c, d) = angle, dihedral(a, b, c, d) = torsion (degrees)."""
    angle, torsion = np.radians(angle), np.radians(torsion)
    bc = (c - b) / np.linalg.norm(c - b)
    n = np.cross(b - a, bc)
    n /= np.linalg.norm(n)
    m = np.cross(n, bc)
    d_local = bond * np.array([-np.cos(angle), np.sin(angle) * np.cos(torsion), np.sin(angle) * np.sin(torsion)])
    return c + d_local[0] * bc + d_local[1] * m + d_local[2] * n


def ideal_backbone(
    n_residues: int = 3, phi: float = -75.0, psi: float = 145.0, omega: float = 180.0
) -> list[dict[str, np.ndarray]]:
    """Backbone atoms (N, CA, C, O) per residue in Angstrom, from ideal geometry and the given torsions."""
    n = np.zeros(3)
    ca = np.array([_BOND["N-CA"], 0.0, 0.0])
    ang = np.radians(180.0 - _ANGLE["N-CA-C"])
    c = ca + _BOND["CA-C"] * np.array([np.cos(ang), np.sin(ang), 0.0])
    residues = [{"N": n, "CA": ca, "C": c}]
    for _ in range(1, n_residues):
        prev = residues[-1]
        n_next = _place(prev["N"], prev["CA"], prev["C"], _BOND["C-N"], _ANGLE["CA-C-N"], psi)
        ca_next = _place(prev["CA"], prev["C"], n_next, _BOND["N-CA"], _ANGLE["C-N-CA"], omega)
        c_next = _place(prev["C"], n_next, ca_next, _BOND["CA-C"], _ANGLE["N-CA-C"], phi)
        residues.append({"N": n_next, "CA": ca_next, "C": c_next})
    for res in residues:
        # The carbonyl O lies in the peptide plane, trans to N across CA-C.
        res["O"] = _place(res["N"], res["CA"], res["C"], _BOND["C-O"], _ANGLE["CA-C-O"], psi + 180.0)
    return residues


def _backbone_pdb(residues: list[dict[str, np.ndarray]]) -> str:
    lines, serial = [], 1
    for i, res in enumerate(residues, start=1):
        for name in ("N", "CA", "C", "O"):
            x, y, z = res[name]
            lines.append(
                f"ATOM  {serial:5d}  {name:<3s} ALA A{i:4d}    {x:8.3f}{y:8.3f}{z:8.3f}  1.00  0.00           {name[0]}"
            )
            serial += 1
    return "\n".join(lines + ["TER", "END"]) + "\n"


def chirality_atoms(topology=None) -> np.ndarray:
    """Atom indices (N, CA, C, CB) of every residue, shape (n_residues, 4); ``None``: the shipped topology."""
    if topology is None:
        topology = load_topology()[0]
    quads = []
    for res in topology.residues():
        idx = {a.name: a.index for a in res.atoms()}
        quads.append([idx["N"], idx["CA"], idx["C"], idx["CB"]])
    return np.array(quads, dtype=int)


def chirality_volumes(topology, positions_nm: np.ndarray) -> np.ndarray:
    """Signed volume ((N - CA) x (C - CA)) . (CB - CA) per residue (nm^3, float64): > 0 for L-amino acids.

    ``positions_nm`` is one conformation (n_atoms, 3), giving shape (n_residues,), or a batch
    (frames, n_atoms, 3), giving (frames, n_residues). ``topology`` ``None`` means the shipped one."""
    q = chirality_atoms(topology)
    x = np.asarray(positions_nm, dtype=np.float64)
    n, ca, c, cb = (x[..., q[:, k], :] for k in range(4))
    return np.einsum("...rk,...rk->...r", np.cross(n - ca, c - ca), cb - ca)


def enforce_l_chirality(topology, positions_nm: np.ndarray) -> np.ndarray:
    """Mirror CB, its hydrogens and HA of every D residue through its N-CA-C plane (-> L)."""
    positions_nm = positions_nm.copy()
    for res, vol in zip(topology.residues(), chirality_volumes(topology, positions_nm)):
        if vol > 0:
            continue
        idx = {a.name: a.index for a in res.atoms()}
        ca = positions_nm[idx["CA"]]
        normal = np.cross(positions_nm[idx["N"]] - ca, positions_nm[idx["C"]] - ca)
        normal /= np.linalg.norm(normal)
        for name in ("CB", "HB1", "HB2", "HB3", "HA"):
            p = positions_nm[idx[name]]
            positions_nm[idx[name]] = p - 2.0 * np.dot(p - ca, normal) * normal
    return positions_nm


def build_structure(ph: float = 7.0):
    """Complete tri-alanine from an ideal backbone with PDBFixer; returns (openmm Topology, positions in nm)."""
    from openmm import unit
    from pdbfixer import PDBFixer

    fixer = PDBFixer(pdbfile=io.StringIO(_backbone_pdb(ideal_backbone())))
    fixer.missingResidues = {}
    fixer.findMissingAtoms()
    fixer.addMissingAtoms()
    fixer.addMissingHydrogens(ph)
    positions = np.array(fixer.positions.value_in_unit(unit.nanometer))
    if fixer.topology.getNumAtoms() != N_ATOMS:
        raise RuntimeError(f"PDBFixer built {fixer.topology.getNumAtoms()} atoms, expected {N_ATOMS}")
    positions = enforce_l_chirality(fixer.topology, positions)
    if (chirality_volumes(fixer.topology, positions) <= 0).any():
        raise RuntimeError("could not build an all-L tri-alanine")
    return fixer.topology, positions


def create_system(topology):
    """The old ensemble's scoring System: amber14-all + OBC2 implicit solvent, no cutoff, every bond
    flexible. Used by ``EnergyEvaluator`` and :func:`minimize` until the switch to the AAA target."""
    from openmm import app

    return app.ForceField(*FORCEFIELD_FILES).createSystem(topology, nonbondedMethod=app.NoCutoff, constraints=None)


def minimize(topology, positions_nm: np.ndarray, tolerance_kj_mol_nm: float = 1.0) -> tuple[np.ndarray, float]:
    """Local energy minimisation of the unconstrained potential; returns (positions nm, energy kJ/mol)."""
    import openmm
    from openmm import unit

    system = create_system(topology)
    context = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
    context.setPositions(positions_nm)
    openmm.LocalEnergyMinimizer.minimize(context, tolerance_kj_mol_nm)
    state = context.getState(getPositions=True, getEnergy=True)
    return (
        np.array(state.getPositions(asNumpy=True).value_in_unit(unit.nanometer)),
        state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole),
    )


def write_topology_pdb(path: Path = TOPOLOGY_PDB, overwrite: bool = False) -> Path:
    """Build, minimise and write the reference topology + starting coordinates (atomically)."""
    from openmm import app

    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to rebuild it")
    topology, positions = build_structure()
    positions, _ = minimize(topology, positions)
    if (chirality_volumes(topology, positions) <= 0).any():
        raise RuntimeError("minimisation changed a residue's chirality")
    with atomic_path(path) as tmp, open(tmp, "w") as fh:
        app.PDBFile.writeFile(topology, positions * 10.0, fh, keepIds=True)  # PDB is in Angstrom
    return path


def load_topology(path: Path = TOPOLOGY_PDB):
    """(openmm Topology, positions in nm) of the shipped reference structure."""
    from openmm import app, unit

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"tri-alanine topology not found at {path}; build it with `rexmol build-system`")
    pdb = app.PDBFile(str(path))
    if pdb.topology.getNumAtoms() != N_ATOMS:
        raise ValueError(f"{path}: {pdb.topology.getNumAtoms()} atoms, tri-alanine has {N_ATOMS}")
    return pdb.topology, np.array(pdb.positions.value_in_unit(unit.nanometer))
