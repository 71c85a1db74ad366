"""Princeps(euler) with data prediction is DDIM, exactly, on VP schedules."""

import pytest
import torch

from rexmol.solvers import FlowField, Princeps, VPCosine, VPLinear


@pytest.mark.parametrize("schedule", [VPLinear(), VPCosine()], ids=repr)
def test_princeps_euler_data_prediction_is_ddim(schedule):
    torch.set_default_dtype(torch.float64)
    net = torch.nn.Sequential(torch.nn.Linear(5, 32), torch.nn.Tanh(), torch.nn.Linear(32, 4))

    def model(t, x):  # a nonlinear, time-dependent data predictor
        return net(torch.cat([x, t[:, None]], dim=1))

    field = FlowField(model, schedule, prediction="data", integrate_as="data")
    times = [0.98 - 0.97 * i / 25 for i in range(26)]  # noise -> data
    x_t = torch.randn(7, 4)
    x = x_t.clone()
    for t, t_next in zip(times, times[1:]):
        d = model(torch.full((7,), t), x)
        eps = (x - schedule.alpha(t) * d) / schedule.sigma(t)
        x = schedule.alpha(t_next) * d + schedule.sigma(t_next) * eps  # DDIM (eta = 0)
    sol = Princeps("euler").solve(field, x_t, times[0], times[-1], grid=times)
    assert sol.nfe == 25
    torch.testing.assert_close(sol.x, x, rtol=1e-12, atol=1e-12)
