"""MD throughput of trajectories run side by side in one System (``md.run_replicas``) against a
lone run, measured in the same process, one thread.

For each k: ``md.build_replica_simulation(k)`` (k copies of AAA, far apart, each exactly a lone
run of the protocol: 1 fs LangevinMiddle, no constraints), minimised, 5 ps of warm-up, then
segments of ``--segment-ps`` with the production run's per-frame readout (positions every 1 ps).
The baseline is ``md.build_simulation`` (the lone run that ``rexmol simulate`` makes). Rounds go
over every setting in turn, so drift in the machine's load touches all alike; the table shows
medians over rounds of the ns/day summed over the copies, and its ratio to the baseline's median.
Run it on an idle machine: with more busy processes than cores, OpenMM's CPU platform loses more
per step to waiting, and a lone run (the most steps per ns) loses most, which inflates the ratio
(the JSON records the load average before and after).

    python benchmarks/md_replicas.py [--replicas 1 4 8 16] [--rounds 3] [--segment-ps 5]

Writes results/md_replicas.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import table, write_json  # noqa: E402
from rexmol.molecules import md  # noqa: E402
from rexmol.molecules.target import AAA  # noqa: E402


def _ready(k: int | None, threads: int):
    """A minimised, warmed-up simulation: the lone run (k None) or k replicas."""
    from openmm import unit

    settings = md.MDSettings()
    if k is None:
        sim, positions = md.build_simulation(settings, platform="CPU", threads=threads, random_seed=1)
    else:
        sim, positions, _, _ = md.build_replica_simulation(k, settings, platform="CPU", threads=threads, random_seed=1)
    sim.context.setPositions(positions)
    sim.minimizeEnergy()
    sim.context.setVelocitiesToTemperature(AAA.temperature_k * unit.kelvin, 1)
    sim.step(5000)
    return sim


def ns_per_day(sim, copies: int, segment_ps: float) -> float:
    """ns/day summed over the copies, over one segment with a positions readout every 1 ps."""
    s = md.MDSettings()
    t0 = time.perf_counter()
    for _ in range(int(round(segment_ps / (s.stride_steps * s.timestep_ps)))):
        sim.step(s.stride_steps)
        sim.context.getState(getPositions=True)
    return copies * segment_ps / 1000 / ((time.perf_counter() - t0) / 86400)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--replicas", type=int, nargs="+", default=[1, 4, 8, 16])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--segment-ps", type=float, default=5.0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json-name", default="md_replicas")
    args = p.parse_args(argv)
    load_before = os.getloadavg()
    settings = {"lone run": (None, 1), **{f"{k} replicas in one System": (k, k) for k in args.replicas}}
    sims = {name: _ready(k, args.threads) for name, (k, _) in settings.items()}
    rates = {name: [] for name in settings}
    for r in range(args.rounds):
        for name, (_, copies) in settings.items():
            rates[name].append(ns_per_day(sims[name], copies, args.segment_ps))
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{n} {v[-1]:.0f}" for n, v in rates.items()), flush=True)
    base = statistics.median(rates["lone run"])
    rows = [{"setting": name, "copies": copies, "ns_per_day_total": statistics.median(rates[name]),
             "ns_per_day_per_copy": statistics.median(rates[name]) / copies,
             "vs_lone_run": statistics.median(rates[name]) / base, "rounds": rates[name]}
            for name, (_, copies) in settings.items()]
    print(table(rows, ["setting", "copies", "ns_per_day_total", "ns_per_day_per_copy", "vs_lone_run"]))
    write_json(args.json_name, {"cpu_count": os.cpu_count(), "loadavg_1_5_15_before": load_before,
                                "loadavg_1_5_15_after": os.getloadavg(), "threads": args.threads,
                                "segment_ps": args.segment_ps, "rounds": args.rounds,
                                "layout": md.ReplicaLayout().__dict__, "rows": rows})


if __name__ == "__main__":
    main()
