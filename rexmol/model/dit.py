"""A Diffusion Transformer (DiT) vector field over atoms (Peebles & Xie 2023, adapted to molecules).

Each atom is a token. Its embedding is the sum of learnt embeddings of its identity (the
atom's index in the fixed topology order), its residue and its element, plus a linear map of
its mean-free Cartesian coordinates, taken as given: the DiT has no coordinate scale of its own.
The caller owns the scale y = coord_scale * x_nm (the training module's ``coord_scale``, recorded
in the model file and applied by :class:`rexmol.boltzmann.generator.BoltzmannGenerator`). The time t enters
through adaLN-Zero: every block's LayerNorms are modulated by shift/scale/gate vectors
regressed from a sinusoidal embedding of t, and the gates start at zero so each block starts
as the identity. Attention is written out (softmax(Q K^T / sqrt(d)) V) rather than calling the
fused kernel, so the model has forward-mode derivatives and works under ``torch.func``
transforms (the exact divergence's fast paths). The per-atom 3-D output is projected to be
mean-free, so the field never moves the centre of mass.

With ``bonds`` (the topology's bond graph) each token also sees its covalent neighbourhood: for
each of up to ``max_degree`` bonded neighbours j of atom i (in index order), the displacement
d_ij = x_j - x_i and its length |d_ij|, through a linear map that starts at zero (so a model
warm-started from one without them starts as the same function). The bonds fluctuate by ~0.003 nm
around ~0.1 nm: from absolute coordinates the attention has to form these differences to better
than a percent. The hypothesis this option tests: a small DiT does that poorly, and the draws' bond
excess (``benchmarks/energy_terms.py``, made near the data end, ``benchmarks/partial_flow.py``)
comes from it. Measured on the 1 fs model (README, "The levers, measured"): with the features the
bond excess did not move, so the hypothesis does not hold there. The features are taken in the
canonical frame like the coordinates, so the equivariance below is unchanged.

``model(t, x)``: t has shape (batch,) (one time per row), x shape (batch, n_atoms, 3).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from rexmol.geometry import centre


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Sinusoidal features [cos(t w_k), sin(t w_k)], w_k = max_period^(-k / (dim/2)); t scaled by 1000."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=t.dtype, device=t.device) / half)
    args = 1000.0 * t[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale[:, None]) + shift[:, None]


def bond_slots(bonds, n_atoms: int, max_degree: int) -> torch.Tensor:
    """(n_atoms, max_degree) long: row i lists the atoms bonded to i in index order, then i itself
    in the empty slots (so x_j - x_i is exactly 0 there)."""
    neighbours: list[list[int]] = [[] for _ in range(n_atoms)]
    for i, j in {tuple(sorted(b)) for b in bonds}:  # a bond listed twice (or as (j, i)) is one bond
        if not (0 <= i < n_atoms and 0 <= j < n_atoms) or i == j:
            raise ValueError(f"bond ({i}, {j}) is not a pair of two distinct atoms of {n_atoms}")
        neighbours[i].append(j)
        neighbours[j].append(i)
    slots = torch.arange(n_atoms)[:, None].repeat(1, max_degree)
    for i, js in enumerate(neighbours):
        if len(js) > max_degree:
            raise ValueError(f"atom {i} has {len(js)} bonds, more than max_degree {max_degree}")
        slots[i, :len(js)] = torch.tensor(sorted(js), dtype=torch.long)
    return slots


class Attention(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} must be divisible by heads {heads}")
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        b, n, w = h.shape
        q, k, v = self.qkv(h).reshape(b, n, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        att = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(w // self.heads), dim=-1)
        return self.proj((att @ v).transpose(1, 2).reshape(b, n, w))


class DiTBlock(nn.Module):
    """Pre-norm transformer block with adaLN-Zero conditioning."""

    def __init__(self, width: int, heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(width, heads)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, width))
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(width, 6 * width))
        nn.init.zeros_(self.ada[-1].weight)
        nn.init.zeros_(self.ada[-1].bias)

    def forward(self, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift1, scale1, gate1, shift2, scale2, gate2 = self.ada(c).chunk(6, dim=-1)
        h = h + gate1[:, None] * self.attn(modulate(self.norm1(h), shift1, scale1))
        return h + gate2[:, None] * self.mlp(modulate(self.norm2(h), shift2, scale2))


class DiT(nn.Module):
    """Atoms-as-tokens DiT velocity field (see module docstring)."""

    def __init__(self, atom_ids, residue_ids, element_ids, width: int = 128, depth: int = 4, heads: int = 4,
                 mlp_ratio: float = 4.0, frame_atoms: tuple[int, int, int] | None = None,
                 bonds: list[tuple[int, int]] | None = None, max_degree: int = 4):
        super().__init__()
        self.frame_atoms = None if frame_atoms is None else tuple(int(i) for i in frame_atoms)
        if self.frame_atoms is not None and (len(set(self.frame_atoms)) != 3 or len(self.frame_atoms) != 3):
            raise ValueError(f"frame_atoms must be three distinct atom indices, got {frame_atoms}")
        atom_ids, residue_ids, element_ids = (torch.as_tensor(v, dtype=torch.long)
                                              for v in (atom_ids, residue_ids, element_ids))
        if not (atom_ids.shape == residue_ids.shape == element_ids.shape) or atom_ids.ndim != 1:
            raise ValueError("atom_ids, residue_ids and element_ids must be 1-D of equal length (one per atom)")
        self.n_atoms = int(atom_ids.shape[0])
        self.register_buffer("atom_ids", atom_ids, persistent=False)
        self.register_buffer("residue_ids", residue_ids, persistent=False)
        self.register_buffer("element_ids", element_ids, persistent=False)
        self.atom_emb = nn.Embedding(int(atom_ids.max()) + 1, width)
        self.residue_emb = nn.Embedding(int(residue_ids.max()) + 1, width)
        self.element_emb = nn.Embedding(int(element_ids.max()) + 1, width)
        self.coord_in = nn.Linear(3, width)
        self.bond_in = None
        if bonds is not None:
            self.register_buffer("bond_slots", bond_slots(bonds, self.n_atoms, max_degree), persistent=False)
            self.bond_in = nn.Linear(4 * max_degree, width)
            nn.init.zeros_(self.bond_in.weight)
            nn.init.zeros_(self.bond_in.bias)
        self.time_mlp = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.blocks = nn.ModuleList(DiTBlock(width, heads, mlp_ratio) for _ in range(depth))
        self.norm_out = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.ada_out = nn.Sequential(nn.SiLU(), nn.Linear(width, 2 * width))
        self.out = nn.Linear(width, 3)
        for layer in (self.ada_out[-1], self.out):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.width = width

    def canonical_frame(self, x: torch.Tensor) -> torch.Tensor:
        """Proper rotations R (batch, 3, 3), columns e1 e2 e3, built from atoms (a, b, c) =
        ``frame_atoms``: e1 along x_c - x_a, e2 along the part of x_b - (x_a + x_c)/2 normal to
        e1, e3 = e1 x e2. For a rotation Q, R(x Q^T) = Q R(x), so coordinates x R are invariant
        and mirror images stay mirror images (chirality is visible to the network)."""
        a, b, c = self.frame_atoms
        e1 = x[:, c] - x[:, a]
        e1 = e1 / e1.norm(dim=-1, keepdim=True)
        v = x[:, b] - 0.5 * (x[:, a] + x[:, c])
        e2 = v - (v * e1).sum(-1, keepdim=True) * e1
        e2 = e2 / e2.norm(dim=-1, keepdim=True)
        return torch.stack([e1, e2, torch.cross(e1, e2, dim=-1)], dim=-1)

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Velocity v(t, x), shape of x, mean-free. With ``frame_atoms`` the network runs in the
        canonical frame and its output is rotated back: v(t, x Q^T) = v(t, x) Q^T exactly."""
        if x.ndim != 3 or x.shape[1:] != (self.n_atoms, 3):
            raise ValueError(f"expected x of shape (batch, {self.n_atoms}, 3), got {tuple(x.shape)}")
        t = t.expand(x.shape[0]) if t.ndim == 0 else t
        x = centre(x)
        if self.frame_atoms is None:
            return self._network(t, x)
        frame = self.canonical_frame(x)
        return self._network(t, x @ frame) @ frame.transpose(1, 2)

    def _network(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        tokens = self.atom_emb(self.atom_ids) + self.residue_emb(self.residue_ids) + self.element_emb(self.element_ids)
        h = self.coord_in(x) + tokens
        if self.bond_in is not None:
            d = x[:, self.bond_slots] - x[:, :, None]  # (batch, atoms, max_degree, 3); an empty slot is 0
            # the epsilon keeps the length's derivative finite at an empty slot (d = 0, with zero tangent)
            r = torch.sqrt(d.square().sum(-1, keepdim=True) + 1e-12)
            h = h + self.bond_in(torch.cat([d, r], dim=-1).flatten(2))
        c = self.time_mlp(timestep_embedding(t, self.width).to(x.dtype))
        for block in self.blocks:
            h = block(h, c)
        shift, scale = self.ada_out(c).chunk(2, dim=-1)
        v = self.out(modulate(self.norm_out(h), shift, scale))
        return centre(v)
