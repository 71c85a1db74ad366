"""A virtual Brownian tree: replayable Brownian increments W and space-time Levy areas H.

For a Brownian motion W on [t0, t1] (independent in every element of ``shape``) and an
interval [s, t] with h = t - s, the tree returns

    W_{s,t} = W_t - W_s,      H_{s,t} = (1/h) int_s^t (W_u - W_s - (u - s)/h W_{s,t}) du,

with W_{s,t} ~ N(0, h), H_{s,t} ~ N(0, h/12) independent. Nothing is stored per query: a point
value is found by bisecting [t0, t1] from the root, each node's pair (W, H) over its interval
drawn from its exact conditional law given the parent's pair, with normal draws from a
generator seeded by a hash of (seed, depth, index) (counter-based: no global generator state,
any query order gives the same bits). Memory per query is O(depth).

The conditional law of a split. For [a, b] of length h cut at r into lengths p = r - a and
q = b - r, with (W_1, H_1) on the left and (W_2, H_2) on the right,

    W = W_1 + W_2,     h H = (q W_1 - p W_2) / 2 + p H_1 + q H_2,

and the four are independent a priori (variances p, p/12, q, q/12). Given (W, H) they are
drawn exactly by Gaussian conditioning ("kriging"): draw them unconditionally, then add
K (y - A x) with the gain K = D A^T (A D A^T)^{-1}, A D A^T = diag(h, h/12).

Points: W(tau) and the running integral I(tau) = int_{t0}^{tau} W_u du are accumulated down
the tree; at a leaf (length <= ``tol``) the leaf is split at tau itself. Intervals follow:
W_{s,t} = W(t) - W(s) and H_{s,t} = (I(t) - I(s)) / h - (W(s) + W(t)) / 2.

Tolerance: every single interval's (W, H) has the exact law, and points at different leaves
are jointly exact. Two points inside the *same* leaf are each exact given the leaf but not
jointly Brownian; keep ``tol`` (default (t1 - t0) 2^-16) far below any step size.

Sign convention for a reversed interval (s > t): W_{s,t} = -W_{t,s} and H_{s,t} = +H_{t,s}
(the formula above with h = t - s < 0 gives the same area).

Draws are made in float64 on the CPU and then cast and moved, so the same seed gives the same
path in every dtype and on every device. The nodes of the last descents are cached, at most
2 (depth + 2) nodes of 4 float64 tensors (``memory_bound_bytes``): a solver's consecutive steps
share all but the lowest levels of their paths, so each step redraws only those. The cache
changes no value, only the cost.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch

_MASK64 = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def _split(w: torch.Tensor, hh: torch.Tensor, p: float, q: float, normals: torch.Tensor):
    """Exact conditional draw of (W_1, H_1, W_2, H_2) given (W, H) over an interval of length
    p + q cut after p. ``normals`` holds 4 standard normal draws per element."""
    h = p + q
    w1 = math.sqrt(p) * normals[0]
    h1 = math.sqrt(p / 12) * normals[1]
    w2 = math.sqrt(q) * normals[2]
    h2 = math.sqrt(q / 12) * normals[3]
    dw = w - (w1 + w2)
    dh = hh - ((q * w1 - p * w2) / (2 * h) + (p * h1 + q * h2) / h)
    g = 6 * p * q / (h * h)
    return (w1 + (p / h) * dw + g * dh, h1 + (p * p / (h * h)) * dh,
            w2 + (q / h) * dw - g * dh, h2 + (q * q / (h * h)) * dh)


class VirtualBrownianTree:
    """Brownian increments and space-time Levy areas on [t0, t1] from one seed.

    ``tree(s, t)`` returns (W_{s,t}, H_{s,t}) with ``shape``, ``dtype`` and ``device``;
    ``tree.increment(s, t)`` only W. A few recent point values are cached (bounded).
    """

    def __init__(self, t0: float, t1: float, shape, seed: int = 0, dtype=torch.float32, device=None,
                 tol: float | None = None, cache_size: int = 8):
        t0, t1 = float(t0), float(t1)
        if not t1 > t0:
            raise ValueError(f"need t0 < t1, got [{t0}, {t1}]")
        self.t0, self.t1 = t0, t1
        self.shape = torch.Size(shape if isinstance(shape, (tuple, list, torch.Size)) else (shape,))
        self.seed, self.dtype, self.device = int(seed), dtype, device
        length = t1 - t0
        tol = length * 2.0**-16 if tol is None else float(tol)
        if not 0 < tol <= length:
            raise ValueError(f"tol must lie in (0, t1 - t0], got {tol}")
        self.depth = max(0, math.ceil(math.log2(length / tol)))
        self.tol = length / 2**self.depth
        self._cache: OrderedDict[float, tuple[torch.Tensor, torch.Tensor]] = OrderedDict()
        self._cache_size = int(cache_size)
        # Nodes of the most recent descents: consecutive solver steps share all but the lowest
        # levels of their paths. Bounded (a few paths' worth), so memory stays O(depth).
        self._nodes: OrderedDict[tuple[int, int], tuple] = OrderedDict()
        self._node_cache_size = 2 * (self.depth + 2) if cache_size else 0
        root = self._normals(0, 0, 2)
        self._root_w = math.sqrt(length) * root[0]
        self._root_h = math.sqrt(length / 12) * root[1]

    def __repr__(self):
        return (f"VirtualBrownianTree([{self.t0}, {self.t1}], shape={tuple(self.shape)}, seed={self.seed}, "
                f"tol={self.tol:.3g})")

    def _normals(self, depth: int, index: int, k: int = 4) -> torch.Tensor:
        key = _splitmix64(_splitmix64(_splitmix64(self.seed) ^ depth) ^ index) & ((1 << 63) - 1)
        gen = torch.Generator().manual_seed(key)
        return torch.randn((k, *self.shape), generator=gen, dtype=torch.float64)

    def _point(self, tau: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(W(tau) - W(t0), int_{t0}^{tau} W_u du) in float64."""
        if tau in self._cache:
            self._cache.move_to_end(tau)
            return self._cache[tau]
        zero = torch.zeros(self.shape, dtype=torch.float64)
        length = self.t1 - self.t0
        if tau == self.t0:
            out = (zero, zero)
        elif tau == self.t1:
            out = (self._root_w, length * (self._root_w / 2 + self._root_h))
        else:
            w_a, i_a = zero, zero  # W and I at the node's left end
            w, hh = self._root_w, self._root_h
            a, h, index = self.t0, length, 0
            for depth in range(1, self.depth + 1):
                half = h / 2
                right = tau >= a + half
                key = (depth, 2 * index + int(right))
                node = self._nodes.get(key)
                if node is None:
                    w1, h1, w2, h2 = _split(w, hh, half, half, self._normals(depth, index))
                    i_mid = i_a + half * (w_a + w1 / 2 + h1)
                    left_node, right_node = (w1, h1, w_a, i_a), (w2, h2, w_a + w1, i_mid)
                    if self._node_cache_size:
                        self._remember((depth, 2 * index), left_node)
                        self._remember((depth, 2 * index + 1), right_node)
                    node = right_node if right else left_node
                else:
                    self._nodes.move_to_end(key)
                w, hh, w_a, i_a = node
                index = key[1]
                if right:
                    a = a + half
                h = half
            p = tau - a
            if p > 0:  # split the leaf at tau itself
                w1, h1, _, _ = _split(w, hh, p, h - p, self._normals(self.depth + 1, index))
                i_a = i_a + p * (w_a + w1 / 2 + h1)
                w_a = w_a + w1
            out = (w_a, i_a)
        self._cache[tau] = out
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return out

    @property
    def memory_bound_bytes(self) -> int:
        """Most bytes the caches can hold: points (2 tensors each) and nodes (4 each), float64."""
        return (2 * self._cache_size + 4 * self._node_cache_size) * self.shape.numel() * 8

    def _remember(self, key, node) -> None:
        self._nodes[key] = node
        if len(self._nodes) > self._node_cache_size:
            self._nodes.popitem(last=False)

    def _check(self, s: float, t: float) -> tuple[float, float]:
        s, t = float(s), float(t)
        for name, v in (("s", s), ("t", t)):
            if not self.t0 <= v <= self.t1:
                raise ValueError(f"{name} = {v} is outside the tree's interval [{self.t0}, {self.t1}]")
        if s == t:
            raise ValueError(f"empty interval [{s}, {t}]")
        return s, t

    def _out(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(dtype=self.dtype, device=self.device)

    def __call__(self, s: float, t: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(W_{s,t}, H_{s,t}); for s > t, W flips sign and H does not."""
        s, t = self._check(s, t)
        (ws, is_), (wt, it) = self._point(s), self._point(t)
        h = t - s
        return self._out(wt - ws), self._out((it - is_) / h - (ws + wt) / 2)

    def increment(self, s: float, t: float) -> torch.Tensor:
        s, t = self._check(s, t)
        return self._out(self._point(t)[0] - self._point(s)[0])
