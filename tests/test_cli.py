"""`rexmol sample`'s solver options resolve to the intended spec (the default, --adaptive, explicit)."""

import argparse

import pytest

from rexmol import cli


@pytest.mark.parametrize("argv, label", [
    ([], "Princeps(midpoint), 16 logsnr steps, Jacobian log-det"),
    (["--grid", "uniform"], "Princeps(midpoint), 16 steps, Jacobian log-det"),
    (["--adaptive"], "Rex(dopri5, zeta=0.5), rtol=atol=0.001"),
    (["--solver", "torchdiffeq"], "torchdiffeq dopri5, rtol=atol=0.001"),
    (["--rtol", "1e-4"], "Rex(dopri5, zeta=0.5), rtol=atol=0.0001"),
    (["--solver", "princeps", "--tableau", "rk4", "--steps", "8", "--grid", "logsnr"],
     "Princeps(rk4), 8 logsnr steps"),
    (["--steps", "8", "--density", "jacobian"], "Princeps(midpoint), 8 logsnr steps, Jacobian log-det"),
    (["--steps", "32", "--grid", "logsnr"], "Princeps(midpoint), 32 logsnr steps, Jacobian log-det"),
    (["--tableau", "rk4", "--steps", "8", "--density", "divergence", "--grid", "uniform"], "Princeps(rk4), 8 steps"),
    (["--solver", "rex", "--steps", "8", "--density", "jacobian"], "Rex(dopri5, zeta=0.5), 8 steps, Jacobian log-det"),
    (["--zeta", "0.9", "--tableau", "midpoint", "--solver", "rex", "--steps", "4"], "Rex(midpoint, zeta=0.9), 4 steps"),
    (["--prior-scale", "0.9"], "Princeps(midpoint), 16 logsnr steps, Jacobian log-det, prior scale 0.9"),
    (["--adaptive", "--prior-scale", "0.8"], "Rex(dopri5, zeta=0.5), rtol=atol=0.001, prior scale 0.8"),
])
def test_sample_solver_options(argv, label):
    p = argparse.ArgumentParser()
    cli._solver_args(p, sample=True)
    assert cli._sample_spec(p.parse_args(argv)).label == label


def test_likelihood_has_no_density_option():
    p = argparse.ArgumentParser()
    cli._solver_args(p)
    with pytest.raises(SystemExit):
        p.parse_args(["--density", "jacobian"])


@pytest.mark.parametrize("extra", [["--zeta", "0.9"], ["--grid", "logsnr"], ["--steps", "8"], ["--solver", "princeps"]])
def test_adaptive_refuses_the_options_it_would_ignore(extra):
    p = argparse.ArgumentParser()
    cli._solver_args(p, sample=True)
    with pytest.raises(ValueError, match=f"would ignore {extra[0]}"):
        cli._sample_spec(p.parse_args(["--adaptive", *extra]))


@pytest.mark.parametrize("argv", [["--zeta", "0.9"], ["--zeta", "0.9", "--solver", "princeps"],
                                  ["--zeta", "0.9", "--solver", "torchdiffeq"]])
def test_zeta_without_rex_is_refused(argv):
    # the default sampler is Princeps, which has no coupling: a --zeta there would be silently ignored
    p = argparse.ArgumentParser()
    cli._solver_args(p, sample=True)
    with pytest.raises(ValueError, match="--zeta is Rex's coupling"):
        cli._sample_spec(p.parse_args(argv))


def test_the_cli_default_is_the_python_api_default_sampler():
    from rexmol.boltzmann.generator import SolverSpec

    p = argparse.ArgumentParser()
    cli._solver_args(p, sample=True)
    assert cli._sample_spec(p.parse_args([])) == SolverSpec.default_sampler()
    assert vars(SolverSpec.default_sampler()) == {"solver": "princeps", "tableau": "midpoint", "coupling": 0.5,
                                                  "rtol": 1e-3, "atol": 1e-3, "steps": 16, "grid": "logsnr",
                                                  "density": "jacobian", "prior_scale": 1.0}
