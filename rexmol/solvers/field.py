"""FlowField: a network's output seen as the semi-linear ODE that Princeps and Rex integrate.

On the path x_t = alpha_t D + sigma_t eps (D the data, eps the noise) the probability-flow
ODE is dx/dt = u(t, x) = alpha'_t D(t, x) + sigma'_t eps(t, x), where D and eps are the
network's estimates of E[D | x_t] and E[eps | x_t]. A network predicts one of

    velocity  v   = u                                       (flow matching)
    data      D                                             (x0-/x1-prediction)
    noise     eps                                           (epsilon-prediction)

and each is an exact affine function of (prediction, x) given the others:

    from data:      eps = (x - alpha D) / sigma
    from noise:     D   = (x - sigma eps) / alpha
    from velocity:  D   = (sigma v - sigma' x) / det,  eps = (alpha' x - alpha v) / det,
                    det = alpha' sigma - sigma' alpha.

The ODE is integrated in one of three *parameterisations* (``integrate_as``), each a
semi-linear form dx/dt = a(t) x + b(t) f(t, x) with integrating factor Xi and time s:

    integrate_as   f      Xi        s
    velocity       v      1         t          (plain RK; a = 0)
    data           D      sigma_t   gamma_t    (DDIM / DPM-Solver++ family)
    noise          eps    alpha_t   chi_t      (DPM-Solver family)

In s, Y = x / Xi obeys dY/ds = f(t(s), Xi(s) Y): no linear part. This object provides
``xi``, ``to_s``, ``to_t`` and ``__call__`` (= f) for the solvers.

Round-trip note (measured in ``benchmarks/roundtrip.py``): on the linear path the data
parameterisation's Xi = 1 - t spans orders of magnitude near t = 1, and the inverse pass
amplifies rounding by about that range; ``velocity`` has Xi = 1 and inverts to rounding.
So the default for the linear path is ``integrate_as="velocity"``; VP schedules default to
``"data"``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from rexmol.solvers.schedules import Schedule, get_schedule

PREDICTIONS = ("velocity", "data", "noise")


class FlowField:
    """Wrap ``model(t, x) -> tensor shaped like x`` predicting ``prediction`` on ``schedule``.

    ``model`` receives ``t`` as a 1-D tensor with one value per batch row (dtype and device
    of ``x``); callers of this field may pass ``t`` as a Python float, a 0-d tensor or a
    per-row tensor. All rows of a batch share one time during a solve.
    """

    def __init__(
        self,
        model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        schedule: str | Schedule = "linear",
        prediction: str = "velocity",
        integrate_as: str | None = None,
    ):
        self.model = model
        self.schedule = get_schedule(schedule)
        if prediction not in PREDICTIONS:
            raise ValueError(f"prediction must be one of {PREDICTIONS}, got {prediction!r}")
        self.prediction = prediction
        if integrate_as is None:
            integrate_as = "velocity" if self.schedule.name == "linear" else "data"
        if integrate_as not in PREDICTIONS:
            raise ValueError(f"integrate_as must be one of {PREDICTIONS}, got {integrate_as!r}")
        self.integrate_as = integrate_as

    def __repr__(self) -> str:
        return (f"FlowField(schedule={self.schedule!r}, prediction={self.prediction!r}, "
                f"integrate_as={self.integrate_as!r})")

    # ---- exact conversions between parameterisations -------------------------------------
    def coefficients(self, t: float, target: str, source: str | None = None) -> tuple[float, float]:
        """(p, q) with target = p * m + q * x, where m is the ``source`` prediction (default:
        the model's). Exact closed forms in float64."""
        source = source or self.prediction
        sch = self.schedule
        al, si, dal, dsi = sch.alpha(t), sch.sigma(t), sch.d_alpha(t), sch.d_sigma(t)
        # (D, eps) as affine maps of (m, x): each a pair (p, q).
        if source == "data":
            data, noise = (1.0, 0.0), _div((-al, 1.0), si, "sigma", t)
        elif source == "noise":
            data, noise = _div((-si, 1.0), al, "alpha", t), (1.0, 0.0)
        elif source == "velocity":
            det = dal * si - dsi * al
            data, noise = _div((si, -dsi), det, "alpha' sigma - sigma' alpha", t), _div((-al, dal), det, "det", t)
        else:
            raise ValueError(f"unknown prediction {source!r}")
        if target == "data":
            return data
        if target == "noise":
            return noise
        if target == "velocity":
            return (dal * data[0] + dsi * noise[0], dal * data[1] + dsi * noise[1])
        raise ValueError(f"unknown prediction {target!r}")

    def predict(self, t, x: torch.Tensor, target: str | None = None) -> torch.Tensor:
        """The model's prediction at (t, x) converted exactly to ``target`` (default: its own)."""
        t_float, t_rows = self._time(t, x)
        m = self.model(t_rows, x)
        if m.shape != x.shape:
            raise ValueError(f"model returned shape {tuple(m.shape)} for input {tuple(x.shape)}")
        if target is None or target == self.prediction:
            return m
        p, q = self.coefficients(t_float, target)
        return p * m + q * x

    def velocity(self, t, x: torch.Tensor) -> torch.Tensor:
        """u(t, x) = dx/dt of the probability-flow ODE."""
        return self.predict(t, x, "velocity")

    # ---- the semi-linear ODE protocol used by the solvers --------------------------------
    def xi(self, t: float) -> float:
        """Integrating factor Xi(t) of ``integrate_as``."""
        if self.integrate_as == "velocity":
            return 1.0
        return self.schedule.sigma(t) if self.integrate_as == "data" else self.schedule.alpha(t)

    def to_s(self, t: float) -> float:
        """The solver's time variable s(t): t, gamma(t) or chi(t)."""
        t = self.schedule.check_time(t)
        if self.integrate_as == "velocity":
            return t
        s = self.schedule.gamma(t) if self.integrate_as == "data" else self.schedule.chi(t)
        if not math.isfinite(s):
            raise ValueError(
                f"t = {t} is singular for integrate_as={self.integrate_as!r} on the {self.schedule.name} schedule "
                f"(the time variable is infinite); stop short of it, e.g. t = {t} -/+ 1e-3"
            )
        return s

    def to_t(self, s: float) -> float:
        if self.integrate_as == "velocity":
            return s
        return self.schedule.t_from_gamma(s) if self.integrate_as == "data" else self.schedule.t_from_chi(s)

    def ds_dt(self, t: float) -> float:
        """ds/dt in closed form: 1, gamma'(t) or chi'(t)."""
        if self.integrate_as == "velocity":
            return 1.0
        return self.schedule.d_gamma(t) if self.integrate_as == "data" else self.schedule.d_chi(t)

    def __call__(self, t: float, x: torch.Tensor) -> torch.Tensor:
        """f(t, x) of the semi-linear form: the prediction of kind ``integrate_as``."""
        return self.predict(t, x, self.integrate_as)

    def _time(self, t, x: torch.Tensor) -> tuple[float, torch.Tensor]:
        """(shared time as a float, one time per row as a tensor)."""
        if isinstance(t, torch.Tensor):
            if t.ndim == 0:
                t = float(t)
            else:
                if t.shape != (x.shape[0],):
                    raise ValueError(f"t must be a scalar or have shape ({x.shape[0]},), got {tuple(t.shape)}")
                if not bool((t == t[0]).all()):
                    raise ValueError("all rows of a batch must share one time")
                return float(t[0]), t.to(dtype=x.dtype, device=x.device)
        t = float(t)
        return t, torch.full((x.shape[0],), t, dtype=x.dtype, device=x.device)


def _div(pq: tuple[float, float], d: float, name: str, t: float) -> tuple[float, float]:
    if d == 0.0:
        raise ValueError(f"conversion divides by {name} = 0 at t = {t}: this prediction is singular there")
    return (pq[0] / d, pq[1] / d)
