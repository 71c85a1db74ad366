"""Bootstrap intervals of weighted metrics: known answers and coverage."""

import numpy as np
import pytest

from rexmol.metrics.bootstrap import ess_count, ess_fraction, interval, paired_bootstrap, resample_indices, reweighted_torus_w2


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
    # paired: every row is resampled with the same index sets (those of resample_indices)
    rng = np.random.default_rng(5)
    wa, wb = rng.exponential(size=10), rng.exponential(size=10) ** 3
    boots = paired_bootstrap({"a": {"weights": wa / wa.sum()}, "b": {"weights": wb / wb.sum()}}, ess_fraction, 20, 7)
    for row, wr in (("a", wa), ("b", wb)):
        want = [wr[i].sum() ** 2 / np.square(wr[i]).sum() / 10 for i in resample_indices(10, 20, seed=7)]
        np.testing.assert_allclose(boots[row], want, rtol=1e-12)
    np.testing.assert_allclose(paired_bootstrap({"c": {"weights": w}}, ess_fraction, 20, 0)["c"], 1.0)
    with pytest.raises(ValueError, match="same number of draws"):
        paired_bootstrap({"a": {"weights": w}, "b": {"weights": w[:3]}}, ess_fraction)
    with pytest.raises(ValueError, match="n_boot >= 1"):
        resample_indices(5, 0, 0)
    assert interval(np.array([np.nan, np.nan])) is None


def test_reweighted_torus_w2_statistic_resamples_and_renormalises():
    """A resample is the multiset of its draws: the statistic at indices idx equals the statistic of
    the materialised set (draws repeated as idx says, weights scaled by any factor) at every index,
    and a zero-weight draw is as if absent."""
    rng = np.random.default_rng(2)
    tors = rng.uniform(-np.pi, np.pi, size=(40, 2))
    ref = rng.normal(scale=0.5, size=(300, 2))
    w = rng.exponential(size=40)
    w[:5] = 0.0
    w /= w.sum()
    stat = reweighted_torus_w2(ref, n_max=100, seed=4)
    idx = resample_indices(40, 1, seed=1)[0]
    got = stat({"torsions": tors, "weights": w}, idx)
    materialised = {"torsions": tors[idx], "weights": 7.3 * w[idx]}
    assert got == pytest.approx(stat(materialised, np.arange(40)), rel=1e-9)
    keep = w[idx] > 0
    assert got == pytest.approx(stat({"torsions": tors[idx][keep], "weights": w[idx][keep]}, np.arange(keep.sum())),
                                rel=1e-9)
    assert got > 0
    assert np.isnan(stat({"torsions": tors, "weights": w}, np.arange(5)))  # all five weights are zero


def test_bootstrap_intervals_progress_counts_every_resample_and_changes_nothing(capsys):
    """judge's intervals with a progress bar: the same numbers as without it (the bar only observes),
    and one tick per resample."""
    from types import SimpleNamespace

    from rexmol.boltzmann.sampling import _counted, bootstrap_intervals

    rng = np.random.default_rng(3)
    w = rng.exponential(size=30)
    arrays = {"weights": w / w.sum(), "u": rng.normal(size=30), "torsions": rng.uniform(-np.pi, np.pi, (30, 2))}
    reference = SimpleNamespace(u=rng.normal(size=200), torsions=rng.normal(scale=0.5, size=(200, 2)))
    quiet = bootstrap_intervals(arrays, reference, n_boot=9, seed=1, n_max=100)
    shown = bootstrap_intervals(arrays, reference, n_boot=9, seed=1, n_max=100, progress=True)
    assert shown == quiet
    assert "bootstrap intervals" in capsys.readouterr().err

    class Ticks:
        n = 0

        def update(self):
            self.n += 1

    ticks = Ticks()
    counted = _counted(ess_fraction, ticks)
    assert np.array_equal(paired_bootstrap({"d": arrays}, counted, 9, 1)["d"],
                          paired_bootstrap({"d": arrays}, ess_fraction, 9, 1)["d"])
    assert ticks.n == 9
