"""Base distributions: the harmonic prior on a bond graph against independent routes."""

import math

import pytest
import torch

from rexmol.flows import HarmonicPrior, MeanFreeNormal

# a small branched tree (a "methyl" on a chain) and one cycle-free molecule-like graph
EDGES = [(0, 1), (1, 2), (2, 3), (1, 4), (4, 5), (4, 6), (4, 7)]
N = 8


def test_log_prob_is_the_gaussian_in_subspace_coordinates():
    """Independent route: coordinates c = Q x in an orthonormal basis Q of the mean-free subspace
    (Helmert), where the prior is N(0, (alpha Q L Q^T)^-1) per axis (torch.distributions)."""
    prior = HarmonicPrior(N, EDGES, alpha=2.5)
    x = prior.sample(16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    basis = MeanFreeNormal(N, 1).tangent_basis(dtype=torch.float64).reshape(N - 1, N)  # (n - 1, n)
    precision = 2.5 * basis @ prior.laplacian @ basis.T
    mvn = torch.distributions.MultivariateNormal(torch.zeros(N - 1, dtype=torch.float64), precision_matrix=precision)
    c = torch.einsum("mn,bnk->bkm", basis, x)  # (batch, axis, n - 1)
    torch.testing.assert_close(prior.log_prob(x), mvn.log_prob(c).sum(1), rtol=1e-12, atol=1e-10)


def test_samples_have_the_laplacian_pseudo_inverse_as_covariance_and_bonds_of_variance_one_over_alpha():
    alpha, n = 4.0, 40_000
    prior = HarmonicPrior(N, EDGES, alpha)
    x = prior.sample(n, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert float(x.mean(1).abs().max()) < 1e-12  # mean-free
    cov = torch.einsum("bik,bjk->ij", x, x) / (3 * n)
    expected = torch.linalg.pinv(alpha * prior.laplacian)
    # each entry is a mean of 3n products with variance <= (2 max var)^2: 5 standard errors
    assert float((cov - expected).abs().max()) < 5 * 2 * float(expected.diagonal().max()) / math.sqrt(3 * n)
    # a tree's bond vectors are independent N(0, I / alpha): per-axis variance 1/alpha, uncorrelated
    bonds = torch.stack([x[:, i] - x[:, j] for i, j in EDGES], 1)  # (n, edges, 3)
    var = bonds.square().mean((0, 2))
    assert float((var * alpha - 1).abs().max()) < 5 * math.sqrt(2 / (3 * n))
    corr = torch.einsum("bek,bfk->ef", bonds, bonds) / (3 * n) * alpha
    off = corr - torch.diag(corr.diagonal())
    assert float(off.abs().max()) < 5 / math.sqrt(3 * n)


def test_training_draws_follow_the_same_law_and_the_isotropic_one_is_the_old_training_noise():
    """sample_like (training noise, in the data's dtype) has the law of sample: the same covariance
    (alpha L)^+; for the isotropic prior it is, draw for draw, the centred standard normal training
    always used (so the recipe of the shipped model is unchanged)."""
    prior = HarmonicPrior(N, EDGES, alpha=4.0)
    like = torch.zeros(40_000, N, 3, dtype=torch.float64)
    x = prior.sample_like(like, torch.Generator().manual_seed(5))
    cov = torch.einsum("bik,bjk->ij", x, x) / (3 * len(x))
    expected = torch.linalg.pinv(4.0 * prior.laplacian)
    assert float((cov - expected).abs().max()) < 5 * 2 * float(expected.diagonal().max()) / math.sqrt(3 * len(x))
    like = torch.zeros(7, 33, 3)
    old = torch.randn(like.shape, generator=torch.Generator().manual_seed(9))
    torch.testing.assert_close(MeanFreeNormal(33).sample_like(like, torch.Generator().manual_seed(9)),
                               old - old.mean(1, keepdim=True), rtol=0, atol=0)


def test_harmonic_prior_is_rotation_and_translation_invariant_and_refuses_a_disconnected_graph():
    prior = HarmonicPrior(N, EDGES, alpha=1.7)
    x = prior.sample(4, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    q, _ = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3)))
    torch.testing.assert_close(prior.log_prob(x @ q.T), prior.log_prob(x), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="not mean-free"):
        prior.log_prob(x + 1.0)
    with pytest.raises(ValueError, match="not connected"):
        HarmonicPrior(N, EDGES[:-1], alpha=1.0)  # particle 7 left alone
    with pytest.raises(ValueError, match="alpha must be a positive"):
        HarmonicPrior(N, EDGES, alpha=0.0)
    with pytest.raises(ValueError, match="not a pair of distinct particles"):
        HarmonicPrior(N, EDGES + [(3, 3)], alpha=1.0)


def test_a_harmonic_model_file_keeps_its_prior_and_the_generator_uses_it(tmp_path):
    """Train-side config -> model file -> generator: a fresh DiT (the zero field, so the flow is the
    identity) with the harmonic prior samples its prior draws, and log q is that prior's closed form
    in nm: log p0(c x) + 96 log c. alpha is matched to the structure's bonds (checked with mdtraj)."""
    import mdtraj
    import numpy as np

    import rexmol
    from rexmol.boltzmann.generator import BoltzmannGenerator, SolverSpec
    from rexmol.model import harmonic_alpha
    from rexmol.model.checkpoint import save_model
    from rexmol.molecules import ala3
    from rexmol.training import FlowMatchingModule

    module = FlowMatchingModule(width=16, depth=1, heads=2, prior="harmonic")
    traj = mdtraj.load(str(ala3.TOPOLOGY_PDB))
    pairs = np.array([[b[0].index, b[1].index] for b in traj.topology.bonds])
    mean_sq = (np.square(traj.xyz[0][pairs[:, 0]] - traj.xyz[0][pairs[:, 1]]).sum(1) * 25.0).mean()
    assert module.hparams.prior_alpha == pytest.approx(3.0 / mean_sq, rel=1e-5)
    assert module.hparams.prior_alpha == pytest.approx(harmonic_alpha(ala3.TOPOLOGY_PDB, 5.0))
    assert isinstance(module.prior, HarmonicPrior) and len(module.prior.edges) == 32  # a tree of 33 atoms
    path = save_model(module.ema.module, dict(module.hparams), tmp_path / "h.pt")
    loaded = rexmol.load_model(path)
    assert isinstance(loaded.prior, HarmonicPrior) and loaded.prior.alpha == module.hparams.prior_alpha
    gen = BoltzmannGenerator(loaded, SolverSpec("princeps", "midpoint", steps=2, density="jacobian"))
    draw = gen.sample(3, seed=1)
    z = gen.prior_draws(3, 1).double()
    np.testing.assert_allclose(draw.x, z.numpy() / 5.0, atol=1e-6)
    expected = loaded.prior.log_prob(z).numpy() + 96 * np.log(5.0)
    np.testing.assert_allclose(draw.log_q, expected, rtol=1e-5)
    # a harmonic prior is not the isotropic one: the same conformers have another density
    assert np.abs(MeanFreeNormal(33).log_prob(z).numpy() + 96 * np.log(5.0) - draw.log_q).min() > 1.0
    # the training loss draws its noise from it: spy on the prior during module.loss, then check
    # what it drew (bond vectors of variance 1 / alpha per axis, mean-free)
    drawn = []
    sample_like = module.prior.sample_like
    module.prior.sample_like = lambda like, gen=None: drawn.append(sample_like(like, gen)) or drawn[-1]
    data = torch.as_tensor(traj.xyz[[0] * 4000], dtype=torch.float64)
    module.loss(data - data.mean(1, keepdim=True), module.model.double(), generator=torch.Generator().manual_seed(0))
    (noise,) = drawn
    assert noise.shape == (4000, 33, 3) and float(noise.mean(1).abs().max()) < 1e-12
    bonds = noise[:, pairs[:, 0]] - noise[:, pairs[:, 1]]
    assert float(bonds.square().mean()) * module.hparams.prior_alpha == pytest.approx(1.0, abs=0.02)
