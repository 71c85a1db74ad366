"""Effective samples per CPU-second: the Boltzmann generator against MD on the same machine.

- Generator: effective samples per CPU-second = ESS fraction x draws per CPU-second. The ESS
  fraction is a property of the model and sampler, taken from a finished ``rexmol sample`` run
  (``--run``, n >= 1000 for a stable value; its bootstrap interval is carried along); the draws per
  CPU-second are measured here with the same sampler settings: ``--draws`` draws with exact log q,
  plus their OpenMM energies, one torch thread.
- MD: decorrelated frames per CPU-second = (ps simulated per CPU-second) / tau, with tau the
  integrated autocorrelation time of the slowest backbone torsion over the data manifest's
  training and validation trajectories (``MDReference.floor_pool``; in ps, frames x the manifest's
  stride). Measured here for the target's protocol (1 fs) and for each faster integrator the
  manifest's runs use (HMR 2 fs), one thread, on OpenMM's Reference and CPU platforms; each MD
  row uses the faster platform.

Generator and MD segments alternate, ``--repeats`` times, and medians are reported, so load on a
shared machine affects both sides alike. CPU-seconds are this process's CPU time
(``time.process_time``), single-threaded on both sides. Writes results/generator_vs_md.json.

    python benchmarks/generator_vs_md.py --run benchmarks/results/aaa_headline [--draws 16] [--md-ps 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import table, write_json  # noqa: E402
from rexmol.boltzmann.generator import BoltzmannGenerator, SolverSpec  # noqa: E402
from rexmol.boltzmann.sampling import MDReference, load_model_for  # noqa: E402
from rexmol.molecules import dataset, md  # noqa: E402


def generator_cpu_s_per_draw(generator: BoltzmannGenerator, reference: MDReference, draws: int, seed: int) -> float:
    """CPU-seconds per draw: sampling with log q, then OpenMM energies of the draws."""
    t0 = time.process_time()
    drawn = generator.sample(draws, seed=seed)
    with reference.evaluator(1) as ev:
        ev.reduced(drawn.x, nonfinite="inf")
    return (time.process_time() - t0) / draws


def md_cpu_s_per_ps(settings: md.MDSettings, reference: MDReference, platform: str, ps: float) -> float:
    """CPU-seconds per simulated ps of ``settings`` after a short warm-up, reading positions out at
    the production stride (as ``rexmol simulate`` does)."""
    sim, positions = md.build_simulation(settings, reference.target, platform, threads=1, random_seed=1)
    sim.context.setPositions(positions)
    sim.minimizeEnergy()
    sim.step(int(round(2.0 / settings.timestep_ps)))  # 2 ps warm-up
    frames = max(1, int(round(ps / (settings.stride_steps * settings.timestep_ps))))
    t0 = time.process_time()
    for _ in range(frames):
        sim.step(settings.stride_steps)
        sim.context.getState(getPositions=True)
    return (time.process_time() - t0) / (frames * settings.stride_steps * settings.timestep_ps)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", type=Path, required=True, help="a finished `rexmol sample` output folder")
    p.add_argument("--manifest", type=Path, default=dataset.MANIFEST)
    p.add_argument("--draws", type=int, default=16)
    p.add_argument("--md-ps", type=float, default=10.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json-name", default="generator_vs_md")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    results = json.loads((args.run / "results.json").read_text())
    settings = json.loads((args.run / "settings.json").read_text())
    spec = SolverSpec(**settings["solver"])
    reference = MDReference(args.manifest)
    generator = BoltzmannGenerator(load_model_for(settings["model"], args.manifest), spec)
    pool = reference.floor_pool()
    manifest = dataset.load_manifest(args.manifest)
    stride_ps = manifest["md"]["stride_ps"]
    tau_ps = pool["tau_T_frames"] * stride_ps

    integrators = {"protocol": md.MDSettings()}
    for run_settings in manifest["md"].get("settings_by_run", {}).values():
        if dataset.integrator(run_settings) != dataset.integrator(asdict(md.MDSettings())):
            integrators[f"HMR {run_settings['hydrogen_mass_amu']:g} amu, {run_settings['timestep_ps'] * 1e3:g} fs"] = (
                md.MDSettings(**run_settings))
    timings = {"generator": [], **{(name, plat): [] for name in integrators for plat in ("Reference", "CPU")}}
    generator_cpu_s_per_draw(generator, reference, 2, seed=10_000)  # warm-up (allocations, first energies)
    for r in range(args.repeats):
        timings["generator"].append(generator_cpu_s_per_draw(generator, reference, args.draws, seed=10_001 + r))
        for name, st in integrators.items():
            for plat in ("Reference", "CPU"):
                timings[(name, plat)].append(md_cpu_s_per_ps(st, reference, plat, args.md_ps))
        print(f"repeat {r + 1}/{args.repeats}: generator {timings['generator'][-1]:.2f} CPU-s per draw", flush=True)

    gen_s = statistics.median(timings["generator"])
    ess_fraction = results["ess_fraction"]
    gen_rate = ess_fraction / gen_s
    rows = [{"sampler": f"generator: {results['solver']} (ESS {100 * ess_fraction:.2f}% of n = {results['n']})",
             "cpu_s_per_draw_or_ps": gen_s, "effective_per_cpu_s": gen_rate}]
    md_rows = []
    for name in integrators:
        per_plat = {plat: statistics.median(timings[(name, plat)]) for plat in ("Reference", "CPU")}
        plat = min(per_plat, key=per_plat.get)
        rate = 1.0 / (per_plat[plat] * tau_ps)
        md_rows.append({"sampler": f"MD {name} ({plat}, {1 / per_plat[plat] * 86.4:.0f} ns/day)",
                        "cpu_s_per_draw_or_ps": per_plat[plat], "effective_per_cpu_s": rate,
                        "cpu_s_per_ps_by_platform": per_plat})
    best_md = max(r["effective_per_cpu_s"] for r in md_rows)
    for row in rows + md_rows:
        row["over_best_md"] = row["effective_per_cpu_s"] / best_md
    print(f"\nEffective samples per CPU-second, one thread each (tau of the slowest torsion {tau_ps:.0f} ps)")
    print(table(rows + md_rows, ["sampler", "cpu_s_per_draw_or_ps", "effective_per_cpu_s", "over_best_md"]))
    ess_interval = results.get("bootstrap", {}).get("ess_fraction_16_84")
    path = write_json(args.json_name, {
        "description": __doc__, "run": str(args.run), "manifest": str(args.manifest), "solver": settings["solver"],
        "model": settings["model"], "n_run": results["n"], "ess_fraction": ess_fraction,
        "ess_fraction_16_84": ess_interval,
        "generator_over_best_md_16_84": ([v / gen_s / best_md for v in ess_interval] if ess_interval else None),
        "tau_T_frames": pool["tau_T_frames"], "stride_ps": stride_ps, "tau_T_ps": tau_ps, "draws": args.draws,
        "md_ps": args.md_ps, "repeats": args.repeats,
        "timings": {"generator_cpu_s_per_draw": timings["generator"],
                    **{f"{n} {pl} cpu_s_per_ps": v for (n, pl), v in ((k, v) for k, v in timings.items() if k != "generator")}},
        "rows": rows + md_rows})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
