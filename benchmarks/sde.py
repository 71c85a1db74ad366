"""Reversible SDE sampling on the Gaussian flow: round-trip error and marginal moments vs steps.

The SDE (FlowSDE, noise level tau = 1) of the exact velocity of the linear path N(0, I) ->
N(mu, diag sd^2) in 3-D, from the exact p_{t0} at t0 = 0.1 to t1 = 0.9, on a grid uniform in
log-SNR, 4000 paths. For Rex(euler_maruyama) and Rex(shark) (zeta = 0.999, float64): the
round-trip error max |x0 - invert(solve(x0))| on the same Brownian tree, and the errors of the
sample mean (in standard errors) and variance (ratio - 1) against the analytic marginal at t1.
torchsde's srk integrates the same unit-noise SDE in (s, Y) with one step per interval of the
same grid, as the non-reversible baseline (no inverse). Prints a table and writes results/sde.json.

    python benchmarks/sde.py
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import table, write_json  # noqa: E402
from rexmol.solvers import FlowField, Rex  # noqa: E402
from rexmol.solvers.sde import FlowSDE  # noqa: E402
from tests.problems import GaussianVelocity  # noqa: E402

T0, T1, N = 0.1, 0.9, 4000


def moments(x1, model):
    mean, var = T1 * model.mu, model.variance(T1)
    z = float(((x1.mean(0) - mean) / (var / N).sqrt()).abs().max())
    return z, float((x1.var(0) / var - 1).abs().max())


def main():
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    gen = torch.Generator().manual_seed(0)
    model = GaussianVelocity(torch.randn(3, generator=gen), 0.3 + torch.rand(3, generator=gen))
    field = FlowField(model, "linear", "velocity")
    sde = FlowSDE(field, 1.0)
    sch = field.schedule
    x0 = T0 * model.mu + model.variance(T0).sqrt() * torch.randn(N, 3, generator=gen)
    rows = []
    l0, l1 = math.log(sch.gamma(T0)), math.log(sch.gamma(T1))
    for steps in (10, 25, 50, 100):
        grid = [T0] + [sch.t_from_gamma(math.exp(l0 + (l1 - l0) * i / steps)) for i in range(1, steps)] + [T1]
        for name in ("euler_maruyama", "shark"):
            solver = Rex(name, coupling=0.999)
            t_start = time.perf_counter()
            sol = solver.solve(sde, x0, T0, T1, grid=grid, brownian=1)
            wall = time.perf_counter() - t_start
            back = solver.invert(sde, sol)
            z, v = moments(sol.x, model)
            rows.append({"solver": f"Rex({name})", "steps": steps, "roundtrip_err": float((back.x - x0).abs().max()),
                         "mean_err_in_SE": z, "var_ratio_err": v, "wall_s": wall})
        try:
            import torchsde

            class YSystem(torch.nn.Module):
                noise_type, sde_type = "diagonal", "ito"  # additive unit noise: Ito = Stratonovich

                def f(self, s, y):
                    t = sde.to_t(float(s))
                    return sde(t, sde.xi(t) * y)

                def g(self, s, y):
                    return torch.ones_like(y)

            s_grid = torch.tensor([sde.to_s(t) for t in grid])
            y0 = x0 / sde.xi(T0)
            bm = torchsde.BrownianInterval(t0=float(s_grid[0]), t1=float(s_grid[-1]), size=(N, 3), dtype=torch.float64,
                                           entropy=1, levy_area_approximation="space-time")
            t_start = time.perf_counter()
            y, system = y0, YSystem()
            for i in range(steps):  # one srk step per interval of the same log-SNR grid
                seg = s_grid[i:i + 2]
                y = torchsde.sdeint(system, y, seg, method="srk", bm=bm, dt=float(seg[1] - seg[0]), adaptive=False)[-1]
            wall = time.perf_counter() - t_start
            z, v = moments(y * sde.xi(T1), model)
            rows.append({"solver": "torchsde srk (same grid)", "steps": steps, "roundtrip_err": float("nan"),
                         "mean_err_in_SE": z, "var_ratio_err": v, "wall_s": wall})
        except ImportError:
            pass
    print(table(rows))
    print(f"\nwrote {write_json('sde', {'description': __doc__, 'rows': rows})}")


if __name__ == "__main__":
    main()
