"""Draws whose sampler map folded carry no density: weight zero, counted, and never a crash."""

import math

import numpy as np
import pytest

from rexmol.boltzmann.reweighting import importance_weights


def test_folded_draws_get_zero_weight_and_are_counted():
    u = np.array([0.0, 0.0, 0.0, 0.0])
    log_q = np.array([0.0, np.nan, math.log(2.0), np.nan])
    rw = importance_weights(u, log_q)
    np.testing.assert_allclose(rw.weights, [2 / 3, 0, 1 / 3, 0])  # w = 1/q among the unfolded
    assert rw.n_folded == 2 and rw.n_nonfinite_energy == 0
    assert rw.ess_fraction == pytest.approx((1.0 / ((2 / 3) ** 2 + (1 / 3) ** 2)) / 4)
    assert rw.summary()["n_folded"] == 2


def test_no_finite_weight_is_a_report_not_a_crash():
    rw = importance_weights(np.array([1.0, np.inf]), np.array([np.nan, 0.0]))
    assert rw.ess_fraction == 0.0 and not rw.weights.any()
    assert (rw.n_folded, rw.n_nonfinite_energy) == (1, 1)
    with pytest.raises(ValueError, match="infinite"):
        importance_weights(np.zeros(2), np.array([0.0, -np.inf]))


def test_the_summary_reports_the_tail_shape_of_the_weights():
    """Reduced energies that make w generalised-Pareto with k = 1 (log q = 0): the summary's k-hat is
    near 1, flagging the ESS as unreliable; clipped weights and too few draws report none."""
    rng = np.random.default_rng(4)
    w = (rng.uniform(size=4000) ** -1.0 - 1.0)
    summary = importance_weights(-np.log(w), np.zeros(4000)).summary()
    assert abs(summary["pareto_khat"] - 1.0) < 0.25
    assert importance_weights(-np.log(w), np.zeros(4000), clip_quantile=0.9).summary()["pareto_khat"] is None
    assert importance_weights(np.zeros(10), np.zeros(10)).summary()["pareto_khat"] is None
