"""MD throughput (ns/day) and energy evaluations per second on this machine.

- MD: the AAA protocol (LangevinMiddle, 0.3/ps, 1 fs, no constraints; rexmol.molecules.md) on OpenMM's CPU platform with
  1 and 2 threads; ns/day from the median of a few 10 ps segments after warm-up.
- Energies: 10^4 conformations (the first MD frames, perturbed to vary) through
  ``EnergyEvaluator`` with 1 and 2 worker processes, against the baseline measured in the same
  run: a plain loop over one OpenMM Context (setPositions + getState per conformation).

Runs on a shared machine: compare ratios within one run. Writes results/md_energy_throughput.json.

    python benchmarks/md_energy_throughput.py [--conformations 10000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import table, write_json  # noqa: E402
from rexmol.molecules import ala3, md  # noqa: E402
from rexmol.molecules.energies import EnergyEvaluator  # noqa: E402
from rexmol.molecules.target import AAA  # noqa: E402


def md_ns_per_day(threads: int, segment_ps: float = 10.0, segments: int = 3) -> float:
    import openmm
    from openmm import unit

    s = md.MDSettings()
    topology, positions = ala3.load_topology()
    system = AAA.create_system(topology, s.hydrogen_mass_amu)
    integrator = openmm.LangevinMiddleIntegrator(AAA.temperature_k * unit.kelvin, s.friction_per_ps / unit.picosecond,
                                                 s.timestep_ps * unit.picosecond)
    sim = openmm.app.Simulation(topology, system, integrator, openmm.Platform.getPlatformByName("CPU"),
                                {"Threads": str(threads)})
    sim.context.setPositions(positions)
    sim.minimizeEnergy()
    sim.context.setVelocitiesToTemperature(AAA.temperature_k * unit.kelvin, 1)
    steps = int(segment_ps / s.timestep_ps)
    sim.step(steps)  # warm-up
    rates = []
    for _ in range(segments):
        t0 = time.perf_counter()
        for _ in range(steps // s.stride_steps):  # with the same per-frame readout as a production run
            sim.step(s.stride_steps)
            sim.context.getState(getPositions=True)
        rates.append(segment_ps / 1000 / ((time.perf_counter() - t0) / 86400))
    return statistics.median(rates)


def plain_loop(xyz):
    import openmm
    from openmm import unit

    topology, _ = ala3.load_topology()
    ctx = openmm.Context(AAA.create_system(topology), openmm.VerletIntegrator(0.001),
                         openmm.Platform.getPlatformByName("CPU"), {"Threads": "1"})
    out = np.empty(len(xyz))
    for i, x in enumerate(xyz):
        ctx.setPositions(x)
        out[i] = ctx.getState(getEnergy=True).getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--conformations", type=int, default=10_000)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    rows = []
    for threads in (1, 2):
        rows.append({"task": f"MD, CPU platform, {threads} thread(s)", "rate": md_ns_per_day(threads), "unit": "ns/day"})
        print(rows[-1], flush=True)
    _, positions = ala3.load_topology()
    rng = np.random.default_rng(0)
    xyz = positions[None] + 0.01 * rng.standard_normal((args.conformations, 33, 3))

    def rate(fn):
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return len(xyz) / statistics.median(times)

    base = rate(lambda: plain_loop(xyz))
    rows.append({"task": "energies, plain one-Context loop (baseline)", "rate": base, "unit": "conf/s", "x_baseline": 1.0})
    for workers in (1, 2):
        with EnergyEvaluator(n_workers=workers, chunk=1000, target=AAA) as ev:
            ev.reduced(xyz[:2000])  # start the pool outside the timing
            r = rate(lambda ev=ev: ev.reduced(xyz))
        rows.append({"task": f"energies, EnergyEvaluator, {workers} worker(s)", "rate": r, "unit": "conf/s",
                     "x_baseline": r / base})
        print(rows[-1], flush=True)
    print(table(rows))
    print(f"\nwrote {write_json('md_energy_throughput', {'description': __doc__, 'rows': rows})}")


if __name__ == "__main__":
    main()
