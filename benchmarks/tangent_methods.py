"""How should the exact Jacobian density compute J_f V? Reverse mode against forward mode, per draw.

The default sampler (Princeps(midpoint), 16 log-SNR steps, exact Jacobian density) carries 96
tangents through every field evaluation. ``TangentSystem`` computes J_f V either by reverse mode
(``"reverse"``: the 99 rows of J_f by one forward pass and 99 backward passes, then a batched
matrix product) or by forward mode (``"vmap"``: 96 batched Jacobian-vector products, in passes of
about 4 rows). Both give J_f V, so the same draws get the same log q up to float32 rounding; this
checks that and times them: one chunk of ``--n`` draws of the shipped model, the methods
interleaved ``--repeats`` times (so drift in the machine's load touches both alike), at 1 and 2
torch threads. CPU seconds are this process's CPU time (all threads), wall seconds beside them;
the table gives medians per draw and the ratio to forward mode at the same thread count.
Writes results/tangent_methods.json.

    python benchmarks/tangent_methods.py [--n 32] [--repeats 3] [--threads 1 2]
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

METHODS = ("vmap", "reverse")  # the first is the baseline of each thread count


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=Path("models/ala3_dit.pt"))
    p.add_argument("--n", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = p.parse_args(argv)
    spec = SolverSpec.default_sampler()
    gen = BoltzmannGenerator(rexmol.load_model(args.model), spec)
    rows, log_q = [], {}
    for threads in args.threads:
        torch.set_num_threads(threads)
        times = {m: ([], []) for m in METHODS}
        for _ in range(args.repeats):
            for method in METHODS:
                gen.flow.tangent_method = method
                w0, c0 = time.perf_counter(), time.process_time()
                draw = gen.sample(args.n, seed=0)
                times[method][0].append((time.perf_counter() - w0) / args.n)
                times[method][1].append((time.process_time() - c0) / args.n)
                log_q[(threads, method)] = draw.log_q
                print(f"{threads} thread(s), {method}: {times[method][1][-1]:.2f} CPU-s per draw", flush=True)
        for method in METHODS:
            rows.append({"threads": threads, "method": method, "wall_s_per_draw": statistics.median(times[method][0]),
                         "cpu_s_per_draw": statistics.median(times[method][1])})
    for r in rows:
        base = next(b for b in rows if b["threads"] == r["threads"] and b["method"] == METHODS[0])
        r["wall_vs_vmap"] = r["wall_s_per_draw"] / base["wall_s_per_draw"]
        r["cpu_vs_vmap"] = r["cpu_s_per_draw"] / base["cpu_s_per_draw"]
    first = log_q[(args.threads[0], METHODS[0])]
    gap = max(float(np.nanmax(np.abs(v - first))) for v in log_q.values())
    folded_alike = all(np.array_equal(np.isnan(v), np.isnan(first)) for v in log_q.values())
    print(table(rows, floatfmt="{:.3g}"))
    print(f"largest log q difference between methods and thread counts: {gap:.2e} nats (float32 tangents); "
          f"the same draws flagged as folded: {folded_alike}")
    path = write_json("tangent_methods", {"description": __doc__, "sampler": spec.label, "model": str(args.model),
                                          "n": args.n, "repeats": args.repeats, "rows": rows,
                                          "log_q_max_abs_difference": gap, "same_draws_folded": folded_alike})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
