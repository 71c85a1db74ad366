"""The exact log-density of a *discrete* sampler: the Jacobian of the map a solver computes.

On a fixed grid, an explicit solver (any tableau, Princeps, or Rex at any zeta) computes a
smooth map Phi: z -> x_N. The samples it returns have, exactly, the density

    log q(x_N) = log p_0(z) - log |det dPhi/dz|,

on the space the prior lives on (for a mean-free prior: the centre-of-mass-free subspace,
det of the (dim x dim) matrix Q^T (dPhi/dz) Q with Q an orthonormal basis of it). Unlike the
divergence integral of the continuous flow, which a coarse grid only approximates, this
density belongs to the samples, so importance weights built on it are exact whatever the
grid: a coarse grid costs sample quality, never weight correctness.

How the Jacobian is carried. Every step of an explicit RK method (and of Rex's coupling, and
of the exponential integrating factor) is a linear combination of states and of field
evaluations at stage points. Integrating the pair (x, V), V = dx/dz, with the system

    (x, V) -> (f(t, x), J_f(t, x) V)

through the *same* solver therefore applies the chain rule to every operation of the
discrete map: V_N is dPhi/dz exactly (up to rounding), not an approximation of the
continuous flow's Jacobian. :class:`TangentSystem` is that system; the state packs x and the
``dim`` tangent columns into one tensor (batch, 1 + dim, *event), so the solvers need no
change. J_f V costs about ``dim`` derivative passes per evaluation (by default the rows of J_f
by reverse mode, then one matrix product), the same order as the exact trace of the divergence.

On an adaptive grid the step sizes depend on x (and on the batch-mates), so the grid itself
is a function of z, and a Jacobian with the grid held fixed is not the Jacobian of the map:
the Jacobian density is refused there (solve on a fixed ``steps=`` or ``grid=``).
"""

from __future__ import annotations

import torch
from torch.func import jvp, vmap

TANGENT_METHODS = ("reverse", "vmap", "fold")
DEFAULT_TANGENT_METHOD = "reverse"


class TangentSystem:
    """``system`` (a semi-linear field: ``xi``, ``to_s``, ``to_t``, ``__call__``) acting on the packed
    state (batch, 1 + k, *event): row 0 of each sample is x, rows 1..k are tangent vectors V.
    Returns (f(t, x), J_f(t, x) V) packed the same way. Rows (samples) must not interact in
    ``system``, as for :func:`rexmol.flows.divergence.divergence`.

    ``method`` (all give the same J_f V up to rounding):

    - ``"reverse"`` (default): the whole Jacobian J_f (d x d per row, d = prod(event)) by reverse
      mode, one forward pass with a graph and d backward passes of the batch (the divergence's
      ``"loop"``), then J_f V as a batched matrix product. On the shipped DiT (d = 99, k = 96) a
      draw costs 0.47x the CPU of ``"vmap"`` on one thread (``benchmarks/tangent_methods.py``, a
      chunk of 32 draws): on a CPU, autograd's backward through the transformer is cheaper per
      vector than batched forward mode. Works inside ``torch.inference_mode``.
    - ``"vmap"``: ``torch.func.vmap`` over ``jvp``, the primal once and the k tangents batched.
    - ``"fold"``: the tangents folded into the batch, one large forward-mode pass.

    ``chunk`` bounds the number of tangents pushed at once in forward mode (memory). ``rows`` is
    how many samples go through one pass. Default: all of them for ``"reverse"``; for forward mode
    about 384 / k, at least 1, because a forward-mode pass of all rows at once is slower on a CPU
    once rows x tangents outgrows the caches (``benchmarks/jacobian_rows.py`` on the shipped DiT,
    k = 96, a chunk of 32 draws, idle 2-core machine: 3.47 s per draw in one pass against 1.74 s in
    passes of 4 rows on one thread, 1.74 s against 0.99 s on two; the same log q to the last bit)."""

    #: forward mode: rows x tangents per pass above which a CPU pass slows down (see the class docstring)
    TARGET_PASS = 384

    def __init__(self, system, method: str = DEFAULT_TANGENT_METHOD, chunk: int | None = None,
                 rows: int | None = None):
        if method not in TANGENT_METHODS:
            raise ValueError(f"unknown tangent method {method!r}; choose one of {TANGENT_METHODS}")
        if rows is not None and (int(rows) != rows or rows < 1):
            raise ValueError(f"rows must be a positive integer, got {rows}")
        self.system, self.method, self.chunk, self.rows = system, method, chunk, rows
        self.xi, self.to_s, self.to_t = system.xi, system.to_s, system.to_t

    def __call__(self, t: float, state: torch.Tensor) -> torch.Tensor:
        rows = self.rows
        if rows is None:
            rows = state.shape[0] if self.method == "reverse" else max(1, self.TARGET_PASS // max(1, state.shape[1] - 1))
        if state.shape[0] <= rows:
            return self._pass(t, state)
        return torch.cat([self._pass(t, state[i:i + rows]) for i in range(0, state.shape[0], rows)])

    def _reverse_pass(self, t: float, state: torch.Tensor) -> torch.Tensor:
        x, v = state[:, 0], state[:, 1:]
        b, k, d = x.shape[0], v.shape[1], x[0].numel()
        # inference_mode (Lightning's validation and predict loops) would make enable_grad a no-op
        # and J_f silently zero: step out of it, and copy x out of any inference tensor
        with torch.inference_mode(False), torch.enable_grad():
            xg = x.detach().clone().requires_grad_(True)
            f = self.system(t, xg)
            flat = f.reshape(b, d)
            jac = torch.zeros(b, d, d, dtype=f.dtype, device=f.device)
            for i in range(d if f.requires_grad else 0):  # a field that ignores x has J_f = 0
                # row i of every sample's J_f at once: rows do not interact, so their sum separates
                (grad,) = torch.autograd.grad(flat[:, i].sum(), xg, retain_graph=i < d - 1, allow_unused=True)
                if grad is not None:
                    jac[:, i] = grad.reshape(b, d)
        jv = torch.bmm(v.reshape(b, k, d), jac.transpose(1, 2))  # row j: (J_f v_j)^T
        return torch.cat([f.detach()[:, None], jv.reshape(v.shape)], dim=1)

    def _pass(self, t: float, state: torch.Tensor) -> torch.Tensor:
        if self.method == "reverse":
            return self._reverse_pass(t, state)
        x, v = state[:, 0], state[:, 1:]
        k = v.shape[1]
        chunk = k if self.chunk is None else max(1, min(int(self.chunk), k))

        def fn(y):
            return self.system(t, y)

        f, cols = None, []
        for start in range(0, k, chunk):
            vs = v[:, start:start + chunk]
            if self.method == "vmap":
                out, jv = vmap(lambda tangent: jvp(fn, (x,), (tangent,)), in_dims=1)(vs)
                jv = jv.transpose(0, 1)
                f = out[0] if f is None else f
            else:
                xs = x[:, None].expand_as(vs).reshape(-1, *x.shape[1:])
                out, jv = jvp(fn, (xs,), (vs.reshape(-1, *x.shape[1:]),))
                jv = jv.reshape(vs.shape)
                f = out.reshape(vs.shape)[:, 0] if f is None else f
            cols.append(jv)
        return torch.cat([f[:, None], *cols], dim=1)


def pack(x: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """The initial packed state: x (batch, *event) with tangents V_0 = basis (k, *event) per sample."""
    return torch.cat([x[:, None], basis[None].expand(x.shape[0], *basis.shape).to(x.dtype)], dim=1)


def log_abs_det(state: torch.Tensor, basis: torch.Tensor, max_condition: float = 1e6):
    """From a final packed state: (x_N, log|det Q^T V_N|, ok, condition).

    The determinant is taken in float64: sign and log|det| from ``slogdet``, the condition number
    from the singular values. ``ok`` is False where the map reverses orientation there (det <= 0:
    the discrete map is not one-to-one, see below), where the tangents are not finite, or where it
    is ill-conditioned (s_max / s_min > ``max_condition``: float32 tangents then resolve the smallest
    singular value only to about eps * condition).

    A draw with det > 0 is not proof that the map is one-to-one: where some draws fold, the density
    at a point is a sum over all its preimages, and the formula undercounts it. So folded draws are
    not only dropped (weight 0) but counted, and a run with any is not exactly reweighted."""
    x, v = state[:, 0], state[:, 1:]
    b, k = v.shape[0], v.shape[1]
    q = basis.reshape(k, -1).to(torch.float64)
    m = torch.einsum("id,bjd->bij", q, v.reshape(b, k, -1).to(torch.float64))
    finite = torch.isfinite(m).reshape(b, -1).all(1)
    m = torch.where(finite[:, None, None], m, torch.eye(k, dtype=m.dtype, device=m.device))
    sign, logdet = torch.linalg.slogdet(m)
    sv = torch.linalg.svdvals(m)
    condition = torch.where(finite, sv[:, 0] / sv[:, -1], torch.inf)
    ok = finite & (sign > 0) & torch.isfinite(logdet) & (condition <= max_condition)
    return x, torch.where(finite, logdet, torch.nan), ok, condition
