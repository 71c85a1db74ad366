"""The non-reversible comparison point: torchdiffeq's adaptive dopri5 on the same flow.

:class:`TorchdiffeqFlow` integrates exactly the augmented system of a :class:`ContinuousFlow`
(dx/dt = u(t, x), dl/dt = div u with the same exact divergence) with
``torchdiffeq.odeint(method="dopri5")`` in the plain time t, so a benchmark compares solvers,
not fields. torchdiffeq is an optional dependency (the ``test`` extra).
"""

from __future__ import annotations

import torch

from rexmol.flows.continuous import ContinuousFlow


class TorchdiffeqFlow:
    """``sample``/``log_prob`` of ``flow`` computed by torchdiffeq's dopri5 (velocity form)."""

    def __init__(self, flow: ContinuousFlow, method: str = "dopri5"):
        try:
            import torchdiffeq  # noqa: F401
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError("the torchdiffeq baseline needs `pip install torchdiffeq` (rexmol[test])") from err
        self.flow, self.method = flow, method
        self.nfe = 0

    def _rhs(self, like: torch.Tensor):
        system = self.flow.system(like)

        def rhs(t: torch.Tensor, state):
            self.nfe += 1
            return system.velocity(float(t), state[0])

        return rhs

    def _odeint(self, x, t0, t1, rtol, atol):
        from torchdiffeq import odeint

        ts = torch.tensor([t0, t1], dtype=x.dtype)
        l0 = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        xs, ls = odeint(self._rhs(x), (x, l0), ts, method=self.method, rtol=rtol, atol=atol)
        return xs[-1], ls[-1]

    @torch.no_grad()
    def sample(self, n: int, *, rtol: float = 1e-5, atol: float = 1e-5, generator=None, dtype=None):
        """(x, log q(x)) drawn noise -> data; ``self.nfe`` counts field evaluations."""
        flow = self.flow
        z = flow.prior.sample(n, generator=generator, dtype=dtype)
        x, l = self._odeint(z, flow.t0, flow.t1, rtol, atol)
        return x, flow.prior.log_prob(z) - l

    @torch.no_grad()
    def log_prob(self, x: torch.Tensor, *, rtol: float = 1e-5, atol: float = 1e-5) -> torch.Tensor:
        flow = self.flow
        flow.prior.check(x)
        z, l = self._odeint(flow.prior.project(x), flow.t1, flow.t0, rtol, atol)
        return flow.prior.log_prob(flow.prior.project(z)) + l
