"""Exact-likelihood flows: closed-form Gaussian densities in both directions, the mean-free
subspace, exact divergences against brute force, Hutchinson's estimator, priors, bad input."""

import math

import pytest
import torch

from rexmol.flows import (
    EXACT_METHODS,
    ContinuousFlow,
    HarmonicPrior,
    MeanFreeNormal,
    ScaledPrior,
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


def step_budget(sol, tol) -> float:
    """What the controller allows a solve's log-density accumulator to be off: each accepted step's
    local error is at most atol + rtol |l| (the accumulator has its own error norm), and over
    [0, 0.999] the Gaussian flow neither amplifies nor damps much, so the global error is at most
    their sum over the steps."""
    return sol.n_steps * tol * (1 + float(sol.aux.abs().max()))


def test_rex_reconstructs_noise_and_log_density_exactly():
    """reconstruct's job is the noise: it returns the z that was drawn (to rounding), not a
    re-run. Its log q is log p0(z_back) minus the forward accumulator, so it can only be as right as
    the forward pass: that is checked against an independent data -> noise solve (log_prob) and
    the closed form, within the controller's budget (step_budget; measured 3.6e-8 and 4.9e-9
    against budgets ~6e-7 at tol 1e-8)."""
    model, flow = gaussian_flow()
    x, log_q, sol = flow.sample(16, generator=torch.Generator().manual_seed(5), return_solution=True, **TOL)
    z_true = flow.prior.sample(16, generator=torch.Generator().manual_seed(5))
    assert float((x - z_true).abs().max()) > 1.0  # the flow moved the draws: inverting is not trivial
    z, log_q_again = flow.reconstruct(sol)
    assert float((z - z_true).abs().max()) < 1e-12
    torch.testing.assert_close(log_q_again, flow.prior.log_prob(z_true) - sol.aux, rtol=0, atol=1e-12)
    truth = model.log_density(x, flow.t1)
    assert float((log_q - truth).abs().max()) < step_budget(sol, 1e-8)
    log_q_back, back = flow.log_prob(x, return_solution=True, **TOL)
    assert float((log_q_back - truth).abs().max()) < step_budget(back, 1e-8)
    assert float((log_q - log_q_back).abs().max()) < step_budget(sol, 1e-8) + step_budget(back, 1e-8)
    # the conformers too: the exact flow map of the drawn noise
    assert float((x - model.flow_map(z_true, 0.0, flow.t1)).abs().max()) < sol.n_steps * 1e-8 * (1 + float(x.abs().max()))
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


def off_diagonal_matrix(d=12):
    gen = torch.Generator().manual_seed(4)
    return torch.randn(d, d, generator=gen, dtype=torch.float64)


def test_hutchinson_is_seeded_unbiased_with_the_closed_form_variance():
    """For g(x) = A x and Rademacher probes v: v^T A v = tr A + sum_{i != j} A_ij v_i v_j. The products
    v_i v_j (i < j) have mean 0, variance 1 and are pairwise uncorrelated, so

        E[v^T A v] = tr A,   Var[v^T A v] = sum_{i<j} (A_ij + A_ji)^2 = (1/2) sum_{i != j} (A_ij + A_ji)^2

    (Hutchinson 1990; Avron & Toledo 2011, J. ACM 58:8, Lemma 1: 2 (||S||_F^2 - sum_i S_ii^2) with
    S = (A + A^T)/2). A diagonal Jacobian has variance 0, which is why a dense A is used here; Gaussian
    probes would give 2 ||S||_F^2, with the diagonal."""
    torch.set_default_dtype(torch.float64)
    a = off_diagonal_matrix()
    fn = lambda y: (y.reshape(y.shape[0], -1) @ a.T).reshape(y.shape)  # noqa: E731
    x = torch.randn(2, 4, 3)
    n = 4000
    probes = rademacher_probes(x, n, seed=7)
    assert torch.equal(probes, rademacher_probes(x, n, seed=7))
    assert not torch.equal(probes, rademacher_probes(x, n, seed=8))
    assert set(probes.unique().tolist()) == {-1.0, 1.0}
    out, est = hutchinson_divergence(fn, x, probes)
    torch.testing.assert_close(out, fn(x))
    # one probe per row: the estimator's single-probe values, against v^T A v computed directly
    _, per_probe = hutchinson_divergence(fn, x.repeat(n, 1, 1), probes.reshape(1, n * 2, 4, 3))
    per_probe = per_probe.reshape(n, 2)
    v = probes.reshape(n, 2, 12)
    torch.testing.assert_close(per_probe, torch.einsum("pbi,ij,pbj->pb", v, a, v), rtol=0, atol=1e-12)
    torch.testing.assert_close(est, per_probe.mean(0), rtol=0, atol=1e-12)
    # the moments against the closed forms, 4 standard errors
    sym = a + a.T
    var = float(0.5 * (sym.square().sum() - sym.diagonal().square().sum()))
    assert var > 10  # far from the diagonal case
    assert float((est - torch.trace(a)).abs().max()) < 4 * math.sqrt(var / n)
    centred = per_probe - per_probe.mean(0)
    sample_var = centred.square().mean(0)
    se_var = ((centred**4).mean(0) - sample_var**2).sqrt() / math.sqrt(n)  # SE of a sample variance
    assert bool(((sample_var - var).abs() < 4 * se_var).all()), (sample_var, var)
    assert bool(((sample_var - 2 * float((0.5 * sym).square().sum())).abs() > 4 * se_var).all())  # not Gaussian


def test_hutchinson_flow_is_labelled_deterministic_and_off_by_the_probe_estimate():
    """A flow with u(t, x) = A x, A dense: x_1 = exp(A (t1 - t0)) x_0 and log q_1 = log p_0(x_0) -
    (t1 - t0) tr A exactly. With fixed Hutchinson probes v_k the accumulated divergence is
    (t1 - t0) mean_k v_k^T A v_k instead, so the estimate is off by exactly
    -(t1 - t0) (mean_k v_k^T A v_k - tr A) per row: the probes reach the solve unchanged, and the
    estimator's error is the probes', not zero (as it would be for a diagonal Jacobian)."""
    torch.set_default_dtype(torch.float64)
    a = 0.3 * off_diagonal_matrix(6)
    field = FlowField(lambda t, x: x @ a.T, "linear", "velocity")
    exact_flow = ContinuousFlow(field, Rex("dopri5"), StandardNormal(6), t0=0.0, t1=0.999)
    flow = ContinuousFlow(field, Rex("dopri5"), StandardNormal(6), t0=0.0, t1=0.999, divergence="hutchinson",
                          n_probes=8, seed=1)
    x = torch.randn(8, 6)
    span = 0.999
    x0 = x @ torch.linalg.matrix_exp(-span * a).T
    truth = StandardNormal(6).log_prob(x0) - span * torch.trace(a)
    exact, sol = exact_flow.log_prob(x, return_solution=True, **TOL)
    assert float((exact - truth).abs().max()) < step_budget(sol, 1e-8)
    (h1, hsol), h2 = flow.log_prob(x, return_solution=True, **TOL), flow.log_prob(x, **TOL)
    assert torch.equal(h1, h2)
    v = rademacher_probes(x, 8, seed=1)  # the probes log_prob draws (seed + 0)
    predicted = -span * (torch.einsum("pbi,ij,pbj->pb", v, a, v).mean(0) - torch.trace(a))
    assert float(predicted.abs().max()) > 0.1  # the estimator's error is real (up to 0.77 here) ...
    assert float((h1 - exact - predicted).abs().max()) < step_budget(sol, 1e-8) + step_budget(hsol, 1e-8)  # ... and this


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



def test_scaled_prior_is_the_gaussian_of_scaled_covariance_on_the_same_noise():
    """ScaledPrior(base, s) against torch.distributions' N(0, s^2 I) (R^d) and the closed form on
    the mean-free subspace (-|x|^2 / (2 s^2) - d/2 log(2 pi s^2)); its draws are s times the base's
    draws of the same seed, with variance s^2."""
    torch.set_default_dtype(torch.float64)
    scaled = ScaledPrior(StandardNormal(4), 0.7)
    x = torch.randn(10, 4)
    torch.testing.assert_close(scaled.log_prob(x), torch.distributions.Normal(0.0, 0.7).log_prob(x).sum(1))
    draws = scaled.sample(40000, generator=torch.Generator().manual_seed(0))
    base = StandardNormal(4).sample(40000, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(draws, 0.7 * base, rtol=0, atol=1e-15)
    assert abs(float(draws.var(0).mean()) - 0.49) < 0.01
    mf = ScaledPrior(MeanFreeNormal(6), 0.5)
    assert (mf.dim, mf.event_shape) == (15, (6, 3))
    z = mf.sample(3, generator=torch.Generator().manual_seed(1))
    assert float(z.mean(1).abs().max()) < 1e-12
    torch.testing.assert_close(mf.log_prob(z), -z.square().sum((1, 2)) / (2 * 0.25) - 7.5 * math.log(2 * math.pi * 0.25))
    # a harmonic base: covariance (alpha L)^-1 scaled by s^2 is the harmonic prior of stiffness alpha / s^2
    edges = [(i, i + 1) for i in range(5)]
    for s in (0.5, 0.85, 2.0):
        x = HarmonicPrior(6, edges, 3.0).sample(4, generator=torch.Generator().manual_seed(2))
        torch.testing.assert_close(ScaledPrior(HarmonicPrior(6, edges, 3.0), s).log_prob(x),
                                   HarmonicPrior(6, edges, 3.0 / s**2).log_prob(x))
    # small conformations whose centroid is within tolerance of x are accepted (not of x / s)
    x = 0.1 * MeanFreeNormal(6).sample(2, generator=torch.Generator().manual_seed(3))
    x = x + 8e-5
    torch.testing.assert_close(mf.log_prob(x), mf.log_prob(x - x.mean(1, keepdim=True)))
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="prior scale"):
            ScaledPrior(StandardNormal(2), bad)

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
    from rexmol.flows.baseline import TorchdiffeqFlow  # torchdiffeq is a runtime dependency: no skip

    for integrate_as in ("velocity", "data"):
        model, flow = gaussian_flow(integrate_as)
        baseline = TorchdiffeqFlow(flow)
        x, log_q = baseline.sample(16, **TOL)
        assert float((log_q - model.log_density(x, flow.t1)).abs().max()) < 1e-5
        assert float((baseline.log_prob(x, **TOL) - model.log_density(x, flow.t1)).abs().max()) < 1e-5
        assert baseline.nfe > 0
