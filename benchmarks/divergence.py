"""Cost of the exact divergence of a transformer-sized field, per function evaluation.

Field: the rexmol DiT (33 atoms x 3 coordinates, width 128, depth 4, 4 heads: ~1.26M
parameters, weights randomised so the Jacobian is dense). For each exact method of
rexmol.flows.divergence, the median wall time of one (output, divergence) evaluation is
divided by a plain forward pass of the same batch and by the FLOP bound: one forward pass on a
batch (D + 1) times larger (D = 99). Each method is also checked against the brute-force
Jacobian trace. Prints a table and writes results/divergence.json.

    python benchmarks/divergence.py [--batch 32] [--repeats 3] [--methods loop vjp jvp fold]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import median_time, table, write_json  # noqa: E402
from rexmol.flows import brute_force_trace, divergence  # noqa: E402
from rexmol.flows.divergence import DEFAULT_METHOD  # noqa: E402
from rexmol.model.dit import DiT  # noqa: E402

N_ATOMS = 33


def make_field(width=128, depth=4, heads=4):
    torch.manual_seed(0)
    model = DiT(list(range(N_ATOMS)), [i // 11 for i in range(N_ATOMS)], [i % 4 for i in range(N_ATOMS)],
                width=width, depth=depth, heads=heads)
    for p in model.parameters():  # adaLN-Zero starts as the identity; randomise to get a dense Jacobian
        torch.nn.init.normal_(p, std=0.05)
    model.eval()
    return model, (lambda y: model(torch.full((y.shape[0],), 0.5, dtype=y.dtype), y))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--methods", nargs="+", default=["loop", "vjp", "jvp", "fold"])
    p.add_argument("--chunk", type=int, default=33, help="tangents per chunk for vjp/jvp/fold")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    model, fn = make_field()
    n_params = sum(q.numel() for q in model.parameters())
    x = 0.3 * torch.randn(args.batch, N_ATOMS, 3)
    d = x[0].numel()
    with torch.no_grad():
        forward = median_time(lambda: fn(x), args.repeats)
        bound = median_time(lambda: fn(x.repeat(d + 1, 1, 1)), args.repeats)
    reference = brute_force_trace(fn, x[:2])
    rows = [{"method": "forward pass", "seconds": forward, "x_forward": 1.0, "x_bound": forward / bound,
             "max_abs_err_vs_bruteforce": 0.0},
            {"method": f"FLOP bound (forward on {d + 1}x batch)", "seconds": bound, "x_forward": bound / forward,
             "x_bound": 1.0, "max_abs_err_vs_bruteforce": 0.0}]
    for method in args.methods:
        chunk = None if method == "loop" else args.chunk
        secs = median_time(lambda m=method, c=chunk: divergence(fn, x, m, c), args.repeats, warmup=0)
        _, div = divergence(fn, x[:2], method, chunk)
        err = float((div - reference).abs().max())
        rows.append({"method": method + (" (default)" if method == DEFAULT_METHOD else ""), "seconds": secs,
                     "x_forward": secs / forward, "x_bound": secs / bound, "max_abs_err_vs_bruteforce": err})
    print(f"DiT field, {n_params / 1e6:.2f}M parameters, batch {args.batch}, D = {d}, "
          f"threads {torch.get_num_threads()}, median of {args.repeats}")
    print(table(rows))
    path = write_json("divergence", {"description": __doc__, "batch": args.batch, "parameters": n_params,
                                     "dimension": d, "rows": rows})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
