"""Exact-likelihood flows: closed-form Gaussian densities in both directions, the mean-free
subspace, exact divergences against brute force, Hutchinson's estimator, priors, bad input."""

import math

import pytest
import torch

from rexmol.flows import (
    EXACT_METHODS,
    ContinuousFlow,
    MeanFreeNormal,
    StandardNormal,
    brute_force_trace,
    divergence,
    hutchinson_divergence,
    rademacher_probes,
)
from rexmol.model.dit import DiT
from rexmol.solvers import FlowField, Princeps, Rex
from tests.problems import GaussianVelocity

TOL = dict(rtol=1e-8, atol=1e-8)


def gaussian_flow(integrate_as="velocity", solver=None, d=6):
    torch.set_default_dtype(torch.float64)
    gen = torch.Generator().manual_seed(3)
    model = GaussianVelocity(torch.randn(d, generator=gen), 0.2 + torch.rand(d, generator=gen))
    field = FlowField(model, "linear", "velocity", integrate_as=integrate_as)
    return model, ContinuousFlow(field, solver or Rex("dopri5", coupling=0.999), StandardNormal(d), t0=0.0, t1=0.999)


@pytest.mark.parametrize("integrate_as", ["velocity", "data"])
@pytest.mark.parametrize("solver", [Rex("dopri5", coupling=0.999), Princeps("dopri5"), Rex("tsit5", coupling=0.9)],
                         ids=repr)
def test_sample_and_log_prob_match_the_closed_form_density(integrate_as, solver):
    model, flow = gaussian_flow(integrate_as, solver)
    x, log_q = flow.sample(64, generator=torch.Generator().manual_seed(0), **TOL)
    truth = model.log_density(x, flow.t1)
    assert float((log_q - truth).abs().max()) < 1e-5
    log_q_back = flow.log_prob(x, **TOL)
    assert float((log_q_back - truth).abs().max()) < 1e-4
    # the samples have the analytic marginal: N(t1 mu, V_t1) (64 draws: loose moments)
    z = (x - flow.t1 * model.mu) / model.variance(flow.t1).sqrt()
    assert abs(float(z.mean())) < 0.1 and abs(float(z.std()) - 1) < 0.1


def test_fixed_step_likelihood_converges_to_the_closed_form():
    model, flow = gaussian_flow()
    x = flow.t1 * model.mu + model.variance(flow.t1).sqrt() * torch.randn(16, 6)
    truth = model.log_density(x, flow.t1)
    errs = [float((flow.log_prob(x, steps=n) - truth).abs().max()) for n in (4, 8, 16)]
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] < 1e-5


def test_rex_reconstructs_noise_and_log_density_exactly():
    _, flow = gaussian_flow()
    x, log_q, sol = flow.sample(16, generator=torch.Generator().manual_seed(5), return_solution=True, **TOL)
    z, log_q_again = flow.reconstruct(sol)
    z_true = flow.prior.sample(16, generator=torch.Generator().manual_seed(5))
    assert float((z - z_true).abs().max()) < 1e-12
    assert float((log_q_again - log_q).abs().max()) < 1e-12
    with pytest.raises(TypeError, match="not reversible"):
        ContinuousFlow(flow.field, Princeps("dopri5"), flow.prior, t0=0.0, t1=0.999).reconstruct(sol)


def test_mean_free_flow_density_lives_on_the_subspace():
    """Data N(0, s^2 I) on the centre-of-mass-free subspace of n particles in 3-D, so
    q_t = N(0, V_t I) there with V_t = t^2 s^2 + (1 - t)^2 and dimension 3 (n - 1). The model
    adds a uniform drift (a centre-of-mass velocity) that the projection must remove."""
    torch.set_default_dtype(torch.float64)
    n, s = 5, 0.4

    def model(t, x):
        t = t[:, None, None]
        u = (t * s**2 - (1 - t)) / (t**2 * s**2 + (1 - t) ** 2) * x
        return u + 3.0 + x.mean(dim=1, keepdim=True)  # translation-dependent drift of the centre

    prior = MeanFreeNormal(n)
    flow = ContinuousFlow(FlowField(model, "linear", "velocity"), Rex("dopri5"), prior, t0=0.0, t1=0.999)
    x, log_q = flow.sample(32, **TOL)
    assert float(x.mean(dim=1).abs().max()) < 1e-10
    v = 0.999**2 * s**2 + 0.001**2
    dim = 3 * (n - 1)
    truth = -0.5 * x.square().sum((1, 2)) / v - 0.5 * dim * math.log(2 * math.pi * v)
    assert float((log_q - truth).abs().max()) < 1e-5
    assert float((flow.log_prob(x, **TOL) - truth).abs().max()) < 1e-4


def small_dit(dtype=torch.float64):
    torch.manual_seed(0)
    m = DiT(list(range(7)), [0, 0, 0, 1, 1, 1, 1], [0, 1, 2, 0, 1, 2, 3], width=16, depth=2, heads=2).to(dtype)
    for p in m.parameters():
        torch.nn.init.normal_(p, std=0.3)
    return lambda y: m(torch.full((y.shape[0],), 0.3, dtype=y.dtype), y)


@pytest.mark.parametrize("method", EXACT_METHODS)
@pytest.mark.parametrize("chunk", [None, 4])
def test_exact_divergence_methods_equal_the_brute_force_trace(method, chunk):
    torch.set_default_dtype(torch.float64)
    fn = small_dit()
    x = torch.randn(5, 7, 3)
    out, div = divergence(fn, x, method, chunk)
    torch.testing.assert_close(out, fn(x).detach())
    torch.testing.assert_close(div, brute_force_trace(fn, x), rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match="unknown divergence method"):
        divergence(fn, x, "magic")


def test_hutchinson_is_seeded_and_unbiased():
    torch.set_default_dtype(torch.float64)
    fn = small_dit()
    x = torch.randn(3, 7, 3)
    exact = brute_force_trace(fn, x)
    probes = rademacher_probes(x, 4000, seed=7)
    assert torch.equal(probes, rademacher_probes(x, 4000, seed=7))
    assert set(probes.unique().tolist()) == {-1.0, 1.0}
    _, est = hutchinson_divergence(fn, x, probes)
    per_probe = torch.stack([hutchinson_divergence(fn, x, probes[i:i + 1])[1] for i in range(200)])
    stderr = per_probe.std(0) / math.sqrt(4000)
    assert bool(((est - exact).abs() < 5 * stderr + 1e-9).all())


def test_hutchinson_flow_is_labelled_deterministic_and_close():
    model, exact_flow = gaussian_flow()
    flow = ContinuousFlow(exact_flow.field, Rex("dopri5"), exact_flow.prior, t0=0.0, t1=0.999,
                          divergence="hutchinson", n_probes=8, seed=1)
    x = exact_flow.sample(8, **TOL)[0]
    a, b = flow.log_prob(x, **TOL), flow.log_prob(x, **TOL)
    assert torch.equal(a, b)
    # for a field with a diagonal Jacobian Rademacher probes are exact: v^T J v = tr J
    assert float((a - model.log_density(x, 0.999)).abs().max()) < 1e-4


def test_priors_closed_forms_and_statistics():
    torch.set_default_dtype(torch.float64)
    sn = StandardNormal(4)
    x = torch.randn(10, 4)
    ref = torch.distributions.Normal(0.0, 1.0).log_prob(x).sum(1)
    torch.testing.assert_close(sn.log_prob(x), ref)
    mf = MeanFreeNormal(6)
    assert mf.dim == 15 and mf.event_shape == (6, 3)
    z = mf.sample(40000, generator=torch.Generator().manual_seed(0))
    assert float(z.mean(1).abs().max()) < 1e-12
    # covariance of one coordinate across particles is the projection I - 11^T/n
    cov = torch.einsum("bi,bj->ij", z[..., 0], z[..., 0]) / z.shape[0]
    proj = torch.eye(6) - torch.full((6, 6), 1 / 6)
    assert float((cov - proj).abs().max()) < 0.03
    lp = mf.log_prob(z[:3])
    torch.testing.assert_close(lp, -0.5 * z[:3].square().sum((1, 2)) - 7.5 * math.log(2 * math.pi))


def test_bad_input_is_refused_with_clear_errors():
    torch.set_default_dtype(torch.float64)
    _, flow = gaussian_flow()
    with pytest.raises(ValueError, match=r"has shape \(4, 5\); expected \(batch, 6\)"):
        flow.log_prob(torch.zeros(4, 5))
    bad = torch.zeros(4, 6)
    bad[1, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN or inf"):
        flow.log_prob(bad)
    mf = MeanFreeNormal(4)
    with pytest.raises(ValueError, match="not mean-free"):
        mf.check(torch.ones(2, 4, 3))
    with pytest.raises(ValueError, match="a prior is required"):
        ContinuousFlow(flow.field, Rex("dopri5"))
    with pytest.raises(ValueError, match="singular"):
        ContinuousFlow(FlowField(flow.field.model, "linear", "velocity", integrate_as="data"), prior=StandardNormal(6),
                       t0=0.0, t1=1.0)
    with pytest.raises(ValueError, match="divergence must be"):
        ContinuousFlow(flow.field, prior=StandardNormal(6), divergence="approx")
    with pytest.raises(ValueError, match="at least 2 particles"):
        MeanFreeNormal(1)


def test_torchdiffeq_baseline_integrates_the_same_augmented_field():
    pytest.importorskip("torchdiffeq")
    from rexmol.flows.baseline import TorchdiffeqFlow

    for integrate_as in ("velocity", "data"):
        model, flow = gaussian_flow(integrate_as)
        baseline = TorchdiffeqFlow(flow)
        x, log_q = baseline.sample(16, **TOL)
        assert float((log_q - model.log_density(x, flow.t1)).abs().max()) < 1e-5
        assert float((baseline.log_prob(x, **TOL) - model.log_density(x, flow.t1)).abs().max()) < 1e-5
        assert baseline.nfe > 0
