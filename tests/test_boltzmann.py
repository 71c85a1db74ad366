"""The Boltzmann-generator pipeline: densities in nm, importance weights, the sample/likelihood/
evaluate jobs (outputs, resuming, refusing to overwrite, clear errors)."""

import json
import math

import numpy as np
import pytest
import torch

import rexmol
from rexmol.boltzmann.evaluate import evaluate, paired_bootstrap_e_w2
from rexmol.boltzmann.generator import BoltzmannGenerator, SolverSpec
from rexmol.boltzmann.likelihood import likelihood_job
from rexmol.boltzmann.reweighting import importance_weights, systematic_resample
from rexmol.boltzmann.sampling import MDReference, chunk_seed, sample_conformers
from rexmol.flows import MeanFreeNormal
from rexmol.model import DiT, token_ids
from rexmol.model.checkpoint import save_model
from rexmol.molecules import ala3

CONFIG = {"width": 16, "depth": 1, "heads": 2, "mlp_ratio": 2.0, "coord_scale": 5.0}


@pytest.fixture(scope="module")
def zero_model(tmp_path_factory):
    """A fresh DiT: adaLN-Zero makes it the zero field, so the flow is the identity and
    q(x) = N(c x; 0, I) c^96 on the mean-free subspace, in closed form."""
    path = tmp_path_factory.mktemp("model") / "zero.pt"
    torch.manual_seed(0)
    return save_model(DiT(*token_ids(ala3.TOPOLOGY_PDB), width=16, depth=1, heads=2, mlp_ratio=2.0), CONFIG, path)


@pytest.fixture(scope="module")
def reference():
    return MDReference(max_frames=1000)


def closed_form_log_q(x_nm, c=5.0):
    prior = MeanFreeNormal(33)
    y = torch.as_tensor(np.asarray(x_nm) * c, dtype=torch.float64)
    return prior.log_prob(prior.project(y)).numpy() + 96 * math.log(c)


@pytest.mark.parametrize("spec", [SolverSpec(), SolverSpec("princeps", steps=2), SolverSpec("torchdiffeq", rtol=0.1, atol=0.1),
                                  SolverSpec(steps=3)])
def test_log_q_is_a_density_in_nm_in_both_directions(zero_model, spec):
    gen = BoltzmannGenerator(rexmol.load_model(zero_model), spec, dtype=torch.float64)
    draw = gen.sample(6, seed=1, roundtrip=True)
    np.testing.assert_allclose(draw.log_q, closed_form_log_q(draw.x), atol=1e-9)
    np.testing.assert_allclose(gen.log_prob(draw.x), draw.log_q, atol=1e-9)
    assert draw.stats["roundtrip_log_q_max_abs"] < 1e-9
    # centring is part of the density: a translated conformation has the same log q
    np.testing.assert_allclose(gen.log_prob(draw.x + 0.3), draw.log_q, atol=1e-9)


def test_draws_are_deterministic_per_seed(zero_model):
    gen = BoltzmannGenerator(rexmol.load_model(zero_model), SolverSpec(steps=1))
    a, b, c = gen.sample(3, seed=7), gen.sample(3, seed=7), gen.sample(3, seed=8)
    np.testing.assert_array_equal(a.x, b.x)
    assert not np.allclose(a.x, c.x)
    assert chunk_seed(0, 1) != chunk_seed(1, 0)


@pytest.mark.parametrize("kwargs,match", [({"coupling": 0.0}, "zeta"), ({"rtol": -1.0}, "rtol"),
                                          ({"solver": "euler"}, "solver must be"), ({"steps": 0}, "steps"),
                                          ({"solver": "torchdiffeq", "steps": 5}, "torchdiffeq")])
def test_impossible_solver_settings_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SolverSpec(**kwargs)


def test_log_prob_refuses_bad_conformations(zero_model):
    gen = BoltzmannGenerator(rexmol.load_model(zero_model))
    with pytest.raises(ValueError, match=r"shape \(n, 33, 3\)"):
        gen.log_prob(np.zeros((2, 32, 3)))
    x = np.zeros((2, 33, 3))
    x[1, 4, 0] = np.nan
    with pytest.raises(ValueError, match="NaN/inf coordinates"):
        gen.log_prob(x)


def test_importance_weights_known_answers():
    u = np.array([1.0, 2.0, 3.0, np.inf])
    rw = importance_weights(u, -u.clip(max=10) + 4.0)  # q = p up to a constant: equal weights
    np.testing.assert_allclose(rw.weights, [1 / 3, 1 / 3, 1 / 3, 0])
    assert rw.ess_fraction == pytest.approx(0.75) and rw.n_nonfinite_energy == 1
    rw = importance_weights(np.zeros(3), np.array([0.0, 0.0, math.log(2.0)]), l_chirality=[True, False, True])
    np.testing.assert_allclose(rw.weights, [2 / 3, 0, 1 / 3])  # w = 1/q, the D sample excluded
    assert rw.n_d_chirality == 1
    with pytest.raises(ValueError, match="every log-weight is non-finite"):
        importance_weights(np.array([np.inf]), np.zeros(1))


def test_systematic_resampling_follows_the_weights():
    w = np.array([0.5, 0.25, 0.125, 0.125])
    idx = systematic_resample(w, 8000, seed=3)
    np.testing.assert_allclose(np.bincount(idx, minlength=4) / 8000, w, atol=1.5 / 8000)


def test_reweighting_recovers_a_known_target():
    """Samples of q = N(0, 1) reweighted to p = N(1, 0.5^2): the weighted mean and variance match p."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=200_000)
    rw = importance_weights(0.5 * ((x - 1.0) / 0.5) ** 2, -0.5 * x * x - 0.5 * math.log(2 * math.pi))
    mean = np.sum(rw.weights * x)
    assert mean == pytest.approx(1.0, abs=0.01)
    assert np.sum(rw.weights * (x - mean) ** 2) == pytest.approx(0.25, abs=0.01)


def test_sample_job_writes_resumes_and_refuses_to_overwrite(zero_model, reference, tmp_path):
    out = tmp_path / "run"
    kw = dict(n=6, chunk_size=4, spec=SolverSpec(steps=2), reference=reference, progress=False)
    res = sample_conformers(zero_model, out, resample=4, **kw)
    for name in ("results.json", "arrays.npz", "samples.dcd", "resampled.dcd", "samples_lowest_energy.pdb",
                 "ramachandran.png", "energies.png", "weights.png"):
        assert (out / name).exists(), name
    assert json.loads((out / "results.json").read_text())["n"] == 6 and res["chunks"] == 2
    # pure noise has clashes: huge or non-finite energies are weighted, counted, never a crash
    assert res["n_nonfinite_energy"] + res["n_d_chirality"] <= 6 and 0 < res["ess_fraction"] <= 1
    with pytest.raises(FileExistsError, match="already holds results.json"):
        sample_conformers(zero_model, out, **kw)
    # an interrupted run resumes: delete the results and one chunk, rerun, get the same numbers
    first = np.load(out / "arrays.npz")["x"]
    (out / "results.json").unlink()
    (out / "chunks" / "chunk_00001.npz").unlink()
    sample_conformers(zero_model, out, **kw)
    np.testing.assert_array_equal(np.load(out / "arrays.npz")["x"], first)
    (out / "results.json").unlink()
    with pytest.raises(ValueError, match="partial run with other settings"):
        sample_conformers(zero_model, out, **{**kw, "n": 8})
    sample_conformers(zero_model, out, overwrite=True, **{**kw, "n": 8})
    assert json.loads((out / "results.json").read_text())["n"] == 8


def test_sample_job_refuses_a_missing_model_before_writing(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        sample_conformers(tmp_path / "nope.pt", tmp_path / "out", n=2)
    assert not (tmp_path / "out").exists()


def test_likelihood_job_on_a_trajectory_file(zero_model, tmp_path):
    import mdtraj

    from rexmol.molecules import dataset

    x = dataset.load_split("test")[:5]
    dcd = tmp_path / "frames.dcd"
    mdtraj.Trajectory(x, mdtraj.load_topology(str(ala3.TOPOLOGY_PDB))).save_dcd(str(dcd))
    res = likelihood_job(zero_model, tmp_path / "lik", frames=dcd, n_frames=None, spec=SolverSpec(steps=2),
                         check_samples=2, progress=False)
    xc = x - x.mean(1, keepdims=True)
    assert res["frames"] == 5
    assert res["nll_nats_per_molecule"] == pytest.approx(-closed_form_log_q(xc).mean(), rel=1e-5)
    assert res["both_directions"]["log_q_gap_max"] < 1e-3
    with pytest.raises(FileExistsError):
        likelihood_job(zero_model, tmp_path / "lik", frames=dcd, spec=SolverSpec(steps=2), progress=False)
    pdb = tmp_path / "wrong.pdb"
    mdtraj.load(str(ala3.TOPOLOGY_PDB)).atom_slice(range(30)).save_pdb(str(pdb))
    with pytest.raises(ValueError, match="has 30 atoms"):
        likelihood_job(zero_model, tmp_path / "lik2", frames=pdb, progress=False)


def test_evaluate_compares_every_solver_in_one_table(zero_model, tmp_path):
    specs = [SolverSpec(steps=2), SolverSpec("torchdiffeq", rtol=0.1, atol=0.1), SolverSpec("princeps", steps=2)]
    res = evaluate(zero_model, tmp_path / "ev", n=4, specs=specs, nll_frames=3, chunk_size=4, progress=False)
    assert [r["solver"] for r in res["rows"]] == [s.label for s in specs]
    assert all("error" not in r for r in res["rows"])
    assert res["rows"][0]["roundtrip_log_q_max_abs"] < 1e-3
    text = (tmp_path / "ev" / "evaluate.txt").read_text()
    assert "MD noise floor" in text and "torchdiffeq" in text
    rex, base, princeps = res["rows"]
    assert rex["E_W2_reweighted_over_torchdiffeq"] == pytest.approx(
        rex["E_W2_kT_reweighted"] / base["E_W2_kT_reweighted"])
    lo, hi = rex["E_W2_kT_reweighted_16_84"]
    assert 0 <= lo <= hi and "E_W2_reweighted_over_torchdiffeq" not in base


def test_paired_bootstrap_of_reweighted_energy_w2():
    """Known answers: equal samples give ratio 1 in every resample; a sample shifted by c kT from a
    reference of the same shape has E-W2 = c in every resample (1-D W2 of a translation)."""
    rng = np.random.default_rng(1)
    ref = rng.normal(size=4000)
    u = rng.normal(size=300)
    w = np.exp(rng.normal(size=300))
    w /= w.sum()
    boots = paired_bootstrap_e_w2({"a": {"u": u, "weights": w}, "b": {"u": u.copy(), "weights": w.copy()}}, ref,
                                  n_boot=50)
    np.testing.assert_array_equal(boots["a"], boots["b"])
    const = np.zeros(300)
    boots = paired_bootstrap_e_w2({"a": {"u": const + 3.0, "weights": np.full(300, 1 / 300)}}, np.zeros(10), n_boot=20)
    np.testing.assert_allclose(boots["a"], 3.0)
    with pytest.raises(ValueError, match="same number of draws"):
        paired_bootstrap_e_w2({"a": {"u": u, "weights": w}, "b": {"u": u[:10], "weights": w[:10]}}, ref)


def test_an_unstable_inverse_is_measured_not_refused(zero_model):
    """Rex at zeta = 0.001 samples forward; its round trip is reported with the predicted amplification."""
    gen = BoltzmannGenerator(rexmol.load_model(zero_model), SolverSpec(coupling=0.001, steps=20))
    draw = gen.sample(2, seed=0, roundtrip=True)
    assert draw.stats["roundtrip_predicted_amplification"] > 1e50
    assert draw.stats["roundtrip_log_q_max_abs"] is None  # overflowed: reported, not raised
    assert np.isfinite(draw.log_q).all()
    # the zero field is integrated exactly by the integrating factor, so x and x_hat agree to rounding
    assert 0.0 <= draw.stats["coupling_defect_max"] < 1e-5


def test_model_report_writes_numbers_beside_the_noise_floor(zero_model, tmp_path):
    from rexmol.training.report import model_report

    report = model_report(zero_model, tmp_path / "rep", n=20, steps=2)
    for key in ("E_W2_kT", "noise_floor_E_W2_kT", "T_W2_rad", "noise_floor_T_W2_rad", "fraction_all_L"):
        assert key in report
    assert report["noise_floor_E_W2_kT"] < report["E_W2_kT"]  # noise is not a molecule
    assert (tmp_path / "rep" / "ramachandran.png").exists() and (tmp_path / "rep" / "report.json").exists()
    with pytest.raises(FileExistsError):
        model_report(zero_model, tmp_path / "rep", n=20, steps=2)
