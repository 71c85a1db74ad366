"""Batched OpenMM energies of tri-alanine conformations: reduced energies u = U / kT and forces.

Conformations are arrays (n, 33, 3) in nm, in the atom order of ``data/ala3/topology.pdb``.
``EnergyEvaluator()`` scores with a target's own System and kT, by default :data:`AAA` (the
published protocol: amber14-all + OBC1, 2.0 nm cutoff, 310 K, kT = 2.5775 kJ/mol), the System MD
integrates and the shipped data set records. ``target=None`` is the old ensemble's scorer, kept for
its data in git history: the full unconstrained potential (amber14-all + OBC2, no cutoff) at 300 K
(kT = 2.4943 kJ/mol), against MD frames that were sampled with rigid X-H bonds.

Non-finite results (an overlap that overflows, an OpenMM exception) come back as +inf, never as
a crash, so such samples can be given zero weight and counted. Non-finite *coordinates* are bad
input and raise, unless ``nonfinite="inf"`` asks for +inf on those rows too.

Work is split over ``n_workers`` processes, each holding its own OpenMM Context (CPU platform,
one thread): per-conformation cost is dominated by setPositions/getState overhead, which
parallelises across processes but not across threads of one Context.
"""

from __future__ import annotations

import multiprocessing as mp
import os

import numpy as np

from rexmol.molecules import ala3
from rexmol.molecules.target import AAA, Target

_WORKER: dict = {}


def _make_context(topology_path: str, platform: str, target: Target | None = None):

    topology, _ = ala3.load_topology(topology_path)
    system = ala3.create_system(topology) if target is None else target.create_system(topology)
    return _context_for(system, platform)


def _context_for(system, platform: str):
    """A Context for evaluating ``system`` (one thread on the CPU platform)."""
    import openmm

    plat = openmm.Platform.getPlatformByName(platform)
    props = {"Threads": "1"} if platform == "CPU" else {}
    return openmm.Context(system, openmm.VerletIntegrator(0.001), plat, props)


def _evaluate(context, xyz: np.ndarray, want_forces: bool):
    from openmm import unit

    n = xyz.shape[0]
    energies = np.full(n, np.inf)
    forces = np.full((n, ala3.N_ATOMS, 3), np.nan) if want_forces else None
    for i in range(n):
        if not np.isfinite(xyz[i]).all():
            continue
        try:
            context.setPositions(xyz[i])
            state = context.getState(getEnergy=True, getForces=want_forces)
            e = state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
        except Exception:  # OpenMM raises on NaN forces or particle blow-ups: score as +inf
            continue
        if np.isfinite(e):
            energies[i] = e
            if want_forces:
                forces[i] = state.getForces(asNumpy=True).value_in_unit(unit.kilojoule_per_mole / unit.nanometer)
    return energies, forces


def _worker_init(topology_path: str, platform: str, target: Target | None):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _WORKER["context"] = _make_context(topology_path, platform, target)


def _worker_run(args):
    xyz, want_forces = args
    return _evaluate(_WORKER["context"], xyz, want_forces)


def _conformations(xyz, nonfinite: str) -> np.ndarray:
    """Conformations as float64 (n, 33, 3) nm; wrong shapes raise, NaN/inf rows raise unless nonfinite="inf"."""
    xyz = np.asarray(xyz, dtype=np.float64)
    if xyz.ndim == 2:
        xyz = xyz[None]
    if xyz.ndim != 3 or xyz.shape[1:] != (ala3.N_ATOMS, 3):
        raise ValueError(f"conformations must have shape (n, {ala3.N_ATOMS}, 3) in nm, got {xyz.shape}")
    if nonfinite not in ("raise", "inf"):
        raise ValueError(f"nonfinite must be 'raise' or 'inf', got {nonfinite!r}")
    bad = ~np.isfinite(xyz).reshape(len(xyz), -1).all(1)
    if nonfinite == "raise" and bad.any():
        rows = np.flatnonzero(bad)
        raise ValueError(f"{bad.sum()} of {len(xyz)} conformations have NaN/inf coordinates (rows {rows[:10].tolist()}"
                         f"{' ...' if len(rows) > 10 else ''}); pass nonfinite='inf' to score them as +inf")
    return xyz


class EnergyEvaluator:
    """Reduced energies and forces of conformations (nm) under a target's potential.

    ``target``: the :class:`~rexmol.molecules.target.Target` whose System and kT score (its
    temperature then fixes kT, so ``temperature_k`` must be left unset); None is the old
    ensemble's scorer at ``temperature_k`` (default 300 K). ``n_workers=1`` evaluates in this
    process; more spawns a pool of processes (reused across calls; close with :meth:`close` or
    use as a context manager).
    """

    def __init__(self, topology_path=ala3.TOPOLOGY_PDB, temperature_k: float | None = None,
                 n_workers: int = 1, platform: str = "CPU", chunk: int = 256, target: Target | None = AAA):
        if target is not None and temperature_k is not None and temperature_k != target.temperature_k:
            raise ValueError(f"temperature_k={temperature_k} K contradicts the target {target.name} "
                             f"({target.temperature_k} K); the target fixes kT")
        self.topology_path = str(topology_path)
        self.target = target
        self.kT = target.kT if target is not None else ala3.kT_kJ_per_mol(temperature_k or ala3.TEMPERATURE_K)
        self.n_workers, self.platform, self.chunk = int(n_workers), platform, int(chunk)
        self._context = None
        self._pool = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self._pool is not None:
            self._pool.close()
            self._pool.join()
            self._pool = None

    def _check(self, xyz, nonfinite: str) -> np.ndarray:
        return _conformations(xyz, nonfinite)

    def _run(self, xyz: np.ndarray, want_forces: bool):
        if self.n_workers <= 1 or len(xyz) <= self.chunk:
            if self._context is None:
                self._context = _make_context(self.topology_path, self.platform, self.target)
            return _evaluate(self._context, xyz, want_forces)
        if self._pool is None:
            ctx = mp.get_context("spawn")
            self._pool = ctx.Pool(self.n_workers, _worker_init, (self.topology_path, self.platform, self.target))
        parts = self._pool.map(_worker_run, [(xyz[i:i + self.chunk], want_forces)
                                             for i in range(0, len(xyz), self.chunk)])
        energies = np.concatenate([p[0] for p in parts])
        forces = np.concatenate([p[1] for p in parts]) if want_forces else None
        return energies, forces

    def energies_kj(self, xyz, nonfinite: str = "raise") -> np.ndarray:
        """Potential energies U in kJ/mol, shape (n,); +inf where not finite."""
        return self._run(self._check(xyz, nonfinite), False)[0]

    def reduced(self, xyz, nonfinite: str = "raise") -> np.ndarray:
        """Reduced energies u = U / kT (dimensionless), shape (n,); +inf where not finite."""
        return self.energies_kj(xyz, nonfinite) / self.kT

    def forces(self, xyz, nonfinite: str = "raise") -> tuple[np.ndarray, np.ndarray]:
        """(U in kJ/mol, forces -dU/dx in kJ/mol/nm, shape (n, 33, 3); NaN rows where U is not finite)."""
        return self._run(self._check(xyz, nonfinite), True)


def energy_terms(xyz, target: Target = AAA, topology_path=ala3.TOPOLOGY_PDB, platform: str = "CPU",
                 nonfinite: str = "raise") -> dict[str, np.ndarray]:
    """The reduced energy split by force: u_f = U_f / kT for each Force f of the target's System, in
    the System's order, keyed by the Force's class name (``HarmonicBondForce``, ``NonbondedForce``,
    ``CustomGBForce`` (OBC1), ...). Each force gets a force group of its own, so sum_f u_f = u.
    Conformations (n, 33, 3) in nm; one Context, one thread (a diagnostic: where do a model's
    energies differ from MD's?). Rows with non-finite coordinates raise, or with ``nonfinite="inf"``
    get +inf in every term; a term OpenMM cannot evaluate, or evaluates to NaN or -inf, is +inf
    (as in :class:`EnergyEvaluator`)."""
    import openmm
    from openmm import unit

    xyz = _conformations(xyz, nonfinite)
    topology, _ = ala3.load_topology(topology_path)
    system = target.create_system(topology)
    names = []
    for group, force in enumerate(system.getForces()):
        if group > 31:
            raise ValueError(f"{system.getNumForces()} forces: OpenMM has 32 force groups")
        force.setForceGroup(group)
        names.append(type(force).__name__)
    if len(set(names)) != len(names):
        raise ValueError(f"forces of the same class cannot be told apart by name: {names}")
    context = _context_for(system, platform)
    out = np.full((len(names), len(xyz)), np.inf)
    for i, x in enumerate(xyz):
        if not np.isfinite(x).all():
            continue
        context.setPositions(x)
        for group in range(len(names)):
            try:
                e = context.getState(getEnergy=True, groups={group}).getPotentialEnergy()
                out[group, i] = e.value_in_unit(unit.kilojoule_per_mole)
            except openmm.OpenMMException:
                pass
    out[~np.isfinite(out)] = np.inf
    return {name: out[g] / target.kT for g, name in enumerate(names)}
