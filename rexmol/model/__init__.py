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


__all__ = ["DiT", "frame_atom_ids", "timestep_embedding", "token_ids"]
