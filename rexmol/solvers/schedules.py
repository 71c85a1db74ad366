"""Noise schedules x_t = alpha_t * x_data + sigma_t * eps, with closed-form time variables.

Every schedule gives alpha(t), sigma(t), their time derivatives, and the exponential
time variables of the semi-linear ODE (see ``shared/design/rex-solvers.md``):

    gamma(t) = alpha_t / sigma_t     (data prediction; the signal-to-noise ratio's square root)
    chi(t)   = sigma_t / alpha_t     (noise prediction)

with exact closed-form inverses t(gamma), t(chi). All arithmetic is on Python floats
(float64): these are per-step scalars shared by the whole batch, and the inverse pass of
Rex must reproduce them bit for bit.

Time conventions:
- :class:`LinearFlow`: flow matching, noise at t = 0, data at t = 1 (alpha = t, sigma = 1 - t).
- :class:`VPLinear`, :class:`VPCosine`: variance-preserving diffusion, data at t = 0 and
  (nearly) pure noise at t = 1, alpha^2 + sigma^2 = 1.
"""

from __future__ import annotations

import math


class Schedule:
    """Base class. Subclasses define alpha, sigma, their derivatives and t_from_gamma."""

    name: str = "schedule"
    t_min: float = 0.0
    t_max: float = 1.0
    t_noise: float  # the end of the time range that is (nearly) pure noise
    t_data: float  # the end that is data

    def alpha(self, t: float) -> float:
        raise NotImplementedError

    def sigma(self, t: float) -> float:
        raise NotImplementedError

    def d_alpha(self, t: float) -> float:
        raise NotImplementedError

    def d_sigma(self, t: float) -> float:
        raise NotImplementedError

    def gamma(self, t: float) -> float:
        """gamma = alpha/sigma; +inf where sigma = 0."""
        s = self.sigma(t)
        return math.inf if s == 0.0 else self.alpha(t) / s

    def t_from_gamma(self, gamma: float) -> float:
        raise NotImplementedError

    def chi(self, t: float) -> float:
        """chi = sigma/alpha; +inf where alpha = 0."""
        a = self.alpha(t)
        return math.inf if a == 0.0 else self.sigma(t) / a

    def t_from_chi(self, chi: float) -> float:
        return self.t_from_gamma(math.inf if chi == 0.0 else 1.0 / chi)

    def d_gamma(self, t: float) -> float:
        """d gamma / dt = (alpha' sigma - alpha sigma') / sigma^2."""
        return (self.d_alpha(t) * self.sigma(t) - self.alpha(t) * self.d_sigma(t)) / self.sigma(t) ** 2

    def d_chi(self, t: float) -> float:
        """d chi / dt = (sigma' alpha - sigma alpha') / alpha^2."""
        return (self.d_sigma(t) * self.alpha(t) - self.sigma(t) * self.d_alpha(t)) / self.alpha(t) ** 2

    def check_time(self, t: float, what: str = "t") -> float:
        t = float(t)
        if not (self.t_min <= t <= self.t_max) or math.isnan(t):
            raise ValueError(f"{what} = {t} is outside the {self.name} schedule's range [{self.t_min}, {self.t_max}]")
        return t

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class LinearFlow(Schedule):
    """Linear flow-matching path: alpha_t = t, sigma_t = 1 - t (noise at 0, data at 1).

    gamma = t / (1 - t), t = gamma / (1 + gamma); chi = (1 - t) / t, t = 1 / (1 + chi).
    """

    name = "linear"
    t_noise, t_data = 0.0, 1.0

    def alpha(self, t):
        return t

    def sigma(self, t):
        return 1.0 - t

    def d_alpha(self, t):
        return 1.0

    def d_sigma(self, t):
        return -1.0

    def t_from_gamma(self, gamma):
        return 1.0 if math.isinf(gamma) else gamma / (1.0 + gamma)

    def t_from_chi(self, chi):
        return 0.0 if math.isinf(chi) else 1.0 / (1.0 + chi)


class _VP(Schedule):
    """Variance preserving: sigma = sqrt(1 - alpha^2), so gamma^2 = alpha^2 / (1 - alpha^2)."""

    t_noise, t_data = 1.0, 0.0

    def log_alpha(self, t: float) -> float:
        raise NotImplementedError

    def t_from_log_alpha(self, log_alpha: float) -> float:
        raise NotImplementedError

    def alpha(self, t):
        return math.exp(self.log_alpha(t))

    def sigma(self, t):
        return math.sqrt(-math.expm1(2.0 * self.log_alpha(t)))

    def d_sigma(self, t):
        # sigma^2 = 1 - alpha^2  =>  sigma' = -alpha alpha' / sigma
        return -self.alpha(t) * self.d_alpha(t) / self.sigma(t)

    def t_from_gamma(self, gamma):
        if gamma == 0.0:
            return self.t_max
        if math.isinf(gamma):
            return self.t_min
        # alpha^2 = gamma^2 / (1 + gamma^2)  =>  log alpha = -0.5 log(1 + gamma^-2)
        return self.t_from_log_alpha(-0.5 * math.log1p(gamma ** -2))


class VPLinear(_VP):
    """VP-SDE with linear beta(t) = beta_min + t (beta_max - beta_min) (Song et al. 2021).

    log alpha_t = -(beta_min t + (beta_max - beta_min) t^2 / 2) / 2, and t(log alpha) is the
    positive root of that quadratic, in the cancellation-free form
    t = -2 log alpha / (beta_min/2 + sqrt(beta_min^2/4 - (beta_max - beta_min) log alpha)).
    """

    name = "vp_linear"

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0):
        if not 0 < beta_min < beta_max:
            raise ValueError(f"need 0 < beta_min < beta_max, got {beta_min}, {beta_max}")
        self.beta_min, self.beta_max = float(beta_min), float(beta_max)

    def log_alpha(self, t):
        return -0.5 * (self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t * t)

    def d_alpha(self, t):
        return -0.5 * (self.beta_min + (self.beta_max - self.beta_min) * t) * self.alpha(t)

    def t_from_log_alpha(self, log_alpha):
        half_b = 0.5 * self.beta_min
        return -2.0 * log_alpha / (half_b + math.sqrt(half_b * half_b - (self.beta_max - self.beta_min) * log_alpha))

    def __repr__(self):
        return f"VPLinear(beta_min={self.beta_min}, beta_max={self.beta_max})"


class VPCosine(_VP):
    """Cosine schedule (Nichol & Dhariwal 2021): alpha_t = cos(u(t)) / cos(u(0)),
    u(t) = (t + s)/(1 + s) * pi/2, with offset s (default 0.008).

    Inverse: t = (1 + s) * (2/pi) * arccos(alpha_t cos u(0)) - s. At t = 1, alpha = 0 (pure
    noise), where chi and the noise-prediction weights are singular.
    """

    name = "vp_cosine"

    def __init__(self, s: float = 0.008):
        if s < 0:
            raise ValueError(f"cosine schedule offset must be >= 0, got {s}")
        self.s = float(s)
        self._cos0 = math.cos(self.s / (1.0 + self.s) * math.pi / 2)

    def _u(self, t):
        return (t + self.s) / (1.0 + self.s) * math.pi / 2

    def alpha(self, t):
        return max(math.cos(self._u(t)), 0.0) / self._cos0

    def log_alpha(self, t):
        a = self.alpha(t)
        return -math.inf if a == 0.0 else math.log(a)

    def sigma(self, t):
        return math.sqrt(max(1.0 - self.alpha(t) ** 2, 0.0))

    def d_alpha(self, t):
        return -math.sin(self._u(t)) * (math.pi / 2) / (1.0 + self.s) / self._cos0

    def t_from_log_alpha(self, log_alpha):
        return (1.0 + self.s) * (2.0 / math.pi) * math.acos(math.exp(log_alpha) * self._cos0) - self.s

    def __repr__(self):
        return f"VPCosine(s={self.s})"


SCHEDULES = {"linear": LinearFlow, "vp_linear": VPLinear, "vp_cosine": VPCosine}


def get_schedule(schedule: str | Schedule) -> Schedule:
    """A schedule instance from its name ('linear', 'vp_linear', 'vp_cosine') or itself."""
    if isinstance(schedule, Schedule):
        return schedule
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; known: {', '.join(SCHEDULES)}")
    return SCHEDULES[schedule]()


GRIDS = ("uniform", "quadratic", "logsnr")


def time_grid(schedule: Schedule | str, kind: str, steps: int, t0: float, t1: float) -> list[float]:
    """A fixed grid of ``steps`` steps from t0 to t1 (either direction), as a list of times.

    - ``"uniform"``: equal steps in t.
    - ``"quadratic"``: t_i = t_n + (t_d - t_n) (1 - (1 - u_i)^2), u uniform, with t_n, t_d the
      grid's noise and data ends: steps shrink linearly towards the data end (the last is
      1/steps^2 of the span, against 1/steps for the uniform grid).
    - ``"logsnr"``: equal steps in the log signal-to-noise ratio lambda = 2 log(alpha/sigma)
      (DPM-Solver's choice), which concentrates steps near both ends. An end where lambda is
      infinite (pure noise or clean data) is clipped to -lambda of the other end, and the
      grid's first and last times are set to t0 and t1 exactly.
    """
    sch = get_schedule(schedule)
    if kind not in GRIDS:
        raise ValueError(f"unknown grid {kind!r}; choose one of {GRIDS}")
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps}")
    steps, t0, t1 = int(steps), float(t0), float(t1)
    if t0 == t1:
        raise ValueError(f"t0 and t1 are equal ({t0})")
    u = [i / steps for i in range(steps + 1)]
    toward_data = abs(t1 - sch.t_data) < abs(t0 - sch.t_data)
    t_noise_end, t_data_end = (t0, t1) if toward_data else (t1, t0)
    # built from the noise end to the data end, then reversed if need be: a grid and its reverse
    # are then the same points, bit for bit
    if kind == "uniform":
        ts = [t_noise_end + (t_data_end - t_noise_end) * v for v in u]
    elif kind == "quadratic":
        ts = [t_noise_end + (t_data_end - t_noise_end) * (1.0 - (1.0 - v) ** 2) for v in u]
    else:
        def lam(t):
            g = sch.gamma(t)
            return -math.inf if g == 0.0 else math.inf if math.isinf(g) else 2.0 * math.log(g)

        lo, hi = lam(t_noise_end), lam(t_data_end)
        if math.isinf(lo) and math.isinf(hi):
            raise ValueError("a log-SNR grid needs at least one end with finite signal-to-noise ratio")
        lo, hi = (-hi if math.isinf(lo) else lo), (-lo if math.isinf(hi) else hi)
        ts = [sch.t_from_gamma(math.exp(0.5 * (lo + (hi - lo) * v))) for v in u]
    ts = ts if toward_data else ts[::-1]
    ts[0], ts[-1] = t0, t1
    diffs = [b - a for a, b in zip(ts, ts[1:])]
    if not (all(d > 0 for d in diffs) or all(d < 0 for d in diffs)):
        raise ValueError(f"the {kind} grid of {steps} steps from {t0} to {t1} is not strictly monotone "
                         f"(clipped log-SNR range too small for these ends?)")
    return ts
