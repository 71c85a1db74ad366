"""Princeps: the exponential (Lawson) explicit Runge-Kutta step, fixed or adaptive.

For the semi-linear ODE dx/dt = a(t) x + b(t) f(t, x) with integrating factor Xi and time
variable s (see :class:`rexmol.solvers.FlowField`), Y = x / Xi obeys dY/ds = f(t(s), Xi Y).
One step of a tableau (A, b, c) from s_n with step h in s:

    Z_i   = Y_n + h sum_{j<i} a_ij F_j,      F_i = f(t(s_n + c_i h), Xi(s_n + c_i h) Z_i)
    Psi_h(s_n, x_n) = h sum_i b_i F_i
    x_{n+1} = (Xi_{n+1} / Xi_n) x_n + Xi_{n+1} Psi_h(s_n, x_n)

Psi inherits the tableau's order; with Euler and data prediction this is DDIM. Auxiliary
states with no linear part (a log-density accumulator) are integrated with the same
stages: the system may return (F, G) with G = d aux / ds. An embedded tableau estimates
the local error as Xi_{n+1} h sum_i e_i F_i (and h sum_i e_i G_i) for step-size control.

Any object with ``xi(t)``, ``to_s(t)``, ``to_t(s)`` and ``__call__(t, x)`` can be solved:
this module knows nothing about molecules or models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from rexmol.solvers.tableaus import ButcherTableau, StochasticTableau, get_tableau


@dataclass(frozen=True)
class PIDController:
    """Adaptive step-size control on the embedded error estimate (Soderlind / diffrax form).

    With e_n the error ratio (<= 1 accepts) and k = error_order + 1, the next step is
    h * clip(safety * e_n^-(beta1/k) * e_{n-1}^-(beta2/k) * e_{n-2}^-(beta3/k), factor_min, factor_max),
    beta1 = p + i + d, beta2 = -(p + 2 d), beta3 = d. Defaults (p = d = 0, i = 1) are the classic
    I controller; ``pcoeff=0.4, icoeff=0.3`` is a common PI choice. ``min_step``/``max_step``
    bound |h| in the solver's time variable s; ``max_steps`` guards runaway solves.

    The error ratio is the RMS over one sample's components of err / (atol + rtol max(|x_n|, |x_{n+1}|)),
    maximised over the batch: every sample meets the tolerance, and the whole batch shares
    one grid (so a sample's grid depends on its batch-mates).
    """

    rtol: float = 1e-5
    atol: float = 1e-5
    pcoeff: float = 0.0
    icoeff: float = 1.0
    dcoeff: float = 0.0
    safety: float = 0.9
    factor_min: float = 0.2
    factor_max: float = 10.0
    min_step: float = 0.0
    max_step: float = math.inf
    max_steps: int = 10_000
    initial_step: float | None = None

    def __post_init__(self):
        if not (self.rtol >= 0 and self.atol >= 0 and self.rtol + self.atol > 0):
            raise ValueError(f"need rtol, atol >= 0 and not both 0, got rtol={self.rtol}, atol={self.atol}")
        if self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {self.max_steps}")
        if not 0 <= self.min_step < self.max_step:
            raise ValueError(f"need 0 <= min_step < max_step, got {self.min_step}, {self.max_step}")

    def factor(self, errs: list[float], error_order: int) -> float:
        k = error_order + 1
        p, i, d = self.pcoeff, self.icoeff, self.dcoeff
        betas = (p + i + d, -(p + 2 * d), d)
        log_f = math.log(self.safety)
        for beta, e in zip(betas, reversed(errs[-3:])):
            if beta != 0.0:
                log_f -= beta / k * math.log(max(e, 1e-10))
        return min(self.factor_max, max(self.factor_min, math.exp(log_f)))


@dataclass
class Solution:
    """Result of a solve. ``grid`` holds the accepted times t_0 ... t_N (float64) and
    ``s_grid`` the same in the solver's time variable; the inverse of a Rex solve replays
    ``s_grid`` exactly. ``x_hat``/``aux_hat`` are Rex's coupled copies (None for Princeps)."""

    x: torch.Tensor
    grid: torch.Tensor
    s_grid: torch.Tensor
    nfe: int
    n_rejected: int = 0
    x_hat: torch.Tensor | None = None
    aux: torch.Tensor | None = None
    aux_hat: torch.Tensor | None = None
    solver: str = ""
    stats: dict = field(default_factory=dict)
    brownian: object = None  # the VirtualBrownianTree of an SDE solve (a seed, not a stored path)

    @property
    def n_steps(self) -> int:
        return len(self.s_grid) - 1


class _Stages:
    """Evaluates Psi_h and the error estimate of one tableau on one system, counting NFE."""

    def __init__(self, system, tableau: ButcherTableau, brownian=None):
        self.system, self.tab, self.nfe, self.brownian = system, tableau, 0, brownian

    def noise(self, s: float, s_end: float):
        """(W, H) over the oriented interval [s, s_end] (None for an ODE)."""
        return None if self.brownian is None else self.brownian(s, s_end)

    def eval(self, t: float, x: torch.Tensor):
        out = self.system(t, x)
        self.nfe += 1
        return out if isinstance(out, tuple) else (out, None)

    def increment(self, s: float, h: float, x: torch.Tensor, first=None, want_error=False, noise=None):
        """(Psi_x, Psi_aux, err_x / Xi_{n+1}, err_aux, last stage) for a step of h from (s, x).
        ``noise`` = (W, H) over [s, s + h] (in Y units) for a stochastic tableau."""
        sys, tab = self.system, self.tab
        k0 = sys.xi(sys.to_t(s))
        y0 = x if k0 == 1.0 else x / k0
        fs, gs = [], []
        for i in range(tab.stages):
            if i == 0 and first is not None and noise is None:
                f, g = first
            else:
                z = y0
                for j, a in enumerate(tab.a[i]):
                    if a != 0.0:
                        z = torch.add(z, fs[j], alpha=h * a)
                if noise is not None:
                    if tab.cw[i] != 0.0:
                        z = torch.add(z, noise[0], alpha=tab.cw[i])
                    if tab.ch[i] != 0.0:
                        z = torch.add(z, noise[1], alpha=tab.ch[i])
                ti = sys.to_t(s + tab.c[i] * h)
                ki = sys.xi(ti)
                f, g = self.eval(ti, z if ki == 1.0 else ki * z)
            fs.append(f)
            gs.append(g)
        psi, psi_aux = _combine(fs, tab.b, h), _combine(gs, tab.b, h)
        if noise is not None:
            psi = torch.add(psi, noise[0], alpha=tab.bw)
            if tab.bh != 0.0:
                psi = torch.add(psi, noise[1], alpha=tab.bh)
        err = err_aux = None
        if want_error:
            err, err_aux = _combine(fs, tab.error_weights, h), _combine(gs, tab.error_weights, h)
        return psi, psi_aux, err, err_aux, (fs[-1], gs[-1])


def _combine(values, weights, h):
    if values[0] is None:
        return None
    out = None
    for v, w in zip(values, weights):
        if w != 0.0:
            out = v * (h * w) if out is None else torch.add(out, v, alpha=h * w)
    return torch.zeros_like(values[0]) if out is None else out


def _rms_ratio(err, x0, x1, rtol, atol, err_aux=None, a0=None, a1=None) -> float:
    """max over the batch of the per-sample error ratio max(RMS_x, RMS_aux) of err / (atol + rtol max(|x0|, |x1|)).

    The auxiliary state (a flow's log-density) gets its own RMS rather than joining x's: pooled
    with D coordinates its error would be diluted by sqrt(D + 1), and log q is the quantity a
    likelihood is read from (torchdiffeq's mixed norm makes the same choice)."""
    b = err.shape[0]
    worst_rows = (err / (atol + rtol * torch.maximum(x0.abs(), x1.abs()))).reshape(b, -1).square().mean(1)
    if err_aux is not None:
        ra = (err_aux / (atol + rtol * torch.maximum(a0.abs(), a1.abs()))).reshape(b, -1).square().mean(1)
        worst_rows = torch.maximum(worst_rows, ra)
    worst = float(torch.sqrt(worst_rows.max()).detach())
    return worst if math.isfinite(worst) else math.inf


def _check_state(x: torch.Tensor, name: str) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim < 1:
        raise ValueError(f"{name} must be a tensor with a leading batch dimension, got {type(x).__name__}")
    if not torch.is_floating_point(x):
        raise ValueError(f"{name} must be a floating-point tensor, got {x.dtype}")
    if not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).reshape(x.shape[0], -1).any(1).sum())
        raise ValueError(f"{name} contains NaN or inf values (in {bad} of {x.shape[0]} batch rows)")


class ExplicitSolver:
    """Shared driver: fixed grids or adaptive stepping around a per-solver ``_step``."""

    reversible = False

    def __init__(self, tableau: str | ButcherTableau = "dopri5", controller: PIDController | None = None):
        self.tableau = get_tableau(tableau)
        self.controller = controller

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.tableau.name!r})"

    def _grid(self, system, t0, t1, steps, grid):
        if grid is not None:
            ts = [float(v) for v in torch.as_tensor(grid, dtype=torch.float64).flatten()]
            if len(ts) < 2 or ts[0] != t0 or ts[-1] != t1:
                raise ValueError(f"grid must start at t0={t0} and end at t1={t1}, got {ts[:1]} ... {ts[-1:]}")
            diffs = [b - a for a, b in zip(ts, ts[1:])]
            if not (all(d > 0 for d in diffs) or all(d < 0 for d in diffs)):
                raise ValueError("grid must be strictly monotone")
        else:
            if int(steps) != steps or steps < 1:
                raise ValueError(f"steps must be a positive integer, got {steps}")
            steps = int(steps)
            ts = [t0 + (t1 - t0) * i / steps for i in range(steps)] + [t1]
        return [system.to_s(t) for t in ts]

    def solve(self, system, x0: torch.Tensor, t0: float, t1: float, *, steps: int | None = None, grid=None,
              rtol: float | None = None, atol: float | None = None, aux0: torch.Tensor | None = None,
              controller: PIDController | None = None, progress=None, brownian=None) -> Solution:
        """Integrate from t0 to t1 (either direction). Give ``steps`` (uniform in t) or ``grid``
        (times) for a fixed grid, else ``rtol``/``atol`` (or a controller) for adaptive steps.

        ``progress(done, total)`` is called after each step: steps taken of the fixed grid's
        steps, or |t - t0| of |t1 - t0| after each accepted adaptive step.

        Stochastic tableaus need ``brownian``: a :class:`VirtualBrownianTree` over the solver's
        time variable s (covering s(t0)..s(t1), shaped like x0) or an int seed to build one.
        The system must then have unit additive noise in s (e.g. :class:`FlowSDE`)."""
        _check_state(x0, "x0")
        if aux0 is not None:
            _check_state(aux0, "aux0")
            if aux0.shape[0] != x0.shape[0]:
                raise ValueError(f"aux0 has batch size {aux0.shape[0]}, x0 has {x0.shape[0]}")
        t0, t1 = float(t0), float(t1)
        if t0 == t1:
            raise ValueError(f"t0 and t1 are equal ({t0}): nothing to integrate")
        s0, s1 = system.to_s(t0), system.to_s(t1)
        stages = _Stages(system, self.tableau)
        state = self._initial_state(x0, aux0)
        if steps is not None or grid is not None:
            if rtol is not None or atol is not None or controller is not None:
                raise ValueError("give either steps/grid (fixed) or rtol/atol/controller (adaptive), not both")
            s_grid = self._grid(system, t0, t1, steps, grid)
            stages.brownian = self._brownian(brownian, x0, s_grid)
            first = None
            for n in range(len(s_grid) - 1):
                state, first, _ = self._step(stages, s_grid[n], s_grid[n + 1], state, first, want_error=False)
                if progress is not None:
                    progress(n + 1, len(s_grid) - 1)
            n_rejected = 0
        else:
            ctrl = controller or self.controller or PIDController()
            if rtol is not None or atol is not None:
                ctrl = PIDController(**{**ctrl.__dict__, "rtol": ctrl.rtol if rtol is None else rtol,
                                        "atol": ctrl.atol if atol is None else atol})
            if isinstance(self.tableau, StochasticTableau) or brownian is not None:
                raise ValueError("adaptive steps are not supported for SDEs yet; pass steps=N or grid=")
            s_grid, state, n_rejected = self._adaptive(stages, ctrl, s0, s1, state, progress)
        final = self._finish(state)
        t_grid = torch.tensor([system.to_t(s) for s in s_grid], dtype=torch.float64)
        t_grid[0], t_grid[-1] = t0, t1
        return Solution(grid=t_grid, s_grid=torch.tensor(s_grid, dtype=torch.float64), nfe=stages.nfe,
                        n_rejected=n_rejected, solver=repr(self), brownian=stages.brownian, **final)

    def _brownian(self, brownian, x0, s_grid):
        """The Brownian tree of an SDE solve; its leaves are at least 2^8 times finer than the
        smallest step (in s the steps can span many orders of magnitude)."""
        stochastic = isinstance(self.tableau, StochasticTableau)
        if not stochastic:
            if brownian is not None:
                raise ValueError(f"{self.tableau.name!r} is an ODE tableau; brownian= needs 'euler_maruyama' or 'shark'")
            return None
        if brownian is None:
            raise ValueError(f"the stochastic tableau {self.tableau.name!r} needs brownian= (a VirtualBrownianTree "
                             f"over s or an int seed)")
        from rexmol.solvers.brownian import VirtualBrownianTree

        lo, hi = min(s_grid[0], s_grid[-1]), max(s_grid[0], s_grid[-1])
        min_step = min(abs(b - a) for a, b in zip(s_grid, s_grid[1:]))
        if not isinstance(brownian, VirtualBrownianTree):
            return VirtualBrownianTree(lo, hi, x0.shape, seed=int(brownian), dtype=x0.dtype, device=x0.device,
                                       tol=min(hi - lo, min_step * 2.0**-8))
        if brownian.t0 > lo or brownian.t1 < hi or tuple(brownian.shape) != tuple(x0.shape):
            raise ValueError(f"the Brownian tree covers s in [{brownian.t0}, {brownian.t1}] with shape "
                             f"{tuple(brownian.shape)}; this solve needs [{lo}, {hi}] and shape {tuple(x0.shape)}")
        if brownian.tol > min_step / 4:
            raise ValueError(f"the Brownian tree's leaves ({brownian.tol:.3g}) are not much finer than the smallest "
                             f"step ({min_step:.3g} in s): increments inside one leaf are not jointly Brownian; "
                             f"build it with tol <= {min_step / 256:.3g}")
        return brownian

    def _adaptive(self, stages, ctrl: PIDController, s0, s1, state, progress=None):
        tab = self.tableau
        if not tab.embedded:
            raise ValueError(f"adaptive steps need an embedded tableau; {tab.name!r} has no error estimate "
                             f"(use dopri5, tsit5, bosh3, fehlberg45 or heun, or pass steps=N)")
        direction = 1.0 if s1 > s0 else -1.0
        span = abs(s1 - s0)
        first = None
        if ctrl.initial_step is not None:
            h = ctrl.initial_step
        else:
            h, first = self._initial_step(stages, ctrl, s0, s1, state)
        h = min(max(h, ctrl.min_step), ctrl.max_step, span)
        s_grid, errs, rejected, s = [s0], [], 0, s0
        while (s1 - s) * direction > 0:
            if len(s_grid) > ctrl.max_steps:
                raise RuntimeError(f"adaptive solve exceeded max_steps={ctrl.max_steps} at s={s:.6g} "
                                   f"(target {s1:.6g}); loosen rtol/atol or raise max_steps")
            s_next = s + direction * h
            if (s_next - s1) * direction >= 0 or abs(s1 - s_next) < 1e-10 * span:
                s_next = s1
            new_state, new_first, err = self._step(stages, s, s_next, state, first, want_error=True,
                                                   ctrl=ctrl)
            if err <= 1.0:
                s_grid.append(s_next)
                state, first, s = new_state, new_first, s_next
                errs.append(err)
                h = abs(s_next - s_grid[-2]) * ctrl.factor(errs, tab.error_order)
                if progress is not None:
                    t_first = stages.system.to_t(s0)
                    progress(abs(stages.system.to_t(s) - t_first), abs(stages.system.to_t(s1) - t_first))
            else:
                rejected += 1  # `first` (the stage at (s, state)) stays valid for the retry
                h = abs(s_next - s) * (ctrl.factor_min if not math.isfinite(err)
                                      else ctrl.factor([*errs, err], tab.error_order))
            if h < ctrl.min_step or h < 1e-14 * max(1.0, abs(s)):
                raise RuntimeError(f"adaptive step size fell to {h:.3g} at s={s:.6g} (min_step={ctrl.min_step}); "
                                   f"the field may be non-finite or too stiff here")
            h = min(h, ctrl.max_step)
        return s_grid, state, rejected

    def _initial_step(self, stages, ctrl, s0, s1, state):
        """Hairer-Norsett-Wanner's starting step |h|, in Y = x / Xi and time s (2 evaluations).
        Returns (|h|, first stage at (s0, x0)) so the first step reuses that evaluation."""
        sys = stages.system
        x = self._x_for_initial(state)
        t0 = sys.to_t(s0)
        k0 = sys.xi(t0)
        f0 = stages.eval(t0, x)
        y0 = x / k0
        scale = (ctrl.atol + ctrl.rtol * x.detach().abs()) / k0

        def norm(v):
            return float(torch.sqrt((v.detach() / scale).square().mean()))

        direction, span = (1.0 if s1 > s0 else -1.0), abs(s1 - s0)
        d0, d1 = norm(y0), norm(f0[0])
        h0 = min(span, 1e-6 if d0 < 1e-5 or d1 < 1e-5 else 0.01 * d0 / d1)
        t_probe = sys.to_t(s0 + direction * h0)
        k_probe = sys.xi(t_probe)
        f1 = stages.eval(t_probe, k_probe * (y0 + direction * h0 * f0[0]))
        d2 = norm(f1[0] - f0[0]) / h0
        order = self.tableau.order
        if max(d1, d2) <= 1e-15:
            h1 = max(1e-6, h0 * 1e-3)
        else:
            h1 = (0.01 / max(d1, d2)) ** (1.0 / (order + 1))
        return min(100 * h0, h1), f0

    # subclass hooks
    def _initial_state(self, x0, aux0):
        raise NotImplementedError

    def _x_for_initial(self, state):
        return state[0]

    def _step(self, stages, s, s_next, state, first, want_error, ctrl=None):
        raise NotImplementedError

    def _finish(self, state) -> dict:
        raise NotImplementedError


class Princeps(ExplicitSolver):
    """The exponential (Lawson) RK solver of a tableau; not reversible (see :class:`Rex`)."""

    def _initial_state(self, x0, aux0):
        return (x0, aux0)

    def _step(self, stages, s, s_next, state, first, want_error, ctrl=None):
        sys = stages.system
        x, aux = state
        h = s_next - s
        k0, k1 = sys.xi(sys.to_t(s)), sys.xi(sys.to_t(s_next))
        psi, psi_aux, err, err_aux, last = stages.increment(s, h, x, first, want_error, stages.noise(s, s_next))
        x_new = torch.add(x if k1 == k0 else x * (k1 / k0), psi, alpha=k1)
        aux_new = None if aux is None else aux + psi_aux
        next_first = last if self.tableau.fsal and stages.brownian is None else None
        if not want_error:
            return (x_new, aux_new), next_first, None
        e = _rms_ratio(err * k1, x, x_new, ctrl.rtol, ctrl.atol, err_aux, aux, aux_new)
        return (x_new, aux_new), next_first, e

    def _finish(self, state):
        return {"x": state[0], "aux": state[1]}

    def invert(self, *args, **kwargs):
        raise TypeError("Princeps is not algebraically reversible: use Rex(...) for an exact inverse, "
                        "or solve again from t1 to t0 (approximate)")
