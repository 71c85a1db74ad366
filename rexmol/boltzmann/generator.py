"""A trained DiT joined to an exact-likelihood solver: conformers x (nm) and their log q(x).

The network was trained on scaled coordinates y = c x (c = ``coord_scale``, x in nm, centred).
The flow over y is a :class:`ContinuousFlow` from the mean-free standard normal on the
D = 3 (n_atoms - 1) dimensional centre-of-mass-free subspace. Densities transform as

    log q_x(x) = log q_y(c x) + D log c,

so every log-density returned here is per nm^D (the measure OpenMM's Boltzmann density
exp(-U(x)/kT) lives on), in nats.

Solvers (``solver=``): ``"rex"`` (default Rex(dopri5), coupling zeta; algebraically reversible,
so a sample's noise is recovered exactly by its inverse, which ``sample(..., roundtrip=True)``
measures), ``"princeps"`` (the
same exponential RK without the coupling: not reversible) and ``"torchdiffeq"`` (torchdiffeq's
dopri5 on the same augmented system in the plain time t: the usual non-reversible CNF).

One flow for every sampler: :meth:`BoltzmannGenerator.sample_conformers` draws conformers
without log q (the divergence skipped) from the same prior draws, flow, end time and coordinate
scale, and the training module's validation metrics (:func:`generator_for_model`) and the model
report (:func:`fixed_step_spec`) sample through it.
"""

from __future__ import annotations

import math
import numbers
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from rexmol.flows import ContinuousFlow, MeanFreeNormal, ScaledPrior
from rexmol.flows.baseline import TorchdiffeqFlow
from rexmol.flows.continuous import _ProjectedField
from rexmol.geometry import centre
from rexmol.solvers import FlowField, InversionWarning, Princeps, Rex, Solution
from rexmol.solvers.schedules import GRIDS, time_grid

SOLVERS = ("rex", "princeps", "torchdiffeq")
#: How log q is obtained: the divergence integral of the continuous flow, or the exact
#: log-determinant of the Jacobian of the solver's discrete map (rexmol.flows.jacobian).
DENSITIES = ("divergence", "jacobian")


@dataclass
class SolverSpec:
    """Which solver integrates the flow, and how finely (adaptive rtol/atol, or fixed ``steps``).

    The default coupling is zeta = 0.5, not the solver core's 0.999. Measured on the shipped model
    (``benchmarks/solver_accuracy.py``, rtol = atol = 1e-3, against a float64 rtol = 1e-6
    reference): at zeta = 0.999 the coupled pair x, x_hat drifts apart near the data end (the
    field is stiff there and zeta ~ 1 barely damps the parasitic mode, which the step-size
    controller does not see), leaving conformers ~1e-2 nm off and tens of kT too high; zeta = 0.5
    and 0.001 stay ~1e-3 nm off. Unlike 0.001, zeta = 0.5 still inverts in float32 over the ~10
    steps this tolerance takes (the noise is recovered; the 3e-4-nat "round-trip log q" once quoted
    here replayed the forward accumulator and did not test the density). For exact inversion over many
    steps choose zeta = 0.999 (and a tighter tolerance)."""

    solver: str = "rex"
    tableau: str = "dopri5"
    coupling: float = 0.5
    rtol: float = 1e-3
    atol: float = 1e-3
    steps: int | None = None
    grid: str = "uniform"
    density: str = "divergence"
    #: draw the prior noise scaled by this factor (a tempered latent, :class:`ScaledPrior`): the
    #: proposal changes, its log q stays exact. 1 is the flow the model was trained for.
    prior_scale: float = 1.0

    @classmethod
    def default_sampler(cls) -> SolverSpec:
        """``rexmol sample``'s default: Princeps(midpoint) on 16 steps placed uniformly in log-SNR,
        with the exact Jacobian density of that discrete map (32 field evaluations per draw). The
        AAA sweep at n = 100 on the HMR model's first cycle (README, "Choosing the sampler on the AAA
        model") ranked it first in effective samples per CPU-second; paired against the same 16
        steps on the uniform grid at n = 1000 (benchmarks/results/sampler_ab.json): ESS 1.34% against
        0.35%; on the 1 fs second cycle, where the n = 100 sweep ranked the uniform grid first on one
        draw, paired at n = 2000 (benchmarks/results/grid_ab_1fs.json): 0.48% against 0.14%. The plain
        ``SolverSpec()`` stays the adaptive Rex(dopri5) with the divergence integral, the spec for
        likelihoods of data."""
        return cls("princeps", "midpoint", 0.5, 1e-3, 1e-3, 16, grid="logsnr", density="jacobian")

    def __post_init__(self):
        if self.solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, got {self.solver!r}")
        if self.steps is not None and (int(self.steps) != self.steps or self.steps < 1):
            raise ValueError(f"steps must be a positive integer, got {self.steps}")
        if self.grid not in GRIDS:
            raise ValueError(f"grid must be one of {GRIDS}, got {self.grid!r}")
        if self.grid != "uniform" and self.steps is None:
            raise ValueError(f"grid={self.grid!r} is a fixed grid: give steps=N")
        if self.density not in DENSITIES:
            raise ValueError(f"density must be one of {DENSITIES}, got {self.density!r}")
        if self.density == "jacobian" and (self.steps is None or self.solver == "torchdiffeq"):
            raise ValueError("density='jacobian' (the exact Jacobian of the discrete map) needs a fixed grid "
                             "(steps=N) and a rexmol solver (rex or princeps); an adaptive grid depends on x")
        if self.steps is None:
            for name in ("rtol", "atol"):
                v = getattr(self, name)
                if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                    raise ValueError(f"{name} must be a positive finite number, got {v}")
        if self.solver == "torchdiffeq" and (self.steps is not None or self.tableau != "dopri5"):
            raise ValueError("the torchdiffeq baseline is adaptive dopri5 only (no steps, no other tableau)")
        if self.solver == "rex" and not 0.0 < float(self.coupling) <= 1.0:
            raise ValueError(f"Rex coupling zeta must lie in (0, 1], got {self.coupling}")
        if isinstance(self.prior_scale, bool) or not isinstance(self.prior_scale, numbers.Real) \
                or not (math.isfinite(self.prior_scale) and self.prior_scale > 0):
            raise ValueError(f"prior_scale must be a positive finite number, got {self.prior_scale}")
        self.prior_scale = float(self.prior_scale)  # a numpy scalar would not serialise into settings.json

    def record(self) -> dict:
        """The fields, as run settings record them; ``prior_scale`` only where it is not 1, so the
        settings of runs recorded before it existed still equal those of the same run today (they
        resume, reuse chunks and pair as before)."""
        out = dict(vars(self))
        if out["prior_scale"] == 1.0:
            del out["prior_scale"]
        return out

    @property
    def label(self) -> str:
        grid = "" if self.grid == "uniform" else f" {self.grid}"
        logdet = ", Jacobian log-det" if self.density == "jacobian" else ""
        tol = f"{self.steps}{grid} steps{logdet}" if self.steps else f"rtol=atol={self.rtol:g}" if self.rtol == self.atol \
            else f"rtol={self.rtol:g} atol={self.atol:g}"
        name = {"rex": f"Rex({self.tableau}, zeta={self.coupling:g})", "princeps": f"Princeps({self.tableau})",
                "torchdiffeq": "torchdiffeq dopri5"}[self.solver]
        scaled = f", prior scale {self.prior_scale:g}" if self.prior_scale != 1.0 else ""
        return f"{name}, {tol}{scaled}"

    def build(self):
        """The rexmol solver (Rex or Princeps). The torchdiffeq baseline is not one: it integrates
        the flow's augmented system itself (:class:`TorchdiffeqFlow`), so there is nothing to build."""
        if self.solver == "rex":
            return Rex(self.tableau, coupling=self.coupling)
        if self.solver == "princeps":
            return Princeps(self.tableau)
        raise ValueError("the torchdiffeq baseline has no rexmol solver to build; BoltzmannGenerator "
                         "integrates it with TorchdiffeqFlow")


@dataclass
class Draw:
    """Conformers drawn from the generator. x: (n, n_atoms, 3) in nm, centred; log_q: nats per nm^D;
    z: the prior draws in model coordinates (y = c x), any prior scale included; nfe: field
    evaluations (each one exact divergence)."""

    x: np.ndarray
    log_q: np.ndarray
    z: np.ndarray
    nfe: int
    seconds: float
    stats: dict = field(default_factory=dict)


class BoltzmannGenerator:
    """Sample conformers with exact log q, and evaluate log q of given conformers.

    ``loaded`` is a :class:`rexmol.model.LoadedModel`. ``divergence``: "exact" (default) or
    "hutchinson" (an unbiased one-probe estimate, for comparison only)."""

    def __init__(self, loaded, spec: SolverSpec | None = None, dtype=torch.float32, divergence: str = "exact",
                 seed: int = 0):
        self.loaded, self.spec = loaded, spec or SolverSpec()
        self.dtype = dtype
        self.n_atoms = loaded.model.n_atoms
        self.prior = loaded.prior if loaded.prior is not None else MeanFreeNormal(self.n_atoms)
        if self.spec.prior_scale != 1.0:
            self.prior = ScaledPrior(self.prior, self.spec.prior_scale)
        self.dim = self.prior.dim
        self.log_jacobian = self.dim * math.log(loaded.coord_scale)  # log |dy/dx| on the subspace
        model = loaded.model.to(dtype)
        field_ = FlowField(model, "linear", "velocity")
        # torchdiffeq: TorchdiffeqFlow uses only the flow's system, never its solver (left at the default)
        solver = None if self.spec.solver == "torchdiffeq" else self.spec.build()
        self.flow = ContinuousFlow(field_, solver, prior=self.prior, divergence=divergence, seed=seed)
        self._baseline = TorchdiffeqFlow(self.flow) if self.spec.solver == "torchdiffeq" else None

    def __repr__(self):
        return f"BoltzmannGenerator({self.spec.label}, {self.flow.divergence} divergence)"

    def _tolerances(self, reverse: bool = False) -> dict:
        s = self.spec
        if not s.steps:
            return {"rtol": s.rtol, "atol": s.atol}
        if s.grid == "uniform":
            return {"steps": s.steps}
        t0, t1 = self.flow.t0, self.flow.t1
        return {"grid": time_grid(self.flow.field.schedule, s.grid, s.steps, *((t1, t0) if reverse else (t0, t1)))}

    def prior_draws(self, n: int, seed: int) -> torch.Tensor:
        """The prior draws for ``seed``: identical on every machine (float64 CPU draws, then cast)."""
        return self.prior.sample(n, generator=torch.Generator().manual_seed(int(seed)), dtype=self.dtype)

    @property
    def device(self) -> torch.device:
        return next(self.loaded.model.parameters()).device

    def _solve_reverse(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(z, log q_y(y)) by integrating data -> noise with this generator's solver."""
        if self._baseline is not None:
            z, l = self._baseline._odeint(y, self.flow.t1, self.flow.t0, self.spec.rtol, self.spec.atol)
            return self.prior.project(z), self.prior.log_prob(self.prior.project(z)) + l
        log_q, sol = self.flow.log_prob(y, return_solution=True, **self._tolerances(reverse=True))
        return self.prior.project(sol.x), log_q

    @torch.no_grad()
    def sample(self, n: int, seed: int = 0, roundtrip: bool = False, progress=None) -> Draw:
        """n conformers and log q(x), integrating noise -> data; log q from the divergence integral
        or, with ``spec.density="jacobian"``, the exact density of the discrete map (draws whose map
        folds get log q = NaN; ``stats["n_folded"]`` counts them).

        With ``roundtrip`` the draw is taken back to noise by an independent data -> noise solve
        with the same solver and settings (on the reversed grid for fixed steps), for every solver
        alike: ``stats`` gets ``roundtrip_z_max_abs`` and ``roundtrip_log_q_max_abs``, the latter
        against the divergence integral of that reverse pass. A Rex draw is also inverted
        algebraically on its recorded grid (``algebraic_inverse_z_max_abs``: how well Rex recovers
        its noise; no log q comes from it, the accumulator would be replayed, not recomputed). A Rex
        draw's ``stats`` also holds ``coupling_defect_max``, the largest |x - x_hat| at the data end
        (scaled coordinates). ``progress(step, n_steps)`` is called after each solver step."""
        c = self.loaded.coord_scale
        t_start = time.perf_counter()
        z = self.prior_draws(n, seed).to(self.device)
        stats = {}
        if self._baseline is not None:
            self._baseline.nfe = 0
            y, l = self._baseline._odeint(z, self.flow.t0, self.flow.t1, self.spec.rtol, self.spec.atol)
            log_q_y = self.prior.log_prob(z) - l
            nfe = self._baseline.nfe
        else:
            y, log_q_y, sol = self.flow.sample(n, z=z, return_solution=True, density=self.spec.density,
                                               progress=progress, **self._tolerances())
            nfe = sol.nfe
            stats.update(steps=sol.n_steps, rejected=sol.n_rejected)
            if self.spec.density == "jacobian":
                stats.update(n_folded=sol.stats["n_folded"],
                             condition_max=float(sol.stats["condition"].max()))
            if sol.x_hat is not None:  # Rex: how far the coupled pair drifted apart (see SolverSpec)
                stats["coupling_defect_max"] = float((sol.x - sol.x_hat).abs().max())
        sample_s = time.perf_counter() - t_start
        if roundtrip:
            t_back = time.perf_counter()
            z_back, log_q_back = self._solve_reverse(y)
            ok = torch.isfinite(log_q_y)
            stats["roundtrip_z_max_abs"] = float((z_back - z).abs().max())
            gap = float((log_q_back - log_q_y)[ok].abs().max()) if ok.any() else None
            # with the Jacobian density the reverse pass's divergence integral is a different density
            # (the continuous flow's), so the gap measures the integral's error, not a round trip
            key = "integral_minus_jacobian_log_q_max_abs" if self.spec.density == "jacobian" \
                else "roundtrip_log_q_max_abs"
            stats[key] = gap
            if isinstance(self.flow.solver, Rex) and self._baseline is None:
                # measured even where Rex.invert would refuse it (small zeta): the gap is the result
                system = _ProjectedField(self.flow.field, self.prior)
                stats["algebraic_inverse_predicted_amplification"] = self.flow.solver.predicted_amplification(
                    system, sol.s_grid)
                plain = Solution(x=sol.x, x_hat=sol.x_hat, grid=sol.grid, s_grid=sol.s_grid, nfe=0)
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", InversionWarning)
                        back = self.flow.solver.invert(system, plain, allow_unstable=True)
                    gap = float((self.prior.project(back.x) - z).abs().max())
                except ValueError:  # the inverse overflowed to inf/NaN
                    gap = math.inf
                stats["algebraic_inverse_z_max_abs"] = gap if math.isfinite(gap) else None  # None: overflowed
            stats["roundtrip_s"] = time.perf_counter() - t_back
        x = (y / c).double().cpu().numpy()
        log_q = log_q_y.double().cpu().numpy() + self.log_jacobian
        return Draw(x, log_q, z.double().cpu().numpy(), nfe, sample_s, stats)

    @torch.no_grad()
    def log_prob(self, x_nm, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Exact log q(x) (nats per nm^D) of conformations x (n, n_atoms, 3) in nm, integrating
        data -> noise. Each conformation is centred first (q lives on the centre-of-mass-free
        subspace); bad shapes and NaN/inf coordinates raise a ValueError naming the problem."""
        x_nm = np.asarray(x_nm, dtype=np.float64)
        if x_nm.ndim != 3 or x_nm.shape[1:] != (self.n_atoms, 3):
            raise ValueError(f"conformations must have shape (n, {self.n_atoms}, 3) in nm, got {x_nm.shape}")
        bad = ~np.isfinite(x_nm).reshape(len(x_nm), -1).all(1)
        if bad.any():
            raise ValueError(f"{int(bad.sum())} conformations have NaN/inf coordinates "
                             f"(rows {np.flatnonzero(bad)[:10].tolist()})")
        x_nm = centre(x_nm)
        out = []
        starts = range(0, len(x_nm), batch_size)
        if progress:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc="log q (data -> noise)", unit="batch")
        for start in starts:
            y = torch.as_tensor(x_nm[start:start + batch_size] * self.loaded.coord_scale, dtype=self.dtype)
            _, lq = self._solve_reverse(self.prior.project(y).to(self.device))
            out.append(lq.double().cpu().numpy() + self.log_jacobian)
        return np.concatenate(out) if out else np.zeros(0)

    @torch.no_grad()
    def sample_conformers(self, n: int, seed: int = 0, batch_size: int | None = None) -> np.ndarray:
        """n conformers (n, n_atoms, 3) in nm, centred, float64, without log q: :meth:`sample`'s
        prior draws (``prior_draws(n, seed)``), flow, solver, end time and coordinate scale, with
        the divergence skipped (one forward pass per field evaluation instead of ~100).

        On a fixed grid the conformers are ``sample(n, seed).x`` up to rounding. On an adaptive
        grid the steps differ, since there the step-size controller also watches log q.
        ``batch_size`` splits the solve, not the draws (on an adaptive grid it changes the steps).
        The torchdiffeq baseline has no divergence-free path here: it runs :meth:`sample`."""
        if self._baseline is not None:
            return self.sample(n, seed).x
        flow, prior = self.flow, self.prior
        model = flow.field.model
        projected = FlowField(lambda t, y: prior.project(model(t, prior.project(y))), flow.field.schedule,
                              flow.field.prediction, flow.field.integrate_as)
        z = self.prior_draws(n, seed).to(self.device)
        parts = [flow.solver.solve(projected, zb, flow.t0, flow.t1, **self._tolerances()).x
                 for zb in z.split(max(1, batch_size or n))]
        y = torch.cat(parts) if parts else z
        return (y / self.loaded.coord_scale).double().cpu().numpy()


def fixed_step_spec(steps: int) -> SolverSpec:
    """Rex(rk4), zeta = 0.999, ``steps`` fixed steps: the cheap sampler of unweighted conformers
    (validation metrics in training, the model report). No likelihood, so no inverse to keep stable."""
    return SolverSpec("rex", "rk4", coupling=0.999, steps=steps)


def generator_for_model(model, coord_scale: float, spec: SolverSpec | None = None, prior=None) -> BoltzmannGenerator:
    """A :class:`BoltzmannGenerator` over a bare DiT (e.g. the training module's EMA model), the
    scale its inputs are multiplied by and its prior (None: the isotropic mean-free normal), in the
    model's own dtype (the model is not converted)."""
    from rexmol.model.checkpoint import LoadedModel

    dtype = next(model.parameters()).dtype
    return BoltzmannGenerator(LoadedModel(model, float(coord_scale), {}, {}, prior=prior), spec, dtype=dtype)
