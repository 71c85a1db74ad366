"""Test problems with closed-form solutions, shared by the solver tests and benchmarks."""

from __future__ import annotations

import math

import torch

from rexmol.solvers import FlowField


def riccati_field(integrate_as: str, schedule: str = "linear") -> FlowField:
    """A field whose Lawson form is dY/ds = -Y^2 cos(s) for Y = x / Xi, s the solver's time.

    Closed form: Y(s) = 1 / (sin s - sin s0 + 1 / Y0). Nonlinear and time dependent, so it
    exercises every order condition and the nodes c of a tableau. The model predicts the
    quantity of kind ``integrate_as`` directly, so no conversion enters.
    """
    field = FlowField(None, schedule, prediction=integrate_as, integrate_as=integrate_as)

    def model(t_rows: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        t = float(t_rows[0])
        s, k = field.to_s(t), field.xi(t)
        y = x / k
        return -(y * y) * math.cos(s)

    field.model = model
    return field


def riccati_exact(field: FlowField, x0: torch.Tensor, t0: float, t1: float) -> torch.Tensor:
    s0, s1 = field.to_s(t0), field.to_s(t1)
    y0 = x0 / field.xi(t0)
    return field.xi(t1) / (math.sin(s1) - math.sin(s0) + 1.0 / y0)


class GaussianVelocity:
    """Exact velocity of the linear path from N(0, I) to N(mu, diag(sd^2)).

    p_t = N(t mu, V_t), V_t = t^2 sd^2 + (1 - t)^2, and u(t, x) = mu + (t sd^2 - (1 - t)) (x - t mu) / V_t.
    """

    def __init__(self, mu: torch.Tensor, sd: torch.Tensor):
        self.mu, self.sd = mu, sd

    def variance(self, t):
        return t**2 * self.sd**2 + (1 - t) ** 2

    def __call__(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        t = t.reshape(-1, *([1] * (x.ndim - 1))).to(x.dtype)
        mu, sd = self.mu.to(x.dtype), self.sd.to(x.dtype)
        return mu + (t * sd**2 - (1 - t)) * (x - t * mu) / (t**2 * sd**2 + (1 - t) ** 2)

    def log_density(self, x: torch.Tensor, t: float) -> torch.Tensor:
        var = self.variance(t).to(x.dtype)
        r = (-0.5 * (x - t * self.mu.to(x.dtype)) ** 2 / var - 0.5 * torch.log(2 * math.pi * var))
        return r.reshape(x.shape[0], -1).sum(1)

    def flow_map(self, x0: torch.Tensor, t0: float, t1: float) -> torch.Tensor:
        """The ODE solution x(t1) from x(t0): affine, since Gaussians map to Gaussians."""
        mu = self.mu.to(x0.dtype)
        return t1 * mu + torch.sqrt(self.variance(t1) / self.variance(t0)).to(x0.dtype) * (x0 - t0 * mu)
