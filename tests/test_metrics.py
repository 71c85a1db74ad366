"""Metrics against cases with known answers."""

import math

import numpy as np
import pytest

from rexmol.metrics import backbone_torsions, energy_w2, kish_ess, normalised_weights, torus_cost, torus_w2
from rexmol.metrics.plots import energy_histogram, ramachandran
from rexmol.molecules import ala3


def gaussian_quantiles(mu, sd, n):
    """n exact quantiles of N(mu, sd^2): an empirical measure whose W2 to another is exact."""
    from scipy.stats import norm

    return mu + sd * norm.ppf((np.arange(n) + 0.5) / n)


def test_energy_w2_of_gaussians_is_closed_form():
    # W2(N(m1, s1^2), N(m2, s2^2))^2 = (m1 - m2)^2 + (s1 - s2)^2
    a, b = gaussian_quantiles(0.0, 1.0, 20000), gaussian_quantiles(1.5, 2.0, 20000)
    assert energy_w2(a, b).value == pytest.approx(math.hypot(1.5, 1.0), rel=2e-3)
    assert energy_w2(a, a + 0.7).value == pytest.approx(0.7, rel=1e-9)


def test_weighted_energy_w2_and_dropped_outliers():
    # weights that move all the mass of {0, 10} onto 10 make it a point mass at 10
    assert energy_w2([0.0, 10.0], [7.0], w_a=[0.0, 1.0]).value == pytest.approx(3.0)
    # weights 1:3 on {0, 4} vs a point at 0: W2^2 = 3/4 * 16
    assert energy_w2([0.0, 4.0], [0.0], w_a=[1.0, 3.0]).value == pytest.approx(math.sqrt(12.0))
    r = energy_w2([0.0, 1.0, np.inf, np.nan], [0.0, 1.0])
    assert r.value == pytest.approx(0.0) and r.n_dropped_a == 2 and r.n_dropped_b == 0
    assert energy_w2([0.0, 100.0], [0.0, 5.0], cap=5.0).value == pytest.approx(0.0)
    with pytest.raises(ValueError, match="weights must be"):
        energy_w2([0.0, 1.0], [0.0], w_a=[1.0, -1.0])


def test_torus_cost_wraps_around():
    a = np.array([[np.pi - 0.05, 0.0]])
    b = np.array([[-np.pi + 0.05, 0.3]])
    assert torus_cost(a, b)[0, 0] == pytest.approx(0.1**2 + 0.3**2)


def test_torus_w2_of_a_shifted_grid_is_the_shift():
    # k points evenly spaced on each circle, shifted by delta < spacing / 2 (across the seam):
    # the optimal plan is the shift, so W2 = delta * sqrt(number of angles).
    k, delta = 40, 0.05
    base = np.linspace(-np.pi, np.pi, k, endpoint=False)
    grid = np.stack(np.meshgrid(base, base), -1).reshape(-1, 2)
    shifted = (grid + delta + np.pi) % (2 * np.pi) - np.pi
    assert torus_w2(grid, shifted, n_max=None) == pytest.approx(delta * math.sqrt(2), rel=1e-9)
    # reweighting: all weight on one point vs a point mass there
    w = np.zeros(len(grid))
    w[7] = 1.0
    assert torus_w2(grid, grid[7:8], w_a=w, n_max=None) == pytest.approx(0.0, abs=1e-12)


def test_kish_ess():
    assert kish_ess(np.zeros(50)) == pytest.approx(1.0)
    assert kish_ess(np.array([0.0, -np.inf, -np.inf, -np.inf])) == pytest.approx(0.25)
    # two equal weights out of four
    assert kish_ess(np.log([1.0, 1.0, 1e-300, 1e-300])) == pytest.approx(0.5)
    # geometric weights w_i = r^i, i < n: (sum w)^2 / (n sum w^2) = (1 - r^n)(1 + r) / (n (1 - r)(1 + r^n))
    for r, n in ((0.5, 10), (0.9, 40), (0.99, 1000)):
        closed = (1 - r**n) * (1 + r) / (n * (1 - r) * (1 + r**n))
        assert kish_ess(np.arange(n) * math.log(r) + 7.0) == pytest.approx(closed, rel=1e-12)
    big = np.array([1000.0, 1000.0])  # log-sum-exp keeps this finite
    np.testing.assert_allclose(normalised_weights(big), [0.5, 0.5])
    with pytest.raises(ValueError, match="every log-weight is non-finite"):
        kish_ess([np.nan, -np.inf])


def test_backbone_torsions_of_the_built_backbone():
    """The ideal backbone is built with phi = -75, psi = 145 degrees; mdtraj must read them back."""
    from rexmol.molecules.ala3 import build_structure

    _, positions = build_structure()
    angles, names = backbone_torsions(positions[None])
    assert names == ["psi1", "phi2", "psi2", "phi3", "psi3"]
    # psi3 is N-CA-C-OXT: whatever PDBFixer chose for the carboxylate; the others are as built
    np.testing.assert_allclose(np.degrees(angles[0, :4]), [145.0, -75.0, 145.0, -75.0], atol=0.5)
    with pytest.raises(ValueError, match="shape"):
        backbone_torsions(np.zeros((2, 30, 3)))


def test_plots_are_written(tmp_path):
    rng = np.random.default_rng(0)
    tors = rng.uniform(-np.pi, np.pi, (500, 4))
    names = ["psi1", "phi2", "psi2", "phi3"]
    p = ramachandran({"MD": (tors, None), "reweighted": (tors, rng.random(500))}, names, tmp_path / "rama.png")
    q = energy_histogram({"MD": (rng.normal(size=500), None), "model": (np.append(rng.normal(size=499), np.inf), None)},
                         tmp_path / "energy.png")
    assert p.stat().st_size > 1000 and q.stat().st_size > 1000
    assert ala3.N_ATOMS == 33


def test_integrated_autocorrelation_time_of_an_ar1_process():
    """AR(1) x_t = a x_{t-1} + e_t has tau_int = (1 + a) / (1 - a) exactly."""
    from rexmol.metrics.autocorrelation import integrated_time

    rng = np.random.default_rng(0)
    for a in (0.0, 0.5, 0.9):
        x = np.zeros((20, 20_000))
        e = rng.normal(size=x.shape)
        for i in range(1, x.shape[1]):
            x[:, i] = a * x[:, i - 1] + e[:, i]
        assert integrated_time(x) == pytest.approx((1 + a) / (1 - a), rel=0.05)
    with pytest.raises(ValueError, match="constant"):
        integrated_time(np.ones((2, 100)))


def test_autocorrelation_pools_runs_of_unequal_length():
    """Runs still growing count with all their frames: the pooled autocorrelation of runs of
    unequal length is sum_r sum_t (x_t - m)(x_{t+k} - m) / sum_r (T_r - k) about the mean m of all
    frames, checked here against those sums written out directly (no FFT). On an AR(1) process
    (tau_int = (1 + a) / (1 - a) = 19 at a = 0.9) split into runs of 400-40,000 frames it recovers
    tau_int, where cutting every run to the shortest would keep 2,400 of 87,400 frames."""
    from rexmol.metrics.autocorrelation import autocorrelation, integrated_time, torsion_integrated_times

    rng = np.random.default_rng(1)
    a, lengths = 0.9, [400, 2_000, 5_000, 20_000, 20_000, 40_000]
    runs = []
    for t in lengths:
        x = np.zeros(t)
        e = rng.normal(size=t)
        x[0] = e[0] / np.sqrt(1 - a * a)  # stationary start
        for i in range(1, t):
            x[i] = a * x[i - 1] + e[i]
        runs.append(x)
    # Sokal's estimate has a relative spread of about sqrt(2 (2W + 1) / N) ~ 7% here: 10% is 1.5 of it
    assert integrated_time(runs) == pytest.approx((1 + a) / (1 - a), rel=0.10)
    short = [r[:300] for r in runs[:3]] + [runs[3][:50]]  # unequal lengths, direct sums
    m = np.concatenate(short).mean()
    direct = np.array([sum(((r[: len(r) - k] - m) * (r[k:] - m)).sum() for r in short if len(r) > k)
                       / sum(len(r) - k for r in short if len(r) > k) for k in range(300)])
    np.testing.assert_allclose(autocorrelation(short), direct / direct[0], rtol=1e-9, atol=1e-12)
    assert len(autocorrelation(runs)) == 40_000
    # torsions: the cos/sin components of each angle, the same pooling
    angles = [np.stack([np.angle(np.exp(1j * r)), 0.3 * rng.normal(size=len(r))], 1) for r in runs]
    taus = torsion_integrated_times(angles, ["slow", "white"])
    assert taus["slow"] > 3 * taus["white"] and taus["white"] == pytest.approx(1.0, abs=0.2)
    with pytest.raises(ValueError, match="non-empty"):
        autocorrelation([np.zeros(0)])
    with pytest.raises(ValueError, match="list of 1-D runs"):
        autocorrelation(np.zeros((2, 5, 3)))
    np.testing.assert_allclose(autocorrelation([1.0, 2.0, 0.0, 1.5]), autocorrelation(np.array([1.0, 2.0, 0.0, 1.5])))


def test_torus_w2_with_uniform_weights_is_the_unweighted_distance():
    """The property itself: reweighting a sample set (at most n_max points) by uniform weights is
    no reweighting, so the reference must be measured on the same subsample either way. (The old
    code resampled the reference with replacement as soon as any weights were given: this failed.)"""
    rng = np.random.default_rng(8)
    a, b = rng.uniform(-np.pi, np.pi, (80, 2)), rng.uniform(-np.pi, np.pi, (600, 2))
    for seed in (0, 1, 2):
        raw = torus_w2(a, b, n_max=100, seed=seed)
        weighted = torus_w2(a, b, w_a=np.ones(len(a)), n_max=100, seed=seed)
        assert weighted == pytest.approx(raw, rel=1e-12)


def test_torus_w2_raw_and_reweighted_share_the_reference_subsample():
    # Samples a and reference b, both above n_max. With uniform weights on a, the reweighted call
    # resamples a by its weights, but b must be subsampled exactly as in the raw call. Check it
    # against an independent route: W2 of a point mass (all weight on one sample) is the root mean
    # cost from that point to the reference subsample, which only the raw call's b-subsample reproduces.
    rng = np.random.default_rng(3)
    a = rng.uniform(-np.pi, np.pi, (300, 2))
    b = rng.uniform(-np.pi, np.pi, (500, 2))
    w = np.zeros(len(a))
    w[11] = 1.0
    n_max = 100
    got = torus_w2(a, b, w_a=w, n_max=n_max, seed=5)
    b_sub = b[np.random.default_rng([5, 1]).choice(len(b), n_max, replace=False)]
    expect = math.sqrt(torus_cost(a[11:12], b_sub).mean())
    assert got == pytest.approx(expect, rel=1e-9)
    # and the raw call uses that same subsample of b: the plan to an unsubsampled copy of a (n_max points)
    a_small = a[:n_max]
    raw = torus_w2(a_small, b, n_max=n_max, seed=5)
    assert raw == pytest.approx(torus_w2(a_small, b_sub, n_max=None), rel=1e-9)


def test_integrated_time_of_a_mode_slower_than_the_runs():
    """A mode slower than the runs resolve (AR(1) at a = 0.999, tau_int = 1999, in runs of 2,000
    frames) has no Sokal window: "raise" says so; "bound" gives the estimate at the longest window
    the runs support (T / c), which lies below the true value; converges() tells which case it is."""
    from rexmol.metrics.autocorrelation import converges, integrated_time

    rng = np.random.default_rng(3)
    x = np.zeros((4, 2000))
    for i in range(1, 2000):
        x[:, i] = 0.999 * x[:, i - 1] + rng.normal(size=4)
    assert not converges(x)
    with pytest.raises(ValueError, match="too short"):
        integrated_time(x)
    bound = integrated_time(x, unconverged="bound")
    assert 1.0 < bound < 1999
    white = rng.normal(size=(4, 2000))
    assert converges(white) and integrated_time(white, unconverged="bound") == integrated_time(white)
    with pytest.raises(ValueError, match="'raise' or 'bound'"):
        integrated_time(white, unconverged="clip")


def test_log_w_quantiles_count_weightless_draws_as_the_lowest():
    from rexmol.metrics.weights import log_w_quantiles

    # 100 draws: log w = 0, 1, ..., 99; the empirical 16%, 50% and 84% quantiles are 15, 49 and 83
    lw = np.arange(100.0)
    assert log_w_quantiles(lw) == {"log_w_median": 49.0, "log_w_spread": 34.0}
    # dropping the 10 best draws (weight 0) moves every quantile down by 10 draws: never up
    worse = lw.copy()
    worse[90:] = -np.inf
    worse[95] = np.nan
    assert log_w_quantiles(worse) == {"log_w_median": 39.0, "log_w_spread": 34.0}
    # more than 16% weightless: the spread is infinite, the median still a sample value
    worse[:20] = -np.inf
    assert log_w_quantiles(worse) == {"log_w_median": 39.0, "log_w_spread": np.inf}
    with pytest.raises(ValueError, match="no log-weights"):
        log_w_quantiles([])


@pytest.mark.parametrize("k", [0.3, 0.7, 1.2])
def test_pareto_khat_recovers_the_shape_of_generalised_pareto_weights(k):
    """Weights drawn from a generalised Pareto of shape k (inverse CDF, w = (U^-k - 1)/k): the fit of
    their tail recovers k, averaged over repeats, within 0.07 (one fit of 190 tail draws scatters by
    about 0.1); adding log Z to every log w changes nothing."""
    from rexmol.metrics.weights import pareto_khat

    rng = np.random.default_rng(11)
    fits = []
    for _ in range(12):
        w = (rng.uniform(size=4000) ** (-k) - 1.0) / k
        fits.append(pareto_khat(np.log(w))["khat"])
    assert abs(np.mean(fits) - k) < 0.07, fits
    lw = np.log(w)
    assert pareto_khat(lw + 123.4)["khat"] == pytest.approx(fits[-1], abs=1e-9)
    assert pareto_khat(lw)["tail_draws"] == 190  # min(N/5, 3 sqrt N) for N = 4000


def test_pareto_khat_scatter_at_the_readme_sample_size():
    """The README reads k-hat of n = 1000 paired draws (95 tail draws) as uncertain by about
    0.15-0.2: the scatter of one fit over 40 repeats of generalised Pareto weights at N = 1000 is
    that size at k = 0.7 and 1.0 (measured 0.17 and 0.20; the mean fit at k = 1.0 is 0.90)."""
    from rexmol.metrics.weights import pareto_khat

    rng = np.random.default_rng(5)
    for k, (lo, hi) in ((0.7, (0.1, 0.22)), (1.0, (0.12, 0.25))):
        fits = []
        for _ in range(40):
            w = (rng.uniform(size=1000) ** (-k) - 1.0) / k
            fits.append(pareto_khat(np.log(w))["khat"])
        assert pareto_khat(np.log(w))["tail_draws"] == 95
        assert lo < np.std(fits) < hi, (k, np.std(fits), np.mean(fits))

def test_pareto_khat_of_light_tails_and_bad_input():
    from rexmol.metrics.weights import pareto_khat

    rng = np.random.default_rng(3)
    assert pareto_khat(rng.normal(0.0, 0.3, size=4000))["khat"] < 0.3  # near-uniform weights: a light tail
    lw = rng.normal(0.0, 1.0, size=400)
    lw[:50] = -np.inf  # weight-0 draws are left out, not fitted
    assert pareto_khat(lw)["tail_draws"] == int(np.ceil(min(350 / 5, 3 * np.sqrt(350))))
    with pytest.raises(ValueError, match="at least 5 tail draws"):
        pareto_khat(np.array([0.0, 1.0, 2.0, np.nan]))


def test_psis_ess_of_a_light_generalised_pareto_tail_is_its_closed_form():
    """Weights w ~ GPD(k, sigma = 1) have E[w] = 1 / (1 - k) and E[w^2] = 2 / ((1 - k)(1 - 2k)), so
    an ESS fraction (E w)^2 / E[w^2] = (1 - 2k) / (2 (1 - k)): 4/9 at k = 0.1 (light enough that
    E[w^4] is finite and 50,000 draws pin the ESS to about 1%). Smoothing a tail
    this light must keep it; a constant added to log w (log Z) changes nothing; weight-0 draws
    count in N with weight 0."""
    from rexmol.metrics.weights import kish_ess, psis_ess

    k = 0.1
    lw = np.log((np.random.default_rng(21).uniform(size=50000) ** (-k) - 1.0) / k)
    out = psis_ess(lw)
    assert out["ess_fraction"] == pytest.approx((1 - 2 * k) / (2 * (1 - k)), rel=0.03)
    assert out["ess_fraction"] == pytest.approx(kish_ess(lw), rel=0.01)
    assert abs(out["khat"] - k) < 0.1
    assert psis_ess(lw + 55.5)["ess_fraction"] == pytest.approx(out["ess_fraction"], rel=1e-9)
    padded = np.concatenate([lw, np.full(50000, -np.inf)])
    assert psis_ess(padded)["ess_fraction"] == pytest.approx(out["ess_fraction"] / 2, rel=1e-9)


def test_psis_ess_scatters_less_than_kish_under_a_heavy_tail():
    """At k = 0.7 and N = 1000 (the README's paired draws) the Kish ESS of one set of draws is set
    by its largest weight; the smoothed one by the fitted tail, so over 60 repeats it scatters
    less (log scale)."""
    from rexmol.metrics.weights import kish_ess, psis_ess

    rng = np.random.default_rng(9)
    kish, psis = [], []
    for _ in range(60):
        lw = np.log((rng.uniform(size=1000) ** (-0.7) - 1.0) / 0.7)
        kish.append(kish_ess(lw))
        psis.append(psis_ess(lw)["ess_fraction"])
    assert np.std(np.log(psis)) < 0.8 * np.std(np.log(kish)), (np.std(np.log(psis)), np.std(np.log(kish)))
    # and it estimates the same thing: the typical value stays that of the Kish ESS (measured 0.094
    # against 0.085), so a constant or a flattened tail would fail here
    assert np.median(psis) == pytest.approx(np.median(kish), rel=0.25)
    with pytest.raises(ValueError, match="at least 5 tail draws"):
        psis_ess(np.array([0.0, 1.0, 2.0, np.nan]))
    with pytest.raises(ValueError, match=r"\+inf"):
        psis_ess(np.array([0.0, np.inf] + [1.0] * 100))


def test_paired_ratio_is_exact_for_a_constant_factor_and_pairs_the_resamples():
    """A statistic that is 3x larger on one row for every subset of draws has ratio 3 at both ends
    of its interval only if both rows are resampled at the same indices; unpaired resamples would
    scatter it. Rows of different sizes are refused."""
    from rexmol.metrics.bootstrap import paired_ratio

    rng = np.random.default_rng(11)
    u = rng.normal(5.0, 2.0, size=300)
    base = {"u": u, "weights": np.full(300, 1 / 300)}
    other = {"u": 3.0 * u, "weights": base["weights"]}
    mean_u = lambda a, idx: float(a["u"][idx].mean())  # noqa: E731
    r = paired_ratio(base, other, mean_u, n_boot=100, seed=1)
    assert r["base"] == pytest.approx(u.mean()) and r["other"] == pytest.approx(3 * u.mean())
    assert r["ratio"] == pytest.approx(3.0, rel=1e-12)
    assert r["ratio_interval_16_84"] == pytest.approx([3.0, 3.0], rel=1e-12)
    lo, hi = r["base_interval_16_84"]
    assert lo < u.mean() < hi  # each row's own interval does scatter
    with pytest.raises(ValueError, match="same draws"):
        paired_ratio(base, {"u": u[:10], "weights": base["weights"][:10]}, mean_u)
