"""How many rows should one forward-mode tangent pass carry (``TangentSystem(method="vmap")``)?
The exact Jacobian density pushes 96 tangents per draw through the DiT at every field
evaluation; a pass over all rows of a chunk at once outgrows a CPU's caches. (The default is now
reverse mode, which takes all rows at once: ``benchmarks/tangent_methods.py``.) This draws the
same chunk (``--n`` draws, Princeps(midpoint), 16 steps, exact Jacobian density, shipped model)
with ``TangentSystem.rows`` = all rows in one pass and with the forward-mode default (about
384 / 96 = 4 rows per pass), at 1 and 2 torch threads, and reports
wall and CPU seconds per draw (median of ``--repeats``), the ratio to one pass at the same thread
count, and checks that log q agrees. Run it on an idle machine. Writes results/jacobian_rows.json.

    python benchmarks/jacobian_rows.py [--n 32] [--repeats 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import rexmol  # noqa: E402
from benchmarks.common import table, write_json  # noqa: E402
from rexmol.boltzmann.generator import BoltzmannGenerator, SolverSpec  # noqa: E402
from rexmol.flows import jacobian  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=Path("models/ala3_dit.pt"))
    p.add_argument("--n", type=int, default=32)
    p.add_argument("--repeats", type=int, default=1)
    args = p.parse_args(argv)
    gen = BoltzmannGenerator(rexmol.load_model(args.model), SolverSpec("princeps", "midpoint", steps=16,
                                                                       density="jacobian"))
    gen.flow.tangent_method = "vmap"  # the rows per pass matter in forward mode (benchmarks/tangent_methods.py)
    rows, log_q = [], {}
    default_pass = jacobian.TangentSystem.TARGET_PASS
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for label, target_pass in (("one pass (all rows)", 10**9), (f"rows of {default_pass // 96}", default_pass)):
            jacobian.TangentSystem.TARGET_PASS = target_pass
            walls, cpus = [], []
            for _ in range(args.repeats):
                w0, c0 = time.perf_counter(), time.process_time()
                draw = gen.sample(args.n, seed=0)
                walls.append(time.perf_counter() - w0)
                cpus.append(time.process_time() - c0)
            log_q[(threads, label)] = draw.log_q
            rows.append({"threads": threads, "passes": label, "wall_s_per_draw": statistics.median(walls) / args.n,
                         "cpu_s_per_draw": statistics.median(cpus) / args.n})
            print(rows[-1], flush=True)
    jacobian.TangentSystem.TARGET_PASS = default_pass
    for r in rows:
        base = next(b for b in rows if b["threads"] == r["threads"] and b["passes"].startswith("one pass"))
        r["wall_vs_one_pass"] = r["wall_s_per_draw"] / base["wall_s_per_draw"]
    gap = max(float(np.nanmax(np.abs(v - log_q[(1, rows[0]["passes"])]))) for v in log_q.values())
    print(table(rows, floatfmt="{:.3g}"))
    print(f"largest log q difference between settings: {gap:.2e} nats (float32 tangents)")
    path = write_json("jacobian_rows", {"description": __doc__, "n": args.n, "repeats": args.repeats, "rows": rows,
                                        "log_q_max_abs_difference": gap})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
