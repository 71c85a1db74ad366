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
"""

from __future__ import annotations

import hashlib
import json
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
    from openmm import unit

    topology, positions = ala3.load_topology()
    if (ala3.chirality_volumes(topology, positions) <= 0).any():
        raise ValueError(f"{ala3.TOPOLOGY_PDB} has a D residue; rebuild it with `rexmol build-system --overwrite`")
    system = target.create_system(topology, settings.hydrogen_mass_amu)
    integrator = openmm.LangevinMiddleIntegrator(
        target.temperature_k * unit.kelvin, settings.friction_per_ps / unit.picosecond, settings.timestep_ps * unit.picosecond
    )
    integrator.setRandomNumberSeed(random_seed)
    plat, props = _platform(platform, threads)
    return openmm.app.Simulation(topology, system, integrator, plat, props), positions


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
        target.check(record.get("target"), str(progress_file))
        if record["settings"] != asdict(settings):
            diff = {k: (v, asdict(settings)[k]) for k, v in record["settings"].items() if asdict(settings)[k] != v}
            raise ValueError(f"{run_dir} was started with other MD settings (recorded, requested): {diff}")
    else:
        record = {"seed": seed, "target": target.record(), "settings": asdict(settings), "chunks": []}

    simulation, positions = build_simulation(settings, target, platform, threads, seed + 1000 * len(record["chunks"]))
    topology = simulation.topology
    state_file = run_dir / "state.xml"

    if record["chunks"] and state_file.exists():
        simulation.loadState(str(state_file))
    else:
        record["chunks"] = []
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
        name = f"chunk{chunk:04d}.dcd"
        tmp = run_dir / (name + ".tmp.dcd")
        mdtraj.Trajectory(xyz, md_top).save_dcd(str(tmp))
        os.replace(tmp, run_dir / name)
        simulation.saveState(str(state_file) + ".tmp")
        os.replace(str(state_file) + ".tmp", state_file)
        record["chunks"].append({"file": name, "frames": frames, "wall_s": wall, "sha256": sha256(run_dir / name),
                                 "platform": simulation.context.getPlatform().getName()})
        _atomic_write_text(progress_file, json.dumps(record, indent=1))
    bar.close()
    return run_dir


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
    a = p.parse_args(argv)
    settings = settings_for(a.timestep_fs, a.hydrogen_mass_amu)
    if a.fast_if_validated:
        settings = fast_if_validated()
        print(f"new seeds run dt {settings.timestep_ps * 1000:g} fs, hydrogen mass {settings.hydrogen_mass_amu}", flush=True)
    for seed in a.seeds:
        progress_file = a.out / f"seed{seed}" / "progress.json"
        own = settings
        if a.fast_if_validated and progress_file.exists():  # a started seed keeps its integrator
            own = MDSettings(**json.loads(progress_file.read_text())["settings"])
        try:
            run_trajectory(a.out, seed, a.length_ns, settings=own, platform=a.platform, threads=a.threads)
        except RunInProgress as err:  # another worker has it: go on with the next seed
            print(f"skipped seed {seed}: {err}", flush=True)


if __name__ == "__main__":
    main()
