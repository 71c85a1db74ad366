"""Schedules: closed-form time variables are exact inverses; derivatives; exact conversions."""

import math

import pytest
import torch

from rexmol.solvers import PREDICTIONS, FlowField, LinearFlow, VPCosine, VPLinear, get_schedule

SCHEDULES = [LinearFlow(), VPLinear(), VPLinear(0.5, 5.0), VPCosine()]
INTERIOR = [0.01 + 0.98 * i / 40 for i in range(41)]


@pytest.mark.parametrize("sch", SCHEDULES, ids=repr)
def test_time_variables_are_inverse_closed_forms(sch):
    for t in INTERIOR:
        assert sch.t_from_gamma(sch.gamma(t)) == pytest.approx(t, rel=1e-12, abs=1e-13)
        assert sch.t_from_chi(sch.chi(t)) == pytest.approx(t, rel=1e-12, abs=1e-13)
        assert sch.gamma(t) * sch.chi(t) == pytest.approx(1.0, rel=1e-13)
    for g in [1e-4, 0.01, 0.3, 1.0, 7.0, 1e3]:
        assert sch.gamma(sch.t_from_gamma(g)) == pytest.approx(g, rel=1e-9)


@pytest.mark.parametrize("sch", SCHEDULES, ids=repr)
def test_derivatives_match_finite_differences(sch):
    h = 1e-6
    for t in INTERIOR[1:-1]:
        for f, df in [(sch.alpha, sch.d_alpha), (sch.sigma, sch.d_sigma), (sch.gamma, sch.d_gamma), (sch.chi, sch.d_chi)]:
            fd = (f(t + h) - f(t - h)) / (2 * h)
            assert df(t) == pytest.approx(fd, rel=1e-6, abs=1e-7)


def test_vp_is_variance_preserving_and_linear_endpoints():
    for sch in SCHEDULES[1:]:
        for t in INTERIOR:
            assert sch.alpha(t) ** 2 + sch.sigma(t) ** 2 == pytest.approx(1.0, abs=1e-14)
        assert sch.alpha(0.0) == pytest.approx(1.0) and sch.sigma(0.0) == 0.0
    lin = LinearFlow()
    assert (lin.alpha(0.0), lin.sigma(0.0), lin.alpha(1.0), lin.sigma(1.0)) == (0.0, 1.0, 1.0, 0.0)
    assert math.isinf(lin.gamma(1.0)) and lin.t_from_gamma(math.inf) == 1.0 and lin.t_from_chi(math.inf) == 0.0


@pytest.mark.parametrize("sch", SCHEDULES, ids=repr)
def test_conversions_match_the_path_definition(sch):
    """With x = alpha D + sigma eps and v = alpha' D + sigma' eps, a model predicting any one of
    (v, D, eps) yields the other two exactly."""
    torch.set_default_dtype(torch.float64)
    d, eps = torch.randn(5, 4), torch.randn(5, 4)
    for t in [0.1, 0.5, 0.9]:
        x = sch.alpha(t) * d + sch.sigma(t) * eps
        truth = {"data": d, "noise": eps, "velocity": sch.d_alpha(t) * d + sch.d_sigma(t) * eps}
        for source in PREDICTIONS:
            field = FlowField(lambda tt, xx, s=source, tr=truth: tr[s], sch, prediction=source)
            for target in PREDICTIONS:
                got = field.predict(t, x, target)
                assert torch.allclose(got, truth[target], rtol=1e-10, atol=1e-10), (source, target, t)


def test_field_time_argument_forms_and_errors():
    seen = {}

    def model(t, x):
        seen["t"] = t
        return torch.zeros_like(x)

    field = FlowField(model, "linear", "velocity")
    x = torch.zeros(3, 2)
    for t in (0.5, torch.tensor(0.5), torch.full((3,), 0.5)):
        field(t, x)
        assert seen["t"].shape == (3,) and torch.all(seen["t"] == 0.5)
    with pytest.raises(ValueError, match="share one time"):
        field(torch.tensor([0.1, 0.2, 0.3]), x)
    with pytest.raises(ValueError, match="shape"):
        field(torch.full((2,), 0.5), x)
    with pytest.raises(ValueError, match="outside the linear schedule's range"):
        field.to_s(1.5)
    with pytest.raises(ValueError, match="singular"):
        FlowField(model, "linear", "velocity", integrate_as="data").to_s(1.0)
    with pytest.raises(ValueError, match="prediction must be one of"):
        FlowField(model, "linear", "score")
    with pytest.raises(ValueError, match="unknown schedule"):
        get_schedule("vp_quadratic")
    with pytest.raises(ValueError, match="model returned shape"):
        FlowField(lambda t, x: x[:, :1], "linear").predict(0.5, x)
