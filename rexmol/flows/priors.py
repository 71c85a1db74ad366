"""Base distributions p_0 of continuous flows.

:class:`StandardNormal` is N(0, I) on R^d. :class:`MeanFreeNormal` is the isotropic
Gaussian restricted to the centre-of-mass-free subspace of n particles in k dimensions,
{x in R^{n x k} : sum_i x_i = 0}, which has dimension (n - 1) k. Its density with respect to
Lebesgue measure on that subspace is

    log p_0(x) = -|x|^2 / 2 - (n - 1) k / 2 * log(2 pi),

and it is sampled by centring a standard normal (the orthogonal projection of N(0, I) onto
the subspace is exactly N(0, I) on it). ``project`` is that orthogonal projection P; flows
use it so that the field, its divergence and the density all live on the same subspace.

:class:`HarmonicPrior` is a Gaussian on the same subspace whose precision is a graph Laplacian:
for a connected graph with Laplacian L (n x n, L 1 = 0) and stiffness alpha,

    log p_0(x) = -(alpha / 2) tr(x^T L x) - (n - 1) k / 2 * log(2 pi) + (k / 2) sum_{i>0} log(alpha lambda_i),

lambda_i the n - 1 non-zero eigenvalues of L. On a bond graph each bond vector of a tree is an
independent N(0, I_k / alpha): noise that already looks like a chain of bonds (the harmonic prior
of EigenFold, Jing et al. 2023). tr(x^T L x) = sum over bonds |x_i - x_j|^2, so the density is
invariant under rotations and translations, like the isotropic one.
"""

from __future__ import annotations

import math

import torch


class StandardNormal:
    """N(0, I) with event shape ``shape`` (an int d or a tuple)."""

    def __init__(self, *shape: int):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        if not shape or any(int(s) < 1 for s in shape):
            raise ValueError(f"event shape must be positive integers, got {shape}")
        self.event_shape = tuple(int(s) for s in shape)
        self.dim = math.prod(self.event_shape)

    def __repr__(self):
        return f"{type(self).__name__}{self.event_shape}"

    def project(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def sample(self, n: int, generator: torch.Generator | None = None, dtype=None, device=None) -> torch.Tensor:
        """n draws; always generated in float64 on the CPU and then cast, so that one seed gives
        the same noise in every dtype and on every device."""
        z = torch.randn(int(n), *self.event_shape, generator=generator, dtype=torch.float64)
        return self.project(z).to(dtype=dtype or torch.get_default_dtype(), device=device)

    def tangent_basis(self, dtype=None, device=None) -> torch.Tensor:
        """An orthonormal basis of the space the density lives on, shaped (dim, *event_shape)."""
        eye = torch.eye(self.dim, dtype=dtype or torch.get_default_dtype(), device=device)
        return eye.reshape(self.dim, *self.event_shape)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Log density per batch row, in nats."""
        self.check(x)
        x = self.project(x)
        return -0.5 * x.reshape(x.shape[0], -1).square().sum(1) - 0.5 * self.dim * math.log(2 * math.pi)

    def check(self, x: torch.Tensor, name: str = "x") -> None:
        """Raise ValueError unless x is a finite batch with this event shape."""
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if tuple(x.shape[1:]) != self.event_shape or x.ndim != len(self.event_shape) + 1:
            raise ValueError(f"{name} has shape {tuple(x.shape)}; expected (batch, {', '.join(map(str, self.event_shape))})")
        if not bool(torch.isfinite(x).all()):
            raise ValueError(f"{name} contains NaN or inf values")


class MeanFreeNormal(StandardNormal):
    """Isotropic Gaussian on the centre-of-mass-free subspace of ``n_particles`` x ``n_dims``."""

    def __init__(self, n_particles: int, n_dims: int = 3, tolerance: float = 1e-4):
        if n_particles < 2:
            raise ValueError(f"a mean-free distribution needs at least 2 particles, got {n_particles}")
        super().__init__(n_particles, n_dims)
        self.dim = (n_particles - 1) * n_dims
        self.tolerance = tolerance

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """P x = x minus its centroid over particles (axis -2)."""
        return x - x.mean(dim=-2, keepdim=True)

    def sample_like(self, like: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One draw per row of ``like``, in its dtype, moved to its device (training noise: no float64
        detour, so not seed-identical across dtypes the way :meth:`sample` is). Drawn on the CPU, as a
        CPU ``generator`` (validation's fixed noise) cannot draw on a GPU."""
        return self.project(torch.randn(like.shape, generator=generator, dtype=like.dtype)).to(like.device)

    def tangent_basis(self, dtype=None, device=None) -> torch.Tensor:
        """Orthonormal basis of the centre-of-mass-free subspace, shaped ((n - 1) k, n, k):
        the Helmert vectors h_j = (1, ..., 1, -j, 0, ..., 0) / sqrt(j (j + 1)), j = 1 .. n - 1
        (each orthogonal to the all-ones vector and to each other), times each axis e_a."""
        n, k = self.event_shape
        helmert = torch.zeros(n - 1, n, dtype=torch.float64)
        for j in range(1, n):
            helmert[j - 1, :j] = 1.0
            helmert[j - 1, j] = -float(j)
            helmert[j - 1] /= math.sqrt(j * (j + 1))
        basis = torch.einsum("jn,ab->janb", helmert, torch.eye(k, dtype=torch.float64)).reshape(self.dim, n, k)
        return basis.to(dtype=dtype or torch.get_default_dtype(), device=device)

    def check(self, x: torch.Tensor, name: str = "x") -> None:
        super().check(x, name)
        centroid = x.mean(dim=-2).abs().max()
        scale = max(1.0, float(x.abs().max()))
        if float(centroid) > self.tolerance * scale:
            raise ValueError(f"{name} is not mean-free (largest centroid coordinate {float(centroid):.3g}); "
                             f"subtract each configuration's centroid first")


class HarmonicPrior(MeanFreeNormal):
    """Gaussian on the centre-of-mass-free subspace with precision ``alpha`` L, L the Laplacian of
    the graph ``edges`` (pairs of particle indices; must connect every particle)."""

    def __init__(self, n_particles: int, edges, alpha: float, n_dims: int = 3, tolerance: float = 1e-4):
        super().__init__(n_particles, n_dims, tolerance)
        if not (math.isfinite(alpha) and alpha > 0):
            raise ValueError(f"alpha must be a positive number, got {alpha}")
        lap = torch.zeros(n_particles, n_particles, dtype=torch.float64)
        for i, j in edges:
            if not (0 <= i < n_particles and 0 <= j < n_particles) or i == j:
                raise ValueError(f"edge ({i}, {j}) is not a pair of distinct particles 0..{n_particles - 1}")
            lap[i, j] -= 1.0
            lap[j, i] -= 1.0
            lap[i, i] += 1.0
            lap[j, j] += 1.0
        eigvals, eigvecs = torch.linalg.eigh(lap)
        if float(eigvals[1]) < 1e-9:  # a second zero eigenvalue: more than one connected component
            raise ValueError("the graph is not connected: the harmonic prior would be improper")
        self.alpha, self.laplacian = float(alpha), lap
        self.edges = [(int(i), int(j)) for i, j in edges]
        self._modes = eigvecs[:, 1:]  # (n, n - 1): orthonormal, orthogonal to the all-ones vector
        self._std = (self.alpha * eigvals[1:]).rsqrt()
        self._log_norm = 0.5 * n_dims * float(torch.log(self.alpha * eigvals[1:]).sum()) \
            - 0.5 * self.dim * math.log(2 * math.pi)

    def __repr__(self):
        return f"HarmonicPrior({self.event_shape[0]} particles, {len(self.edges)} edges, alpha={self.alpha:g})"

    def sample(self, n: int, generator: torch.Generator | None = None, dtype=None, device=None) -> torch.Tensor:
        """x = U diag(1 / sqrt(alpha lambda)) eps per axis, eps ~ N(0, I); float64 on the CPU, then cast."""
        k = self.event_shape[1]
        eps = torch.randn(int(n), self._modes.shape[1], k, generator=generator, dtype=torch.float64)
        x = torch.einsum("nm,bmk->bnk", self._modes, self._std[:, None] * eps)
        return self.project(x).to(dtype=dtype or torch.get_default_dtype(), device=device)

    def sample_like(self, like: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        eps = torch.randn(like.shape[0], self._modes.shape[1], like.shape[-1], generator=generator, dtype=like.dtype)
        modes, std = self._modes.to(like.dtype), self._std.to(like.dtype)
        return torch.einsum("nm,bmk->bnk", modes, std[:, None] * eps).to(like.device)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        self.check(x)
        x = self.project(x)
        lap = self.laplacian.to(dtype=x.dtype, device=x.device)
        quad = torch.einsum("bik,ij,bjk->b", x, lap, x)
        return -0.5 * self.alpha * quad + self._log_norm


class ScaledPrior:
    """The base distribution ``base`` scaled by ``scale`` (z = scale * z_base): a *tempered latent*.

    For a Gaussian base with covariance S this is the Gaussian with covariance scale^2 S, and on
    the base's d-dimensional subspace

        log p_s(z) = log p_base(z / scale) - d log(scale).

    Sampling a flow from it at scale < 1 draws a colder proposal, at scale > 1 a hotter one (the
    latent-temperature sampling of Noé, Olsson, Köhler and Wu, "Boltzmann generators", Science
    2019: scale = sqrt(T' / T) for a latent at temperature T'; dimensionless, in the flow's own
    coordinates). The density stays exact, so the importance weights w = p / q are exact for what
    is drawn and self-normalised estimates stay consistent; the proposal is a different
    distribution from the one the flow was trained to push forward (a colder Gaussian latent has
    lighter tails, so the weights' tail can grow), and its likelihoods are that proposal's. Draws use the base's noise stream
    scaled, so draw i of a seed is the same base noise at every scale (paired comparisons).
    """

    def __init__(self, base, scale: float):
        scale = float(scale)
        if not (math.isfinite(scale) and scale > 0):
            raise ValueError(f"prior scale must be a positive finite number, got {scale}")
        self.base, self.scale = base, scale
        self.event_shape, self.dim = base.event_shape, base.dim
        self._log_scale = math.log(scale)

    def __repr__(self):
        return f"ScaledPrior({self.base!r}, scale={self.scale:g})"

    def project(self, x: torch.Tensor) -> torch.Tensor:
        return self.base.project(x)

    def check(self, x: torch.Tensor, name: str = "x") -> None:
        self.base.check(x, name)

    def tangent_basis(self, dtype=None, device=None) -> torch.Tensor:
        return self.base.tangent_basis(dtype=dtype, device=device)

    def sample(self, n: int, generator: torch.Generator | None = None, dtype=None, device=None) -> torch.Tensor:
        z = self.base.sample(n, generator=generator, dtype=torch.float64)
        return (self.scale * z).to(dtype=dtype or torch.get_default_dtype(), device=device)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        # checked here, on x itself: the base's own check of x / scale would judge a centroid that
        # the division has inflated (its tolerance is relative to max(1, max |x|))
        self.check(x)
        return self.base.log_prob(self.base.project(x) / self.scale) - self.dim * self._log_scale
