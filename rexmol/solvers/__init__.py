"""Reversible exponential Runge-Kutta solvers for semi-linear ODEs (no molecules here).

``Princeps`` is the exponential (Lawson) explicit RK step of any Butcher tableau;
``Rex`` wraps it in the McCallum-Foster coupling to make it algebraically reversible.
``FlowField`` presents a network's prediction on a noise schedule as the semi-linear
ODE they integrate.
"""

from rexmol.solvers.field import PREDICTIONS, FlowField
from rexmol.solvers.princeps import PIDController, Princeps, Solution
from rexmol.solvers.rex import InversionWarning, Rex
from rexmol.solvers.schedules import SCHEDULES, LinearFlow, Schedule, VPCosine, VPLinear, get_schedule
from rexmol.solvers.tableaus import TABLEAUS, ButcherTableau, get_tableau, register

__all__ = [
    "PREDICTIONS", "FlowField", "PIDController", "Princeps", "Solution", "InversionWarning", "Rex",
    "SCHEDULES", "LinearFlow", "Schedule", "VPCosine", "VPLinear", "get_schedule",
    "TABLEAUS", "ButcherTableau", "get_tableau", "register",
]
