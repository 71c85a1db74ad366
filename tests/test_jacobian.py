"""The exact density of a discrete sampler: the Jacobian of the map the solver computes."""

import math

import numpy as np
import pytest
import torch

from rexmol.flows import ContinuousFlow, MeanFreeNormal, StandardNormal
from rexmol.flows.continuous import _ProjectedField
from rexmol.flows.jacobian import TangentSystem
from rexmol.solvers import FlowField, Princeps, Rex
from rexmol.solvers.schedules import time_grid

A = torch.tensor([[0.3, -0.5, 0.1], [0.4, 0.2, -0.3], [0.0, 0.6, -0.1]], dtype=torch.float64)


def linear(t, x):
    return x @ A.T


def nonlinear(t, x):
    return torch.tanh(x @ A.T) * (1 + t[:, None]) + 0.3 * torch.sin(x).roll(1, -1)


def sample(field, solver, prior, z, **kw):
    flow = ContinuousFlow(FlowField(field), solver, prior=prior, t0=0.0, t1=1.0)
    return flow.sample(z.shape[0], z=z, density="jacobian", return_solution=True, **kw)


@pytest.mark.parametrize("tableau, poly", [
    ("euler", lambda m: torch.eye(3, dtype=m.dtype) + m),
    ("rk4", lambda m: sum(torch.linalg.matrix_power(m, k) / math.factorial(k) for k in range(5))),
])
def test_linear_field_matches_the_closed_form_of_the_discrete_map(tableau, poly):
    """For f = A x an RK step is x -> R(hA) x with R the tableau's stability polynomial, so the
    discrete map of N steps is R(hA)^N, and log q = log p0(z) - N log|det R(hA)|."""
    prior, n_steps = StandardNormal(3), 5
    z = prior.sample(4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    x, log_q, _ = sample(linear, Princeps(tableau), prior, z, steps=n_steps)
    step = poly(A / n_steps)
    expected_map = torch.linalg.matrix_power(step, n_steps)
    torch.testing.assert_close(x, z @ expected_map.T, rtol=1e-13, atol=1e-13)
    expected = prior.log_prob(z) - torch.linalg.slogdet(expected_map)[1]
    torch.testing.assert_close(log_q, expected, rtol=0, atol=1e-12)
    # the continuous flow's density differs from the discrete map's (a coarse Euler map is not exp(A))
    if tableau == "euler":
        assert float((torch.linalg.slogdet(expected_map)[1] - torch.trace(A)).abs()) > 1e-2


@pytest.mark.parametrize("solver", [Princeps("rk4"), Princeps("midpoint"), Rex("rk4", coupling=0.5),
                                    Rex("heun", coupling=0.999)], ids=repr)
@pytest.mark.parametrize("method, pass_size", [("reverse", None), ("vmap", None), ("fold", None), ("vmap", 6)])
def test_nonlinear_field_matches_a_brute_force_jacobian_of_the_solve(solver, method, pass_size, monkeypatch):
    """An independent route: torch.autograd.functional.jacobian (reverse mode) through the whole
    solve, on a non-uniform grid, in float64. ``pass_size`` 6 (rows x 3 tangents) splits the 3
    rows into passes of 2 and 1."""
    if pass_size is not None:
        monkeypatch.setattr(TangentSystem, "TARGET_PASS", pass_size)
    prior = StandardNormal(3)
    z = prior.sample(3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    grid = time_grid("linear", "quadratic", 4, 0.0, 1.0)
    x, log_q, sol = sample(nonlinear, solver, prior, z, grid=grid, tangent_method=method)

    def phi(row):
        return solver.solve(FlowField(nonlinear), row[None], 0.0, 1.0, grid=grid).x[0]

    for i in range(3):
        jac = torch.autograd.functional.jacobian(phi, z[i])
        torch.testing.assert_close(x[i], phi(z[i]), rtol=0, atol=1e-14)
        expected = prior.log_prob(z[i:i + 1])[0] - torch.linalg.slogdet(jac)[1]
        assert float(log_q[i] - expected) == pytest.approx(0.0, abs=1e-12)
    assert sol.stats["n_folded"] == 0


def test_mean_free_density_is_taken_on_the_subspace():
    """With a mean-free prior the determinant is of Q^T J Q on the (n - 1) k dimensional subspace;
    checked against a brute-force Jacobian of the map in subspace coordinates c -> Q^T Phi(Q c)."""
    torch.manual_seed(0)
    prior = MeanFreeNormal(5)
    basis = prior.tangent_basis(dtype=torch.float64).reshape(12, 15)
    torch.testing.assert_close(basis @ basis.T, torch.eye(12, dtype=torch.float64))
    assert float(basis.reshape(12, 5, 3).sum(1).abs().max()) < 1e-15  # every basis vector is mean-free
    b = 0.3 * torch.randn(15, 15, dtype=torch.float64)

    def field(t, x):
        return torch.tanh((x.reshape(x.shape[0], -1) @ b.T).reshape(x.shape)) * (1 + t[:, None, None])

    solver = Rex("rk4", coupling=0.5)
    z = prior.sample(2, dtype=torch.float64)
    x, log_q, _ = sample(field, solver, prior, z, steps=6)
    projected = _ProjectedField(FlowField(field), prior)

    def phi(c):
        return solver.solve(projected, (c @ basis).reshape(1, 5, 3), 0.0, 1.0, steps=6).x.reshape(-1) @ basis.T

    for i in range(2):
        jac = torch.autograd.functional.jacobian(phi, z[i].reshape(-1) @ basis.T)
        expected = prior.log_prob(z[i:i + 1])[0] - torch.linalg.slogdet(jac)[1]
        assert float(log_q[i] - expected) == pytest.approx(0.0, abs=1e-12)
    assert float(x.mean(1).abs().max()) < 1e-14


def test_histogram_of_a_coarse_one_dimensional_map_follows_the_density_formula():
    """Draw 200k samples through a deliberately coarse 2-step map in 1-D (far from the continuous
    flow), and compare bin frequencies with the integral of the claimed density over each bin.
    The density at a point x comes from the formula at z = Phi^-1(x) (bisection; Phi is monotone
    here), integrated by Simpson's rule: a route independent of the histogram."""
    def field(t, x):
        return 1.5 * torch.tanh(2.0 * x) + 0.5 * t[:, None]

    prior, solver = StandardNormal(1), Rex("midpoint", coupling=0.5)
    flow = ContinuousFlow(FlowField(field), solver, prior=prior, t0=0.0, t1=1.0)
    n = 200_000
    z = prior.sample(n, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    x, _, _ = flow.sample(n, z=z, density="jacobian", steps=2, return_solution=True)
    x = x[:, 0].numpy()

    def density(xs):
        lo, hi = torch.full((len(xs), 1), -12.0, dtype=torch.float64), torch.full((len(xs), 1), 12.0,
                                                                                   dtype=torch.float64)
        target = torch.as_tensor(xs, dtype=torch.float64)[:, None]
        for _ in range(60):  # bisection on the increasing map z -> x
            mid = 0.5 * (lo + hi)
            above = flow.sample(len(xs), z=mid, steps=2, density="jacobian")[0] > target
            hi, lo = torch.where(above, mid, hi), torch.where(above, lo, mid)
        return flow.sample(len(xs), z=0.5 * (lo + hi), steps=2, density="jacobian")[1].exp().numpy()

    edges = np.linspace(np.quantile(x, 0.01), np.quantile(x, 0.99), 25)
    counts, _ = np.histogram(x, edges)
    fine = np.linspace(edges[0], edges[-1], 24 * 16 + 1)
    q = density(fine)
    h = fine[1] - fine[0]
    per_bin = [(h / 3) * (q[i] + 4 * q[i + 1:i + 16:2].sum() + 2 * q[i + 2:i + 15:2].sum() + q[i + 16])
               for i in range(0, 24 * 16, 16)]
    expected = n * np.array(per_bin)
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 24 + 5 * math.sqrt(2 * 24), chi2  # 24 bins: mean 24, sd ~7; a wrong density gives thousands
    # the continuous flow's divergence integral on the same grid is a different density here
    log_q_integral = flow.sample(8, z=z[:8], steps=2)[1]
    log_q_jacobian = flow.sample(8, z=z[:8], steps=2, density="jacobian")[1]
    assert float((log_q_integral - log_q_jacobian).abs().max()) > 1e-2


def test_fold_is_detected_and_reported_not_raised():
    """A step so large that x -> x + h f(x) reverses orientation (Euler on f = -3x with h = 1:
    x -> -2x) folds the map: those draws get log q = NaN and are counted."""
    prior = StandardNormal(2)
    z = prior.sample(5, dtype=torch.float64)
    x, log_q, sol = sample(lambda t, x: torch.stack([-3.0 * x[:, 0], x[:, 1]], 1), Princeps("euler"), prior, z,
                           steps=1)
    assert sol.stats["n_folded"] == 5 and bool(torch.isnan(log_q).all())
    torch.testing.assert_close(x[:, 0], -2.0 * z[:, 0])


def test_bad_requests_are_refused_clearly():
    flow = ContinuousFlow(FlowField(linear), Princeps("dopri5"), prior=StandardNormal(3), t0=0.0, t1=1.0)
    with pytest.raises(ValueError, match="needs a fixed grid"):
        flow.sample(2, density="jacobian")
    with pytest.raises(ValueError, match="not rtol/atol"):
        flow.sample(2, density="jacobian", steps=3, rtol=1e-3)
    with pytest.raises(ValueError, match="grid must start at t0=0.0 and end at t1=1.0"):
        flow.sample(2, density="jacobian", grid=[0.0, 0.5, 0.9])
    with pytest.raises(ValueError, match="density must be"):
        flow.sample(2, density="hessian")


def test_time_grids():
    for kind in ("uniform", "quadratic", "logsnr"):
        forward = time_grid("linear", kind, 8, 0.0, 0.999)
        backward = time_grid("linear", kind, 8, 0.999, 0.0)
        assert forward[0] == 0.0 and forward[-1] == 0.999 and len(forward) == 9
        assert backward == forward[::-1]
    logsnr = time_grid("linear", "logsnr", 8, 0.0, 0.999)
    lam = [2 * math.log(t / (1 - t)) for t in logsnr[1:]]
    steps = np.diff(lam)
    assert np.allclose(steps, steps[0])  # equal steps in log-SNR between the clipped ends
    assert lam[-1] == pytest.approx(2 * math.log(999))
    quad = np.diff(time_grid("linear", "quadratic", 4, 0.0, 1.0))
    np.testing.assert_allclose(quad, [7 / 16, 5 / 16, 3 / 16, 1 / 16])
    with pytest.raises(ValueError, match="unknown grid"):
        time_grid("linear", "cosine", 4, 0.0, 1.0)


def test_non_finite_or_reversed_tangents_are_flagged_per_row():
    """One overflowing draw must not take its batch-mates with it: the row is flagged, the rest kept."""
    from rexmol.flows.jacobian import log_abs_det

    basis = StandardNormal(2).tangent_basis(dtype=torch.float64)
    x = torch.zeros(3, 2, dtype=torch.float64)
    v = torch.stack([2.0 * torch.eye(2), torch.full((2, 2), float("inf")), torch.diag(torch.tensor([1.0, -3.0]))])
    _, logdet, ok, condition = log_abs_det(torch.cat([x[:, None], v.to(torch.float64)], 1), basis)
    assert ok.tolist() == [True, False, False]
    assert float(logdet[0]) == pytest.approx(math.log(4.0)) and bool(torch.isnan(logdet[1]))
    assert float(logdet[2]) == pytest.approx(math.log(3.0)) and float(condition[2]) == pytest.approx(3.0)


def test_tangent_rows_per_pass_are_validated():
    system = _ProjectedField(FlowField(nonlinear), StandardNormal(3))
    for bad in (0, -2, 1.5):
        with pytest.raises(ValueError, match="rows must be a positive integer"):
            TangentSystem(system, rows=bad)
    assert TangentSystem(system, rows=3).rows == 3


def test_reverse_and_forward_mode_tangents_agree_row_by_row():
    """J_f V by reverse mode (rows of J_f, then a matrix product; here in passes of 2 rows) against
    forward mode (one Jacobian-vector product per tangent), on a mean-free projected field with
    random tangents: two independent derivative routes through the same field."""
    prior = MeanFreeNormal(4)
    gen = torch.Generator().manual_seed(3)
    field = _ProjectedField(FlowField(lambda t, x: torch.tanh(x @ torch.ones(3, 3, dtype=x.dtype) + x.roll(1, -2))
                                      * (1 + t[:, None, None])), prior)
    x = prior.sample(5, generator=gen, dtype=torch.float64)
    state = torch.cat([x[:, None], torch.randn(5, 7, 4, 3, generator=gen, dtype=torch.float64)], dim=1)
    reverse = TangentSystem(field, method="reverse", rows=2)(0.3, state)
    forward = TangentSystem(field, method="vmap")(0.3, state)
    assert reverse.shape == state.shape
    torch.testing.assert_close(reverse, forward, rtol=0, atol=1e-12)
    assert float(reverse[:, 1:].abs().max()) > 1e-2  # a non-trivial J_f V


def test_a_field_that_ignores_x_has_a_zero_jacobian_in_reverse_mode():
    """Reverse mode must not fail where f carries no graph to x (J_f = 0, so log q = log p0 for
    the identity map): a constant field only shifts the samples."""
    prior = StandardNormal(3)
    z = prior.sample(4, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    shift = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    x, log_q, _ = sample(lambda t, x: shift.expand_as(x), Princeps("midpoint"), prior, z, steps=3,
                         tangent_method="reverse")
    torch.testing.assert_close(x, z + shift, rtol=0, atol=1e-12)
    torch.testing.assert_close(log_q, prior.log_prob(z), rtol=0, atol=1e-12)


def test_an_unknown_tangent_method_is_refused_by_the_flow():
    with pytest.raises(ValueError, match="unknown tangent method 'jacfwd'"):
        ContinuousFlow(FlowField(linear), Princeps("midpoint"), prior=StandardNormal(3), t0=0.0, t1=1.0,
                       tangent_method="jacfwd")


@pytest.mark.parametrize("method", ["reverse", "vmap"])
def test_the_jacobian_density_is_the_same_inside_inference_mode(method):
    """Lightning's validation and predict loops run under torch.inference_mode, where enable_grad
    alone records no graph: the density must not change there (it silently lost J_f once)."""
    prior = StandardNormal(3)
    z = prior.sample(3, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    grid = time_grid("linear", "uniform", 3, 0.0, 1.0)
    _, outside, _ = sample(nonlinear, Princeps("midpoint"), prior, z, grid=grid, tangent_method=method)
    with torch.inference_mode():
        _, inside, _ = sample(nonlinear, Princeps("midpoint"), prior, z.clone(), grid=grid, tangent_method=method)
    torch.testing.assert_close(inside, outside, rtol=0, atol=1e-12)
    assert float((outside - prior.log_prob(z)).abs().min()) > 1e-3  # the map is not volume-preserving
