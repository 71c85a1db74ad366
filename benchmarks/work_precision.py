"""Accuracy against cost (work-precision) of Rex and Princeps vs torchdiffeq's dopri5.

Two flows, each sampled noise -> data with the exact log-density (exact divergence):
- ``gaussian``: the exact velocity of the linear path N(0, I) -> N(mu, diag sd^2), d = 8,
  whose x(t1) and log q(x) are known in closed form;
- ``mlp``: a random tanh MLP velocity field, d = 8, with a reference solution from Princeps(dopri5)
  at rtol = atol = 1e-12 in float64.
Solvers: Rex(dopri5, zeta = 0.999) and Princeps(dopri5) adaptive, torchdiffeq dopri5 adaptive
(same tolerances), Rex/Princeps(rk4) and (euler) on fixed grids. Errors: max |x - x_ref| and
max |log q - log q_ref| over 64 samples, in float64 and float32 (reference always float64).
The field is integrated in the velocity parameterisation (the linear path's default).
Prints a table and writes results/work_precision.json.

    python benchmarks/work_precision.py
"""

from __future__ import annotations

import copy
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import table, write_json  # noqa: E402
from rexmol.flows import ContinuousFlow, StandardNormal  # noqa: E402
from rexmol.flows.baseline import TorchdiffeqFlow  # noqa: E402
from rexmol.solvers import FlowField, Princeps, Rex  # noqa: E402
from tests.problems import GaussianVelocity  # noqa: E402

D, N, T1 = 8, 64, 0.999


def models():
    gen = torch.Generator().manual_seed(4)
    gauss = GaussianVelocity(torch.randn(D, generator=gen, dtype=torch.float64),
                             0.2 + torch.rand(D, generator=gen, dtype=torch.float64))
    net = torch.nn.Sequential(torch.nn.Linear(D + 1, 64), torch.nn.Tanh(), torch.nn.Linear(64, D)).double()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) * 1.5 / math.sqrt(p.shape[-1]))

    nets = {torch.float64: net, torch.float32: copy.deepcopy(net).float()}

    def mlp(t, x):
        return nets[x.dtype](torch.cat([x, t[:, None]], 1))

    return {"gaussian": gauss, "mlp": mlp}


def flow_for(model, solver):
    return ContinuousFlow(FlowField(model, "linear", "velocity"), solver, StandardNormal(D), t0=0.0, t1=T1)


def run(name, model, dtype, label, solver, opts, ref_x, ref_lq):
    gen = torch.Generator().manual_seed(0)
    if solver == "torchdiffeq":
        base = TorchdiffeqFlow(flow_for(model, Rex("dopri5")))
        x, lq = base.sample(N, generator=gen, dtype=dtype, **opts)
        nfe = base.nfe
    else:
        x, lq, sol = flow_for(model, solver).sample(N, generator=gen, dtype=dtype, return_solution=True, **opts)
        nfe = sol.nfe
    return {"field": name, "dtype": str(dtype).replace("torch.", ""), "solver": label,
            "setting": ", ".join(f"{k}={v}" for k, v in opts.items()), "nfe": nfe,
            "x_err": float((x.double() - ref_x).abs().max()), "logq_err": float((lq.double() - ref_lq).abs().max())}


def main():
    torch.set_num_threads(1)
    rows = []
    for name, model in models().items():
        z = StandardNormal(D).sample(N, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        if name == "gaussian":
            ref_x = model.flow_map(z, 0.0, T1)
            ref_lq = model.log_density(ref_x, T1)
        else:
            ref_x, ref_lq = flow_for(model, Princeps("dopri5")).sample(
                N, generator=torch.Generator().manual_seed(0), dtype=torch.float64, rtol=1e-12, atol=1e-12)
        for dtype in (torch.float64, torch.float32):
            tols = (1e-3, 1e-5, 1e-7, 1e-9) if dtype == torch.float64 else (1e-3, 1e-4, 1e-5, 1e-6)
            for tol in tols:
                opts = {"rtol": tol, "atol": tol}
                rows.append(run(name, model, dtype, "Rex(dopri5) zeta=0.999", Rex("dopri5", 0.999), opts, ref_x, ref_lq))
                rows.append(run(name, model, dtype, "Princeps(dopri5)", Princeps("dopri5"), opts, ref_x, ref_lq))
                rows.append(run(name, model, dtype, "torchdiffeq dopri5", "torchdiffeq", opts, ref_x, ref_lq))
            for steps in (8, 16, 32, 64):
                for label, solver in [("Rex(rk4) zeta=0.999", Rex("rk4", 0.999)), ("Princeps(rk4)", Princeps("rk4"))]:
                    rows.append(run(name, model, dtype, label, solver, {"steps": steps}, ref_x, ref_lq))
            for steps in (32, 128, 512):
                for label, solver in [("Rex(euler) zeta=0.999", Rex("euler", 0.999)), ("Princeps(euler)", Princeps("euler"))]:
                    rows.append(run(name, model, dtype, label, solver, {"steps": steps}, ref_x, ref_lq))
    print(table(rows))
    print(f"\nwrote {write_json('work_precision', {'description': __doc__, 'rows': rows})}")


if __name__ == "__main__":
    main()
