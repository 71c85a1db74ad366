"""Cost and memory of replayable Brownian motion: rexmol's VirtualBrownianTree against
torchsde's BrownianInterval (same shapes and queries) and against a cached path.

The property Rex's inverse needs is measured too: does W(0.3, 0.7) come out the same whether or
not (0.1, 0.45) was queried first? torchsde's tree splits at the query points, so its answers
depend on the query history; rexmol's bisects at fixed dyadic points and does not.

Queries: the (W, H) pairs of a solve with N uniform steps over [0, 1] (forward), then the same
steps in reverse order (the inverse pass), for a batch shaped like 256 tri-alanine conformations
(256 x 33 x 3). Median of ``--repeats`` runs. Memory: the bytes a cached path needs to replay
N steps (2 tensors per step) vs the tree (O(depth) per query, a bounded point cache).
torchsde is optional (``pip install torchsde``); its rows are skipped without it.

    python benchmarks/brownian.py [--steps 100] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import median_time, table, write_json  # noqa: E402
from rexmol.solvers.brownian import VirtualBrownianTree  # noqa: E402

SHAPE = (256, 33, 3)


def solve_pattern(query, steps: int):
    grid = [i / steps for i in range(steps + 1)]
    for a, b in zip(grid, grid[1:]):
        query(a, b)
    for a, b in reversed(list(zip(grid, grid[1:]))):
        query(a, b)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    numel = torch.Size(SHAPE).numel()
    tol = 2.0**-8 / args.steps

    def ours():
        tree = VirtualBrownianTree(0.0, 1.0, SHAPE, seed=0, tol=tol)
        solve_pattern(tree, args.steps)

    def order_invariant(make, query):
        a, b = make(), make()
        first = query(a, 0.3, 0.7)
        query(b, 0.1, 0.45)
        return bool(torch.equal(first, query(b, 0.3, 0.7)))

    t_ours = median_time(ours, args.repeats, warmup=0)
    probe = VirtualBrownianTree(0.0, 1.0, SHAPE, seed=0, tol=tol)
    depth = probe.depth
    rows.append({"method": f"rexmol VirtualBrownianTree (W, H), depth {depth}", "seconds": t_ours,
                 "ms_per_query": 1000 * t_ours / (2 * args.steps), "replay_memory_MB": probe.memory_bound_bytes / 2**20,
                 "same_answer_any_order": order_invariant(
                     lambda: VirtualBrownianTree(0.0, 1.0, (4,), seed=0, dtype=torch.float64),
                     lambda tr, s, t: tr(s, t)[0])})
    try:
        import torchsde

        def theirs():
            bi = torchsde.BrownianInterval(t0=0.0, t1=1.0, size=SHAPE, dtype=torch.float32, entropy=0, tol=tol,
                                           levy_area_approximation="space-time")
            solve_pattern(lambda a, b: bi(a, b, return_U=True), args.steps)

        t_theirs = median_time(theirs, args.repeats, warmup=0)
        rows.append({"method": "torchsde BrownianInterval (W, space-time U)", "seconds": t_theirs,
                     "ms_per_query": 1000 * t_theirs / (2 * args.steps), "replay_memory_MB": float("nan"),
                     "same_answer_any_order": order_invariant(
                         lambda: torchsde.BrownianInterval(t0=0.0, t1=1.0, size=(4,), dtype=torch.float64, entropy=0,
                                                           levy_area_approximation="space-time"),
                         lambda bi, s, t: bi(s, t))})
    except ImportError:
        print("torchsde not installed: its row is skipped")
    cached_mb = 2 * args.steps * numel * 4 / 2**20
    rows.append({"method": f"cached path (store W, H of {args.steps} steps, float32)", "seconds": 0.0,
                 "ms_per_query": 0.0, "replay_memory_MB": cached_mb, "same_answer_any_order": True})
    print(f"{args.steps} steps forward + {args.steps} back, shape {SHAPE}, median of {args.repeats}")
    print(table(rows))
    print("tree memory: its bounded caches, the same for any number of steps; a cached path grows with steps")
    print(f"\nwrote {write_json('brownian', {'description': __doc__, 'steps': args.steps, 'rows': rows})}")


if __name__ == "__main__":
    main()
