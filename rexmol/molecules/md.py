"""Reference molecular dynamics of tri-alanine: resumable Langevin trajectories.

Each trajectory is one seed of the target ensemble (:data:`rexmol.molecules.target.AAA`):
minimise the shipped structure, draw velocities at the target temperature from the seed,
equilibrate (discarded), then record frames at a fixed stride.
Frames are written chunk by chunk (DCD, float32 Angstrom: lossless for float32
coordinates, unlike XTC), each chunk atomically, beside an OpenMM state XML
(portable between CPU and CUDA platforms) and a progress JSON. An interrupted run
resumes from the last finished chunk; its statistics are unchanged, although the
exact path differs from an uninterrupted run because the integrator's random stream
restarts.

Defaults are the published AAA protocol: LangevinMiddleIntegrator, friction 0.3/ps, 1 fs
step, standard masses, no constraints (the System comes from the target, which has none);
1 ps stride, 200 ps equilibration, 0.5 ns chunks. Hydrogen mass repartitioning is an
option: it leaves the configurational ensemble unchanged only in the limit of a small
step, so a larger step must be shown to match the 1 fs ensemble before its data is used.

:func:`run_replicas` runs several seeds side by side as far-apart copies in one System (one
OpenMM step advances them all; see :class:`ReplicaLayout` for why each copy is exactly a lone
run of the protocol) and writes each seed's folder as :func:`run_trajectory` would.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from rexmol.io import atomic_write_text as _atomic_write_text
from rexmol.molecules import ala3
from rexmol.molecules.target import AAA, Target


@dataclass(frozen=True)
class MDSettings:
    """Langevin MD protocol (the temperature is the target's). Times in ps, masses in amu."""

    friction_per_ps: float = 0.3
    timestep_ps: float = 0.001
    hydrogen_mass_amu: float | None = None
    stride_steps: int = 1000
    equilibration_ps: float = 200.0
    chunk_frames: int = 500


def settings_for(timestep_fs: float = 1.0, hydrogen_mass_amu: float | None = None) -> MDSettings:
    """The protocol's settings with another step and hydrogen mass; frames stay 1 ps apart."""
    if not (isinstance(timestep_fs, (int, float)) and timestep_fs > 0):
        raise ValueError(f"the time step must be a positive number of fs, got {timestep_fs!r}")
    stride = 1000.0 / timestep_fs
    if abs(stride - round(stride)) > 1e-9:
        raise ValueError(f"a {timestep_fs} fs step does not divide the 1 ps frame stride into whole steps")
    if hydrogen_mass_amu is not None:
        if hydrogen_mass_amu <= 1.008:
            raise ValueError(f"hydrogen mass {hydrogen_mass_amu} amu is not above hydrogen's own 1.008 amu: "
                             "repartitioning only moves mass onto hydrogens")
        if hydrogen_mass_amu > 4.0:  # a methyl carbon keeps 12.011 - 3 (m_H - 1.008) amu: 3.0 amu at 4 amu
            raise ValueError(f"hydrogen mass {hydrogen_mass_amu} amu is above 4 amu: a methyl carbon would keep "
                             f"{12.011 - 3 * (hydrogen_mass_amu - 1.008):.2f} amu")
    return MDSettings(timestep_ps=timestep_fs * 1e-3, hydrogen_mass_amu=hydrogen_mass_amu, stride_steps=int(round(stride)))


#: The faster integrator the AAA data use once validated (benchmarks/md_integrator_ensemble.py).
FAST_FS, FAST_H_AMU = 2.0, 3.0


def fast_if_validated(target: Target = AAA, validation: Path | None = None) -> MDSettings:
    """HMR (3 amu) at 2 fs if the ensemble benchmark's results validate exactly that integrator for
    ``target`` (:func:`rexmol.molecules.dataset.validated_integrators`), else the protocol's settings."""
    from rexmol.molecules import dataset

    fast = settings_for(FAST_FS, FAST_H_AMU)
    ok = dataset.integrator(asdict(fast)) in dataset.validated_integrators(
        target.record(), *(() if validation is None else (validation,)))
    return fast if ok else MDSettings()


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class RunInProgress(RuntimeError):
    """Another process is running this trajectory."""


class GroupMember(ValueError):
    """This trajectory was started side by side with others (:func:`run_replicas`) and resumes only with them."""


def _lock_run(run_dir: Path):
    """An exclusive lock on ``run_dir/.lock`` (released when the file is closed or the process ends,
    also on a crash), so two processes never extend one trajectory."""
    import fcntl

    fh = open(run_dir / ".lock", "w")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise RunInProgress(f"{run_dir} is being run by another process") from None
    return fh


def _platform(name: str | None, threads: int | None):
    import openmm

    if name is None:
        names = [openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())]
        name = "CUDA" if "CUDA" in names else "CPU"
    platform = openmm.Platform.getPlatformByName(name)
    props = {"Threads": str(threads)} if (name == "CPU" and threads) else {}
    return platform, props


def build_simulation(settings: MDSettings = MDSettings(), target: Target = AAA, platform: str | None = None,
                     threads: int | None = None, random_seed: int = 0):
    """The OpenMM Simulation of ``target`` (its System, with hydrogen masses as ``settings`` say)
    under LangevinMiddle at the target's temperature with ``settings``' friction and step, and the
    topology's starting positions (nm). Returns (simulation, positions). ``random_seed`` seeds the
    integrator's noise; OpenMM reads 0 as "choose one at random"."""
    import openmm

    topology, positions = ala3.load_topology()
    if (ala3.chirality_volumes(topology, positions) <= 0).any():
        raise ValueError(f"{ala3.TOPOLOGY_PDB} has a D residue; rebuild it with `rexmol build-system --overwrite`")
    system = target.create_system(topology, settings.hydrogen_mass_amu)
    plat, props = _platform(platform, threads)
    return openmm.app.Simulation(topology, system, _integrator(settings, target, random_seed), plat, props), positions


def _integrator(settings: MDSettings, target: Target, random_seed: int):
    """The protocol's LangevinMiddle integrator at the target's temperature (every MD run's)."""
    import openmm
    from openmm import unit

    integrator = openmm.LangevinMiddleIntegrator(
        target.temperature_k * unit.kelvin, settings.friction_per_ps / unit.picosecond, settings.timestep_ps * unit.picosecond
    )
    integrator.setRandomNumberSeed(random_seed)
    return integrator


def run_trajectory(
    out_dir: Path,
    seed: int,
    length_ns: float,
    settings: MDSettings = MDSettings(),
    target: Target = AAA,
    platform: str | None = None,
    threads: int | None = None,
    progress: bool = True,
) -> Path:
    """Run (or resume) one trajectory into ``out_dir/seed{seed}/``; returns that folder.

    Records ``round(length_ns * 1000 / stride_ps)`` frames in chunks of
    ``settings.chunk_frames``. Refuses to resume a folder made with other settings or for
    another target.
    """
    run_dir = Path(out_dir) / f"seed{seed}"
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = _lock_run(run_dir)  # one writer per trajectory; released on return, on error and at exit
    try:
        return _run_locked(run_dir, seed, length_ns, settings, target, platform, threads, progress)
    finally:
        lock.close()


def _run_locked(run_dir: Path, seed: int, length_ns: float, settings: MDSettings, target: Target,
                platform: str | None, threads: int | None, progress: bool) -> Path:
    import mdtraj
    from openmm import unit
    from tqdm import tqdm

    progress_file = run_dir / "progress.json"
    stride_ps = settings.stride_steps * settings.timestep_ps
    n_frames = int(round(length_ns * 1000.0 / stride_ps))
    n_chunks = -(-n_frames // settings.chunk_frames)

    if progress_file.exists():
        record = json.loads(progress_file.read_text())
        _check_resumable(record, run_dir, target, settings)
        if record.get("replicas"):  # its state is the group's: alone it cannot resume
            raise GroupMember(f"{run_dir} was started as copy {record['replicas'].get('copy')} of "
                             f"{record['replicas'].get('dir')}; resume it with its group (md.run_replicas)")
    else:
        record = {"seed": seed, "target": target.record(), "settings": asdict(settings), "chunks": []}

    simulation, positions = build_simulation(settings, target, platform, threads, seed + 1000 * len(record["chunks"]))
    topology = simulation.topology
    state_file = run_dir / "state.xml"

    if record["chunks"] and not state_file.exists():
        raise FileNotFoundError(f"{run_dir} records {len(record['chunks'])} chunks but has no state.xml to resume "
                                "from; restore it (git) or move the folder away to start the seed again")
    if record["chunks"]:
        simulation.loadState(str(state_file))
    else:
        simulation.context.setPositions(positions)
        simulation.minimizeEnergy()
        simulation.context.setVelocitiesToTemperature(target.temperature_k * unit.kelvin, seed)
        simulation.step(int(round(settings.equilibration_ps / settings.timestep_ps)))

    md_top = mdtraj.Topology.from_openmm(topology)
    bar = tqdm(total=n_frames, initial=min(n_frames, len(record["chunks"]) * settings.chunk_frames),
               desc=f"MD seed {seed}", unit="ps", disable=not progress)
    for chunk in range(len(record["chunks"]), n_chunks):
        frames = min(settings.chunk_frames, n_frames - chunk * settings.chunk_frames)
        xyz = np.empty((frames, ala3.N_ATOMS, 3), dtype=np.float32)
        t0 = time.perf_counter()
        for i in range(frames):
            simulation.step(settings.stride_steps)
            xyz[i] = simulation.context.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.nanometer)
            bar.update(1)
        wall = time.perf_counter() - t0
        name = _write_chunk(run_dir, chunk, xyz, md_top)
        _save_state(simulation, state_file)
        record["chunks"].append({"file": name, "frames": frames, "wall_s": wall, "sha256": sha256(run_dir / name),
                                 "platform": simulation.context.getPlatform().getName()})
        _atomic_write_text(progress_file, json.dumps(record, indent=1))
    bar.close()
    return run_dir


def _check_resumable(record: dict, run_dir: Path, target: Target, settings: MDSettings) -> None:
    """Refuse to extend a run whose progress record is of another target or other MD settings."""
    target.check(record.get("target"), str(run_dir / "progress.json"))
    if record["settings"] != asdict(settings):
        diff = {k: (v, asdict(settings)[k]) for k, v in record["settings"].items() if asdict(settings)[k] != v}
        raise ValueError(f"{run_dir} was started with other MD settings (recorded, requested): {diff}")


def _write_chunk(run_dir: Path, chunk: int, xyz: np.ndarray, md_top) -> str:
    """Write frames ``xyz`` (frames, atoms, 3; nm) as ``run_dir/chunk{chunk:04d}.dcd``, atomically."""
    import mdtraj

    name = f"chunk{chunk:04d}.dcd"
    tmp = run_dir / (name + ".tmp.dcd")
    mdtraj.Trajectory(xyz, md_top).save_dcd(str(tmp))
    os.replace(tmp, run_dir / name)
    return name


def _save_state(simulation, state_file: Path) -> None:
    simulation.saveState(str(state_file) + ".tmp")
    os.replace(str(state_file) + ".tmp", state_file)


#: The farthest an atom of AAA may sit from its centre of mass for :class:`ReplicaLayout`'s bound
#: (nm). The 1 fs test runs reach 0.65 nm (tests/test_md_replicas.py checks 6,000 of their frames
#: against this bound); every recorded frame of a replica run is checked anyway.
AAA_EXTENT_NM = 0.9

#: A copy's centre of mass may leave its radius by as much as the restraint charges this many kT
#: for (nm: sqrt(2 * 20 kT / k)); a Boltzmann factor of e^-20 makes a larger excursion negligible.
RESTRAINT_EXCURSION_KT = 20.0


@dataclass(frozen=True)
class ReplicaLayout:
    """How K independent trajectories share one OpenMM System (:func:`run_replicas`).

    Copy i of the molecule lives around its anchor a_i, on a cubic grid ``spacing_nm`` apart and
    centred on the origin. A flat-bottom restraint on its mass-weighted centre of mass R_i (nm;
    energy in kJ/mol),

        U_i = 1/2 k max(0, |R_i - a_i| - radius_nm)^2,

    keeps the copies from diffusing into each other (free Langevin diffusion moves AAA's centre
    of mass about 30 nm RMS in 5 ns). Why each copy's coordinates relative to its centre of mass
    (all the data and the model use) then follow a lone molecule's Langevin dynamics, and so sample
    its ensemble:

    - no atom of one copy comes within the target's cutoff of an atom of another, so the potential
      is the sum of each copy's own (the target's) plus the restraints. :meth:`check` demands
      spacing - 2 (radius + excursion + extent) > cutoff, with the excursion beyond the radius that
      costs ``RESTRAINT_EXCURSION_KT`` and the extent ``AAA_EXTENT_NM``, and :func:`copy_gap_nm`
      checks every recorded frame (every 1000 steps, not every step);
    - the restraint's force F on copy i acts on its atom j as (m_j / M) F
      (``CustomCentroidBondForce`` weights by mass), an acceleration F / M common to all of its
      atoms: it moves the centre of mass only. So does the System's ``CMMotionRemover``, which
      removes the total momentum of all copies (a common velocity shift). Friction is the same
      for every atom, so the centre-of-mass noise is independent of the relative coordinates' noise.

    The copies share one integrator: their noise, and their starting velocities, come from the
    group's first seed, so a member's seed number labels it but does not reproduce it alone.
    """

    spacing_nm: float = 7.0
    radius_nm: float = 1.0
    k_kj_per_mol_nm2: float = 1000.0

    def excursion_nm(self, kT_kj_per_mol: float) -> float:
        """How far (nm) beyond ``radius_nm`` the restraint lets a centre of mass go for ``RESTRAINT_EXCURSION_KT``."""
        return math.sqrt(2 * RESTRAINT_EXCURSION_KT * kT_kj_per_mol / self.k_kj_per_mol_nm2)

    def check(self, target: Target) -> None:
        """Refuse a layout whose copies could come within ``target``'s cutoff (see the class docstring)."""
        if not (self.spacing_nm > 0 and self.radius_nm > 0 and self.k_kj_per_mol_nm2 > 0):
            raise ValueError(f"replica layout needs positive spacing, radius and k, got {self}")
        if target.cutoff_nm is None:
            raise ValueError("replicas need a target with a finite cutoff: without one, every copy interacts with all")
        reach = self.radius_nm + self.excursion_nm(target.kT) + AAA_EXTENT_NM
        room = self.spacing_nm - 2 * reach
        if room <= target.cutoff_nm:
            raise ValueError(f"replica spacing {self.spacing_nm} nm leaves {room:.2f} nm between copies whose atoms "
                             f"reach {reach:.2f} nm from their anchors (radius {self.radius_nm}, restraint excursion "
                             f"{self.excursion_nm(target.kT):.2f}, molecular extent {AAA_EXTENT_NM}), "
                             f"not more than the {target.cutoff_nm} nm cutoff: the copies could interact")

    def anchors(self, k: int) -> np.ndarray:
        """(k, 3) anchor positions (nm) on a cubic grid ``spacing_nm`` apart, centred on the origin
        (smaller coordinates round less on a single-precision platform)."""
        side = max(1, round(k ** (1 / 3)))
        side += side ** 3 < k
        i = np.arange(k)
        grid = self.spacing_nm * np.stack([i % side, (i // side) % side, i // side ** 2], axis=1).astype(float)
        return grid - grid.mean(0)


#: The force group of the replica restraints, so the copies' own potential can be read without them
RESTRAINT_GROUP = 31


def copy_gap_nm(positions: np.ndarray, masses: np.ndarray) -> tuple[float, tuple[int, int]]:
    """A lower bound on the closest approach of atoms of two different copies (positions (K, atoms,
    3), nm): min over pairs of |R_i - R_j| - r_i - r_j, with R the mass-weighted centres and r the
    largest atom-centre distance of each copy; and the pair where it is smallest ((0, 0): K = 1)."""
    com = (positions * masses[None, :, None]).sum(1) / masses.sum()
    extent = np.linalg.norm(positions - com[:, None], axis=-1).max(1)
    k = positions.shape[0]
    if k < 2:
        return np.inf, (0, 0)
    gap = np.linalg.norm(com[:, None] - com[None], axis=-1) - extent[:, None] - extent[None]
    gap[np.diag_indices(k)] = np.inf
    i, j = np.unravel_index(np.argmin(gap), gap.shape)
    return float(gap[i, j]), (int(min(i, j)), int(max(i, j)))


def build_replica_simulation(k: int, settings: MDSettings = MDSettings(), target: Target = AAA,
                             layout: ReplicaLayout = ReplicaLayout(), platform: str | None = None,
                             threads: int | None = None, random_seed: int = 0):
    """The OpenMM Simulation of ``k`` copies of the target's molecule in one System (the target's
    ``create_system`` of the k-copy topology, plus :class:`ReplicaLayout`'s restraints in force group
    ``RESTRAINT_GROUP``), under the integrator of :func:`build_simulation`. Returns (simulation,
    positions (k * atoms, 3) nm: the shipped structure centred on each anchor, anchors (k, 3) nm,
    masses (atoms,) amu)."""
    import openmm
    from openmm import app, unit

    if int(k) != k or k < 1:
        raise ValueError(f"the number of replicas must be a positive integer, got {k}")
    layout.check(target)
    topology, positions = ala3.load_topology()
    if (ala3.chirality_volumes(topology, positions) <= 0).any():
        raise ValueError(f"{ala3.TOPOLOGY_PDB} has a D residue; rebuild it with `rexmol build-system --overwrite`")
    lone = target.create_system(topology, settings.hydrogen_mass_amu)
    masses = np.array([lone.getParticleMass(i).value_in_unit(unit.dalton) for i in range(lone.getNumParticles())])
    centred = positions - (positions * masses[:, None]).sum(0) / masses.sum()
    anchors = layout.anchors(k)
    modeller = app.Modeller(topology, (centred + anchors[0]) * unit.nanometer)
    for a in anchors[1:]:
        modeller.add(topology, (centred + a) * unit.nanometer)
    system = target.create_system(modeller.topology, settings.hydrogen_mass_amu)
    restraint = openmm.CustomCentroidBondForce(
        1, "0.5*k_replica*max(0, d - r_replica)^2; d = sqrt((x1 - ax)^2 + (y1 - ay)^2 + (z1 - az)^2)")
    restraint.addGlobalParameter("k_replica", layout.k_kj_per_mol_nm2)
    restraint.addGlobalParameter("r_replica", layout.radius_nm)
    for name in ("ax", "ay", "az"):
        restraint.addPerBondParameter(name)
    n = len(masses)
    for i, a in enumerate(anchors):
        restraint.addGroup(list(range(i * n, (i + 1) * n)))  # no weights given: weighted by mass
        restraint.addBond([i], [float(v) for v in a])
    restraint.setForceGroup(RESTRAINT_GROUP)
    system.addForce(restraint)
    plat, props = _platform(platform, threads)
    simulation = app.Simulation(modeller.topology, system, _integrator(settings, target, random_seed), plat, props)
    return simulation, np.asarray(modeller.positions.value_in_unit(unit.nanometer)), anchors, masses


def _group_state(group_dir: Path, chunks: int) -> Path:
    """The group's OpenMM state after ``chunks`` chunks of every member."""
    return group_dir / f"state-{chunks:04d}.xml"


def run_replicas(out_dir: Path, seeds: list[int], length_ns: float, settings: MDSettings = MDSettings(),
                 target: Target = AAA, layout: ReplicaLayout = ReplicaLayout(), platform: str | None = None,
                 threads: int | None = None, progress: bool = True) -> list[Path]:
    """Run (or resume) the trajectories ``seeds`` side by side, one copy each in one System
    (:class:`ReplicaLayout`), into ``out_dir/seed{s}/``: chunks, SHA-256s and progress records as
    :func:`run_trajectory` writes them, each frame shifted by its copy's anchor (so centred near the
    origin, like a lone run's), each record naming its group (``"replicas"``; a chunk's ``wall_s`` is
    the group's). The group's OpenMM state after c chunks is ``out_dir/replicas-<seeds>/state-c.xml``,
    saved before the members' progress records and removed only after all of them count c + 1, so
    a cut-off anywhere resumes every member from the state that matches its last chunk. A group
    resumes only as the same group (the same seeds in the same order, the same layout). A frame
    where two copies could interact stops the run before its chunk is written. Returns the seeds'
    folders."""
    import mdtraj
    from openmm import unit
    from tqdm import tqdm

    seeds = [int(s) for s in seeds]
    if len(set(seeds)) != len(seeds) or not seeds:
        raise ValueError(f"replica seeds must be distinct and at least one, got {seeds}")
    layout.check(target)
    group = {"dir": "replicas-" + "-".join(map(str, seeds)), "seeds": seeds, "layout": asdict(layout),
             "anchors_nm": layout.anchors(len(seeds)).round(6).tolist()}
    run_dirs = [Path(out_dir) / f"seed{s}" for s in seeds]
    group_dir = Path(out_dir) / group["dir"]
    for d in run_dirs:
        d.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as locks:
        for d in run_dirs:
            locks.callback(_lock_run(d).close)
        records = []
        for i, (seed, run_dir) in enumerate(zip(seeds, run_dirs)):
            progress_file = run_dir / "progress.json"
            if not progress_file.exists():
                records.append({"seed": seed, "target": target.record(), "settings": asdict(settings),
                                "replicas": {**group, "copy": i}, "chunks": []})
                continue
            record = json.loads(progress_file.read_text())
            _check_resumable(record, run_dir, target, settings)
            mine = {**group, "copy": i}
            if record.get("replicas") != mine:
                theirs = record.get("replicas") or {}
                how = f"as copy {theirs.get('copy')} of {theirs.get('dir')}" if theirs else "alone"
                differ = sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))
                raise GroupMember(f"{run_dir} was started {how}; it resumes only that way, not as copy {i} of "
                                  f"{group['dir']} (recorded and requested differ in {differ})")
            records.append(record)
        stride_ps = settings.stride_steps * settings.timestep_ps
        n_frames = int(round(length_ns * 1000.0 / stride_ps))
        n_chunks = -(-n_frames // settings.chunk_frames)
        done = min(len(r["chunks"]) for r in records)
        if done and not _group_state(group_dir, done).exists():
            raise FileNotFoundError(f"{group['dir']}: every member records {done} chunks or more, but "
                                    f"{_group_state(group_dir, done)} is missing; restore it (git) or move the members' "
                                    "folders away to start the group again")
        group_dir.mkdir(exist_ok=True)
        simulation, positions, anchors, masses = build_replica_simulation(
            len(seeds), settings, target, layout, platform, threads, seeds[0] + 1000 * done)
        for r in records:  # a member that recorded one chunk more before a cut-off redoes it with the group
            del r["chunks"][done:]
        if done:
            simulation.loadState(str(_group_state(group_dir, done)))
        else:
            simulation.context.setPositions(positions)
            simulation.minimizeEnergy()
            simulation.context.setVelocitiesToTemperature(target.temperature_k * unit.kelvin, seeds[0])
            simulation.step(int(round(settings.equilibration_ps / settings.timestep_ps)))
        md_top = mdtraj.Topology.from_openmm(ala3.load_topology()[0])
        k, n = len(seeds), len(masses)
        bar = tqdm(total=n_frames * k, initial=min(n_frames, done * settings.chunk_frames) * k,
                   desc=f"MD seeds {seeds[0]}-{seeds[-1]} ({k} side by side)", unit="ps", disable=not progress)
        for chunk in range(done, n_chunks):
            frames = min(settings.chunk_frames, n_frames - chunk * settings.chunk_frames)
            xyz = np.empty((k, frames, n, 3), dtype=np.float32)
            t0 = time.perf_counter()
            for f in range(frames):
                simulation.step(settings.stride_steps)
                pos = simulation.context.getState(getPositions=True).getPositions(asNumpy=True)
                pos = pos.value_in_unit(unit.nanometer).reshape(k, n, 3)
                gap, (i, j) = copy_gap_nm(pos, masses)
                if gap <= target.cutoff_nm:
                    raise RuntimeError(f"seeds {seeds[i]} and {seeds[j]} came within {gap:.2f} nm of each other, inside "
                                       f"the {target.cutoff_nm} nm cutoff, in chunk {chunk}: their frames would not be "
                                       f"independent; nothing of this chunk was written (use a larger spacing)")
                xyz[:, f] = pos - anchors[:, None]
                bar.update(k)
            wall = time.perf_counter() - t0
            names = [_write_chunk(run_dir, chunk, xyz[i], md_top) for i, run_dir in enumerate(run_dirs)]
            _save_state(simulation, _group_state(group_dir, chunk + 1))
            for run_dir, record, name in zip(run_dirs, records, names):
                record["chunks"].append({"file": name, "frames": frames, "wall_s": wall,
                                         "sha256": sha256(run_dir / name),
                                         "platform": simulation.context.getPlatform().getName()})
                _atomic_write_text(run_dir / "progress.json", json.dumps(record, indent=1))
            for old in group_dir.glob("state-*.xml"):  # every member counts chunk + 1 now
                if old != _group_state(group_dir, chunk + 1):
                    old.unlink()
        bar.close()
    return run_dirs


def main(argv: list[str] | None = None) -> None:
    import argparse

    p = argparse.ArgumentParser(description="Run resumable tri-alanine Langevin MD trajectories of the AAA target.")
    p.add_argument("--out", type=Path, default=Path("data/ala3/md"))
    p.add_argument("--seeds", type=int, nargs="+", required=True)
    p.add_argument("--length-ns", type=float, default=5.0)
    p.add_argument("--platform", default=None, help="OpenMM platform (default: CUDA if present, else CPU)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--timestep-fs", type=float, default=1.0,
                   help="integrator step (default 1 fs, the protocol's); frames stay 1 ps apart")
    p.add_argument("--hydrogen-mass-amu", type=float, default=None,
                   help="hydrogen mass repartitioning (default: standard masses, the protocol's)")
    p.add_argument("--fast-if-validated", action="store_true",
                   help=f"a new seed runs {FAST_FS:g} fs with {FAST_H_AMU:g} amu hydrogens if the ensemble benchmark "
                        "validated that integrator for the target, else the protocol's")
    p.add_argument("--replicas", type=int, default=1,
                   help="run the seeds this many at a time side by side in one System (far-apart copies, each "
                        "exactly a lone run: see ReplicaLayout); more ns per CPU-second than lone runs (README)")
    p.add_argument("--replica-spacing-nm", type=float, default=ReplicaLayout.spacing_nm)
    a = p.parse_args(argv)
    if a.replicas < 1:
        p.error(f"--replicas must be at least 1, got {a.replicas}")
    settings = settings_for(a.timestep_fs, a.hydrogen_mass_amu)
    if a.fast_if_validated:
        settings = fast_if_validated()
        print(f"new seeds run dt {settings.timestep_ps * 1000:g} fs, hydrogen mass {settings.hydrogen_mass_amu}", flush=True)
    groups = [a.seeds[i:i + a.replicas] for i in range(0, len(a.seeds), a.replicas)]
    layout = ReplicaLayout(spacing_nm=a.replica_spacing_nm)
    for group in (g for g in groups if len(g) > 1):  # a group of one (the remainder) runs alone, below
        first = a.out / f"seed{group[0]}" / "progress.json"
        own = settings
        if a.fast_if_validated and first.exists():  # a started group keeps its integrator
            own = MDSettings(**json.loads(first.read_text())["settings"])
        try:
            run_replicas(a.out, group, a.length_ns, settings=own, layout=layout, platform=a.platform, threads=a.threads)
        except (RunInProgress, GroupMember) as err:
            print(f"skipped seeds {group}: {err}", flush=True)
    for seed in (g[0] for g in groups if len(g) == 1):
        progress_file = a.out / f"seed{seed}" / "progress.json"
        own = settings
        if a.fast_if_validated and progress_file.exists():  # a started seed keeps its integrator
            own = MDSettings(**json.loads(progress_file.read_text())["settings"])
        try:
            run_trajectory(a.out, seed, a.length_ns, settings=own, platform=a.platform, threads=a.threads)
        except (RunInProgress, GroupMember) as err:  # another worker has it, or it is a group's: go on
            print(f"skipped seed {seed}: {err}", flush=True)


if __name__ == "__main__":
    main()
