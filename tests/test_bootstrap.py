"""Bootstrap intervals of weighted metrics: known answers and coverage."""

import numpy as np
import pytest

from rexmol.metrics.bootstrap import ess_count, ess_fraction, interval, paired_bootstrap, resample_indices, reweighted_torus_w2
from rexmol.metrics.distances import torus_w2


def test_ess_interval_covers_the_closed_form():
    """Weights w = exp(a x), x ~ N(0, 1), have Kish ESS fraction E[w]^2 / E[w^2] = exp(-a^2)
    (0.7788 at a = 1/2). Over 100 independent sets of 400 draws the 16-84% interval must contain
    it about 68% of the time: 54-82% is three binomial standard errors (measured 64)."""
    rng = np.random.default_rng(0)
    hits = 0
    for r in range(100):
        x = rng.normal(size=400)
        w = np.exp(0.5 * x)
        lo, hi = interval(paired_bootstrap({"d": {"weights": w / w.sum()}}, ess_fraction, 100, r)["d"])
        hits += lo <= np.exp(-0.25) <= hi
    assert 54 <= hits <= 82, hits


def test_resamples_are_paired_and_statistics_exact_on_known_sets():
    idx = resample_indices(50, 7, seed=3)
    assert idx.shape == (7, 50) and idx.min() >= 0 and idx.max() < 50
    np.testing.assert_array_equal(idx, resample_indices(50, 7, seed=3))
    w = np.full(10, 0.1)
    i = np.array([0, 0, 1, 2])
    assert ess_count({"weights": w}, i) == pytest.approx(4.0)  # equal weights: ESS = resample size
    w2 = np.array([0.5, 0.5, 0.0])
    assert ess_count({"weights": w2}, np.array([0, 2, 2])) == pytest.approx(1.0)
    assert ess_count({"weights": w2}, np.array([2, 2])) == 0.0
    boots = paired_bootstrap({"a": {"weights": w}, "b": {"weights": w.copy()}}, ess_fraction, 20, 0)
    np.testing.assert_array_equal(boots["a"], boots["b"])
    np.testing.assert_allclose(boots["a"], 1.0)
    with pytest.raises(ValueError, match="same number of draws"):
        paired_bootstrap({"a": {"weights": w}, "b": {"weights": w[:3]}}, ess_fraction)
    with pytest.raises(ValueError, match="n_boot >= 1"):
        resample_indices(5, 0, 0)
    assert interval(np.array([np.nan, np.nan])) is None


def test_reweighted_torus_w2_statistic_matches_a_direct_call():
    """The statistic is torus_w2 of the resampled draws with renormalised weights and the same
    reference subsample (seeded), so it equals a direct call on the resampled set."""
    rng = np.random.default_rng(2)
    tors = rng.uniform(-np.pi, np.pi, size=(40, 2))
    ref = rng.normal(scale=0.5, size=(300, 2))
    w = rng.exponential(size=40)
    w[:5] = 0.0
    w /= w.sum()
    idx = resample_indices(40, 1, seed=1)[0]
    got = reweighted_torus_w2(ref, n_max=100, seed=4)({"torsions": tors, "weights": w}, idx)
    keep = w[idx] > 0
    want = torus_w2(tors[idx][keep], ref, w_a=w[idx][keep] / w[idx][keep].sum(), n_max=100, seed=4)
    assert got == pytest.approx(want, rel=1e-12)
    assert np.isnan(reweighted_torus_w2(ref)({"torsions": tors, "weights": w}, np.arange(5)))
