"""Test problems with closed-form solutions, shared by the solver tests and benchmarks."""

from __future__ import annotations

import math

import torch

from rexmol.demo import GaussianVelocity  # noqa: F401 (re-exported for the tests)
from rexmol.solvers import FlowField


def riccati_field(integrate_as: str, schedule: str = "linear", omega: float = 1.0) -> FlowField:
    """A field whose Lawson form is dY/ds = -Y^2 cos(omega s) for Y = x / Xi, s the solver's time.

    Closed form: Y(s) = 1 / ((sin(omega s) - sin(omega s0)) / omega + 1 / Y0). Nonlinear and time
    dependent, so it exercises every order condition and the nodes c of a tableau. The model
    predicts the quantity of kind ``integrate_as`` directly, so no conversion enters. ``omega``
    sets how many oscillations a short interval in s spans (the error constants grow with it).
    """
    field = FlowField(None, schedule, prediction=integrate_as, integrate_as=integrate_as)

    def model(t_rows: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        t = float(t_rows[0])
        s, k = field.to_s(t), field.xi(t)
        y = x / k
        return -(y * y) * math.cos(omega * s)

    field.model = model
    field.omega = omega
    return field


def riccati_exact(field: FlowField, x0: torch.Tensor, t0: float, t1: float) -> torch.Tensor:
    s0, s1 = field.to_s(t0), field.to_s(t1)
    y0 = x0 / field.xi(t0)
    w = field.omega
    return field.xi(t1) / ((math.sin(w * s1) - math.sin(w * s0)) / w + 1.0 / y0)
