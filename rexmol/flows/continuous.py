"""Exact-likelihood continuous normalising flows integrated by Princeps or Rex.

For dx/dt = u(t, x) carrying p_{t0} = prior to q_{t1} (the instantaneous change of variables):

    log q_{t1}(x_{t1}) = log p_{t0}(x_{t0}) - int_{t0}^{t1} div_x u(t, x_t) dt.

The solver integrates the augmented state (x, l) with dl/ds = div_x u * dt/ds in its own time
variable s, l having no linear part. ``sample`` runs noise -> data and returns
log q = log p_0(z) - l; ``log_prob`` runs data -> noise and returns log q = log p_0(z) + l
(there l accumulates the integral from t1 back to t0). The divergence is exact by default
(full Jacobian trace, see :mod:`rexmol.flows.divergence`); ``divergence="hutchinson"`` swaps in
the seeded, unbiased Hutchinson *estimator* with probes fixed over each solve.

With u = p_v(t) m(t, x) + q_v(t) x for the network output m (``FlowField.coefficients``),
div u = p_v div m + q_v * dim, where dim is the prior's dimension. For a mean-free prior the
network output is evaluated as P m(t, P x), so the full-space trace of its Jacobian equals
the trace on the centre-of-mass-free subspace, and dim = 3 (n - 1): prior, field and
divergence all live on that subspace.
"""

from __future__ import annotations

import torch

from rexmol.flows.divergence import DEFAULT_METHOD, divergence, hutchinson_divergence, rademacher_probes
from rexmol.flows.jacobian import DEFAULT_TANGENT_METHOD, TANGENT_METHODS, TangentSystem, log_abs_det, pack
from rexmol.flows.priors import StandardNormal
from rexmol.solvers import FlowField, Rex
from rexmol.solvers.princeps import ExplicitSolver, Solution
from rexmol.solvers.sde import FlowSDE
from rexmol.solvers.tableaus import StochasticTableau


class _LogDensitySystem:
    """The semi-linear system of ``field`` augmented with d l / ds = div u * dt/ds."""

    def __init__(self, flow: ContinuousFlow, probes: torch.Tensor | None):
        self.flow, self.field, self.probes = flow, flow.field, probes
        self.xi, self.to_s, self.to_t = self.field.xi, self.field.to_s, self.field.to_t

    def model_and_divergence(self, t: float, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(m, div m) for the network output m = P model(t, P x)."""
        flow, field, prior = self.flow, self.field, self.flow.prior

        def model_output(y: torch.Tensor) -> torch.Tensor:
            t_rows = torch.full((y.shape[0],), t, dtype=y.dtype, device=y.device)
            return prior.project(field.model(t_rows, prior.project(y)))

        if self.probes is None:
            return divergence(model_output, x, flow.method, flow.chunk)
        return hutchinson_divergence(model_output, x, self.probes)

    def __call__(self, t: float, x: torch.Tensor):
        """(f, dl/ds): the field in its parameterisation and the log-density rate in s."""
        field = self.field
        m, div_m = self.model_and_divergence(t, x)
        p_f, q_f = field.coefficients(t, field.integrate_as)
        p_v, q_v = field.coefficients(t, "velocity")
        f = p_f * m + q_f * x if q_f != 0.0 else p_f * m
        div_u = p_v * div_m + q_v * self.flow.prior.dim
        return f, div_u / field.ds_dt(t)

    def velocity(self, t: float, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(u, div u) in the plain time t, for solvers that do not use the semi-linear form."""
        m, div_m = self.model_and_divergence(t, x)
        p_v, q_v = self.field.coefficients(t, "velocity")
        return p_v * m + q_v * x, p_v * div_m + q_v * self.flow.prior.dim


class _ProjectedField(FlowField):
    """``field`` with the model evaluated as P model(t, P x) (the prior's subspace)."""

    def __init__(self, field: FlowField, prior):
        super().__init__(lambda t, x: prior.project(field.model(t, prior.project(x))), field.schedule,
                         field.prediction, field.integrate_as)


class ContinuousFlow:
    """A flow from ``prior`` at time t0 to the model's distribution at t1.

    Defaults: ``solver=Rex("dopri5", coupling=0.999)``; t0 and t1 the schedule's noise and data
    ends, the data end pulled in by 1e-3 (the data-prediction weights are singular at it).

    With a stochastic solver (``Rex("shark")``, ``Rex("euler_maruyama")``) ``sample`` integrates the
    reverse-time SDE of noise level ``noise_level`` (:class:`FlowSDE`; its marginals are the ODE's)
    on a Brownian tree seeded per call, from t0 pulled in by 1e-3 from the noise end (the SDE's
    integrating factor is infinite there). The density of the model is still the ODE's: ``log_prob``
    always integrates the probability-flow ODE with ``ode_solver``, and ``sample`` returns that
    log-density of the SDE samples (a second, ODE solve; ``log_prob=False`` skips it).
    """

    def __init__(self, field: FlowField, solver: ExplicitSolver | None = None, prior: StandardNormal | None = None,
                 t0: float | None = None, t1: float | None = None, divergence: str = "exact",
                 method: str = DEFAULT_METHOD, chunk: int | None = None, n_probes: int = 1, seed: int = 0,
                 noise_level: float = 1.0, ode_solver: ExplicitSolver | None = None,
                 tangent_method: str = DEFAULT_TANGENT_METHOD):
        if prior is None:
            raise ValueError("a prior is required, e.g. StandardNormal(d) or MeanFreeNormal(n_atoms)")
        if divergence not in ("exact", "hutchinson"):
            raise ValueError(f"divergence must be 'exact' or 'hutchinson', got {divergence!r}")
        if tangent_method not in TANGENT_METHODS:
            raise ValueError(f"unknown tangent method {tangent_method!r}; choose one of {TANGENT_METHODS}")
        self.field, self.prior = field, prior
        #: how ``sample(density="jacobian")`` computes J_f V (:class:`TangentSystem`; same result)
        self.tangent_method = tangent_method
        self.solver = solver if solver is not None else Rex("dopri5", coupling=0.999)
        self.stochastic = isinstance(self.solver.tableau, StochasticTableau)
        self.ode_solver = ode_solver if ode_solver is not None else (
            Rex("dopri5", coupling=0.999) if self.stochastic else self.solver)
        self.noise_level = float(noise_level)
        sch = field.schedule
        if t0 is None:
            t0 = sch.t_noise
            if self.stochastic:
                t0 = t0 + 1e-3 if sch.t_data > sch.t_noise else t0 - 1e-3
        self.t0 = float(t0)
        if t1 is None:
            t1 = sch.t_data - 1e-3 if sch.t_data > sch.t_noise else sch.t_data + 1e-3
        self.t1 = float(t1)
        for t in (self.t0, self.t1):
            field.to_s(t)  # raises a clear error for t outside the schedule or at a singular end
        if self.stochastic:
            FlowSDE(field, self.noise_level).to_s(self.t0)  # the SDE is singular at the noise end
        if self.t0 == self.t1:
            raise ValueError("t0 and t1 must differ")
        self.divergence, self.method, self.chunk = divergence, method, chunk
        self.n_probes, self.seed = int(n_probes), int(seed)

    def __repr__(self):
        return (f"ContinuousFlow({self.field!r}, {self.solver!r}, prior={self.prior!r}, t0={self.t0}, t1={self.t1}, "
                f"divergence={self.divergence!r})")

    def system(self, like: torch.Tensor, seed_offset: int = 0) -> _LogDensitySystem:
        """The augmented system; Hutchinson probes (if any) are drawn for ``like``'s shape."""
        probes = None
        if self.divergence == "hutchinson":
            probes = rademacher_probes(like, self.n_probes, self.seed + seed_offset)
        return _LogDensitySystem(self, probes)

    @torch.no_grad()
    def sample(self, n: int, *, rtol: float | None = None, atol: float | None = None, steps: int | None = None,
               grid=None, generator: torch.Generator | None = None, dtype=None, device=None,
               return_solution: bool = False, brownian_seed: int = 0, log_prob: bool = True,
               density: str = "divergence", tangent_method: str | None = None, z: torch.Tensor | None = None,
               progress=None):
        """Draw n samples: (x, log q(x)) in nats, integrating noise -> data.

        ``density="divergence"`` (default) accumulates the divergence integral, the continuous
        flow's log-density. ``density="jacobian"`` carries the exact Jacobian of the solver's own
        map z -> x on a fixed grid (``steps`` or ``grid``; see :mod:`rexmol.flows.jacobian`): the
        density of exactly these samples. Draws whose map folds or is ill-conditioned get
        log q = NaN; ``sol.stats`` then holds ``density_ok`` (bool per row) and ``condition``.
        ``tangent_method`` overrides the flow's (how J_f V is computed, not what: see
        :class:`~rexmol.flows.jacobian.TangentSystem`). ``z`` replaces the prior draws (n must
        match). ``progress(step, n_steps)`` is called after each fixed step, or ``progress(t, t1)``
        after each accepted adaptive step.

        With ``return_solution`` also returns the :class:`Solution` (for Rex, its ``invert``
        reconstructs the noise exactly). A stochastic solver needs ``steps`` and uses the
        Brownian tree of ``brownian_seed`` (see the class docstring)."""
        if density not in ("divergence", "jacobian"):
            raise ValueError(f"density must be 'divergence' or 'jacobian', got {density!r}")
        if self.stochastic:
            if density != "divergence" or grid is not None or z is not None:
                raise ValueError("SDE sampling supports neither density='jacobian' nor grid= nor z=")
            return self._sample_sde(n, steps, generator, dtype, device, return_solution, brownian_seed, log_prob,
                                    rtol, atol)
        if z is None:
            z = self.prior.sample(n, generator=generator, dtype=dtype, device=device)
        elif z.shape[0] != n:
            raise ValueError(f"z has {z.shape[0]} rows, n = {n}")
        log_p0 = self.prior.log_prob(z)
        if density == "jacobian":
            if steps is None and grid is None:
                raise ValueError("density='jacobian' needs a fixed grid (steps=N or grid=...): on an adaptive grid "
                                 "the steps depend on x and on the batch, so the Jacobian with the grid held fixed "
                                 "is not the Jacobian of the map that produced the samples")
            if rtol is not None or atol is not None:
                raise ValueError("density='jacobian' takes steps= or grid=, not rtol/atol")
            basis = self.prior.tangent_basis(dtype=z.dtype, device=z.device)
            system = TangentSystem(_ProjectedField(self.field, self.prior),
                                   method=tangent_method or self.tangent_method)
            sol = self.solver.solve(system, pack(z, basis), self.t0, self.t1, steps=steps, grid=grid,
                                    progress=progress)
            x, logdet, ok, condition = log_abs_det(sol.x, basis)
            if sol.x_hat is not None:
                sol.x_hat = sol.x_hat[:, 0]
            sol.x = x
            sol.stats.update(density_ok=ok, condition=condition, n_folded=int((~ok).sum()))
            log_q = torch.where(ok, log_p0.to(torch.float64) - logdet, torch.nan).to(log_p0.dtype)
            return (x, log_q, sol) if return_solution else (x, log_q)
        if steps is None and grid is None and rtol is None and atol is None:
            rtol = atol = 1e-5
        sol = self.solver.solve(self.system(z), z, self.t0, self.t1, steps=steps, grid=grid, rtol=rtol, atol=atol,
                                aux0=torch.zeros_like(log_p0), progress=progress)
        log_q = log_p0 - sol.aux
        return (sol.x, log_q, sol) if return_solution else (sol.x, log_q)

    def _sample_sde(self, n, steps, generator, dtype, device, return_solution, brownian_seed, log_prob, rtol, atol):
        if steps is None:
            raise ValueError("SDE sampling needs steps=N (adaptive SDE steps are not supported)")
        z = self.prior.sample(n, generator=generator, dtype=dtype, device=device)
        sde = FlowSDE(_ProjectedField(self.field, self.prior), self.noise_level)
        sol = self.solver.solve(sde, z, self.t0, self.t1, steps=steps, brownian=int(brownian_seed))
        x = self.prior.project(sol.x)
        log_q = self.log_prob(x, rtol=rtol, atol=atol) if log_prob else None
        return (x, log_q, sol) if return_solution else (x, log_q)

    @torch.no_grad()
    def log_prob(self, x: torch.Tensor, *, rtol: float | None = None, atol: float | None = None,
                 steps: int | None = None, grid=None, return_solution: bool = False):
        """Exact log q(x) in nats per row, integrating data -> noise (t1 -> t0) with the
        probability-flow ODE (``ode_solver``; the model's density is the ODE's even when
        sampling uses an SDE)."""
        self.prior.check(x)
        if steps is None and grid is None and rtol is None and atol is None:
            rtol = atol = 1e-5
        x = self.prior.project(x)
        l0 = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        t_noise = self.field.schedule.t_noise if self.stochastic else self.t0
        sol = self.ode_solver.solve(self.system(x), x, self.t1, t_noise, steps=steps, grid=grid, rtol=rtol, atol=atol,
                                    aux0=l0)
        log_q = self.prior.log_prob(self.prior.project(sol.x)) + sol.aux
        return (log_q, sol) if return_solution else log_q

    @torch.no_grad()
    def reconstruct(self, sol: Solution, **kwargs) -> tuple[torch.Tensor, torch.Tensor]:
        """Invert a Rex ``sample`` solution exactly: (z, log q(x)) recomputed from the end state.
        The log-density is log p_0(z_reconstructed) - l, l from the solve."""
        if not isinstance(self.solver, Rex):
            raise TypeError(f"{self.solver!r} is not reversible; only Rex solutions can be reconstructed")
        back = self.solver.invert(self.system(sol.x), sol, **kwargs)
        return back.x, self.prior.log_prob(self.prior.project(back.x)) - sol.aux
