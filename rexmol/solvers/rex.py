"""Rex: the McCallum-Foster coupling around Princeps, an algebraically reversible solver.

Carry x and a coupled copy x_hat (x_hat_0 = x_0), coupling zeta in (0, 1], k = Xi. One step
from s_n to s_{n+1} (h = s_{n+1} - s_n):

    x_{n+1}     = (k_{n+1}/k_n) (zeta x_n + (1 - zeta) x_hat_n) + k_{n+1} Psi_h(s_n, x_hat_n)
    x_hat_{n+1} = (k_{n+1}/k_n) x_hat_n - k_{n+1} Psi_{-h}(s_{n+1}, x_{n+1})

and its inverse, in closed form, x_hat first:

    x_hat_n = (x_hat_{n+1} + k_{n+1} Psi_{-h}(s_{n+1}, x_{n+1})) k_n / k_{n+1}
    x_n     = ((x_{n+1} - k_{n+1} Psi_h(s_n, x_hat_n)) k_n / k_{n+1} - (1 - zeta) x_hat_n) / zeta

Auxiliary states (no linear part, k = 1) are coupled the same way. The inverse replays the
recorded grid ``Solution.s_grid`` exactly; no controller runs backwards. Each step costs two
Psi evaluations (2 x stages function evaluations; first-same-as-last cannot be reused
because Psi_h starts from x_hat, not from x).

Conditioning (measured in ``benchmarks/roundtrip.py``): the inverse divides by zeta, so
rounding errors grow roughly like zeta^-N over N steps, and by the range of k over the
grid. zeta = 0.999 inverts to rounding; zeta = 0.5 over 50 steps loses every digit;
small zeta damps the forward pass (more stable sampling) but cannot be inverted over many
steps. :meth:`Rex.invert` warns or refuses when the predicted amplification is too large.

Adaptive steps and zeta: the controller sees the embedded error of Psi_h(x_hat_n) only, not the
coupling defect x - x_hat. With zeta ~ 1 that defect is barely damped, and on a stiff field
it grows unseen. Measured on the shipped tri-alanine model at rtol = atol = 1e-3
(``benchmarks/solver_accuracy.py``): the defect is 0.63 at zeta = 0.999, 0.08 at 0.5 and 0.002
at 0.001. Conformers are 1e-2, 1.3e-3 and 1.0e-3 nm from a float64 reference, against
1.7e-3 nm for Princeps. Loose-tolerance sampling wants zeta <= 0.5; zeta = 0.999 wants a
tighter tolerance or fixed steps.
"""

from __future__ import annotations

import math
import warnings

import torch

from rexmol.solvers.princeps import ExplicitSolver, PIDController, Solution, _check_state, _rms_ratio, _Stages
from rexmol.solvers.tableaus import ButcherTableau


class InversionWarning(UserWarning):
    """The requested inverse is predicted to lose many digits to rounding."""


class Rex(ExplicitSolver):
    """Reversible exponential RK solver around any explicit tableau, e.g. ``Rex("dopri5")``."""

    reversible = True

    def __init__(self, tableau: str | ButcherTableau = "dopri5", coupling: float = 0.999,
                 controller: PIDController | None = None):
        super().__init__(tableau, controller)
        coupling = float(coupling)
        if not 0.0 < coupling <= 1.0 or math.isnan(coupling):
            raise ValueError(f"coupling zeta must lie in (0, 1], got {coupling}")
        self.coupling = coupling

    def __repr__(self) -> str:
        return f"Rex({self.tableau.name!r}, coupling={self.coupling})"

    def _initial_state(self, x0, aux0):
        return (x0, x0, aux0, aux0)

    def _step(self, stages, s, s_next, state, first, want_error, ctrl=None):
        sys, zeta = stages.system, self.coupling
        x, xh, a, ah = state
        h = s_next - s
        k0, k1 = sys.xi(sys.to_t(s)), sys.xi(sys.to_t(s_next))
        r = k1 / k0
        psi, psi_a, err, err_a, _ = stages.increment(s, h, xh, first, want_error, stages.noise(s, s_next))
        x_new = torch.add(r * (zeta * x + (1.0 - zeta) * xh), psi, alpha=k1)
        a_new = None if a is None else zeta * a + (1.0 - zeta) * ah + psi_a
        back, back_a, _, _, _ = stages.increment(s_next, -h, x_new, noise=stages.noise(s_next, s))
        xh_new = torch.add(r * xh, back, alpha=-k1)
        ah_new = None if ah is None else ah - back_a
        new_state = (x_new, xh_new, a_new, ah_new)
        if not want_error:
            return new_state, None, None
        e = _rms_ratio(err * k1, x, x_new, ctrl.rtol, ctrl.atol, err_a, a, a_new)
        return new_state, None, e

    def _finish(self, state):
        x, xh, a, ah = state
        return {"x": x, "x_hat": xh, "aux": a, "aux_hat": ah}

    # ---- the inverse -------------------------------------------------------------------
    def predicted_amplification(self, system, s_grid) -> float:
        """Factor by which the inverse amplifies rounding: zeta^-N (max k / min k)^2.

        An empirical law, checked in ``benchmarks/roundtrip.py``: over zeta in [0.001, 0.999],
        N in [5, 100], data and velocity parameterisations and t1 up to 0.999, the measured
        round-trip error lies within ~1x-30x of unit roundoff times this factor."""
        ks = [abs(system.xi(system.to_t(float(s)))) for s in s_grid]
        n = len(s_grid) - 1
        log_amp = -n * math.log(self.coupling) + 2.0 * math.log(max(ks) / min(ks))
        return math.exp(min(log_amp, 700.0))

    def invert(self, system, sol: Solution, *, allow_unstable: bool = False, progress=None) -> Solution:
        """Reconstruct the start of a Rex solve from its end state (x, x_hat, aux, aux_hat),
        replaying ``sol.s_grid`` backwards. Returns a Solution whose ``x`` (and ``aux``) are
        the reconstructed initial values and whose grid runs t1 ... t0.

        Raises ValueError when the predicted relative rounding error (unit roundoff x
        :meth:`predicted_amplification`) exceeds 1 unless ``allow_unstable``; warns
        (:class:`InversionWarning`) above 1e-3.
        """
        if sol.x_hat is None:
            raise ValueError("this Solution has no x_hat: only a Rex solve can be inverted")
        _check_state(sol.x, "sol.x")
        _check_state(sol.x_hat, "sol.x_hat")
        s_grid = [float(v) for v in sol.s_grid]
        eps = torch.finfo(sol.x.dtype).eps
        predicted = eps * self.predicted_amplification(system, s_grid)
        if predicted > 1.0 and not allow_unstable:
            raise ValueError(
                f"inverting {self!r} over {len(s_grid) - 1} steps in {sol.x.dtype} is predicted to lose every digit "
                f"(rounding amplified to ~{predicted:.1e} relative); use coupling closer to 1, fewer steps or "
                f"float64, or pass allow_unstable=True"
            )
        if predicted > 1e-3:
            warnings.warn(f"inverting {self!r} over {len(s_grid) - 1} steps in {sol.x.dtype}: predicted relative "
                          f"rounding error ~{predicted:.1e}", InversionWarning, stacklevel=2)
        stages = _Stages(system, self.tableau, sol.brownian)
        zeta = self.coupling
        x, xh, a, ah = sol.x, sol.x_hat, sol.aux, sol.aux_hat
        n_steps = len(s_grid) - 1
        for n in range(n_steps - 1, -1, -1):
            s, s_next = s_grid[n], s_grid[n + 1]
            h = s_next - s
            k0, k1 = system.xi(system.to_t(s)), system.xi(system.to_t(s_next))
            r = k1 / k0
            back, back_a, _, _, _ = stages.increment(s_next, -h, x, noise=stages.noise(s_next, s))
            xh = torch.add(xh, back, alpha=k1) / r
            ah = None if ah is None else ah + back_a
            psi, psi_a, _, _, _ = stages.increment(s, h, xh, noise=stages.noise(s, s_next))
            x = (torch.add(x, psi, alpha=-k1) / r - (1.0 - zeta) * xh) / zeta
            a = None if a is None else (a - psi_a - (1.0 - zeta) * ah) / zeta
            if progress is not None:
                progress(n_steps - n, n_steps)
        grid = torch.flip(sol.grid, (0,))
        return Solution(x=x, x_hat=xh, aux=a, aux_hat=ah, grid=grid, s_grid=torch.flip(sol.s_grid, (0,)),
                        nfe=stages.nfe, solver=repr(self) + ".invert", stats={"predicted_rel_error": predicted},
                        brownian=sol.brownian)
