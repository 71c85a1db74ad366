"""The reverse-time SDE of a flow, in the unit-noise Lawson form that stochastic Rex integrates.

Derivation (write it down once, test it numerically). Path x_t = alpha_t D + sigma_t eps with
lambda_t = log(alpha_t / sigma_t) increasing in the direction of integration. Let u be the
probability-flow velocity and grad log p_t(x) = -E[eps | x] / sigma_t = -(x - alpha_t D(t, x)) / sigma_t^2
the score (Tweedie), written with the data prediction D. On the linear flow-matching path
(alpha = t, sigma = 1 - t) the exact conversions of FlowField give, from a velocity model v,
E[eps | x] = x - t v and D = x + (1 - t) v, so grad log p_t(x) = -(x - t v(t, x)) / (1 - t). For a noise level tau >= 0 the SDE

    dx = [u + tau^2 sigma^2 lambda' grad log p] dt + tau sigma sqrt(2 lambda') dW_t        (1)

has the marginals p_t of the ODE dx = u dt (the tau^2 drift term and the diffusion cancel in the
Fokker-Planck equation), and tau = 0 is the ODE. Where lambda decreases in t (VP schedules, whose
t runs data -> noise) the same drift holds in t and the diffusion is tau sigma sqrt(2 |lambda'|):
rewriting (1) in -t flips the sign of both dt and lambda'. (This is the SA-Solver / gDDIM family; tau = 1
is the usual reverse diffusion SDE.) With u = (sigma'/sigma) x + alpha lambda' D:

    drift = (sigma'/sigma - tau^2 lambda') x + (1 + tau^2) alpha lambda' D.

The integrating factor of the linear part is Xi_t = sigma_t exp(-tau^2 lambda_t). For Y = x / Xi,

    dY = (1 + tau^2) alpha lambda' e^{tau^2 lambda} / sigma * D dt + tau sqrt(2 lambda') e^{tau^2 lambda} dW_t
       = D d zeta + dW_rho,    zeta = exp((1 + tau^2) lambda),   rho = exp(2 tau^2 lambda),

because d zeta/dt = (1 + tau^2) lambda' e^{(1 + tau^2) lambda} = (1 + tau^2) alpha lambda' e^{tau^2 lambda}/sigma
and d rho/dt = 2 tau^2 lambda' e^{2 tau^2 lambda} is exactly the variance rate of the noise term.
Taking the noise clock s = rho as the solver's time makes the noise unit and additive:

    dY = kappa(s) D(t(s), Xi Y) ds + dW_s,    kappa = d zeta / d rho = (1 + tau^2)/(2 tau^2) e^{(1 - tau^2) lambda}.   (2)

Closed forms: s(t) = gamma_t^{2 tau^2} with gamma = alpha/sigma, and t(s) = t_from_gamma(s^{1/(2 tau^2)}).
At tau = 1, s = gamma^2 (the signal-to-noise ratio), Xi = sigma^2/alpha and kappa = 1.

Ends: s = 0 at the noise end (gamma = 0) where Xi is infinite, so an SDE solve starts at
t0 > 0 (the exact solution forgets x_{t0} as t0 -> noise end, which no inverse can undo); the
data end (sigma = 0) is singular as for the ODE.

:class:`FlowSDE` presents (2) to the solvers: ``xi``, ``to_s``, ``to_t``, ``__call__`` (the
drift kappa D of Y in s) and ``noise_scale`` (1: unit additive noise in s). Its
``drift_and_diffusion`` evaluates (1) directly for checks.
"""

from __future__ import annotations

import math

import torch

from rexmol.solvers.field import FlowField


class FlowSDE:
    """Reverse-time SDE (1) of ``field`` with noise level ``tau`` > 0, in the unit-noise form (2)."""

    def __init__(self, field: FlowField, tau: float = 1.0):
        tau = float(tau)
        if not tau > 0 or math.isnan(tau):
            raise ValueError(f"the noise level tau must be > 0 (tau = 0 is the ODE: use the FlowField), got {tau}")
        self.field, self.tau = field, tau
        self.schedule = field.schedule
        self.noise_scale = 1.0

    def __repr__(self):
        return f"FlowSDE({self.field!r}, tau={self.tau})"

    def _lambda(self, t: float) -> float:
        g = self.schedule.gamma(t)
        if g == 0.0 or math.isinf(g):
            raise ValueError(f"t = {t} is an end of the {self.schedule.name} schedule, singular for the SDE; "
                             f"start and stop strictly inside it")
        return math.log(g)

    def xi(self, t: float) -> float:
        """Xi_t = sigma_t exp(-tau^2 lambda_t)."""
        return self.schedule.sigma(t) * math.exp(-self.tau**2 * self._lambda(t))

    def to_s(self, t: float) -> float:
        """s = rho = exp(2 tau^2 lambda_t) = gamma_t^(2 tau^2)."""
        self.schedule.check_time(t)
        return math.exp(2 * self.tau**2 * self._lambda(t))

    def to_t(self, s: float) -> float:
        return self.schedule.t_from_gamma(s ** (1.0 / (2 * self.tau**2)))

    def kappa(self, t: float) -> float:
        """d zeta / d rho = (1 + tau^2)/(2 tau^2) exp((1 - tau^2) lambda_t)."""
        return (1 + self.tau**2) / (2 * self.tau**2) * math.exp((1 - self.tau**2) * self._lambda(t))

    def __call__(self, t: float, x: torch.Tensor) -> torch.Tensor:
        """Drift of Y in s: kappa(t) D(t, x)."""
        return self.kappa(t) * self.field.predict(t, x, "data")

    def drift_and_diffusion(self, t: float, x: torch.Tensor) -> tuple[torch.Tensor, float]:
        """(drift, g) of (1) in the original variables: dx = drift dt + g dW_t."""
        sch = self.schedule
        d_lambda = sch.d_gamma(t) / sch.gamma(t)
        score = -(x - sch.alpha(t) * self.field.predict(t, x, "data")) / sch.sigma(t) ** 2
        drift = self.field.velocity(t, x) + self.tau**2 * sch.sigma(t) ** 2 * d_lambda * score
        return drift, self.tau * sch.sigma(t) * math.sqrt(2 * abs(d_lambda))
