"""rexmol: molecular Boltzmann sampling with exactly reversible exponential Runge-Kutta solvers.

The package reads as the pipeline: ``solvers`` (Rex, Princeps) -> ``flows`` (exact likelihoods)
-> ``model`` (the DiT) -> ``training`` -> ``molecules`` (tri-alanine, OpenMM energies, MD)
-> ``metrics``.
"""

__version__ = "0.1.0"


def load_model(path, topology_path=None):
    """Load a shipped DiT model file (see :func:`rexmol.model.checkpoint.load_model`)."""
    from rexmol.model.checkpoint import load_model as _load
    from rexmol.molecules import ala3

    return _load(path, topology_path or ala3.TOPOLOGY_PDB)
