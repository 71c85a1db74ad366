"""The flow-matching vector field: a DiT over atoms."""

from rexmol.model.dit import DiT, timestep_embedding


def token_ids(topology_path) -> tuple[list[int], list[int], list[int]]:
    """(atom identity, residue index, element index) per atom of a PDB topology, in file order.

    Atom identity is the atom's position in the fixed topology (each atom its own token type);
    elements are indexed in order of first appearance."""
    from openmm import app

    top = app.PDBFile(str(topology_path)).topology
    atoms = list(top.atoms())
    elements: dict[str, int] = {}
    for a in atoms:
        elements.setdefault(a.element.symbol, len(elements))
    return ([a.index for a in atoms], [a.residue.index for a in atoms], [elements[a.element.symbol] for a in atoms])


def frame_atom_ids(topology_path) -> tuple[int, int, int]:
    """Indices of the first, middle and last residue's CA: the canonical frame of a peptide."""
    from openmm import app

    cas = [a.index for a in app.PDBFile(str(topology_path)).topology.atoms() if a.name == "CA"]
    if len(cas) < 3:
        raise ValueError(f"{topology_path}: a canonical frame needs at least 3 CA atoms, found {len(cas)}")
    return cas[0], cas[len(cas) // 2], cas[-1]


PRIORS = ("isotropic", "harmonic")


def bond_graph(topology_path) -> list[tuple[int, int]]:
    """The bonds of a PDB topology as (i, j) atom-index pairs (CONECT and residue templates)."""
    from openmm import app

    return [(b[0].index, b[1].index) for b in app.PDBFile(str(topology_path)).topology.bonds()]


def harmonic_alpha(topology_path, coord_scale: float) -> float:
    """Stiffness of the harmonic prior matched to the molecule: alpha = 3 / mean |y_i - y_j|^2 over
    the bonds of the topology's structure in scaled coordinates y = coord_scale * x_nm, so the
    prior's bond vectors, N(0, I / alpha), have the structure's mean squared bond length."""
    import numpy as np
    from openmm import app, unit

    pdb = app.PDBFile(str(topology_path))
    x = np.asarray(pdb.getPositions(asNumpy=True).value_in_unit(unit.nanometer)) * coord_scale
    bonds = np.asarray(bond_graph(topology_path))
    return float(3.0 / np.square(x[bonds[:, 0]] - x[bonds[:, 1]]).sum(1).mean())


def build_prior(config: dict, topology_path, n_atoms: int):
    """The base distribution a model was trained from: ``config["prior"]`` (default "isotropic",
    the mean-free standard normal) or "harmonic" (:class:`~rexmol.flows.HarmonicPrior` on the
    topology's bond graph with stiffness ``config["prior_alpha"]``)."""
    from rexmol.flows import HarmonicPrior, MeanFreeNormal

    kind = config.get("prior", "isotropic")
    if kind not in PRIORS:
        raise ValueError(f"unknown prior {kind!r}; choose one of {PRIORS}")
    if kind == "isotropic":
        return MeanFreeNormal(n_atoms)
    alpha = config.get("prior_alpha")
    if alpha is None:
        raise ValueError("a harmonic prior needs its stiffness prior_alpha")
    return HarmonicPrior(n_atoms, bond_graph(topology_path), float(alpha))


__all__ = ["DiT", "PRIORS", "bond_graph", "build_prior", "frame_atom_ids", "harmonic_alpha", "timestep_embedding",
           "token_ids"]
