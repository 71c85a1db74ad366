"""The Boltzmann-generator pipeline: densities in nm, importance weights, the sample/likelihood/
evaluate jobs (outputs, resuming, refusing to overwrite, clear errors)."""

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import rexmol
from rexmol.boltzmann.evaluate import evaluate
from rexmol.boltzmann.generator import BoltzmannGenerator, SolverSpec
from rexmol.boltzmann.likelihood import likelihood_job
from rexmol.boltzmann.reweighting import importance_weights, systematic_resample
from rexmol.boltzmann.sampling import (
    MDReference,
    chunk_seed,
    draw_chunks,
    load_model_for,
    prepare_out_dir,
    run_settings,
    sample_conformers,
)
from rexmol.demo import GaussianVelocity
from rexmol.flows import MeanFreeNormal
from rexmol.metrics import energy_w2
from rexmol.metrics.bootstrap import interval, paired_bootstrap_e_w2
from rexmol.model.checkpoint import LoadedModel
from rexmol.molecules import ala3


def same_json(path, result) -> bool:
    """The JSON file holds exactly ``result`` (as the writer serialises it; NaN compares equal)."""
    canon = lambda obj: json.dumps(obj, sort_keys=True, default=float)  # noqa: E731
    return canon(json.loads(path.read_text())) == canon(json.loads(canon(result)))


CONFIG = {"width": 16, "depth": 1, "heads": 2, "mlp_ratio": 2.0, "coord_scale": 5.0}


def closed_form_log_q(x_nm, c=5.0):
    prior = MeanFreeNormal(33)
    y = torch.as_tensor(np.asarray(x_nm) * c, dtype=torch.float64)
    return prior.log_prob(prior.project(y)).numpy() + 96 * math.log(c)


class GaussianDiT(torch.nn.Module):
    """rexmol.demo.GaussianVelocity in the DiT's place: the exact velocity of the linear path from the
    prior to N(mu, S) over (33, 3) scaled coordinates y = c x. mu is mean-free and S = diag(s_k^2) per
    Cartesian axis k, the same for every atom, so S commutes with the centring projection P: the
    field is mean-free already, the projection changes nothing, and on the 96-dimensional
    mean-free subspace p_t = N(t mu, V_k(t) P) per axis with V_k(t) = t^2 s_k^2 + (1 - t)^2."""

    def __init__(self):
        super().__init__()
        self.n_atoms = 33
        gen = torch.Generator().manual_seed(0)
        mu = 2.0 * torch.randn(33, 3, generator=gen, dtype=torch.float64)  # ~0.4 nm at c = 5
        self.register_buffer("mu", mu - mu.mean(0))
        self.register_buffer("sd", torch.tensor([0.5, 0.8, 1.2], dtype=torch.float64).expand(33, 3).clone())
        self.anchor = torch.nn.Parameter(torch.zeros(()))  # the generator reads device and dtype from a parameter

    def forward(self, t, x):
        return GaussianVelocity(self.mu, self.sd)(t, x)


def gaussian_generator(spec, dtype=torch.float64, c=5.0, method=None):
    """The generator on GaussianDiT. ``method``: the exact divergence's method (default: the
    generator's own, "loop"); "vjp" is 10x faster on this field and equal to rounding (test_flows
    checks every method against the brute-force trace)."""
    gen = BoltzmannGenerator(LoadedModel(GaussianDiT(), c, {}, {}), spec, dtype=dtype)
    if method is not None:
        gen.flow.method = method
    return gen


def gaussian_log_q_nm(x_nm, model, c=5.0, t1=0.999, prior_scale=1.0):
    """Closed form of the generator's density in nm: x = y / c ~ N(t1 mu / c, V_k(t1) / c^2) on the
    mean-free subspace (32 dimensions per axis), per nm^96. Written in nm directly, so it shares
    neither the prior's code nor the 96 log c of the change of units with the generator. The flow
    map is affine, y_t = t mu + sqrt(V_k(t)) z, so noise drawn at ``prior_scale`` s (z ~ N(0, s^2))
    lands on N(t1 mu / c, s^2 V_k(t1) / c^2)."""
    x = np.asarray(x_nm, dtype=np.float64)
    x = x - x.mean(axis=1, keepdims=True)
    var_nm = prior_scale**2 * (t1**2 * model.sd[0].double().numpy() ** 2 + (1 - t1) ** 2) / c**2  # (3,)
    r = x - t1 * model.mu.double().numpy() / c
    return (-(r**2).sum(axis=1) / (2 * var_nm)).sum(-1) - 16 * np.log(2 * np.pi * var_nm).sum()


TOL = 1e-6


def spy_on_solutions(monkeypatch, flow, method):
    """Record the Solution of every ``flow.<method>(..., return_solution=True)`` the generator makes."""
    seen, original = [], getattr(flow, method)

    def spy(*args, **kwargs):
        out = original(*args, **kwargs)
        if kwargs.get("return_solution"):
            seen.append(out[-1])
        return out

    monkeypatch.setattr(flow, method, spy)
    return seen


@pytest.mark.parametrize("spec, method", [(SolverSpec(rtol=TOL, atol=TOL), None),
                                          (SolverSpec("princeps", rtol=TOL, atol=TOL), "vjp"),
                                          (SolverSpec("torchdiffeq", rtol=TOL, atol=TOL), "vjp")],
                         ids=["rex", "princeps", "torchdiffeq"])
def test_log_q_of_a_gaussian_flow_is_the_closed_form_in_nm(spec, method, monkeypatch):
    """The whole path (model -> mean-free projection -> divergence -> y = c x -> + 96 log c) on a
    field that moves every coordinate, for Rex at the shipped zeta, Princeps and torchdiffeq:
    sample's conformers are the exact flow map of their noise, sample's log q and log_prob's (an
    independent data -> noise solve, of conformers translated to test the centring) are the
    closed-form density per nm^96.

    Tolerance from the solver's: each accepted step's local error in log q is at most
    atol + rtol |l| (rexmol's controller norms the accumulator l per row, on its own), and this
    flow neither amplifies nor damps much, so a solve of N steps is off by at most
    N tol (1 + max |l|), |l| ~ 24 here. torchdiffeq's controller takes one RMS over the batch for
    l, so one row may carry sqrt(n) times that; its accepted steps are at most nfe / 6. Measured at
    tol 1e-6: 3e-6 to 1.1e-5 for rexmol (budget ~2e-4), 1e-4 for torchdiffeq. Rex (the shipped
    settings) runs the generator's default divergence method, the others the faster vjp."""
    gen = gaussian_generator(spec, method=method)
    model, c = gen.loaded.model, gen.loaded.coord_scale
    n = 4
    reverse_solutions = spy_on_solutions(monkeypatch, gen.flow, "log_prob")
    draw = gen.sample(n, seed=1)
    z = torch.as_tensor(draw.z)
    exact_x = GaussianVelocity(model.mu, model.sd).flow_map(z, 0.0, gen.flow.t1).numpy() / c
    assert np.abs(exact_x - z.numpy() / c).max() > 0.1  # the flow moved the conformers (nm)
    truth = gaussian_log_q_nm(draw.x, model)
    l_max = float(np.abs(draw.log_q - 96 * math.log(c) - gen.prior.log_prob(z).numpy()).max())
    if spec.solver == "torchdiffeq":
        fwd_steps, rows = draw.nfe / 6, math.sqrt(n)
        gen._baseline.nfe = 0
        log_q_back = gen.log_prob(draw.x + np.array([0.3, -0.2, 0.1]))
        back_steps = gen._baseline.nfe / 6
    else:
        fwd_steps, rows = draw.stats["steps"], 1.0
        log_q_back = gen.log_prob(draw.x + np.array([0.3, -0.2, 0.1]))
        (back,) = reverse_solutions
        back_steps = back.n_steps
    budget = lambda steps: steps * rows * TOL * (1 + l_max)  # noqa: E731
    np.testing.assert_allclose(draw.x, exact_x, rtol=0, atol=budget(fwd_steps) / c)
    np.testing.assert_allclose(draw.log_q, truth, rtol=0, atol=budget(fwd_steps))
    np.testing.assert_allclose(log_q_back, truth, rtol=0, atol=budget(back_steps))


@pytest.mark.parametrize("spec", [SolverSpec("princeps", rtol=TOL, atol=TOL, prior_scale=0.8),
                                  SolverSpec("princeps", "rk4", steps=64, density="jacobian", prior_scale=0.8)],
                         ids=["divergence", "jacobian"])
def test_a_scaled_prior_gives_the_closed_form_of_the_tempered_gaussian_flow(spec):
    """A tempered latent (prior_scale s = 0.8) on the Gaussian flow: the noise is s times the
    unscaled generator's noise of the same seed (paired draws), the conformers are the exact flow
    map of it, and log q of the draws and of an independent data -> noise solve is the closed-form
    density of N(t1 mu, s^2 V(t1)) per nm^96, not the untempered one (1.0-3.7 nats off at these
    draws). Tolerance 1e-4 nats: the adaptive row at tol 1e-6 as in the test above (measured 6e-6
    forward, 2e-6 back); 64 RK4 steps of this linear field leave the discrete map's density within
    it of the flow's (measured 2e-8; the reverse solve 6e-8)."""
    gen = gaussian_generator(spec, method="vjp")
    plain = gaussian_generator(SolverSpec("princeps", rtol=TOL, atol=TOL), method="vjp")
    model, c = gen.loaded.model, gen.loaded.coord_scale
    draw = gen.sample(4, seed=1)
    np.testing.assert_allclose(draw.z, 0.8 * plain.prior_draws(4, seed=1).numpy(), rtol=0, atol=1e-12)
    z = torch.as_tensor(draw.z)
    exact_x = GaussianVelocity(model.mu, model.sd).flow_map(z, 0.0, gen.flow.t1).numpy() / c
    np.testing.assert_allclose(draw.x, exact_x, rtol=0, atol=1e-5)
    truth = gaussian_log_q_nm(draw.x, model, prior_scale=0.8)
    assert np.abs(gaussian_log_q_nm(draw.x, model) - truth).min() > 0.5  # the scale matters here
    np.testing.assert_allclose(draw.log_q, truth, rtol=0, atol=1e-4)
    np.testing.assert_allclose(gen.log_prob(draw.x + np.array([0.3, -0.2, 0.1])), truth, rtol=0, atol=1e-4)
    assert "prior scale 0.8" in spec.label


def test_prior_scale_is_validated_and_recorded_only_where_it_is_not_one():
    assert "prior_scale" not in SolverSpec.default_sampler().record()
    assert SolverSpec.default_sampler().record() == {k: v for k, v in vars(SolverSpec.default_sampler()).items()
                                                     if k != "prior_scale"}
    assert SolverSpec(prior_scale=0.9).record()["prior_scale"] == 0.9
    for bad in (0.0, -0.5, float("nan"), "0.9", True):
        with pytest.raises(ValueError, match="prior_scale"):
            SolverSpec(prior_scale=bad)

def test_a_partial_run_resumes_only_at_its_own_prior_scale(zero_model, tmp_path):
    """settings.json records the prior scale where it is not 1 (runs from before it existed still
    resume), and a partial run refuses to continue at another scale, naming the setting."""
    import dataclasses

    default = SolverSpec.default_sampler()
    plain = run_settings(zero_model, 4, default, 2, 0)
    prepare_out_dir(tmp_path / "plain", plain, overwrite=False)
    assert "prior_scale" not in json.loads((tmp_path / "plain" / "settings.json").read_text())["solver"]
    prepare_out_dir(tmp_path / "plain", run_settings(zero_model, 4, default, 2, 0), overwrite=False)  # resumes
    tempered = run_settings(zero_model, 4, dataclasses.replace(default, prior_scale=0.9), 2, 0)
    with pytest.raises(ValueError, match="other settings .*prior_scale"):
        prepare_out_dir(tmp_path / "plain", tempered, overwrite=False)
    prepare_out_dir(tmp_path / "tempered", tempered, overwrite=False)
    assert json.loads((tmp_path / "tempered" / "settings.json").read_text())["solver"]["prior_scale"] == 0.9

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
    rw = importance_weights(np.array([np.inf, np.inf]), np.zeros(2))  # nothing kept: reported, not raised
    assert rw.ess_fraction == 0.0 and rw.n_nonfinite_energy == 2 and not rw.weights.any()


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
    assert same_json(out / "results.json", res)
    assert res["n"] == 6 and res["chunks"] == 2
    # pure noise has clashes: huge or non-finite energies are weighted, counted, never a crash. The
    # summary numbers are those of the saved arrays, recomputed here independently: log w = -u - log q
    # on the kept draws, Kish ESS = (sum w)^2 / (n sum w^2).
    with np.load(out / "arrays.npz") as a:
        u, log_q, log_w, w = a["u"], a["log_q"], a["log_w"], a["weights"]
    assert res["n_nonfinite_energy"] == int((~np.isfinite(u)).sum())
    kept = np.isfinite(log_w)  # weights of kept draws may underflow to 0 (energies up to 1e10 kT here)
    assert kept.any() and np.isfinite(u[kept]).all() and not w[~kept].any()
    assert res["n_folded"] == int(np.isnan(log_q).sum())
    # draws with a finite energy are dropped only as D stereoisomers or folded maps
    assert int((np.isfinite(u) & ~kept).sum()) <= res["n_d_chirality"] + res["n_folded"]
    np.testing.assert_allclose(log_w[kept], -u[kept] - log_q[kept], rtol=1e-12)
    raw = np.exp(log_w[kept] - log_w[kept].max())
    np.testing.assert_allclose(w[kept], raw / raw.sum(), rtol=1e-9)
    assert w.sum() == pytest.approx(1.0)
    assert res["ess_fraction"] == pytest.approx(raw.sum() ** 2 / (6 * (raw**2).sum()), rel=1e-9)
    assert res["ess"] == pytest.approx(6 * res["ess_fraction"]) and res["max_weight"] == pytest.approx(w.max())
    # floors at the size each metric rests on: raw at the finite draws, reweighted at the ESS; the
    # fewer frames a floor rests on, the higher it sits (checked against this run's own counts)
    raw_floor, rw_floor = res["noise_floor_raw"], res["noise_floor_reweighted"]
    assert len(raw_floor["draws"][0]["frames_E"]) == raw_floor["n_E"] == int(np.isfinite(u).sum())
    n_eff = (w.sum() ** 2 / np.square(w).sum()) if w.any() else 0.0  # Kish ESS as a count, from the saved weights
    assert len(rw_floor["draws"][0]["frames_E"]) == rw_floor["n_E"] == max(1, round(n_eff))
    # bootstrap intervals over resamples of the saved draws (numpy here, the module's own seeding)
    boot = res["bootstrap"]
    idx = np.random.default_rng(boot["seed"]).integers(0, 6, size=(boot["n_boot"], 6))
    ess = [(w[i].sum() ** 2 / np.square(w[i]).sum()) / 6 if w[i].any() else 0.0 for i in idx]
    assert boot["ess_fraction_16_84"] == pytest.approx(np.percentile(ess, [16, 84]).tolist())
    ew2 = [quantile_w2(u[i][w[i] > 0], w[i][w[i] > 0], reference.u) if w[i].any() else np.nan for i in idx]
    assert boot["E_W2_kT_reweighted_16_84"] == pytest.approx(np.nanpercentile(ew2, [16, 84]).tolist(), rel=1e-6)
    assert boot["T_W2_rad_reweighted_16_84"] is not None and np.isfinite(boot["T_W2_rad_reweighted_16_84"]).all()
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


def test_noise_floor_uses_independent_frames_of_non_test_runs(reference):
    from rexmol.molecules import dataset

    manifest = dataset.load_manifest()
    floor_seeds = set(manifest["splits"]["val"]) | set(manifest["splits"]["train"])
    floor = reference.noise_floor(300, seed=4, repeats=3)
    assert set(floor["floor_runs"]) == floor_seeds  # never the test set's trajectories
    # torsions decorrelate over tens to hundreds of ps, energies within a few: the T-W2 pool is the
    # smaller (on the shipped 1 fs pool 81 against 4.3 frames)
    assert floor["tau_T_frames"] > 10 * floor["tau_E_frames"]
    runs = reference.floor_pool()["runs"]
    values = []
    for draw in floor["draws"]:
        for key, tau in (("frames_E", floor["tau_E_frames"]), ("frames_T", floor["tau_T_frames"])):
            frames = np.array(draw[key])
            assert len(set(map(tuple, frames))) == len(frames)
            for s in np.unique(frames[:, 0]):  # frames of one run lie on a grid of stride ceil(tau)
                idx = np.sort(frames[frames[:, 0] == s, 1])
                assert (np.diff(idx) % int(np.ceil(tau)) == 0).all() and (np.diff(idx) >= tau).all()
        assert len(draw["frames_E"]) == 300 and len({s for s, _ in draw["frames_T"]}) > 1
        # each draw's floor is the W2 of exactly its frames, recomputed by an independent quantile route
        with reference.evaluator() as ev:  # the reference's own target (the old one on the shipped data)
            u = ev.reduced(np.stack([runs[s][i] for s, i in draw["frames_E"]]))
        values.append(quantile_w2(u, np.full(len(u), 1 / len(u)), reference.u))
        assert draw["E_W2_kT"] == pytest.approx(values[-1], rel=1e-6)
    assert floor["E_W2_kT"] == pytest.approx(float(np.median(values)), rel=1e-6)
    assert len({tuple(map(tuple, d["frames_E"])) for d in floor["draws"]}) == 3  # independent draws
    # asking for more independent frames than the MD holds uses them all
    stride = int(np.ceil(floor["tau_T_frames"]))
    every = MDReference._spaced(runs, floor["tau_T_frames"], 10**6, np.random.default_rng(0))
    capacity = sum(-(-len(x) // stride) for x in runs.values())
    assert capacity - len(runs) <= len(every) <= capacity
    with pytest.raises(ValueError, match="n >= 1"):
        reference.noise_floor(0)


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
    assert res["model_sha256"] == hashlib.sha256(Path(zero_model).read_bytes()).hexdigest()  # names the weights
    assert res["nll_nats_per_molecule"] == pytest.approx(-closed_form_log_q(xc).mean(), rel=1e-5)
    # the zero field: both directions agree to float32 rounding (the Gaussian-flow test checks them on a
    # field that moves the conformers); here the job's plumbing is the point
    assert res["both_directions"]["log_q_gap_max"] < 1e-4
    with pytest.raises(FileExistsError):
        likelihood_job(zero_model, tmp_path / "lik", frames=dcd, spec=SolverSpec(steps=2), progress=False)
    pdb = tmp_path / "wrong.pdb"
    mdtraj.load(str(ala3.TOPOLOGY_PDB)).atom_slice(range(30)).save_pdb(str(pdb))
    with pytest.raises(ValueError, match="has 30 atoms"):
        likelihood_job(zero_model, tmp_path / "lik2", frames=pdb, progress=False)
    # the frames of an earlier run again (its log_q.npz), every other one: the same log q, frame by frame
    again = likelihood_job(zero_model, tmp_path / "lik3", frames=tmp_path / "lik" / "log_q.npz", n_frames=3,
                           spec=SolverSpec(steps=2), check_samples=0, progress=False)
    first, subset = np.load(tmp_path / "lik" / "log_q.npz"), np.load(tmp_path / "lik3" / "log_q.npz")
    assert again["frames"] == 3 and np.abs(subset["x"] - first["x"][[0, 2, 4]]).max() < 1e-6
    assert subset["log_q"] == pytest.approx(first["log_q"][[0, 2, 4]], abs=1e-4)
    np.savez(tmp_path / "bad.npz", x=x[:, :30])
    with pytest.raises(ValueError, match=r"bad\.npz: x has shape \(5, 30, 3\)"):
        likelihood_job(zero_model, tmp_path / "lik4", frames=tmp_path / "bad.npz", progress=False)


def test_a_draw_only_helper_draws_from_the_end_and_leaves_the_judging_to_the_run(zero_model, reference, tmp_path,
                                                                                monkeypatch):
    """A helper (--draw-only-from-end) in the run's folder draws the missing chunks last first and
    writes no results; the run then draws what is left, judges all, and gets exactly the draws of a
    run that drew every chunk itself."""
    from rexmol.boltzmann.sampling import chunk_seed

    kw = dict(n=5, chunk_size=2, spec=SolverSpec("princeps", "midpoint", steps=2), seed=3, reference=reference,
              progress=False, plots=False)
    alone = sample_conformers(zero_model, tmp_path / "alone", **kw)
    out = tmp_path / "shared"
    seeds = []
    real = BoltzmannGenerator.sample
    monkeypatch.setattr(BoltzmannGenerator, "sample", lambda self, m, seed=0, **k: seeds.append(seed) or real(
        self, m, seed, **k))
    drawn_by_run = chunk_seed(3, 0)
    sample_conformers(zero_model, out, **kw, draw_only_from_end=True)  # first, to see its order whole
    assert seeds == [chunk_seed(3, i) for i in (2, 1, 0)] and not (out / "results.json").exists()
    (out / "chunks" / "chunk_00000.npz").unlink()  # as if the run had not yet written its first chunk
    seeds.clear()
    res = sample_conformers(zero_model, out, **kw)
    assert seeds == [drawn_by_run]  # the run drew only what was missing
    with np.load(tmp_path / "alone" / "arrays.npz") as a, np.load(out / "arrays.npz") as b:
        np.testing.assert_array_equal(a["x"], b["x"])
        np.testing.assert_array_equal(a["log_q"], b["log_q"])
    assert res["ess_fraction"] == alone["ess_fraction"]
    with pytest.raises(FileExistsError, match="already holds results.json"):
        sample_conformers(zero_model, out, **kw, draw_only_from_end=True)


def test_a_draw_only_helper_of_a_growing_run_leaves_the_reused_chunks_to_it(zero_model, reference, tmp_path,
                                                                           monkeypatch):
    """A helper given the helped run's --reuse-chunks draws only the chunks past the source's n (last
    first), copies none and never draws the source's own chunks twice; the helped run then copies the
    source's chunks, draws nothing, and gets exactly the draws of a run that drew every chunk itself."""
    from rexmol.boltzmann.sampling import chunk_seed

    kw = dict(chunk_size=2, spec=SolverSpec("princeps", "midpoint", steps=2), seed=3, reference=reference,
              progress=False, plots=False)
    alone = sample_conformers(zero_model, tmp_path / "alone", n=8, **kw)
    sample_conformers(zero_model, tmp_path / "small", n=4, **kw)  # chunks 0 and 1
    out = tmp_path / "grown"
    seeds = []
    real = BoltzmannGenerator.sample
    monkeypatch.setattr(BoltzmannGenerator, "sample", lambda self, m, seed=0, **k: seeds.append(seed) or real(
        self, m, seed, **k))
    sample_conformers(zero_model, out, n=8, **kw, reuse_from=tmp_path / "small", draw_only_from_end=True)
    assert seeds == [chunk_seed(3, i) for i in (3, 2)]
    assert sorted(p.name for p in (out / "chunks").iterdir()) == ["chunk_00002.npz", "chunk_00003.npz"]
    seeds.clear()
    res = sample_conformers(zero_model, out, n=8, **kw, reuse_from=tmp_path / "small")
    assert seeds == []
    with np.load(tmp_path / "alone" / "arrays.npz") as a, np.load(out / "arrays.npz") as b:
        np.testing.assert_array_equal(a["x"], b["x"])
    assert res["ess_fraction"] == alone["ess_fraction"]
    with pytest.raises(ValueError, match="takes no --resample"):
        sample_conformers(zero_model, tmp_path / "other", n=8, **kw, resample=2, draw_only_from_end=True)


def test_likelihood_job_resumes_a_cut_off_run_batch_by_batch(zero_model, tmp_path, monkeypatch):
    """A run cut off after its first batch (the second raises) leaves that batch on disk; the rerun
    computes only the missing batches and gives each frame its closed-form log q, in order; a rerun
    with another solver is refused, naming it; the batches go once the results are written."""
    root = Path(__file__).resolve().parents[1]
    x = np.load(root / "benchmarks/results/aaa_nll/log_q.npz")["x"][:5].astype(np.float64)  # 5 MD test frames
    np.savez(tmp_path / "frames.npz", x=x)
    kw = dict(frames=tmp_path / "frames.npz", n_frames=None, spec=SolverSpec(steps=2), check_samples=0,
              batch_size=2, progress=False)
    out = tmp_path / "lik"
    calls = []
    real = BoltzmannGenerator.log_prob

    def cut_off_after_one_batch(self, x_nm, **k):
        calls.append(len(x_nm))
        if len(calls) > 1:
            raise KeyboardInterrupt("cut off")
        return real(self, x_nm, **k)

    monkeypatch.setattr(BoltzmannGenerator, "log_prob", cut_off_after_one_batch)
    with pytest.raises(KeyboardInterrupt):
        likelihood_job(zero_model, out, **kw)
    assert sorted(p.name for p in (out / "batches").iterdir()) == ["batch_00000.npz"]
    assert not (out / "likelihood.json").exists()
    with pytest.raises(ValueError, match="other settings.*'solver'"):
        likelihood_job(zero_model, out, **{**kw, "spec": SolverSpec(steps=3)})
    monkeypatch.setattr(BoltzmannGenerator, "log_prob", lambda self, x_nm, **k: calls.append(len(x_nm)) or real(
        self, x_nm, **k))
    calls.clear()
    res = likelihood_job(zero_model, out, **kw)
    assert calls == [2, 1]  # batches 1 and 2 only
    log_q = np.load(out / "log_q.npz")["log_q"]
    np.testing.assert_allclose(log_q, closed_form_log_q(x - x.mean(1, keepdims=True)), rtol=1e-5)
    assert res["frames"] == 5 and not (out / "batches").exists()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="holds no rexmol likelihood run"):
        likelihood_job(zero_model, tmp_path / "other", **kw)
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"
    (tmp_path / "sample_run").mkdir()  # a rexmol sample folder is not a likelihood run, even with overwrite
    (tmp_path / "sample_run" / "settings.json").write_text(json.dumps({"model": "m.pt", "n": 2}))
    with pytest.raises(FileExistsError, match="another job's run"):
        likelihood_job(zero_model, tmp_path / "sample_run", **kw, overwrite=True)
    assert json.loads((tmp_path / "sample_run" / "settings.json").read_text()) == {"model": "m.pt", "n": 2}


def quantile_w2(u_a, w_a, u_b):
    """W2 of 1-D distributions from their quantile functions, W2^2 = int_0^1 (F_a^-1(p) - F_b^-1(p))^2 dp:
    both are step functions, constant between the union of their CDF breakpoints (independent of
    POT, which rexmol.metrics uses)."""
    ia, ib = np.argsort(u_a), np.argsort(u_b)
    ua, ub = u_a[ia], u_b[ib]
    ca, cb = np.cumsum(w_a[ia] / w_a.sum()), np.arange(1, len(ub) + 1) / len(ub)
    ca[-1] = 1.0  # no rounding beyond the last breakpoint
    p = np.union1d(ca, cb)
    mid = (np.concatenate([[0.0], p[:-1]]) + p) / 2
    qa = ua[np.minimum(np.searchsorted(ca, mid), len(ua) - 1)]
    qb = ub[np.minimum(np.searchsorted(cb, mid), len(ub) - 1)]
    return float(np.sqrt(np.sum((qa - qb) ** 2 * np.diff(np.concatenate([[0.0], p])))))


def test_quantile_w2_known_answers():
    assert quantile_w2(np.array([0.0, 4.0]), np.array([1.0, 3.0]), np.array([0.0])) == pytest.approx(math.sqrt(12))
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=50), rng.normal(size=70)
    w = rng.random(50)
    assert quantile_w2(a, w, b) == pytest.approx(energy_w2(a, b, w_a=w).value, rel=1e-9)


def percentiles(values):
    """16th and 84th percentiles of the finite values (a resample with no kept draw is NaN)."""
    v = values[np.isfinite(values)]
    return [np.percentile(v, 16), np.percentile(v, 84)]


def test_evaluate_compares_every_solver_in_one_table(zero_model, reference, tmp_path, monkeypatch):
    import rexmol.boltzmann.evaluate as ev

    monkeypatch.setattr(ev, "MDReference", lambda *args, **kwargs: reference)  # the 1000-frame subset
    specs = [SolverSpec(steps=2), SolverSpec("torchdiffeq", rtol=0.1, atol=0.1), SolverSpec("princeps", steps=2)]
    res = evaluate(zero_model, tmp_path / "ev", n=4, specs=specs, nll_frames=3, chunk_size=4, progress=False)
    assert [r["solver"] for r in res["rows"]] == [s.label for s in specs]
    assert all("error" not in r for r in res["rows"])
    text = (tmp_path / "ev" / "evaluate.txt").read_text()
    assert "MD noise floor" in text and "torchdiffeq" in text
    assert same_json(tmp_path / "ev" / "evaluate.json", res)
    # every solver's reweighted E-W2 and the ratio to torchdiffeq, from the saved draws and an
    # independent W2; the interval is the 16-84% range of the paired bootstrap of those draws
    arrays, w2 = {}, {}
    for row, spec in zip(res["rows"], specs):
        with np.load(tmp_path / "ev" / ev.slug(spec) / "arrays.npz") as a:
            arrays[row["solver"]] = {"u": a["u"], "weights": a["weights"]}
        u, w = arrays[row["solver"]]["u"], arrays[row["solver"]]["weights"]
        w2[row["solver"]] = quantile_w2(u[w > 0], w[w > 0], reference.u)
        assert row["E_W2_kT_reweighted"] == pytest.approx(w2[row["solver"]], rel=1e-6)
    boots = paired_bootstrap_e_w2(arrays, reference.u, seed=0)
    rex, base, princeps = res["rows"]
    for row in (rex, princeps):
        assert row["E_W2_reweighted_over_torchdiffeq"] == pytest.approx(w2[row["solver"]] / w2[base["solver"]],
                                                                        rel=1e-6)
        ratio = boots[row["solver"]] / boots[base["solver"]]
        assert row["E_W2_reweighted_over_torchdiffeq_16_84"] == pytest.approx(percentiles(ratio))
    for row in res["rows"]:
        assert row["E_W2_kT_reweighted_16_84"] == pytest.approx(percentiles(boots[row["solver"]]))
    assert "E_W2_reweighted_over_torchdiffeq" not in base


def test_bootstrap_interval_covers_the_known_value():
    """A case with a known answer: draws x ~ N(0, 1) weighted by w ~ exp(x / 2) represent N(1/2, 1), so
    u = x + 3/2 reweighted is N(2, 1), and its W2 to a reference of exact N(0, 1) quantiles is 2 (a
    translation). Over 100 independent data sets the 16-84% bootstrap interval must contain 2 about
    68% of the time: binomial standard error 4.7%, so 54% to 82% is three of it (measured 67% and
    73% with two seeds). An interval that is too narrow, too wide or off-centre fails."""
    from scipy.stats import norm

    ref = norm.ppf((np.arange(1000) + 0.5) / 1000)
    rng = np.random.default_rng(0)
    hits = 0
    for r in range(100):
        x = rng.normal(size=200)
        w = np.exp(0.5 * x)
        boots = paired_bootstrap_e_w2({"a": {"u": x + 1.5, "weights": w / w.sum()}}, ref, n_boot=100, seed=r)
        lo, hi = interval(boots["a"])
        hits += lo <= 2.0 <= hi
    assert 54 <= hits <= 82, hits


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


def test_an_unstable_inverse_is_measured_not_refused(monkeypatch):
    """Rex at zeta = 0.001 over 20 steps (float32) samples forward on the Gaussian flow; its algebraic
    inverse is predicted to amplify rounding by zeta^-20 = 1e60 (Xi = 1 for velocity integration),
    overflows, and is reported as None, not raised. The forward pass is fine: conformers are the
    exact flow map to float32 rounding (measured 2e-7 nm), log q is the closed form (measured 5e-6;
    float32 sums of ~100 nats over 20 steps allow ~1e-4), and the strong damping keeps the coupled
    pair x, x_hat together to rounding although the field moves every coordinate:
    coupling_defect_max is max |x - x_hat| of the solve (scaled coordinates), a few float32 ulps of
    |y| ~ 7 (measured 9.5e-7)."""
    gen = gaussian_generator(SolverSpec(coupling=0.001, steps=20), dtype=torch.float32, method="vjp")
    model, c = gen.loaded.model, gen.loaded.coord_scale
    solutions = spy_on_solutions(monkeypatch, gen.flow, "sample")
    draw = gen.sample(2, seed=0, roundtrip=True)
    assert draw.stats["algebraic_inverse_predicted_amplification"] == pytest.approx(1e60, rel=1e-6)
    assert draw.stats["algebraic_inverse_z_max_abs"] is None  # overflowed: reported, not raised
    exact_x = GaussianVelocity(model.mu, model.sd).flow_map(torch.as_tensor(draw.z), 0.0, gen.flow.t1).numpy() / c
    np.testing.assert_allclose(draw.x, exact_x, rtol=0, atol=1e-5)
    np.testing.assert_allclose(draw.log_q, gaussian_log_q_nm(draw.x, model), rtol=0, atol=1e-3)
    (sol,) = solutions
    assert draw.stats["coupling_defect_max"] == float((sol.x - sol.x_hat).abs().max())
    ulp = torch.finfo(torch.float32).eps * float(sol.x.abs().max())
    assert draw.stats["coupling_defect_max"] < 16 * ulp


def test_model_report_writes_numbers_beside_the_noise_floor(zero_model, tmp_path):
    """On the zero field the flow is the identity, so the report's conformers are the prior draws
    divided by the coordinate scale (Rex's coupling reproduces x to a float32 ulp), and report.json
    holds the numbers the call returned."""
    from rexmol.training.report import model_report

    report = model_report(zero_model, tmp_path / "rep", n=20, steps=2)
    assert same_json(tmp_path / "rep" / "report.json", report)
    assert report["model_sha256"] == hashlib.sha256(Path(zero_model).read_bytes()).hexdigest()
    gen = BoltzmannGenerator(rexmol.load_model(zero_model))
    expected = gen.prior_draws(20, 0).double().numpy() / 5.0
    np.testing.assert_allclose(np.load(tmp_path / "rep" / "samples_nm.npy"), expected, rtol=0, atol=1e-6)
    assert report["samples"] == 20 and report["noise_floor_E_W2_kT"] < report["E_W2_kT"]  # noise is not a molecule
    assert (tmp_path / "rep" / "ramachandran.png").exists()
    with pytest.raises(FileExistsError):
        model_report(zero_model, tmp_path / "rep", n=20, steps=2)


def test_a_run_grows_from_an_earlier_runs_chunks(zero_model, reference, tmp_path):
    """A run of 4 reusing a run of 2 (chunks of 2) holds exactly what a fresh run of 4 draws: chunk i
    depends on (seed, i), not on n. The shipped model (a non-zero field, so a draw is not its noise)
    is matched by its bytes, not its path; a source that differs in model, seed, chunk size or
    solver, or that is the output folder itself, is refused before anything is written."""
    shipped = Path(__file__).resolve().parents[1] / "models" / "ala3_dit.pt"
    # few steps: the chunks are what is tested (at 4 steps some draws fold, and keep log q NaN)
    spec = SolverSpec("princeps", "midpoint", steps=4, grid="logsnr", density="jacobian")
    kw = dict(chunk_size=2, spec=spec, reference=reference, progress=False, plots=False)
    gen = BoltzmannGenerator(load_model_for(shipped), spec)
    # the earlier run: its settings and chunks, as sample_conformers writes them (unscored, to stay quick)
    prepare_out_dir(tmp_path / "small", run_settings(shipped, 2, spec, 2, 0), overwrite=False)
    small_x = draw_chunks(gen, 2, tmp_path / "small/chunks", chunk_size=2, seed=0, progress=False)["x"]
    renamed = tmp_path / "same_bytes.pt"
    renamed.write_bytes(shipped.read_bytes())
    refusals = (("model_sha256", zero_model, {}), ("seed", renamed, {"seed": 1}),
                ("chunk_size", renamed, {"chunk_size": 1}), ("solver", renamed, {"spec": SolverSpec(steps=3)}))
    for bad, model, extra in refusals:
        with pytest.raises(ValueError, match=f"differs in '{bad}'"):
            sample_conformers(model, tmp_path / f"other_{bad}", n=4, reuse_from=tmp_path / "small", **{**kw, **extra})
        assert not (tmp_path / f"other_{bad}").exists()
    with pytest.raises(ValueError, match="is the output folder itself"):
        sample_conformers(renamed, tmp_path / "small", n=4, reuse_from=tmp_path / "small", **kw)
    # the grown run's draws, and a fresh run's chunks drawn directly (no scoring)
    grown = tmp_path / "grown"
    sample_conformers(renamed, grown, n=4, reuse_from=tmp_path / "small", **kw)
    fresh = draw_chunks(gen, 4, tmp_path / "fresh", chunk_size=2, seed=0, progress=False)
    grown_arrays = np.load(grown / "arrays.npz")
    grown_x = grown_arrays["x"]
    # a zero field would leave log q at the prior's closed form; the shipped model's Jacobian does not
    finite = np.isfinite(grown_arrays["log_q"])
    assert finite.any() and (np.abs(grown_arrays["log_q"] - closed_form_log_q(grown_x))[finite] > 1.0).all()
    np.testing.assert_array_equal(grown_x[:2], np.asarray(small_x, dtype=grown_x.dtype))
    np.testing.assert_array_equal(grown_x, np.asarray(fresh["x"], dtype=grown_x.dtype))
    np.testing.assert_array_equal(grown_arrays["log_q"], np.asarray(fresh["log_q"], dtype=grown_arrays["log_q"].dtype))
    # the first chunk is the small run's file
    assert (grown / "chunks/chunk_00000.npz").read_bytes() == (tmp_path / "small/chunks/chunk_00000.npz").read_bytes()
