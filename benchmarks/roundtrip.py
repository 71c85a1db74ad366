"""Round-trip error of Rex: invert(solve(x0)) vs x0, against coupling zeta, dtype,
parameterisation, end time and number of steps (fixed and adaptive).

Fields: the exact velocity of a Gaussian flow (linear path, N(0, I) -> N(mu, diag sd^2)) and a
random tanh MLP velocity field, both in 16 dimensions, batch 64. Error: max |x0_rec - x0|
(x0 ~ N(0, I), so absolute ~ relative). Prints a table and writes results/roundtrip.json.

    python benchmarks/roundtrip.py [--quick]
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import table, write_json  # noqa: E402
from rexmol.solvers import FlowField, InversionWarning, Rex  # noqa: E402
from tests.problems import GaussianVelocity  # noqa: E402

D = 16


def fields(dtype):
    gen = torch.Generator().manual_seed(1)
    gauss = GaussianVelocity(torch.randn(D, generator=gen), 0.2 + torch.rand(D, generator=gen))
    net = torch.nn.Sequential(torch.nn.Linear(D + 1, 64), torch.nn.Tanh(), torch.nn.Linear(64, D)).to(dtype)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=dtype) * (1.0 / math.sqrt(p.shape[-1])))

    def mlp(t, x):
        return net(torch.cat([x, t[:, None]], 1))

    return {"gaussian": gauss, "mlp": mlp}


def roundtrip(model, integrate_as, dtype, zeta, t1, steps=None, tol=None):
    field = FlowField(model, "linear", "velocity", integrate_as=integrate_as)
    x0 = torch.randn(64, D, generator=torch.Generator().manual_seed(0), dtype=dtype)
    solver = Rex("rk4" if steps else "dopri5", coupling=zeta)
    with torch.no_grad():
        sol = solver.solve(field, x0, 0.0, t1, steps=steps, rtol=tol, atol=tol)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InversionWarning)
            try:
                back = solver.invert(field, sol, allow_unstable=True)
                err = float((back.x - x0).abs().max())
            except (ValueError, RuntimeError):
                err = math.inf
        predicted = torch.finfo(dtype).eps * solver.predicted_amplification(field, sol.s_grid)
    return {"field": "", "integrate_as": integrate_as, "dtype": str(dtype).replace("torch.", ""), "zeta": zeta,
            "t1": t1, "steps": sol.n_steps, "adaptive": steps is None, "max_abs_error": err if math.isfinite(err) else
            float("inf"), "predicted": predicted}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer settings")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for dtype in (torch.float32, torch.float64):
        fs = fields(dtype)
        for name, model in fs.items():
            for integrate_as in ("velocity", "data"):
                for t1 in (0.9, 0.99, 0.999):
                    for steps in (20, None):
                        r = roundtrip(model, integrate_as, dtype, 0.999, t1, steps, None if steps else 1e-6)
                        rows.append({**r, "field": name})
    # zeta and step-count sweep, velocity parameterisation, float32/64, MLP field.
    zetas = (0.999, 0.99, 0.9, 0.5, 0.1, 0.001)
    for dtype in (torch.float32, torch.float64):
        model = fields(dtype)["mlp"]
        for zeta in zetas:
            for steps in ((10, 50) if args.quick else (5, 10, 20, 50, 100)):
                rows.append({**roundtrip(model, "velocity", dtype, zeta, 0.999, steps), "field": "mlp"})
    cols = ["field", "integrate_as", "dtype", "zeta", "t1", "steps", "adaptive", "max_abs_error", "predicted"]
    print(table(rows, cols))
    path = write_json("roundtrip", {"description": __doc__, "rows": rows})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
