"""Rex: exact inversion (fixed and adaptive grids), conditioning guards, adaptive control, bad input."""

import math

import pytest
import torch

from rexmol.solvers import FlowField, InversionWarning, PIDController, Princeps, Rex
from tests.problems import GaussianVelocity

D = 16


def mlp_velocity(dtype):
    gen = torch.Generator().manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Linear(D + 1, 64), torch.nn.Tanh(), torch.nn.Linear(64, D)).to(dtype)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=dtype) / math.sqrt(p.shape[-1]))
    return lambda t, x: net(torch.cat([x, t[:, None]], 1))


def gaussian_velocity(dtype):
    gen = torch.Generator().manual_seed(2)
    return GaussianVelocity(torch.randn(D, generator=gen, dtype=dtype), 0.2 + torch.rand(D, generator=gen, dtype=dtype))


def roundtrip_error(model, integrate_as, dtype, t1, steps=None, tol=None, zeta=0.999, tableau=None):
    field = FlowField(model, "linear", "velocity", integrate_as=integrate_as)
    x0 = torch.randn(32, D, generator=torch.Generator().manual_seed(0), dtype=dtype)
    solver = Rex(tableau or ("rk4" if steps else "dopri5"), coupling=zeta)
    with torch.no_grad():
        sol = solver.solve(field, x0, 0.0, t1, steps=steps, rtol=tol, atol=tol)
        back = solver.invert(field, sol)
    assert back.x.dtype == dtype
    return float((back.x - x0).abs().max()), sol


CASES = [  # (integrate_as, dtype, t1): the targets
    ("velocity", torch.float64, 0.9),
    ("data", torch.float64, 0.9),
    ("velocity", torch.float64, 0.999),
    ("data", torch.float64, 0.999),
    ("velocity", torch.float32, 0.999),
    ("data", torch.float32, 0.9),
]


@pytest.mark.parametrize("integrate_as, dtype, t1", CASES)
@pytest.mark.parametrize("make_model", [mlp_velocity, gaussian_velocity], ids=["mlp", "gaussian"])
@pytest.mark.parametrize("steps, tol", [(20, None), (None, 1e-6)], ids=["fixed", "adaptive"])
def test_exact_round_trip(integrate_as, dtype, t1, make_model, steps, tol):
    """The inverse is exact up to rounding: |x0 - invert(solve(x0))| <= 8 eps A max|x|, with eps the
    dtype's machine epsilon and A = zeta^-N (max Xi / min Xi)^2 the amplification
    (Rex.predicted_amplification). Measured over these 24 cases: 0.13 to 1.9 eps A max|x|, so 8 leaves
    a factor 4 for rounding luck. For velocity integration A ~ 1: float32 gives 5e-7 to 1e-6 (the
    README's 6e-7), bound ~4e-6 (the former bound, 1e-4, was 100x the claim); data prediction to
    0.999 has A = 1e6 (float64: 1e-10 to 8e-10, bound ~8e-9)."""
    field = FlowField(make_model(dtype), "linear", "velocity", integrate_as=integrate_as)
    err, sol = roundtrip_error(field.model, integrate_as, dtype, t1, steps, tol)
    x0 = torch.randn(32, D, generator=torch.Generator().manual_seed(0), dtype=dtype)
    amplification = Rex("rk4").predicted_amplification(field, [float(s) for s in sol.s_grid])
    scale = max(float(x0.abs().max()), float(sol.x.abs().max()), float(sol.x_hat.abs().max()))
    bound = 8 * torch.finfo(dtype).eps * amplification * scale
    assert err < bound, f"round trip {err:.2e} >= {bound:.1e}"
    # the solve moved the state far from its start (x0 ~ N(0, 1); measured 1.8 to 3.9), so the
    # inverse did real work: an identity "solve" would pass the bound trivially
    assert float((sol.x - x0).abs().max()) > 1.0


def test_round_trip_is_exact_whatever_the_step_size():
    """Algebraic reversibility: even one huge Euler step inverts to rounding."""
    err, _ = roundtrip_error(mlp_velocity(torch.float64), "velocity", torch.float64, 0.999, steps=1, tableau="euler")
    assert err < 1e-14


def test_adaptive_grid_is_recorded_and_replayed():
    field = FlowField(mlp_velocity(torch.float64), "linear", "velocity")
    x0 = torch.randn(8, D, dtype=torch.float64)
    sol = Rex("tsit5").solve(field, x0, 0.0, 0.999, rtol=1e-7, atol=1e-7)
    g = sol.grid
    assert g[0] == 0.0 and g[-1] == 0.999 and bool((g[1:] > g[:-1]).all())
    assert len(g) == sol.n_steps + 1 and sol.n_steps > 3
    back = Rex("tsit5").invert(field, sol)
    assert torch.equal(back.grid, torch.flip(g, (0,)))
    # invert costs two Psi evaluations per recorded step, no controller, no rejections
    assert back.nfe == 2 * 7 * sol.n_steps


def test_adaptive_accuracy_improves_with_tolerance_and_counts_rejections():
    model = gaussian_velocity(torch.float64)
    field = FlowField(model, "linear", "velocity", integrate_as="data")
    x0 = torch.randn(16, D, dtype=torch.float64)
    exact = model.flow_map(x0, 0.0, 0.99)
    errs = []
    for tol in (1e-4, 1e-6, 1e-8):
        sol = Princeps("dopri5").solve(field, x0, 0.0, 0.99, rtol=tol, atol=tol)
        errs.append(float((sol.x - exact).abs().max()))
    assert errs[0] > errs[1] > errs[2] and errs[2] < 1e-6
    sol = Princeps("dopri5").solve(field, x0, 0.0, 0.99, controller=PIDController(rtol=1e-8, atol=1e-8,
                                                                                   initial_step=5.0))
    assert sol.n_rejected > 0


def test_max_steps_and_min_step_guards():
    field = FlowField(mlp_velocity(torch.float64), "linear", "velocity")
    x0 = torch.randn(4, D, dtype=torch.float64)
    with pytest.raises(RuntimeError, match="max_steps=3"):
        Rex("dopri5").solve(field, x0, 0.0, 0.999, controller=PIDController(rtol=1e-12, atol=1e-12, max_steps=3))
    with pytest.raises(RuntimeError, match="step size fell"):
        Rex("dopri5").solve(field, x0, 0.0, 0.999,
                            controller=PIDController(rtol=1e-14, atol=1e-14, min_step=0.05, max_steps=10**6))


def test_settings_that_cannot_invert_are_refused_or_warned():
    field = FlowField(mlp_velocity(torch.float32), "linear", "velocity")
    x0 = torch.randn(8, D)
    for zeta, steps in [(0.001, 50), (0.5, 50)]:
        solver = Rex("rk4", coupling=zeta)
        sol = solver.solve(field, x0, 0.0, 0.999, steps=steps)
        with pytest.raises(ValueError, match="predicted to lose every digit"):
            solver.invert(field, sol)
    # data prediction to t1 = 0.99 in float32 loses ~3 digits: a warning, not an error
    field = FlowField(mlp_velocity(torch.float32), "linear", "velocity", integrate_as="data")
    solver = Rex("rk4")
    sol = solver.solve(field, x0, 0.0, 0.99, steps=20)
    with pytest.warns(InversionWarning, match="predicted relative rounding error"):
        solver.invert(field, sol)


def test_princeps_has_no_inverse_and_bad_solver_settings():
    field = FlowField(mlp_velocity(torch.float64), "linear", "velocity")
    x0 = torch.randn(4, D, dtype=torch.float64)
    sol = Princeps("rk4").solve(field, x0, 0.0, 0.5, steps=4)
    assert sol.x_hat is None
    with pytest.raises(TypeError, match="not algebraically reversible"):
        Princeps("rk4").invert(field, sol)
    with pytest.raises(ValueError, match="only a Rex solve can be inverted"):
        Rex("rk4").invert(field, sol)
    for zeta in (0.0, -0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match=r"coupling zeta must lie in \(0, 1\]"):
            Rex("rk4", coupling=zeta)
    with pytest.raises(ValueError, match="adaptive steps need an embedded tableau; 'rk4'"):
        Rex("rk4").solve(field, x0, 0.0, 0.5, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="either steps/grid"):
        Rex("dopri5").solve(field, x0, 0.0, 0.5, steps=4, rtol=1e-5)
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        Rex("rk4").solve(field, x0, 0.0, 0.5, steps=0)
    with pytest.raises(ValueError, match="strictly monotone"):
        Rex("rk4").solve(field, x0, 0.0, 0.5, grid=[0.0, 0.3, 0.2, 0.5])
    with pytest.raises(ValueError, match="outside the linear schedule's range"):
        Rex("rk4").solve(field, x0, 0.0, 1.2, steps=4)
    with pytest.raises(ValueError, match="nothing to integrate"):
        Rex("rk4").solve(field, x0, 0.5, 0.5, steps=4)
    with pytest.raises(ValueError, match="need rtol, atol >= 0"):
        PIDController(rtol=0.0, atol=0.0)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_input_is_refused(bad):
    field = FlowField(mlp_velocity(torch.float64), "linear", "velocity")
    x0 = torch.randn(4, D, dtype=torch.float64)
    x0[2, 3] = bad
    with pytest.raises(ValueError, match=r"x0 contains NaN or inf values \(in 1 of 4 batch rows\)"):
        Rex("rk4").solve(field, x0, 0.0, 0.5, steps=4)
    with pytest.raises(ValueError, match="leading batch dimension"):
        Rex("rk4").solve(field, torch.tensor(1.0), 0.0, 0.5, steps=4)
