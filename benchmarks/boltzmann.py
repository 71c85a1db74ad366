"""The Boltzmann generator end to end: solvers side by side, and effective samples per second vs MD.

1. ``rexmol evaluate`` on the shipped model: Rex(dopri5) at zeta 0.999 / 0.5 / 0.001, Princeps(dopri5)
   and torchdiffeq's dopri5, same n, same seeds, same tolerance; E-W2 / T-W2 raw and reweighted,
   ESS, NLL of MD test frames, round-trip gap, NFE, time; the MD noise floor at the same n.
2. Effective samples per second of each generator, ESS x N / (drawing + energy seconds), against
   OpenMM MD on the same machine and thread count: decorrelated frames per second =
   (ns simulated per second) / (tau_int x stride), tau_int the largest integrated autocorrelation
   time of the backbone torsions over the training trajectories, the MD rate measured in this run.

Resumable (each solver's samples are chunked in ``--out``). Prints two tables and writes
results/boltzmann.json.

    python benchmarks/boltzmann.py [--n 128] [--nll-frames 32] [--threads 2] [--out runs/bench_boltzmann]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import table, write_json  # noqa: E402
from benchmarks.md_energy_throughput import md_ns_per_day  # noqa: E402
from rexmol.boltzmann.evaluate import default_specs, evaluate, format_table, select_specs  # noqa: E402
from rexmol.metrics import backbone_torsions  # noqa: E402
from rexmol.metrics.autocorrelation import torsion_integrated_times  # noqa: E402
from rexmol.molecules import dataset  # noqa: E402


def md_decorrelation(threads: int) -> dict:
    runs = dataset.load_split("train", by_run=True)
    torsions = [backbone_torsions(x)[0] for x in runs.values()]
    names = backbone_torsions(next(iter(runs.values()))[:1])[1]
    taus = torsion_integrated_times(torsions, names, unconverged="bound")  # a slow mode may outlast the runs
    stride_ps = dataset.load_manifest()["md"]["stride_ps"]  # the data's frame spacing, whatever the integrator
    tau_ps = max(taus.values()) * stride_ps
    ns_day = md_ns_per_day(threads)
    ps_per_s = ns_day * 1000 / 86400
    return {"tau_int_frames": taus, "stride_ps": stride_ps, "tau_int_ps_slowest": tau_ps, "md_ns_per_day": ns_day,
            "md_threads": threads, "decorrelated_frames_per_s": ps_per_s / tau_ps}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=Path("models/ala3_dit.pt"))
    p.add_argument("--out", type=Path, default=Path("runs/bench_boltzmann"))
    p.add_argument("--n", type=int, default=128)
    p.add_argument("--nll-frames", type=int, default=32)
    p.add_argument("--chunk", type=int, default=32, help="conformers per chunk; the first chunk is round-tripped")
    p.add_argument("--rtol", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--only", nargs="*", default=None, help="solver folders to run (a share of the work; "
                   "run the rest in another process, then once more without --only for the tables)")
    p.add_argument("--solvers", nargs="*", default=None, help="solver folders in the table (default: all of "
                   "rexmol.boltzmann.evaluate.default_specs)")
    p.add_argument("--json-name", default="boltzmann", help="results/<name>.json")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    specs = default_specs(args.rtol, args.rtol)
    if args.solvers:
        specs = select_specs(specs, args.solvers)
    done = args.out / "evaluate.json"
    res = json.loads(done.read_text()) if done.exists() else evaluate(
        args.model, args.out, n=args.n, specs=specs, nll_frames=args.nll_frames,
        chunk_size=args.chunk, workers=args.workers, only=args.only)
    if args.only:
        print(format_table(res["rows"]))
        return
    print(format_table(res["rows"] + [res["noise_floor"]]))
    mdd = md_decorrelation(args.threads)
    rate_rows = []
    for r in res["rows"]:
        if "error" in r:
            continue
        seconds = r["sampling_s"] + r["energy_s"]
        ess_per_s = r["ess"] / seconds
        rate_rows.append({"sampler": r["solver"], "ESS": r["ess"], "seconds": seconds, "ESS_per_s": ess_per_s,
                          "x_MD": ess_per_s / mdd["decorrelated_frames_per_s"]})
    rate_rows.append({"sampler": f"OpenMM MD ({mdd['md_ns_per_day']:.0f} ns/day, tau_int {mdd['tau_int_ps_slowest']:.0f} ps)",
                      "ESS": None, "seconds": None, "ESS_per_s": mdd["decorrelated_frames_per_s"], "x_MD": 1.0})
    print(f"\nEffective samples per second, {args.threads} threads for both")
    print(table(rate_rows))
    path = write_json(args.json_name, {"description": __doc__, "evaluate": res, "md": mdd, "rates": rate_rows,
                                    "threads": args.threads})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
