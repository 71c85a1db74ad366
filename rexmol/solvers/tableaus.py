"""Explicit Runge-Kutta Butcher tableaus, as validated data.

A tableau (A, b, c) defines the s-stage explicit scheme for dy/ds = F(s, y):

    k_i     = F(s_n + c_i h, y_n + h * sum_{j<i} a_ij k_j)
    y_{n+1} = y_n + h * sum_i b_i k_i

An embedded tableau also carries error weights e = b - b_hat (they sum to 0), so
that h * sum_i e_i k_i estimates the local error of the lower-order solution
b_hat, for adaptive step-size control.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction as Fr

_TOL = 1e-12


@dataclass(frozen=True)
class ButcherTableau:
    """An explicit RK scheme. ``a[i]`` holds the i entries a_i0 ... a_i,i-1 of row i."""

    name: str
    order: float  # convergence order; for a StochasticTableau the strong order for additive noise (1.5 for ShARK)
    c: tuple[float, ...]
    a: tuple[tuple[float, ...], ...]
    b: tuple[float, ...]
    error_weights: tuple[float, ...] | None = None
    error_order: int | None = None  # order of the embedded solution b_hat
    fsal: bool = False  # the last stage is F at (s_n + h, y_{n+1})

    def __post_init__(self) -> None:
        s = len(self.c)
        if s == 0 or len(self.b) != s or len(self.a) != s:
            raise ValueError(f"tableau {self.name!r}: c, b and a must all have {s} stages")
        if self.c[0] != 0:
            raise ValueError(f"tableau {self.name!r}: explicit schemes need c_0 = 0")
        for i, row in enumerate(self.a):
            if len(row) != i:
                raise ValueError(f"tableau {self.name!r}: row {i} of a must have {i} entries (explicit)")
            # Tsit5's published coefficients are rounded to ~16 digits, so allow 1e-12.
            if abs(sum(row) - self.c[i]) > _TOL * 100:
                raise ValueError(f"tableau {self.name!r}: row {i} of a sums to {sum(row)}, c_{i} = {self.c[i]}")
        if abs(sum(self.b) - 1.0) > _TOL:
            raise ValueError(f"tableau {self.name!r}: weights b sum to {sum(self.b)}, not 1")
        if self.error_weights is not None:
            if len(self.error_weights) != s:
                raise ValueError(f"tableau {self.name!r}: error weights need {s} entries")
            if abs(sum(self.error_weights)) > _TOL * 100:
                raise ValueError(f"tableau {self.name!r}: error weights sum to {sum(self.error_weights)}, not 0")
            if self.error_order is None:
                raise ValueError(f"tableau {self.name!r}: an embedded tableau must state its error_order")
        if self.fsal and tuple(self.a[-1]) + (0.0,) != tuple(self.b):
            raise ValueError(f"tableau {self.name!r}: FSAL needs the last row of a to equal b")

    @property
    def stages(self) -> int:
        return len(self.c)

    @property
    def embedded(self) -> bool:
        return self.error_weights is not None


def _f(*xs) -> tuple[float, ...]:
    return tuple(float(x) for x in xs)


def _make(name, order, c, a, b, b_hat=None, error_order=None, fsal=False) -> ButcherTableau:
    err = None if b_hat is None else _f(*(Fr(bi) - Fr(bh) for bi, bh in zip(b, b_hat)))
    return ButcherTableau(name, order, _f(*c), tuple(_f(*row) for row in a), _f(*b), err, error_order, fsal)


TABLEAUS: dict[str, ButcherTableau] = {}


def register(tableau: ButcherTableau) -> ButcherTableau:
    """Make a tableau available by name to :func:`get_tableau` (and so to Princeps/Rex)."""
    TABLEAUS[tableau.name] = tableau
    return tableau


register(_make("euler", 1, [0], [[]], [1]))
register(_make("midpoint", 2, [0, Fr(1, 2)], [[], [Fr(1, 2)]], [0, 1]))
# Heun (trapezoid) with Euler embedded, as in diffrax.
register(_make("heun", 2, [0, 1], [[], [1]], [Fr(1, 2), Fr(1, 2)], b_hat=[1, 0], error_order=1))
register(_make("ralston", 2, [0, Fr(2, 3)], [[], [Fr(2, 3)]], [Fr(1, 4), Fr(3, 4)]))
register(_make(
    "rk4", 4, [0, Fr(1, 2), Fr(1, 2), 1],
    [[], [Fr(1, 2)], [0, Fr(1, 2)], [0, 0, 1]],
    [Fr(1, 6), Fr(1, 3), Fr(1, 3), Fr(1, 6)],
))
register(_make(
    "rk38", 4, [0, Fr(1, 3), Fr(2, 3), 1],
    [[], [Fr(1, 3)], [Fr(-1, 3), 1], [1, -1, 1]],
    [Fr(1, 8), Fr(3, 8), Fr(3, 8), Fr(1, 8)],
))
register(_make(  # Bogacki-Shampine 3(2)
    "bosh3", 3, [0, Fr(1, 2), Fr(3, 4), 1],
    [[], [Fr(1, 2)], [0, Fr(3, 4)], [Fr(2, 9), Fr(1, 3), Fr(4, 9)]],
    [Fr(2, 9), Fr(1, 3), Fr(4, 9), 0],
    b_hat=[Fr(7, 24), Fr(1, 4), Fr(1, 3), Fr(1, 8)], error_order=2, fsal=True,
))
register(_make(  # Dormand-Prince 5(4)
    "dopri5", 5, [0, Fr(1, 5), Fr(3, 10), Fr(4, 5), Fr(8, 9), 1, 1],
    [
        [],
        [Fr(1, 5)],
        [Fr(3, 40), Fr(9, 40)],
        [Fr(44, 45), Fr(-56, 15), Fr(32, 9)],
        [Fr(19372, 6561), Fr(-25360, 2187), Fr(64448, 6561), Fr(-212, 729)],
        [Fr(9017, 3168), Fr(-355, 33), Fr(46732, 5247), Fr(49, 176), Fr(-5103, 18656)],
        [Fr(35, 384), 0, Fr(500, 1113), Fr(125, 192), Fr(-2187, 6784), Fr(11, 84)],
    ],
    [Fr(35, 384), 0, Fr(500, 1113), Fr(125, 192), Fr(-2187, 6784), Fr(11, 84), 0],
    b_hat=[Fr(5179, 57600), 0, Fr(7571, 16695), Fr(393, 640), Fr(-92097, 339200), Fr(187, 2100), Fr(1, 40)],
    error_order=4, fsal=True,
))
# Runge-Kutta-Fehlberg 4(5), propagating the 5th-order solution (local extrapolation).
register(_make(
    "fehlberg45", 5, [0, Fr(1, 4), Fr(3, 8), Fr(12, 13), 1, Fr(1, 2)],
    [
        [],
        [Fr(1, 4)],
        [Fr(3, 32), Fr(9, 32)],
        [Fr(1932, 2197), Fr(-7200, 2197), Fr(7296, 2197)],
        [Fr(439, 216), -8, Fr(3680, 513), Fr(-845, 4104)],
        [Fr(-8, 27), 2, Fr(-3544, 2565), Fr(1859, 4104), Fr(-11, 40)],
    ],
    [Fr(16, 135), 0, Fr(6656, 12825), Fr(28561, 56430), Fr(-9, 50), Fr(2, 55)],
    b_hat=[Fr(25, 216), 0, Fr(1408, 2565), Fr(2197, 4104), Fr(-1, 5), 0],
    error_order=4,
))
# Tsitouras 5(4) (Tsitouras 2011); coefficients are published as decimals.
_TSIT5_B = [0.09646076681806523, 0.01, 0.4798896504144996, 1.379008574103742, -3.290069515436081, 2.324710524099774, 0.0]
register(ButcherTableau(
    "tsit5", 5,
    c=(0.0, 0.161, 0.327, 0.9, 0.9800255409045097, 1.0, 1.0),
    a=(
        (),
        (0.161,),
        (-0.008480655492356989, 0.335480655492357),
        (2.897153057105493, -6.359448489975075, 4.3622954328695815),
        (5.325864828439257, -11.748883564062828, 7.4955393428898365, -0.09249506636175525),
        (5.86145544294642, -12.92096931784711, 8.159367898576159, -0.071584973281401, -0.028269050394068383),
        tuple(_TSIT5_B[:6]),
    ),
    b=tuple(_TSIT5_B),
    error_weights=(
        0.001780011052226, 0.000816434459657, -0.007880878010262, 0.144711007173263,
        -0.582357165452555, 0.458082105929187, -1.0 / 66.0,
    ),
    error_order=4,
    fsal=True,
))


@dataclass(frozen=True)
class StochasticTableau(ButcherTableau):
    """An explicit stochastic RK scheme for additive noise, dY = F(s, Y) ds + dW_s:

        Z_i     = Y_n + h sum_{j<i} a_ij F_j + cw_i W + ch_i H,    F_i = F(s_n + c_i h, Z_i)
        Y_{n+1} = Y_n + h sum_i b_i F_i + bw W + bh H

    with W = W_{s_n, s_n + h} and H its space-time Levy area (from a Brownian tree).
    ``order`` is the strong order for additive noise: 1 for Euler-Maruyama, 1.5 for ShARK (which
    is also of order 2 as an ODE method, the noise set to zero). ``tests/test_sde.py`` measures
    both against the registry."""

    cw: tuple[float, ...] = ()
    ch: tuple[float, ...] = ()
    bw: float = 1.0
    bh: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.cw) != self.stages or len(self.ch) != self.stages:
            raise ValueError(f"tableau {self.name!r}: cw and ch need one entry per stage")

    @property
    def needs_levy_area(self) -> bool:
        return any(v != 0.0 for v in self.ch) or self.bh != 0.0


STOCHASTIC_TABLEAUS: dict[str, StochasticTableau] = {}
STOCHASTIC_TABLEAUS["euler_maruyama"] = StochasticTableau("euler_maruyama", 1, c=(0.0,), a=((),), b=(1.0,),
                                                          cw=(0.0,), ch=(0.0,), bw=1.0, bh=0.0)
# ShARK (Foster, Dos Reis & Strange 2023, eq. 6.1): strong order 1.5 for additive noise, 2 evaluations.
STOCHASTIC_TABLEAUS["shark"] = StochasticTableau("shark", 1.5, c=(0.0, 5 / 6), a=((), (5 / 6,)), b=(0.4, 0.6),
                                                 cw=(0.0, 5 / 6), ch=(1.0, 1.0), bw=1.0, bh=0.0)


def get_tableau(name: str | ButcherTableau) -> ButcherTableau:
    """Look a tableau up by name (case-insensitive); a ButcherTableau passes through.
    Stochastic ones: 'euler_maruyama', 'shark'."""
    if isinstance(name, ButcherTableau):
        return name
    key = str(name).lower()
    if key in STOCHASTIC_TABLEAUS:
        return STOCHASTIC_TABLEAUS[key]
    if key not in TABLEAUS:
        raise ValueError(f"unknown tableau {name!r}; known: {', '.join(sorted([*TABLEAUS, *STOCHASTIC_TABLEAUS]))}")
    return TABLEAUS[key]
