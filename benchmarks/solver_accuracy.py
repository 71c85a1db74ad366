"""How far each solver's conformers and log q land from the exact flow, at the evaluation tolerance.

The same n prior draws are integrated noise -> data by every solver of ``rexmol evaluate`` (Rex(dopri5)
at zeta 0.999 / 0.5 / 0.001, Princeps(dopri5), torchdiffeq's dopri5), at rtol = atol = --rtol, and
by a reference: Princeps(dopri5) in float64 at rtol = atol = --ref-rtol. Per solver:

- conformer error: max over atoms of |x - x_ref| (nm), median and max over draws;
- log q error (nats): median |log q - log q_ref| (the offset) and the standard deviation of
  log q - log q_ref over draws (the part that does not cancel in self-normalised weights);
- Rex's coupling defect max |x - x_hat| at the data end (scaled coordinates);
- median reduced energy u (kT) of the draws, against the reference draws' median;
- NFE and seconds.

Explains the evaluation table: a solver whose conformers are off by 1e-2 nm has energies tens of
kT too high, whatever its log q. Prints a table and writes results/solver_accuracy.json.

    python benchmarks/solver_accuracy.py [--n 8] [--rtol 1e-3] [--ref-rtol 1e-6] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import table, write_json  # noqa: E402
from rexmol.boltzmann.evaluate import default_specs  # noqa: E402
from rexmol.boltzmann.generator import BoltzmannGenerator, SolverSpec  # noqa: E402
from rexmol.boltzmann.sampling import load_model_for  # noqa: E402
from rexmol.molecules import dataset  # noqa: E402
from rexmol.molecules.energies import EnergyEvaluator  # noqa: E402


def integrate(loaded, spec: SolverSpec, n: int, seed: int, dtype) -> dict:
    """Noise -> data for the first n prior draws of ``seed``: x (nm), log q (nats/nm^D), NFE, defect."""
    draw = BoltzmannGenerator(loaded, spec, dtype=dtype).sample(n, seed)
    return {"x": draw.x, "log_q": draw.log_q, "nfe": draw.nfe, "defect": draw.stats.get("coupling_defect_max"),
            "seconds": draw.seconds}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=Path("models/ala3_dit.pt"))
    p.add_argument("--n", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rtol", type=float, default=1e-3)
    p.add_argument("--ref-rtol", type=float, default=1e-6)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    loaded = load_model_for(args.model)  # refuses a model of another target than the shipped data's
    ref_spec = SolverSpec("princeps", rtol=args.ref_rtol, atol=args.ref_rtol)
    ref = integrate(loaded, ref_spec, args.n, args.seed, torch.float64)
    rows = []
    with EnergyEvaluator(target=dataset.manifest_target()) as ev:  # the shipped data's ensemble
        u_ref = ev.reduced(ref["x"], nonfinite="inf")
        rows.append({"solver": f"reference: {ref_spec.label}, float64", "nfe": ref["nfe"], "seconds": ref["seconds"],
                     "median_u_kT": float(np.median(u_ref))})
        for spec in default_specs(args.rtol, args.rtol):
            out = integrate(loaded, spec, args.n, args.seed, torch.float32)
            dx = np.abs(out["x"] - ref["x"]).max(axis=(1, 2))
            dlq = out["log_q"] - ref["log_q"]
            u = ev.reduced(out["x"], nonfinite="inf")
            rows.append({"solver": spec.label, "nfe": out["nfe"], "seconds": out["seconds"],
                         "dx_nm_median": float(np.median(dx)), "dx_nm_max": float(dx.max()),
                         "dlogq_median_abs": float(np.median(np.abs(dlq))), "dlogq_std": float(dlq.std()),
                         "x_minus_x_hat_max": out["defect"], "median_u_kT": float(np.median(u)),
                         "du_kT_median": float(np.median(u - u_ref))})
            print(table(rows[-1:]), flush=True)
    print()
    print(table(rows))
    path = write_json("solver_accuracy", {"description": __doc__, "n": args.n, "seed": args.seed, "rtol": args.rtol,
                                          "reference": ref_spec.label + ", float64", "threads": args.threads,
                                          "rows": rows})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
