"""Divergence div_x g(x) = tr(dg/dx) of a batched function, exactly or by Hutchinson's estimator.

``g`` maps a batch (B, *event) to (B, *event) with rows independent of each other (no
batch-norm-like mixing), so the trace of each row's D x D Jacobian (D = prod(event)) can be
computed with batched derivative products. Exact methods, all returning identical traces
up to rounding:

- ``"loop"``: one forward pass with a graph, then D reverse-mode passes (``autograd.grad``),
  one per coordinate, as in bgflow and flow_matching. Memory: one graph.
- ``"vjp"``: reverse mode, one forward and the D cotangents in chunks through
  ``torch.func.vmap`` of the vector-Jacobian product (``jacrev`` of a batch).
- ``"jvp"``: forward mode, tangents in chunks through ``vmap`` of ``torch.func.jvp``
  (``jacfwd``); needs every op of ``g`` to have a forward-mode rule.
- ``"fold"``: forward mode with the tangents folded into the batch: ``jvp`` of g on x
  repeated ``chunk`` times, so every matrix product is one large GEMM.

``chunk`` bounds memory: at most ``chunk`` Jacobian-vector products live at once.
``benchmarks/divergence.py`` measures all of them; :data:`DEFAULT_METHOD` is the fastest
measured on CPU for a transformer-sized field.

Hutchinson: tr(J) = E[v^T J v] for probes with E[v v^T] = I (Rademacher here), an unbiased
*estimator*, not exact; the probes must stay fixed over a solve (pass them in) so that the
integrated log-density is a deterministic, reversible function.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.func import jvp, vjp, vmap

Fn = Callable[[torch.Tensor], torch.Tensor]
EXACT_METHODS = ("loop", "vjp", "jvp", "fold")
DEFAULT_METHOD = "loop"


def _one_hot_tangents(x: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """Tangents e_i for i in [start, stop), shaped (stop - start, B, *event)."""
    b, d = x.shape[0], x[0].numel()
    idx = torch.arange(start, stop, device=x.device)
    eye = torch.zeros(stop - start, d, dtype=x.dtype, device=x.device)
    eye[torch.arange(stop - start), idx] = 1.0
    return eye[:, None, :].expand(stop - start, b, d).reshape(stop - start, *x.shape)


def _diag_part(products: torch.Tensor, start: int) -> torch.Tensor:
    """sum_i products[i, :, start + i] for products shaped (k, B, D): the trace's share."""
    k, b = products.shape[0], products.shape[1]
    flat = products.reshape(k, b, -1)
    idx = torch.arange(start, start + k, device=flat.device)
    return flat[torch.arange(k), :, idx].sum(0)


def divergence(fn: Fn, x: torch.Tensor, method: str = DEFAULT_METHOD, chunk: int | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """(fn(x), exact div_x fn(x) per batch row), computed with ``method`` (see module doc)."""
    if method not in EXACT_METHODS:
        raise ValueError(f"unknown divergence method {method!r}; exact methods: {EXACT_METHODS} "
                         f"(Hutchinson's estimator is hutchinson_divergence)")
    b = x.shape[0]
    d = x[0].numel()
    chunk = d if chunk is None else max(1, min(int(chunk), d))
    x = x.detach()
    with torch.enable_grad():
        if method == "loop":
            xg = x.requires_grad_(True)
            out = fn(xg)
            flat = out.reshape(b, d)
            div = torch.zeros(b, dtype=x.dtype, device=x.device)
            for i in range(d):
                (g,) = torch.autograd.grad(flat[:, i].sum(), xg, retain_graph=i < d - 1)
                div = div + g.reshape(b, d)[:, i]
            return out.detach(), div
        if method == "vjp":
            out, pullback = vjp(fn, x)
            div = torch.zeros(b, dtype=x.dtype, device=x.device)
            for start in range(0, d, chunk):
                stop = min(start + chunk, d)
                (rows,) = vmap(pullback)(_one_hot_tangents(x, start, stop))
                div = div + _diag_part(rows, start)
            return out.detach(), div
        if method == "jvp":
            div = torch.zeros(b, dtype=x.dtype, device=x.device)
            out = None
            for start in range(0, d, chunk):
                stop = min(start + chunk, d)
                outs, cols = vmap(lambda v: jvp(fn, (x,), (v,)))(_one_hot_tangents(x, start, stop))
                out = outs[0] if out is None else out
                div = div + _diag_part(cols, start)
            return out.detach(), div
        # fold: tangents folded into the batch dimension.
        div = torch.zeros(b, dtype=x.dtype, device=x.device)
        out = fn(x)
        for start in range(0, d, chunk):
            stop = min(start + chunk, d)
            k = stop - start
            tangents = _one_hot_tangents(x, start, stop).reshape(k * b, *x.shape[1:])
            _, cols = jvp(fn, (x.repeat(k, *([1] * (x.ndim - 1))),), (tangents,))
            div = div + _diag_part(cols.reshape(k, *x.shape), start)
        return out.detach(), div


def rademacher_probes(x: torch.Tensor, n_probes: int = 1, seed: int = 0) -> torch.Tensor:
    """Seeded Rademacher probes shaped (n_probes, *x.shape), drawn on the CPU for reproducibility."""
    gen = torch.Generator().manual_seed(int(seed))
    v = torch.randint(0, 2, (n_probes, *x.shape), generator=gen, dtype=torch.int8).to(x.dtype) * 2 - 1
    return v.to(x.device)


def hutchinson_divergence(fn: Fn, x: torch.Tensor, probes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(fn(x), Hutchinson *estimate* of div fn(x)): mean over probes v of v^T (dfn/dx) v,
    using one vector-Jacobian product per probe."""
    b = x.shape[0]
    with torch.enable_grad():
        out, pullback = vjp(fn, x.detach())
        (vjps,) = vmap(pullback)(probes)
    est = (vjps * probes).reshape(probes.shape[0], b, -1).sum(-1).mean(0)
    return out.detach(), est


def brute_force_trace(fn: Fn, x: torch.Tensor) -> torch.Tensor:
    """Reference: the full Jacobian of each row with torch.autograd.functional.jacobian."""
    traces = []
    for row in x.detach():
        jac = torch.autograd.functional.jacobian(lambda r: fn(r[None])[0], row)
        d = row.numel()
        traces.append(jac.reshape(d, d).diagonal().sum())
    return torch.stack(traces)
