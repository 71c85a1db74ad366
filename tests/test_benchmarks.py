"""Helpers of the benchmark scripts that decide what a table measures."""

import hashlib
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import t as student_t

from benchmarks.noise_floor import disjoint_pairs, independent_floor, samples_for
from benchmarks.training_ab import paired_nll_difference, paired_sample_comparison, read_likelihood, read_samples


def brute_force_pairings(seeds, k):
    """Every unordered pair of disjoint k-subsets, by listing them."""
    pairs = set()
    for g1 in itertools.combinations(seeds, k):
        for g2 in itertools.combinations([s for s in seeds if s not in g1], k):
            pairs.add(frozenset((g1, g2)))
    return pairs


@pytest.mark.parametrize("n_seeds,k,repeats", [(4, 2, 5), (6, 2, 5), (8, 4, 5), (8, 4, 30), (8, 4, 35),
                                               (9, 3, 200), (15, 4, 5), (15, 7, 5)])
def test_disjoint_pairs_are_disjoint_distinct_and_all_of_them_when_few(n_seeds, k, repeats):
    seeds = list(range(101, 101 + n_seeds))
    pairs = disjoint_pairs(seeds, k, repeats, np.random.default_rng(0))
    keys = set()
    for g1, g2 in pairs:
        assert len(g1) == len(g2) == k and not set(g1) & set(g2) and set(g1) | set(g2) <= set(seeds)
        keys.add(frozenset((tuple(sorted(g1)), tuple(sorted(g2)))))
    assert len(keys) == len(pairs), "a pairing was drawn twice (in either order)"
    if n_seeds <= 9:  # against the listed pairings, not the formula the code uses
        every = brute_force_pairings(seeds, k)
        assert len(pairs) == min(repeats, len(every)) and keys <= every
    else:
        assert len(pairs) == repeats


def _likelihood_dir(path, x, log_q, solver="Princeps(midpoint), 16 steps", model="models/ala3_dit.pt"):
    path.mkdir()
    (path / "likelihood.json").write_text(json.dumps({"solver": solver, "frames": len(log_q), "frames_from": "val",
                                                      "model": model}))
    np.savez(path / "log_q.npz", x=x, log_q=log_q)
    return path


def test_paired_nll_difference_is_the_mean_per_frame_difference_and_refuses_other_frames(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 33, 3)).astype(np.float32)
    base = rng.normal(340.0, 8.0, size=400)  # log q varies a lot between frames ...
    shift = rng.normal(1.5, 0.5, size=400)   # ... the difference little: pairing is what resolves it
    a = read_likelihood(_likelihood_dir(tmp_path / "a", x, base))
    b = read_likelihood(_likelihood_dir(tmp_path / "b", x, base + shift))
    d = paired_nll_difference(a, b)
    assert d["nll_difference_nats"] == pytest.approx(-shift.mean(), abs=1e-9)  # b's log q is higher: lower NLL
    assert d["se_nats"] == pytest.approx(shift.std(ddof=1) / 20.0, rel=1e-9)
    assert d["interval_16_84"][0] < d["nll_difference_nats"] < d["interval_16_84"][1]
    assert d["nll_nats"] - d["nll_base_nats"] == pytest.approx(d["nll_difference_nats"])
    other = read_likelihood(_likelihood_dir(tmp_path / "c", x + np.float32(1e-3), base))
    with pytest.raises(SystemExit, match="not frames of the first"):
        paired_nll_difference(a, other)
    # a subset of the frames, reordered and re-centred in float32 (last-bit noise), pairs frame by frame
    rows = rng.permutation(400)[:150]
    jittered = (x[rows].astype(np.float64) + rng.uniform(-1e-7, 1e-7, size=(150, 33, 3))).astype(np.float32)
    subset = read_likelihood(_likelihood_dir(tmp_path / "f", jittered, base[rows] + shift[rows]))
    d = paired_nll_difference(a, subset)
    assert d["frames"] == 150 and d["nll_difference_nats"] == pytest.approx(-shift[rows].mean(), abs=1e-9)
    assert d["nll_base_nats"] == pytest.approx(-base[rows].mean())
    coarse = read_likelihood(_likelihood_dir(tmp_path / "d", x, base, solver="Princeps(midpoint), 8 steps"))
    with pytest.raises(SystemExit, match="different solvers"):
        paired_nll_difference(a, coarse)
    # a comparison of solvers (benchmarks/nll_solver_gap.py) pairs one model's runs instead
    assert paired_nll_difference(a, coarse, same="model")["nll_difference_nats"] == 0.0
    other_model = read_likelihood(_likelihood_dir(tmp_path / "e", x, base, model="runs/other.pt"))
    with pytest.raises(SystemExit, match="different models"):
        paired_nll_difference(a, other_model, same="model")


def _samples_dir(path, log_w, seed=0, solver=None, model_sha256="aa"):
    """A rexmol sample folder's settings and arrays; u is made up, log q = -u - log w."""
    path.mkdir()
    (path / "settings.json").write_text(json.dumps({"model": str(path), "model_sha256": model_sha256, "n": len(log_w),
                                                    "chunk_size": 50, "seed": seed, "solver": solver or {"steps": 16},
                                                    "clip_quantile": None}))
    u = np.linspace(-160.0, -140.0, len(log_w))
    finite = np.isfinite(log_w)
    w = np.zeros_like(log_w)
    w[finite] = np.exp(log_w[finite] - log_w[finite].max())
    np.savez(path / "arrays.npz", log_q=-u - log_w, u=u, log_w=log_w, weights=w / w.sum())
    return path


def test_paired_psis_ess_ratio_is_moved_less_than_kish_by_one_lucky_draw(tmp_path):
    # What the shipped model's n = 4000 draws showed: one draw 13 nats above the median log w, the
    # rest unchanged. The Kish ratio falls about 100-fold on that one draw (it carries nearly all
    # the weight); the smoothed ratio, the draw counted by the tail fitted to its neighbours, falls
    # too (the fitted tail is heavier) but by far less
    rng = np.random.default_rng(11)
    base_lw = rng.normal(0.0, 2.0, size=4000)
    lucky_lw = base_lw.copy()
    lucky_lw[123] = np.median(base_lw) + 13.0
    base = read_samples(_samples_dir(tmp_path / "a", base_lw))
    lucky = read_samples(_samples_dir(tmp_path / "b", lucky_lw))
    d = paired_sample_comparison(base, lucky, n_boot=200)
    assert d["ess_ratio"] < 0.05
    assert d["psis_ess_ratio"] < 1.0
    assert d["psis_ess_ratio"] > 10 * d["ess_ratio"]


def test_paired_sample_comparison_against_kish_by_hand_and_a_known_shift(tmp_path):
    rng = np.random.default_rng(5)
    base_lw = rng.normal(0.0, 3.0, size=500)
    base_lw[7] = -np.inf  # a draw with an infinite energy: weight 0, left out of the log w statistics
    base = read_samples(_samples_dir(tmp_path / "a", base_lw))
    # A constant shift of log w (another log Z) leaves the ESS and moves mean and median by it
    shifted = read_samples(_samples_dir(tmp_path / "b", base_lw + 2.5))
    d = paired_sample_comparison(base, shifted, n_boot=300)
    assert d["ess_ratio"] == pytest.approx(1.0, rel=1e-9)
    assert d["mean_log_w_difference_nats"] == pytest.approx(2.5, abs=1e-9)
    assert d["median_log_w_difference_nats"] == pytest.approx(2.5, abs=1e-9)
    assert d["mean_log_w_difference_interval_16_84"] == pytest.approx([2.5, 2.5], abs=1e-9)
    assert d["psis_ess_ratio"] == pytest.approx(1.0, rel=1e-9)
    assert d["psis_ess_ratio_interval_16_84"] == pytest.approx([1.0, 1.0], rel=1e-9)
    assert d["n_nonfinite_log_w"] == [1, 1]
    # Halving the spread of log w raises the ESS; against Kish's formula written out here
    narrow_lw = 0.5 * base_lw
    narrow = read_samples(_samples_dir(tmp_path / "c", narrow_lw))
    d = paired_sample_comparison(base, narrow, n_boot=300)

    def kish(lw):
        w = np.exp(lw[np.isfinite(lw)] - lw[np.isfinite(lw)].max())
        return w.sum() ** 2 / (len(lw) * (w ** 2).sum())
    assert d["ess_fraction_base"] == pytest.approx(kish(base_lw), rel=1e-9)
    assert d["ess_fraction"] == pytest.approx(kish(narrow_lw), rel=1e-9)
    assert d["ess_ratio"] > 1.0 and d["ess_ratio_interval_16_84"][0] > 1.0
    assert d["psis_ess_ratio"] > 1.0 and d["psis_ess_ratio_interval_16_84"][0] > 1.0
    finite = base_lw[np.isfinite(base_lw)]
    assert d["mean_log_w_difference_nats"] == pytest.approx(-0.5 * finite.mean(), abs=1e-9)
    # Losing the lowest 40% of the draws (weight 0) leaves the median where it was: a lost draw counts
    # as the lowest (log_w_quantiles), whereas a median of the finite draws alone would rise
    lossy_lw = base_lw.copy()
    lossy_lw[base_lw < np.quantile(finite, 0.4)] = np.nan
    lossy = read_samples(_samples_dir(tmp_path / "g", lossy_lw))
    d = paired_sample_comparison(base, lossy, n_boot=100)
    assert d["median_log_w_difference_nats"] == 0.0
    assert np.median(lossy_lw[np.isfinite(lossy_lw)]) > np.median(finite) + 1.0
    other_noise = read_samples(_samples_dir(tmp_path / "d", base_lw, seed=1))
    with pytest.raises(SystemExit, match="differ in 'seed'"):
        paired_sample_comparison(base, other_noise)
    # draws moved by a bond shift pair with unmoved ones only when asked (the shift is then the A/B)
    moved = read_samples(_samples_dir(tmp_path / "h", narrow_lw))
    moved["settings"]["bond_shift"] = {"path": "m_bond_shift.json", "sha256": "cc"}
    with pytest.raises(SystemExit, match="moved by a bond shift and the other's were not"):
        paired_sample_comparison(base, moved)
    assert paired_sample_comparison(base, moved, n_boot=50, across_bond_shift=True)["ess_ratio"] == \
        pytest.approx(kish(narrow_lw) / kish(base_lw), rel=1e-9)
    # models are compared on one solver, samplers on one model
    other_grid = read_samples(_samples_dir(tmp_path / "e", narrow_lw, solver={"steps": 16, "grid": "logsnr"}))
    with pytest.raises(SystemExit, match="differ in 'solver'"):
        paired_sample_comparison(base, other_grid)
    assert paired_sample_comparison(base, other_grid, n_boot=50, same="model_sha256")["ess_ratio"] == \
        pytest.approx(kish(narrow_lw) / kish(base_lw), rel=1e-9)
    other_model = read_samples(_samples_dir(tmp_path / "f", narrow_lw, model_sha256="bb"))
    with pytest.raises(SystemExit, match="differ in 'model_sha256'"):
        paired_sample_comparison(base, other_model, same="model_sha256")


def test_training_ab_versus_pairs_a_folder_with_the_named_baseline(tmp_path, monkeypatch):
    """Without --versus every folder of a setting pairs with the first; --versus c=b pairs c with b
    (checked by the known shift: c - b = 1.0, c - a = 3.0). Spread and largest weight by hand."""
    from benchmarks import training_ab
    monkeypatch.setattr(training_ab, "write_json", lambda name, payload: names.append(name) or captured.update(payload) or name)
    names: list = []
    rng = np.random.default_rng(2)
    lw = rng.normal(0.0, 2.0, size=200)
    dirs = {k: _samples_dir(tmp_path / k, lw + shift) for k, shift in (("a", 0.0), ("b", 2.0), ("c", 3.0))}
    captured: dict = {}
    training_ab.main(["--samples", *(f"{k}={v}" for k, v in dirs.items()), "--versus", "c=b"])
    pairs = captured["paired_samples"]
    assert (pairs["b"]["baseline"], pairs["c"]["baseline"]) == ("a", "b")
    assert pairs["c"]["median_log_w_difference_nats"] == pytest.approx(1.0, abs=1e-9)
    lo, hi = np.quantile(lw, [0.16, 0.84], method="inverted_cdf")
    assert pairs["c"]["log_w_spread"] == pytest.approx((hi - lo) / 2, abs=1e-9)
    w = np.exp(lw - lw.max())
    assert pairs["c"]["max_weight"] == pytest.approx(w.max() / w.sum(), rel=1e-6)
    captured.clear()
    training_ab.main(["--samples", *(f"{k}={v}" for k, v in dirs.items()), "--json-name", "other_ab"])
    assert captured["paired_samples"]["c"]["median_log_w_difference_nats"] == pytest.approx(3.0, abs=1e-9)
    assert names == ["training_ab", "other_ab"]
    for bad in (["c=c"], ["c=z"]):
        with pytest.raises(SystemExit, match="--versus pairs"):
            training_ab.main(["--samples", *(f"{k}={v}" for k, v in dirs.items()), "--versus", *bad])


def test_sampler_ab_pairs_samplers_of_one_model(tmp_path):
    from benchmarks import sampler_ab

    rng = np.random.default_rng(8)
    lw = rng.normal(0.0, 2.0, size=200)
    a = _samples_dir(tmp_path / "a", lw)
    b = _samples_dir(tmp_path / "b", 0.5 * lw + 1.0, solver={"steps": 16, "grid": "logsnr"})
    sampler_ab.main([f"uniform={a}", f"logsnr={b}", "--boot", "50", "--out-dir", str(tmp_path)])
    d = json.loads((tmp_path / "sampler_ab.json").read_text())["paired"]["logsnr"]
    # the median is a value of the sample (inverted_cdf), and 0.5 x + 1 keeps the order of the draws
    median = np.quantile(lw, 0.5, method="inverted_cdf")
    assert d["median_log_w_difference_nats"] == pytest.approx(1.0 - 0.5 * median, abs=1e-9)
    assert d["solver"] == {"steps": 16, "grid": "logsnr"}


def test_sampler_ab_w2_ratios_against_a_closed_form_reference():
    """Equal weights and draws whose u is the reference's shifted by +1 and +2 kT: 1-D W2 of a shift
    is the shift, so the reweighted E-W2 are 1 and 2 and their ratio 2; T-W2 of torsions equal to
    the reference's is 0 on both rows."""
    from types import SimpleNamespace

    from benchmarks.sampler_ab import reweighted_w2_ratios

    rng = np.random.default_rng(3)
    ref_u = rng.normal(-150.0, 5.0, size=400)
    ref_t = rng.uniform(-np.pi, np.pi, size=(400, 5))
    reference = SimpleNamespace(u=ref_u, torsions=ref_t)
    w = np.full(400, 1 / 400)
    base = {"u": ref_u + 1.0, "weights": w, "torsions": ref_t}
    other = {"u": ref_u + 2.0, "weights": w, "torsions": ref_t}
    r = reweighted_w2_ratios(base, other, reference, n_boot=20)
    e = r["E_W2_kT_reweighted"]
    assert (e["base"], e["other"], e["ratio"]) == pytest.approx((1.0, 2.0, 2.0), rel=1e-9)
    t = r["T_W2_rad_reweighted"]
    assert (t["base"], t["other"], t["ratio"]) == (pytest.approx(0.0, abs=1e-9), pytest.approx(0.0, abs=1e-9), None)
    with pytest.raises(SystemExit, match="no torsions"):
        reweighted_w2_ratios({"u": ref_u, "weights": w}, other, reference)


def test_sampler_ab_w2_refuses_a_run_of_another_target(tmp_path):
    """--w2 scores against the manifest's test set, so a run that records another target is refused
    (naming the run) before any energy is computed."""
    from benchmarks import sampler_ab
    from rexmol.molecules.target import TargetMismatch

    lw = np.random.default_rng(4).normal(0.0, 1.0, size=100)
    a = _samples_dir(tmp_path / "a", lw)
    b = _samples_dir(tmp_path / "b", lw, solver={"steps": 8})
    (a / "results.json").write_text(json.dumps({"target": None}))
    (b / "results.json").write_text(json.dumps({"target": None}))
    with pytest.raises(TargetMismatch, match="sample run"):
        sampler_ab.main([f"x={a}", f"y={b}", "--w2", "--out-dir", str(tmp_path)])
    assert not (tmp_path / "sampler_ab.json").exists()


def test_rex_rows_pair_with_the_princeps_row_of_the_same_tableau_grid_and_density():
    from benchmarks.sampler_sweep import rex_base_setting, settings

    keys = set(settings())
    assert rex_base_setting("rex_midpoint_z0.5_16_jac") == "princeps_midpoint_16_jac"
    assert rex_base_setting("rex_midpoint_z0.999_8_jac") == "princeps_midpoint_8_jac"
    assert rex_base_setting("princeps_midpoint_16_jac") is None
    assert rex_base_setting("torchdiffeq_dopri5_adaptive_div") is None
    assert rex_base_setting("rex_dopri5_z0.5_adaptive_div") is None
    for key in keys:  # every fixed-grid Rex row of the sweep has its base row in the sweep
        base = rex_base_setting(key)
        if key.startswith("rex_") and "adaptive" not in key:
            assert base in keys, (key, base)
            k, b = settings()[key], settings()[base]
            assert (b.solver, b.grid, b.density) == ("princeps", k.grid, k.density)


def test_a_sweep_folder_resumes_only_with_the_model_that_drew_its_chunks(tmp_path):
    from benchmarks.sampler_sweep import claim_chunk_folder

    model_a, model_b = tmp_path / "a.pt", tmp_path / "b.pt"
    model_a.write_bytes(b"model a")
    model_b.write_bytes(b"model b")
    out = tmp_path / "sweep"
    sha = claim_chunk_folder(out, model_a, 0, 50)
    assert sha == hashlib.sha256(b"model a").hexdigest()
    (out / "setting").mkdir()
    (out / "setting" / "chunk_0000.npz").write_bytes(b"")
    assert claim_chunk_folder(out, model_a, 0, 50) == sha
    with pytest.raises(SystemExit, match="holds chunks of the model"):
        claim_chunk_folder(out, model_b, 0, 50)
    with pytest.raises(SystemExit, match="drawn with seed 0, not 1"):
        claim_chunk_folder(out, model_a, 1, 50)
    with pytest.raises(SystemExit, match="drawn with chunk 50, not 32"):
        claim_chunk_folder(out, model_a, 0, 32)
    (out / "model.json").unlink()
    with pytest.raises(SystemExit, match="no model.json"):
        claim_chunk_folder(out, model_a, 0, 50)


def test_the_committed_aaa_sweep_chunks_name_the_first_cycle_model_file():
    """The sweep's chunks were drawn by the model now kept as checkpoints/ala3_dit_aaa/ala3_dit.pt: its
    bytes hash to the SHA-256 that the chunk folder and the log-SNR headline drawn beside it record."""
    root = Path(__file__).resolve().parents[1]
    sha = hashlib.sha256((root / "checkpoints/ala3_dit_aaa/ala3_dit.pt").read_bytes()).hexdigest()
    results = root / "benchmarks/results"
    assert json.loads((results / "sampler_sweep_aaa_chunks/model.json").read_text())["model_sha256"] == sha
    headline = json.loads((results / "aaa_logsnr_headline/settings.json").read_text())
    assert headline["model_sha256"] == sha
    # the recorded seed and chunk size are the headline's, and the draws say so independently: chunk 0
    # of the sweep's default setting is, bit for bit, the headline's first chunk (same noise, model, solver)
    record = json.loads((results / "sampler_sweep_aaa_chunks/model.json").read_text())
    assert (record["seed"], record["chunk"]) == (headline["seed"], headline["chunk_size"]) == (0, 50)
    sweep = np.load(results / "sampler_sweep_aaa_chunks/princeps_midpoint_16logsnr_jac/chunk_0000.npz")
    first = np.load(results / "aaa_logsnr_headline/arrays.npz")
    np.testing.assert_array_equal(sweep["x"], first["x"][:50])
    np.testing.assert_array_equal(sweep["log_q"], first["log_q"][:50])


def test_chunk_reproducibility_redraws_a_committed_chunk(tmp_path):
    """A chunk drawn here and redrawn from its run's settings is bit for bit the same (same machine,
    same threads); a chunk altered by 1e-3 nm shows exactly that difference; another model's file
    under the recorded path is refused, and the recorded model at another path is taken."""
    from benchmarks.chunk_reproducibility import compare_chunk
    from rexmol.boltzmann.generator import BoltzmannGenerator, SolverSpec
    from rexmol.boltzmann.sampling import draw_chunks, load_model_for, prepare_out_dir, run_settings

    root = Path(__file__).resolve().parents[1]
    model = tmp_path / "model.pt"
    model.write_bytes((root / "models" / "ala3_dit.pt").read_bytes())
    spec = SolverSpec("princeps", "midpoint", steps=2, grid="logsnr", density="jacobian")
    run = tmp_path / "run"
    prepare_out_dir(run, run_settings(model, 3, spec, 3, 7), overwrite=False)
    draw_chunks(BoltzmannGenerator(load_model_for(model), spec), 3, run / "chunks", chunk_size=3, seed=7,
                progress=False)
    row = compare_chunk(run, 0)
    assert row["bitwise_equal"] and row["x_max_abs_diff_nm"] == 0.0 and row["draws"] == 3
    chunk = run / "chunks" / "chunk_00000.npz"
    d = dict(np.load(chunk))
    d["x"] = d["x"] + np.float32(1e-3)
    np.savez(chunk, **d)
    row = compare_chunk(run, 0)
    assert not row["bitwise_equal"] and row["x_max_abs_diff_nm"] == pytest.approx(1e-3, rel=1e-3)
    moved = tmp_path / "moved.pt"  # the same bytes elsewhere (a replaced model's new home) still redraw it
    moved.write_bytes(model.read_bytes())
    model.write_bytes(b"another model")
    with pytest.raises(SystemExit, match="is not the file that drew"):
        compare_chunk(run, 0)
    assert compare_chunk(run, 0, moved)["x_max_abs_diff_nm"] == pytest.approx(1e-3, rel=1e-3)
    with pytest.raises(SystemExit, match="is not the file that drew"):
        compare_chunk(run, 0, model)


@pytest.mark.parametrize("n", [50, 400, 3200])
def test_independent_floor_matches_the_closed_form_of_uniform_order_statistics(n):
    # two sorted samples of n uniforms: E[(X_(i) - Y_(i))^2] = 2 i (n + 1 - i) / ((n + 1)^2 (n + 2)),
    # which sums to E[W2^2] = 1 / (3 (n + 1)); a pool of 10^6 draws stands in for the distribution
    pool = np.random.default_rng(7).uniform(size=1_000_000)
    row, = independent_floor(pool, [n], 400, np.random.default_rng(8))
    assert row["independent_samples"] == n
    assert row["E_W2_rms"] == pytest.approx((3 * (n + 1)) ** -0.5, rel=0.06)


def test_samples_for_inverts_a_power_law_and_says_when_no_size_reaches_the_bound():
    rows = [{"independent_samples": n, "E_W2_median": 12.0 / n ** 0.5} for n in (500, 1000, 2000, 4000, 8000)]
    assert samples_for(rows, 0.2) == pytest.approx((12.0 / 0.2) ** 2)  # 3600: between 2000 and 4000
    assert samples_for(rows, 0.1) is None  # would need 14,400 > 8000
    assert samples_for(rows, 1.0) == 500  # the smallest size is already below


def test_residue_regions_and_backbone_states_at_their_boundaries():
    from rexmol.metrics.features import backbone_states, residue_regions

    deg = np.deg2rad
    # phi > 0 is "L" whatever psi; with phi <= 0, psi in [-150, 100) degrees is alpha_R
    got = residue_regions(deg([60.0, 0.0, -70.0, -70.0, -70.0, -70.0]), deg([-40.0, -40.0, -150.0, 99.9, 100.0, -150.1]))
    assert list(got) == ["L", "a", "a", "a", "b", "b"]
    # columns psi1, phi2, psi2, phi3, psi3: residue 2 from columns 1-2, residue 3 by the sign of phi3 alone
    tors = deg(np.array([[170.0, -70.0, 140.0, -70.0, -40.0], [-40.0, 60.0, 30.0, -70.0, 140.0],
                         [170.0, -70.0, -40.0, 60.0, 40.0]]))
    assert list(backbone_states(tors)) == ["bR", "LR", "aL"]
    # a half-turn of the carboxylate (psi3 + 180 deg, the two oxygens swapped) is the same conformation
    flipped = tors.copy()
    flipped[:, 4] = np.angle(np.exp(1j * (flipped[:, 4] + np.pi)))
    assert list(backbone_states(flipped)) == ["bR", "LR", "aL"]
    with pytest.raises(ValueError, match="one shape"):
        residue_regions(np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match="finite"):
        residue_regions(np.array([np.nan]), np.array([0.0]))
    with pytest.raises(ValueError, match=r"\(n, 5\)"):
        backbone_states(np.zeros((3, 6)))


def test_state_table_reweights_by_state_and_lists_states_only_md_visits():
    from benchmarks.state_populations import region_fractions, state_table

    md = np.array(["ba"] * 6 + ["aa"] * 3 + ["Lb"])
    states = np.array(["ba", "ba", "aa", "bb"])
    log_w = np.log([1.0, 1.0, 6.0, 2.0])  # normalised weights 0.1, 0.1, 0.6, 0.2
    rows = {r["state"]: r for r in state_table(md, states, log_w, top=1)}
    assert [r["state"] for r in state_table(md, states, log_w, top=1)][:2] == ["ba", "aa"]  # by MD population
    assert rows["ba"]["md_fraction"] == pytest.approx(0.6) and rows["ba"]["raw_fraction"] == pytest.approx(0.5)
    assert rows["ba"]["raw_fraction_se"] == pytest.approx((0.25 / 4) ** 0.5)
    assert rows["aa"]["reweighted_fraction"] == pytest.approx(0.6) and rows["aa"]["weight_in_top1"] == pytest.approx(0.6)
    assert rows["aa"]["reweighted_fraction_16_84"][0] <= 0.6 <= rows["aa"]["reweighted_fraction_16_84"][1]
    assert rows["bb"]["md_fraction"] == 0.0 and rows["Lb"]["draws"] == 0 and rows["Lb"]["median_log_w"] is None
    assert sum(r["reweighted_fraction"] for r in rows.values()) == pytest.approx(1.0)
    # per-state medians of the draws' u and log q (a weight-0 draw has no log q) and of MD's u
    u, md_u = np.array([1.0, 3.0, 10.0, 5.0]), np.arange(10.0)
    log_q = np.array([-2.0, -4.0, np.nan, 0.5])
    rows = {r["state"]: r for r in state_table(md, states, log_w, top=1, u=u, md_u=md_u, log_q=log_q)}
    assert rows["ba"]["median_u_kT"] == 2.0 and rows["ba"]["md_median_u_kT"] == 2.5  # MD frames 0-5
    assert rows["aa"]["md_median_u_kT"] == 7.0 and rows["bb"]["md_median_u_kT"] is None
    assert rows["ba"]["median_log_q"] == -3.0 and rows["aa"]["median_log_q"] is None
    assert rows["Lb"]["median_u_kT"] is None
    with pytest.raises(ValueError, match="one md_u per conformation"):
        state_table(md, states, log_w, top=1, md_u=md_u[:3])
    f = region_fractions(np.array(["bR", "aL", "LR", "aR"]))
    assert f["residue 2 alpha_R"] == 0.5 and f["residue 2 phi > 0"] == 0.25 and f["residue 3 phi > 0"] == 0.25
    assert sum(f[f"residue 2 {name}"] for name in ("alpha_R", "beta", "phi > 0")) == pytest.approx(1.0)


def test_by_integrator_means_errors_and_welch_t_by_hand():
    from benchmarks.state_populations import REGIONS, by_integrator

    a, b = [0.20, 0.24, 0.22], [0.15, 0.17, 0.16, 0.20]
    fractions = {i: {name: v for name in REGIONS} for i, v in enumerate(a + b)}
    integrators = {i: "1 fs" if i < 3 else "2 fs" for i in range(7)}
    row = by_integrator(fractions, integrators, "1 fs")[0]
    se_a, se_b = np.std(a, ddof=1) / np.sqrt(3), np.std(b, ddof=1) / np.sqrt(4)
    assert row["1 fs mean"] == pytest.approx(0.22) and row["1 fs se"] == pytest.approx(se_a)
    assert row["2 fs minus protocol"] == pytest.approx(np.mean(b) - 0.22)
    assert row["2 fs welch t"] == pytest.approx((np.mean(b) - 0.22) / np.hypot(se_a, se_b))
    # two-sided p on the Welch-Satterthwaite degrees of freedom
    dof = (se_a ** 2 + se_b ** 2) ** 2 / (se_a ** 4 / 2 + se_b ** 4 / 3)
    assert row["2 fs p"] == pytest.approx(2 * student_t.sf(abs(row["2 fs welch t"]), dof))
    assert "1 fs welch t" not in row


def test_integrator_ensemble_populations_refuse_a_shifted_state_and_pass_equal_ones():
    """The integrator benchmark's population test: Welch's t over runs (the state_populations
    benchmark's, checked by hand above), failing a 5-point shift across 12 runs a side with run
    spreads like the AAA runs', passing equal populations and a region no run visits."""
    from benchmarks.md_integrator_ensemble import population_rows
    from benchmarks.state_populations import REGIONS

    rng = np.random.default_rng(0)
    a_ref, a_cand = 0.22 + 0.035 * rng.standard_normal(12), 0.17 + 0.035 * rng.standard_normal(12)

    def runs(alpha, start):
        return {start + i: {name: 0.0 for name in REGIONS} | {"residue 2 alpha_R": a, "residue 2 beta": 1 - a}
                for i, a in enumerate(alpha)}

    ref, cand = runs(a_ref, 0), runs(a_cand, 100)
    rows = {r["region"]: r for r in population_rows(ref | cand, list(ref), list(cand))}
    se = np.hypot(a_ref.std(ddof=1), a_cand.std(ddof=1)) / np.sqrt(12)
    assert rows["residue 2 alpha_R"]["welch t"] == pytest.approx((a_cand.mean() - a_ref.mean()) / se)
    assert rows["residue 2 alpha_R"]["welch t"] < -3 and not rows["residue 2 alpha_R"]["pass"]
    assert rows["residue 2 phi > 0"]["welch t"] == 0.0 and rows["residue 2 phi > 0"]["pass"]  # nobody visits it
    assert rows["residue 2 phi > 0"]["p"] == 1.0
    # every run at exactly 25% against exactly 0%: no spread, so no t, but a difference: a failure of the right sign
    flat = {s: f | {"residue 3 phi > 0": 0.25} for s, f in cand.items()}
    row = next(r for r in population_rows(ref | flat, list(ref), list(flat)) if r["region"] == "residue 3 phi > 0")
    assert row["welch t"] == np.inf and row["p"] == 0.0 and not row["pass"]
    same = runs(a_ref, 100)
    assert all(r["pass"] and abs(r["welch t"]) < 1e-9 for r in population_rows(ref | same, list(ref), list(same)))
    with pytest.raises(SystemExit, match="at least 2 runs"):
        population_rows(ref | cand, list(ref)[:1], list(cand))


def test_integrator_ensemble_refuses_too_few_runs_before_any_work(tmp_path):
    """Welch's t over two or three runs a side can hardly reach 3: the benchmark refuses such a
    comparison up front (here no run exists under --md, so any loading would fail otherwise)."""
    from benchmarks.md_integrator_ensemble import main

    with pytest.raises(SystemExit, match="needs at least 6 runs a side .* got 6 reference and 2 candidate"):
        main(["--md", str(tmp_path), "--reference", *map(str, range(1, 7)), "--candidate", "7", "8"])



def test_sampler_cost_refuses_runs_whose_chunks_hold_other_draws(tmp_path):
    """The cost table compares samplers on the same draws: a run of another seed (or model, or chunk
    size) is refused before anything is drawn."""
    from benchmarks import sampler_cost

    base = {"model": "m.pt", "model_sha256": "a" * 64, "n": 100, "chunk_size": 50, "seed": 0, "solver": {}}
    for name, changes in (("same", {}), ("seed", {"seed": 1}), ("chunk", {"chunk_size": 25}),
                          ("model", {"model_sha256": "b" * 64})):
        (tmp_path / name).mkdir()
        (tmp_path / name / "settings.json").write_text(json.dumps({**base, **changes}))
    for other in ("seed", "chunk", "model"):
        with pytest.raises(SystemExit, match="differs from the baseline"):
            sampler_cost.main([f"a={tmp_path / 'same'}", f"b={tmp_path / other}"])
    with pytest.raises(SystemExit, match="its own name"):
        sampler_cost.main([f"a={tmp_path / 'same'}", f"a={tmp_path / 'seed'}"])


@pytest.mark.slow  # about 20 s: the routes' agreement itself is tests/test_jacobian.py's
def test_tangent_methods_times_both_routes_on_the_same_draws(monkeypatch):
    """benchmarks/tangent_methods.py on 2 draws: a row per method and thread count, ratios to forward
    mode, and the two routes' log q of the same draws agree (float32 tangents)."""
    from benchmarks import tangent_methods

    captured = {}
    monkeypatch.setattr(tangent_methods, "write_json", lambda name, payload: captured.update(payload) or name)
    threads = torch.get_num_threads()
    try:
        tangent_methods.main(["--n", "2", "--repeats", "1", "--threads", "1"])
    finally:
        torch.set_num_threads(threads)
    assert [(r["threads"], r["method"]) for r in captured["rows"]] == [(1, "vmap"), (1, "reverse")]
    vmap_row, reverse_row = captured["rows"]
    assert reverse_row["cpu_vs_vmap"] == pytest.approx(reverse_row["cpu_s_per_draw"] / vmap_row["cpu_s_per_draw"])
    assert captured["log_q_max_abs_difference"] < 1e-3 and captured["same_draws_folded"]


def test_energy_terms_by_state_is_zero_when_the_draws_are_the_md_frames(tmp_path, monkeypatch):
    """Draws that are exactly the MD frames the script compares with have no excess in any term or
    state; and the total u the sampler recorded (the EnergyEvaluator's, one System) equals the sum
    of the force-group terms (energy_terms: one System per group), an independent route."""
    from benchmarks import energy_terms as et
    from rexmol.metrics import backbone_torsions
    from rexmol.molecules import dataset
    from rexmol.molecules.energies import EnergyEvaluator
    from rexmol.molecules.target import AAA

    n = 120
    md = dataset.load_split("test")
    x = md[np.linspace(0, len(md) - 1, n).round().astype(int)]
    with EnergyEvaluator(target=AAA) as ev:
        u = ev.reduced(x)
    run = tmp_path / "run"
    run.mkdir()
    np.savez(run / "arrays.npz", x=x, u=u, log_q=np.zeros(n), log_w=-u, torsions=backbone_torsions(x)[0])
    (run / "results.json").write_text(json.dumps({"target": AAA.record()}))
    captured = {}
    monkeypatch.setattr(et, "write_json", lambda name, payload: captured.update(payload) or tmp_path / "j.json")
    monkeypatch.setattr(et, "RESULTS", tmp_path)
    et.main(["--run", str(run), "--md-frames", str(n), "--json-name", "t"])
    by_state = captured["median_excess_by_state_kT"]
    assert {r["state"] for r in by_state} >= {"bR", "aR"}
    for row in by_state:
        for term, value in row.items():
            if term not in ("state", "draws", "md_frames"):
                assert value == pytest.approx(0.0, abs=2e-3), (row["state"], term)
    assert all(r["median_excess_kT"] == pytest.approx(0.0, abs=1e-9) for r in captured["terms"])

    # Not only zero: stretch one C-H bond by 0.01 nm in the bR draws alone (the H moved along the bond,
    # so no angle at the carbon changes). Only bR's bond term rises, by about k d^2 / 2 at its median;
    # aR's terms stay zero, and a state with fewer than 20 draws or frames is left out.
    from rexmol.metrics.features import backbone_states
    from rexmol.molecules import ala3
    from rexmol.molecules.target import hydrogen_bond_pairs

    topology = ala3.load_topology()[0]
    symbol = {a.index: a.element.symbol for a in topology.atoms()}
    c, h = next((heavy, hyd) for heavy, hyd in hydrogen_bond_pairs(topology) if symbol[heavy] == "C")
    states = backbone_states(backbone_torsions(x)[0])
    stretched = x.copy()
    bond = stretched[:, h] - stretched[:, c]
    stretched[states == "bR", h] += 0.01 * bond[states == "bR"] / np.linalg.norm(bond[states == "bR"], axis=1)[:, None]
    with EnergyEvaluator(target=AAA) as ev:
        u_stretched = ev.reduced(stretched)
    np.savez(run / "arrays.npz", x=stretched, u=u_stretched, log_q=np.zeros(n), log_w=-u_stretched,
             torsions=backbone_torsions(stretched)[0])
    captured.clear()
    et.main(["--run", str(run), "--md-frames", str(n), "--json-name", "t"])
    rows = {r["state"]: r for r in captured["median_excess_by_state_kT"]}
    assert set(rows) == {s for s in set(states) if (states == s).sum() >= 20}
    assert 2.0 < rows["bR"]["HarmonicBondForce"] < 15.0  # C-H: k ~ 2.8e5 kJ/mol/nm^2, so k d^2 / 2 ~ 5 kT at 310 K
    assert rows["bR"]["HarmonicAngleForce"] == pytest.approx(0.0, abs=2e-3)
    assert all(abs(v) < 2e-3 for term, v in rows["aR"].items() if term not in ("state", "draws", "md_frames"))


def test_partial_flow_rk4_is_exact_on_cubics_and_the_zero_field_keeps_each_start(tmp_path, monkeypatch):
    """RK4 integrates dy/dt = 4 t^3 exactly (Simpson's rule on a cubic): y(1) - y(s) = 1 - s^4.
    On the zero field (a fresh DiT, adaLN-Zero) the flow keeps each start y_s = s y1 + (1 - s) y0,
    so the endpoint's distance to its MD frame is (1 - s) |y0 - y1| / scale with the same noise
    for every s: (1 - s) times the s = 0 distance, and the s = 0 endpoint is the noise itself (its
    median energy far above MD's)."""
    from benchmarks import partial_flow as pf
    from rexmol.model import DiT, token_ids
    from rexmol.model.checkpoint import save_model
    from rexmol.molecules import ala3
    from rexmol.molecules.target import AAA

    for s in (0.0, 0.3, 0.9):
        y = pf.rk4(lambda t, y: torch.full_like(y, 4 * t ** 3), torch.zeros(2, dtype=torch.float64), s, 3)
        torch.testing.assert_close(y, torch.full((2,), 1 - s ** 4, dtype=torch.float64), rtol=0, atol=1e-14)

    torch.manual_seed(0)
    model = save_model(DiT(*token_ids(ala3.TOPOLOGY_PDB), width=16, depth=1, heads=2, mlp_ratio=2.0),
                       {"width": 16, "depth": 1, "heads": 2, "mlp_ratio": 2.0, "coord_scale": 5.0},
                       tmp_path / "zero.pt", target=AAA.record())
    captured = {}
    monkeypatch.setattr(pf, "write_json", lambda name, payload: captured.update(payload) or tmp_path / "j.json")
    pf.main(["--model", str(model), "--frames", "256", "--steps", "8"])
    rows = {r["start_s"]: r for r in captured["rows"]}
    assert set(rows) == set(pf.STARTS)
    for s, row in rows.items():
        assert row["rms_to_frame_nm"] == pytest.approx((1 - s) * rows[0.0]["rms_to_frame_nm"], rel=1e-5), s
    assert rows[0.0]["u_median_excess_kT"] > 1e3 > rows[0.98]["u_median_excess_kT"]


def test_bond_shift_cross_fits_each_half_and_reweights_by_an_independent_route(tmp_path):
    """benchmarks/bond_shift.py on 40 MD frames as "draws" (halves A and B differ), with data made of
    B's fit draws moved by a known shift s: A, judged, must be moved by s exactly (fit on B only), B
    by s + mean(B_fit) - mean(A_fit) bond by bond (fit on A only), and the shifted ESS must equal the
    one rebuilt here from log w' = -u(x') - log q + 2 sum log(d' / d), with u(x') by OpenMM's force
    groups (energy_terms, another route than the benchmark's scorer) and d, d' from the bond list. A
    run whose log w is not -u - log q, even by 0.01 nats on one draw, is refused."""
    from benchmarks import bond_shift as bs
    from rexmol.model import bond_graph
    from rexmol.molecules import ala3, dataset
    from rexmol.molecules.bonds import BondTree
    from rexmol.molecules.energies import EnergyEvaluator, energy_terms

    x = dataset.load_split("test")[:: 1499][:40].astype(np.float32)
    assert len(x) == 40
    target = dataset.manifest_target()
    evaluator = EnergyEvaluator(target=target)
    u = evaluator.reduced(x)
    log_q = np.random.default_rng(0).normal(-u.mean(), 1.0, len(u))
    log_w = -u - log_q
    run = tmp_path / "run"
    run.mkdir()
    np.savez(run / "arrays.npz", x=x, u=u, log_q=log_q, log_w=log_w)
    a, b = np.arange(20), np.arange(20, 40)
    fit = {name: idx[u[idx] < np.percentile(u[idx], 95)] for name, idx in (("a", a), ("b", b))}  # all weights finite
    tree = BondTree(bond_graph(ala3.TOPOLOGY_PDB), ala3.N_ATOMS)
    s_known = np.random.default_rng(1).uniform(0.001, 0.003, len(tree.child))
    data = tree.shift(x[fit["a"]], s_known)[0]
    row = bs.cross_fitted(run, tree, data, evaluator)

    pairs = np.array(bond_graph(ala3.TOPOLOGY_PDB))
    length = lambda c: np.linalg.norm(  # noqa: E731
        np.float64(c)[:, pairs[:, 0]] - np.float64(c)[:, pairs[:, 1]], axis=-1)
    by_pair = {tuple(sorted(pq)): k for k, pq in enumerate(pairs.tolist())}
    order = [by_pair[tuple(sorted((p, c)))] for p, c in zip(tree.parent, tree.child)]
    s_b = s_known + length(x[fit["a"]]).mean(0)[order] - length(x[fit["b"]]).mean(0)[order]
    np.testing.assert_allclose(row["shift_nm"][1], s_known, atol=1e-9)  # B judged, fit on A
    np.testing.assert_allclose(row["shift_nm"][0], s_b, atol=1e-9)  # A judged, fit on B
    moved = np.concatenate([tree.shift(x[a], s_b)[0], tree.shift(x[b], s_known)[0]])
    d, d_new = length(x.astype(np.float64)), length(moved)
    np.testing.assert_allclose(np.sort(d_new - d, axis=1),
                               np.sort(np.concatenate([np.tile(s_b, (20, 1)), np.tile(s_known, (20, 1))]), axis=1), atol=1e-9)
    u_new = sum(energy_terms(moved.astype(np.float32), target).values())
    log_w_new = -u_new - log_q + 2 * np.log(d_new / d).sum(1)
    expected_ess = 1 / (40 * np.square(np.exp(log_w_new - np.logaddexp.reduce(log_w_new))).sum())
    assert row["ess_fraction_after"] == pytest.approx(expected_ess, rel=1e-4)
    assert row["ess_fraction_after"] != pytest.approx(row["ess_fraction_before"], rel=1e-2)  # the shift mattered

    log_w[7] += 0.01
    np.savez(run / "arrays.npz", x=x, u=u, log_q=log_q, log_w=log_w)
    with pytest.raises(SystemExit, match="log w is not -u - log q"):
        bs.cross_fitted(run, tree, data, evaluator)


def test_bond_shift_with_a_fixed_file_moves_every_draw_and_refuses_another_run(tmp_path):
    """--shift-file: every draw moved by one shift fitted elsewhere; the ESS after equals the one rebuilt
    here from log w' = -u(x') - log q + 2 sum log(d'/d) (u by OpenMM's force groups, d from the bond list).
    A file fitted to another model, or on the run's own seed, is refused. The moment map (--map moments)
    fitted on one half moves that half's bond means and spreads onto the data's."""
    from benchmarks import bond_shift as bs
    from rexmol.boltzmann.bond_shift import BondShift
    from rexmol.model import bond_graph
    from rexmol.molecules import ala3, dataset
    from rexmol.molecules.bonds import BondTree
    from rexmol.molecules.energies import EnergyEvaluator, energy_terms

    x = dataset.load_split("test")[:: 1499][:40].astype(np.float32)
    target = dataset.manifest_target()
    evaluator = EnergyEvaluator(target=target)
    u = evaluator.reduced(x)
    log_q = np.random.default_rng(0).normal(-u.mean(), 1.0, len(u))
    run = tmp_path / "run"
    run.mkdir()
    np.savez(run / "arrays.npz", x=x, u=u, log_q=log_q, log_w=-u - log_q)
    solver = {"solver": "princeps", "steps": 16}
    (run / "settings.json").write_text(json.dumps({"model_sha256": "abc", "solver": solver, "seed": 0}))
    tree = BondTree(bond_graph(ala3.TOPOLOGY_PDB), ala3.N_ATOMS)
    s = np.random.default_rng(2).uniform(-0.002, 0.002, len(tree.child))
    path = BondShift(s, "abc", solver, {"seed": 1}).save(tmp_path / "shift.json")
    row = bs.fixed_shift(run, BondShift.load(path), evaluator, path)
    pairs = np.array(bond_graph(ala3.TOPOLOGY_PDB))
    length = lambda c: np.linalg.norm(  # noqa: E731
        np.float64(c)[:, pairs[:, 0]] - np.float64(c)[:, pairs[:, 1]], axis=-1)
    moved = tree.shift(x, s)[0]
    d, d_new = length(x), length(moved)
    u_new = sum(energy_terms(moved.astype(np.float32), target).values())
    log_w_new = -u_new - log_q + 2 * np.log(d_new / d).sum(1)
    assert row["ess_fraction_after"] == pytest.approx(1 / (40 * np.square(np.exp(log_w_new - np.logaddexp.reduce(
        log_w_new))).sum()), rel=1e-4)
    assert row["map"] == "fixed" and row["fit"] == {"seed": 1}
    with pytest.raises(SystemExit, match="fitted to model xyz.*drew with abc"):
        bs.fixed_shift(run, BondShift(s, "xyz", solver, {"seed": 1}), evaluator, path)
    with pytest.raises(SystemExit, match="judged on runs of another seed"):
        bs.fixed_shift(run, BondShift(s, "abc", solver, {"seed": 0}), evaluator, path)
    shifted_settings = {"model_sha256": "abc", "solver": solver, "seed": 0, "bond_shift": {"path": str(path), "sha256": "dd"}}
    (run / "settings.json").write_text(json.dumps(shifted_settings))
    with pytest.raises(SystemExit, match="already moved by a bond shift"):  # it would move them twice
        bs.fixed_shift(run, BondShift.load(path), evaluator, path)
    (run / "settings.json").write_text(json.dumps({**shifted_settings, "bond_shift": None}))

    data = x[::2].astype(np.float64)
    row = bs.cross_fitted(run, tree, data, evaluator, "moments")
    a_fit = np.arange(20, 40)  # the second half, which fits the map the first half is judged with
    a_fit = a_fit[u[a_fit] < np.percentile(u[a_fit], 95)]
    np.testing.assert_allclose(row["scale"][0], tree.lengths(data).std(0) / tree.lengths(x[a_fit]).std(0), rtol=1e-9)
    y = tree.affine(x[a_fit], np.array(row["scale"][0]), np.array(row["shift_nm"][0]))[0]
    np.testing.assert_allclose(tree.lengths(y).mean(0), tree.lengths(data).mean(0), atol=1e-9)
    with pytest.raises(ValueError, match="unknown bond map"):
        bs.cross_fitted(run, tree, data, evaluator, "quantiles")


def test_weight_bulk_slope_and_tail_against_closed_forms():
    from benchmarks.weight_bulk import energy_slope, weight_bulk
    rng = np.random.default_rng(3)
    u = -150.0 + 5.0 * rng.standard_normal(4000)
    # A perfect model, log q = -u - log Z: slope 1, every weight equal, ESS 1, the ten heaviest 10/n
    perfect = weight_bulk(u, -u - 7.0, np.full_like(u, 7.0), median_u_md_kT=-150.0)
    assert perfect["log_q_slope_on_minus_u"] == pytest.approx(1.0, abs=1e-9)
    assert perfect["ess_fraction"] == pytest.approx(1.0) and perfect["top10_weight"] == pytest.approx(10 / 4000)
    assert perfect["log_w_spread_nats"] == 0.0
    # A flat model (slope b = 0.8): log w = -u - log q = -(1 - b) u + const, so log w is Gaussian of
    # sd (1 - b) 5 = 1 nat, its half 16-84% range about 1, and the Kish ESS about exp(-1^2) (a
    # lognormal's; at sd 2 its E[w^2] would rest on draws 4 sd out, unseen at this n)
    b = 0.8
    log_q = 3.0 + b * (-u) + 0.01 * rng.standard_normal(u.size)
    flat = weight_bulk(u, log_q, -u - log_q, median_u_md_kT=-160.0)
    assert flat["log_q_slope_on_minus_u"] == pytest.approx(b, abs=0.005)
    assert flat["log_w_spread_nats"] == pytest.approx(1.0, rel=0.1)
    assert flat["ess_fraction"] == pytest.approx(np.exp(-1.0), rel=0.1)
    assert flat["median_u_excess_kT"] == pytest.approx(10.0, abs=0.5)
    # the heaviest draws of a flat model are its lowest-energy ones, whatever their state
    torsions = np.tile(np.deg2rad([150.0, -70.0, 140.0, -80.0, 150.0]), (u.size, 1))  # "bR" everywhere
    lowest = np.argsort(u)[:10]
    torsions[lowest[:3], 2] = np.deg2rad(-40.0)  # three of them alpha_R: "aR"
    flat = weight_bulk(u, log_q, -u - log_q, torsions=torsions)
    assert flat["top10_states"] == {"aR": 3, "bR": 7}
    assert flat["top10_median_u_minus_median_kT"] == pytest.approx(np.median(u[lowest]) - np.median(u), abs=0.5)
    assert flat["top10_median_u_minus_median_kT"] < -10.0
    # weight-0 draws are left out before the ten heaviest are chosen, and the choice maps back onto the
    # draws' own rows: drop the five coolest (a fold, say), and the next ten are the heaviest
    order = np.argsort(u)
    lost_lw = -u - log_q
    lost_lw[order[:5]] = -np.inf
    torsions = np.tile(np.deg2rad([150.0, -70.0, 140.0, -80.0, 150.0]), (u.size, 1))
    torsions[order[5:9], 2] = np.deg2rad(-40.0)  # four of the next ten alpha_R
    torsions[order[:5], 3] = np.deg2rad(60.0)  # the lost ones "bL": must not be counted
    lost = weight_bulk(u, log_q, lost_lw, torsions=torsions)
    assert lost["top10_states"] == {"aR": 4, "bR": 6}
    assert lost["n_finite"] == u.size - 5
    # (the 0.01-nat noise in log q may swap the tenth and eleventh; neither is alpha_R, and the median
    # of ten moves by a fraction of a kT)
    assert lost["top10_median_u_minus_median_kT"] == pytest.approx(
        np.median(u[order[5:15]]) - np.median(u[order[5:]]), abs=0.5)
    # clashes at 1e6 kT outside the central 95% do not move the slope
    clashed_u = u.copy()
    clashed_u[:20] = 1e6
    assert energy_slope(clashed_u, log_q) == pytest.approx(b, abs=0.005)
    with pytest.raises(ValueError, match="one length"):
        weight_bulk(u, log_q[:-1], -u - log_q)


def test_generator_vs_md_takes_a_moved_shift_file_only_with_the_sha_the_run_recorded(tmp_path):
    """A run's bond shift moves with its model when another model ships (the fourth 1 fs cycle's now
    lives beside its checkpoint): the recorded path is refused once it holds other bytes, and
    --bond-shift accepts the moved file by the run's SHA-256 and nothing else."""
    from benchmarks.generator_vs_md import run_bond_shift
    from rexmol.io import file_sha256

    moved, other = tmp_path / "moved.json", tmp_path / "recorded.json"
    moved.write_text('{"shift": 1}')
    other.write_text('{"shift": 2}')
    settings = {"bond_shift": {"path": str(other), "sha256": file_sha256(moved)}}
    with pytest.raises(SystemExit, match="is not the bond shift"):
        run_bond_shift(settings, tmp_path)
    assert run_bond_shift(settings, tmp_path, moved) == moved
    with pytest.raises(SystemExit, match="is not the bond shift"):
        run_bond_shift(settings, tmp_path, tmp_path / "missing.json")
    assert run_bond_shift({}, tmp_path) is None
    with pytest.raises(SystemExit, match="applied no bond shift"):
        run_bond_shift({}, tmp_path, moved)
    # the committed fourth-cycle run: its recorded path now holds the seventh cycle's shift
    root = Path(__file__).resolve().parents[1]
    run = root / "benchmarks/results/aaa_1fs_cycle4_shifted_headline_n2000"
    recorded = json.loads((run / "settings.json").read_text())
    assert run_bond_shift(recorded, run, root / "checkpoints/ala3_dit_aaa_1fs_cycle4/ala3_dit_bond_shift.json")
    with pytest.raises(SystemExit, match="is not the bond shift"):
        run_bond_shift(recorded, run)
