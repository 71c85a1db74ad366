"""Effective samples per CPU-second: the Boltzmann generator against MD on the same machine.

- Generator: effective samples per CPU-second = ESS fraction x draws per CPU-second. The ESS
  fraction is a property of the model and sampler, taken from a finished ``rexmol sample`` run
  (``--run``, n >= 1000 for a stable value; its bootstrap interval is carried along); the draws per
  CPU-second are measured here with the same sampler settings: ``--draws`` draws with exact log q,
  plus their OpenMM energies, one torch thread.
- MD: decorrelated frames per CPU-second = (ps simulated per CPU-second) / tau, with tau the
  integrated autocorrelation time (ps) of the slowest backbone torsion component over the data
  manifest's runs of that integrator (masses change the kinetics, though not the configurational
  ensemble): the protocol's 1 fs runs and each faster integrator the manifest's runs use (HMR 2 fs).
  Measured here, one thread, on OpenMM's Reference and CPU platforms; each MD row uses the faster
  platform.

Generator and MD segments alternate, ``--repeats`` times, and medians are reported, so load on a
shared machine affects both sides alike. CPU-seconds are this process's CPU time
(``time.process_time``, all threads), with one torch thread and one OpenMM thread; wall seconds
are recorded beside them (their ratio is about 1 when nothing else competes for the core). Left
out on both sides: the one-off costs (training the model; equilibrating each MD run, 200 ps).
Writes results/generator_vs_md.json.

    python benchmarks/generator_vs_md.py --run benchmarks/results/aaa_headline [--draws 16] [--md-ps 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import table, write_json  # noqa: E402
from rexmol.boltzmann.bond_shift import BondShift  # noqa: E402
from rexmol.boltzmann.generator import BoltzmannGenerator, SolverSpec  # noqa: E402
from rexmol.boltzmann.sampling import MDReference, load_model_for  # noqa: E402
from rexmol.io import file_sha256  # noqa: E402
from rexmol.metrics import backbone_torsions  # noqa: E402
from rexmol.metrics.autocorrelation import torsion_integrated_times  # noqa: E402
from rexmol.molecules import dataset, md  # noqa: E402


def generator_s_per_draw(generator: BoltzmannGenerator, evaluator, draws: int, seed: int,
                         shift: BondShift | None = None) -> tuple[float, float]:
    """(CPU, wall) seconds per draw: sampling with log q, the run's bond shift if it had one, then
    OpenMM energies of the draws (``evaluator`` is built once, outside the timing)."""
    t0, w0 = time.process_time(), time.perf_counter()
    drawn = generator.sample(draws, seed=seed)
    x = drawn.x if shift is None else shift.apply(drawn.x, drawn.log_q)[0]
    evaluator.reduced(x, nonfinite="inf")
    return (time.process_time() - t0) / draws, (time.perf_counter() - w0) / draws


def md_s_per_ps(settings: md.MDSettings, reference: MDReference, platform: str, ps: float) -> tuple[float, float]:
    """(CPU, wall) seconds per simulated ps of ``settings`` after a short warm-up, reading positions
    out at the production stride (as ``rexmol simulate`` does)."""
    sim, positions = md.build_simulation(settings, reference.target, platform, threads=1, random_seed=1)
    sim.context.setPositions(positions)
    sim.minimizeEnergy()
    sim.step(int(round(2.0 / settings.timestep_ps)))  # 2 ps warm-up
    frames = max(1, int(round(ps / (settings.stride_steps * settings.timestep_ps))))
    t0, w0 = time.process_time(), time.perf_counter()
    for _ in range(frames):
        sim.step(settings.stride_steps)
        sim.context.getState(getPositions=True)
    ps_run = frames * settings.stride_steps * settings.timestep_ps
    return (time.process_time() - t0) / ps_run, (time.perf_counter() - w0) / ps_run


def slowest_torsion_tau_ps(manifest_path: Path, seeds: list[int]) -> float:
    """tau_int (ps) of the slowest backbone torsion component over the manifest's runs ``seeds``."""
    manifest = dataset.load_manifest(manifest_path)
    by_run = {}
    for split in dataset.SPLITS:
        by_run.update({s: x for s, x in dataset.load_split(split, manifest_path, by_run=True).items() if s in seeds})
    torsions = [backbone_torsions(x)[0] for x in by_run.values()]
    names = backbone_torsions(next(iter(by_run.values()))[:1])[1]
    # the slowest mode may outlast the runs (tau at the longest window then: a lower bound, as the floors take it)
    return max(torsion_integrated_times(torsions, names, unconverged="bound").values()) * manifest["md"]["stride_ps"]


def run_bond_shift(settings: dict, run: Path, override: Path | None = None) -> Path | None:
    """The bond-shift file a finished run applied (None if it applied none): the path its settings
    record, or ``override`` (a model's shift moves with its model file), either way with the SHA-256
    the run recorded."""
    recorded = settings.get("bond_shift")
    if not recorded:
        if override is not None:
            raise SystemExit(f"{run} applied no bond shift; leave out --bond-shift")
        return None
    path = Path(override or recorded["path"])
    if not path.is_file() or file_sha256(path) != recorded["sha256"]:
        raise SystemExit(f"{path} is missing or is not the bond shift {run} applied (SHA-256 {recorded['sha256'][:12]}...); "
                         "pass --bond-shift with that file")
    return path


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", type=Path, required=True, help="a finished `rexmol sample` output folder")
    p.add_argument("--manifest", type=Path, default=dataset.MANIFEST)
    p.add_argument("--draws", type=int, default=16)
    p.add_argument("--md-ps", type=float, default=10.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json-name", default="generator_vs_md")
    p.add_argument("--model", type=Path, default=None,
                   help="the model file that drew --run, if not at the path its settings record (checked by SHA-256)")
    p.add_argument("--bond-shift", type=Path, default=None,
                   help="the bond-shift file --run applied, if not at the path its settings record (checked by SHA-256)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    results = json.loads((args.run / "results.json").read_text())
    settings = json.loads((args.run / "settings.json").read_text())
    spec = SolverSpec(**settings["solver"])
    model_path = Path(args.model or settings["model"])
    if not model_path.is_file():
        raise SystemExit(f"{model_path} does not exist (the model of {args.run}); pass --model")
    sha = hashlib.sha256(model_path.read_bytes()).hexdigest()
    if sha != settings.get("model_sha256"):
        raise SystemExit(f"{model_path} (SHA-256 {sha[:12]}...) is not the model that drew {args.run} "
                         f"({str(settings.get('model_sha256'))[:12]}...): the ESS would be another model's; "
                         "pass --model with that model's file")
    reference = MDReference(args.manifest)
    generator = BoltzmannGenerator(load_model_for(model_path, args.manifest), spec)
    shift_path = run_bond_shift(settings, args.run, args.bond_shift)
    shift = BondShift.load(shift_path) if shift_path else None  # the run moved its draws: its cost is part of a draw's
    manifest = dataset.load_manifest(args.manifest)
    protocol = dataset.integrator(asdict(md.MDSettings()))
    by_integrator: dict[str, tuple[md.MDSettings, list[int]]] = {}
    for seed, run_settings in manifest["md"].get("settings_by_run", {}).items():
        fast = dataset.integrator(run_settings) != protocol
        name = (f"HMR {run_settings['hydrogen_mass_amu']:g} amu, {run_settings['timestep_ps'] * 1e3:g} fs" if fast
                else "protocol 1 fs")
        by_integrator.setdefault(name, (md.MDSettings(**run_settings) if fast else md.MDSettings(), []))[1].append(int(seed))
    taus = {name: slowest_torsion_tau_ps(args.manifest, seeds) for name, (_, seeds) in by_integrator.items()}
    timings = {"generator": [], **{(name, plat): [] for name in by_integrator for plat in ("Reference", "CPU")}}
    with reference.evaluator(1) as ev:
        generator_s_per_draw(generator, ev, 2, seed=10_000, shift=shift)  # warm-up (allocations, first energies)
        for r in range(args.repeats):
            timings["generator"].append(generator_s_per_draw(generator, ev, args.draws, seed=10_001 + r, shift=shift))
            for name, (st, _) in by_integrator.items():
                for plat in ("Reference", "CPU"):
                    timings[(name, plat)].append(md_s_per_ps(st, reference, plat, args.md_ps))
            print(f"repeat {r + 1}/{args.repeats}: generator {timings['generator'][-1][0]:.2f} CPU-s per draw", flush=True)

    gen_s = statistics.median(t[0] for t in timings["generator"])
    gen_wall = statistics.median(t[1] for t in timings["generator"])
    ess_fraction = results["ess_fraction"]
    rows = [{"sampler": f"generator: {results['solver']} (ESS {100 * ess_fraction:.2f}% of n = {results['n']})",
             "cpu_s_per_draw_or_ps": gen_s, "wall_over_cpu": gen_wall / gen_s, "tau_ps": None,
             "effective_per_cpu_s": ess_fraction / gen_s}]
    md_rows = []
    for name in by_integrator:
        per_plat = {plat: statistics.median(t[0] for t in timings[(name, plat)]) for plat in ("Reference", "CPU")}
        plat = min(per_plat, key=per_plat.get)
        wall = statistics.median(t[1] for t in timings[(name, plat)])
        md_rows.append({"sampler": f"MD {name} ({plat}, {86.4 / per_plat[plat]:.0f} ns per CPU-day)",
                        "cpu_s_per_draw_or_ps": per_plat[plat], "wall_over_cpu": wall / per_plat[plat],
                        "tau_ps": taus[name], "effective_per_cpu_s": 1.0 / (per_plat[plat] * taus[name]),
                        "cpu_s_per_ps_by_platform": per_plat})
    best_md = max(r["effective_per_cpu_s"] for r in md_rows)
    for row in rows + md_rows:
        row["over_best_md"] = row["effective_per_cpu_s"] / best_md
    print("\nEffective samples per CPU-second, one thread each (MD: tau of the slowest torsion, per integrator)")
    print(table(rows + md_rows, ["sampler", "cpu_s_per_draw_or_ps", "wall_over_cpu", "tau_ps", "effective_per_cpu_s",
                                 "over_best_md"]))
    ess_interval = results.get("bootstrap", {}).get("ess_fraction_16_84")
    path = write_json(args.json_name, {
        "description": __doc__, "run": str(args.run), "manifest": str(args.manifest), "solver": settings["solver"],
        "model": str(model_path), "model_sha256": sha,
        "bond_shift": settings.get("bond_shift"), "n_run": results["n"], "ess_fraction": ess_fraction,
        "ess_fraction_16_84": ess_interval,
        "generator_over_best_md_16_84": ([v / gen_s / best_md for v in ess_interval] if ess_interval else None),
        "tau_ps_by_integrator": taus, "seeds_by_integrator": {k: v[1] for k, v in by_integrator.items()},
        "draws": args.draws,
        "md_ps": args.md_ps, "repeats": args.repeats,
        "timings_cpu_wall": {"generator s per draw": timings["generator"],
                             **{f"MD {k[0]} {k[1]} s per ps": v for k, v in timings.items() if k != "generator"}},
        "rows": rows + md_rows})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
