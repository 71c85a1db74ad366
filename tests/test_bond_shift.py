"""The bond shift as a sampler option (rexmol.boltzmann.bond_shift, ``rexmol sample --bond-shift``).

A shifted run reuses the chunks of an unshifted one, so the two runs hold the same flow draws: the
shifted run's log q is checked against the zero model's closed-form density of the unshifted draw
minus a log-determinant computed here from the two runs' bond lengths (numpy on the topology's
bond pairs), and its geometry against bond lengths and torsions computed here too."""

import json
import math

import numpy as np
import pytest
import torch

from rexmol.boltzmann.bond_shift import BondShift, fit_bond_shift, molecule_tree
from rexmol.boltzmann.generator import SolverSpec
from rexmol.boltzmann.sampling import sample_conformers
from rexmol.cli import main
from rexmol.flows import MeanFreeNormal
from rexmol.metrics import backbone_torsions
from rexmol.model import bond_graph
from rexmol.model.checkpoint import model_sha256
from rexmol.molecules import ala3, dataset
from rexmol.molecules.energies import energy_terms
from rexmol.molecules.target import AAA

SPEC = SolverSpec(steps=2)


def _lengths(x):
    """Bond lengths (nm) over the topology's bond list, in its own order: numpy, not BondTree."""
    pairs = np.array(bond_graph(ala3.TOPOLOGY_PDB))
    return np.linalg.norm(x[:, pairs[:, 0]] - x[:, pairs[:, 1]], axis=-1)


def _shift_by_topology_order(tree, shift_in_tree_order):
    by_pair = {frozenset((int(p), int(c))): s for p, c, s in zip(tree.parent, tree.child, shift_in_tree_order)}
    return np.array([by_pair[frozenset(b)] for b in bond_graph(ala3.TOPOLOGY_PDB)])


def test_a_shifted_run_moves_the_flow_draws_and_keeps_exact_weights(zero_model, reference, tmp_path):
    tree = molecule_tree()
    # +-5 pm per bond: the zero model's draws are noise with bonds of ~0.5 nm, so every length stays positive
    s = np.random.default_rng(4).uniform(-0.005, 0.005, len(tree.child))
    shift_path = BondShift(s, model_sha256(zero_model), json.loads(json.dumps(SPEC.record())), {"seed": 1}).save(
        tmp_path / "shift.json")
    kw = dict(n=6, chunk_size=4, spec=SPEC, reference=reference, progress=False, plots=False)
    plain = sample_conformers(zero_model, tmp_path / "plain", **kw)
    moved = sample_conformers(zero_model, tmp_path / "moved", reuse_from=tmp_path / "plain", bond_shift=shift_path, **kw)
    assert "bond_shift" not in plain and moved["bond_shift"]["path"] == str(shift_path)
    a, b = np.load(tmp_path / "plain" / "arrays.npz"), np.load(tmp_path / "moved" / "arrays.npz")
    x, y = a["x"].astype(np.float64), b["x"].astype(np.float64)
    # the flow draws are the same (reused chunks); the zero model's density of them is closed form
    prior = MeanFreeNormal(33)
    z = torch.as_tensor(x * 5.0, dtype=torch.float64)
    log_q_closed = prior.log_prob(prior.project(z)).numpy() + 96 * math.log(5.0)
    np.testing.assert_allclose(a["log_q"], log_q_closed, atol=1e-3)
    d, d_new = _lengths(x), _lengths(y)
    np.testing.assert_allclose(d_new - d, np.broadcast_to(_shift_by_topology_order(tree, s), d.shape), atol=2e-6)  # float32 x
    np.testing.assert_allclose(backbone_torsions(y)[0], backbone_torsions(x)[0], atol=1e-4)
    # q'(x') = q(x) / |det dT/dx|, |det| = prod_b ((d_b + s_b) / d_b)^2 (each bond vector's radial block)
    log_det = 2.0 * np.log(d_new / d).sum(axis=1)
    assert np.abs(log_det).max() > 0.05  # the shift changes the density measurably
    np.testing.assert_allclose(b["log_q"], log_q_closed - log_det, atol=2e-3)
    np.testing.assert_allclose(b["log_det_bond_shift"], log_det, atol=1e-3)
    kept = np.isfinite(b["log_w"])
    np.testing.assert_allclose(b["log_w"][kept], -b["u"][kept] - b["log_q"][kept], rtol=1e-12)
    # u was scored at the moved coordinates: OpenMM by force groups (another route than the job's scorer)
    u_moved = sum(energy_terms(b["x"], AAA, nonfinite="inf").values())
    finite_u = np.isfinite(b["u"])
    np.testing.assert_allclose(b["u"][finite_u], u_moved[finite_u], rtol=1e-4)
    assert not np.allclose(b["u"][finite_u], a["u"][finite_u], rtol=1e-6)
    assert moved["bond_shift"]["moved"] == int(np.isfinite(b["log_q"]).sum())
    # a partial run with the shift is not resumed without it (settings record the file's SHA-256)
    (tmp_path / "moved" / "results.json").unlink()
    with pytest.raises(ValueError, match="bond_shift"):
        sample_conformers(zero_model, tmp_path / "moved", **kw)


def test_a_shift_file_round_trips_and_is_refused_for_another_model_or_sampler(zero_model, tmp_path):
    tree = molecule_tree()
    s = np.linspace(-0.001, 0.001, len(tree.child))
    shift = BondShift(s, model_sha256(zero_model), json.loads(json.dumps(SPEC.record())), {"seed": 3})
    path = shift.save(tmp_path / "shift.json")
    back = BondShift.load(path)
    np.testing.assert_array_equal(back.shift_nm, s)
    assert back.fit == {"seed": 3} and back.model_sha256 == shift.model_sha256
    record = json.loads(path.read_text())
    assert [b["atoms"] for b in record["bonds"]] == [[int(p), int(c)] for p, c in zip(tree.parent, tree.child)]
    assert record["bonds"][0]["names"] == "ALA1-N - ALA1-H"
    # the file's bond order does not matter: reversed entries load to the same shift
    record["bonds"] = record["bonds"][::-1]
    (tmp_path / "reversed.json").write_text(json.dumps(record))
    np.testing.assert_array_equal(BondShift.load(tmp_path / "reversed.json").shift_nm, s)
    back.require_for(zero_model, SPEC)
    with pytest.raises(ValueError, match="not to"):
        other = tmp_path / "other.pt"
        other.write_bytes(zero_model.read_bytes() + b"\0")
        back.require_for(other, SPEC)
    with pytest.raises(ValueError, match="fitted to draws of the sampler"):
        back.require_for(zero_model, SolverSpec(steps=4))
    with pytest.raises(ValueError, match="fitted to draws of the sampler"):
        sample_conformers(zero_model, tmp_path / "run", n=2, spec=SolverSpec(steps=4), bond_shift=path, progress=False)
    assert not (tmp_path / "run").exists()  # refused before anything was written
    with pytest.raises(FileExistsError, match="pass --overwrite"):
        shift.save(path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        BondShift.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="is not JSON"):
        BondShift.load(tmp_path / "bad.json")
    (tmp_path / "other_format.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ValueError, match="is not a 'rexmol bond-length shift v1' file"):
        BondShift.load(tmp_path / "other_format.json")
    record["bonds"] = record["bonds"][1:]
    (tmp_path / "short.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match="other bonds than the molecule's 32"):
        BondShift.load(tmp_path / "short.json")
    with pytest.raises(ValueError, match="32 entries"):
        BondShift(s[:5], "sha", {})
    with pytest.raises(ValueError, match="finite"):
        BondShift(np.full(32, np.nan), "sha", {})
    with pytest.raises(ValueError, match="2 draws or more"):
        fit_bond_shift(zero_model, SPEC, n=1)
    with pytest.raises(ValueError, match="batch size must be at least 1"):
        fit_bond_shift(zero_model, SPEC, n=4, batch_size=0)
    good = json.loads(path.read_text())
    for broken, message in (({k: v for k, v in good.items() if k != "model_sha256"}, "'model_sha256' is missing"),
                            ({**good, "bonds": 3}, "'bonds' is missing or not a list"),
                            ({**good, "bonds": [{"atoms": [0, 1], "shift_nm": "x"}] + good["bonds"][1:]},
                             "needs 'atoms' .* and a number 'shift_nm'"),
                            ({**good, "bonds": [{"atoms": [0, 1]}] + good["bonds"][1:]}, "needs 'atoms'")):
        (tmp_path / "broken.json").write_text(json.dumps(broken))
        with pytest.raises(ValueError, match=message):
            BondShift.load(tmp_path / "broken.json")
    with pytest.raises(FileNotFoundError, match="is not a file"):
        BondShift.load(tmp_path)


def test_apply_leaves_draws_without_a_density_alone():
    shift = BondShift(np.full(32, 0.001), "sha", {})
    _, x0 = ala3.load_topology()
    x = np.stack([x0, x0, x0])
    y, log_q, log_det = shift.apply(x, np.array([1.0, np.nan, -np.inf]))
    np.testing.assert_array_equal(y[1:], x[1:])
    assert np.isnan(log_q[1]) and log_q[2] == -np.inf and (log_det[1:] == 0).all()
    np.testing.assert_allclose(_lengths(y[:1]) - _lengths(x[:1]), 0.001, atol=1e-12)
    assert log_q[0] == pytest.approx(1.0 - 2.0 * np.log(_lengths(y[:1]) / _lengths(x[:1])).sum())
    with pytest.raises(ValueError, match="3 draws but 2 log q"):
        shift.apply(x, np.zeros(2))
    # a clash the map cannot move (two bonded atoms at one place; a bond the shift would make negative)
    # gets weight zero, log q = NaN as for a fold, instead of stopping the run
    bad = x.copy()
    bad[1, 1] = bad[1, 0]
    y, log_q, _ = BondShift(np.full(32, -0.001), "sha", {}).apply(bad, np.zeros(3))
    assert np.isfinite(log_q[[0, 2]]).all() and np.isnan(log_q[1]) and (y[1] == bad[1]).all()
    assert BondShift(np.full(32, -0.5), "sha", {}).movable(x).sum() == 0


def test_fit_bond_shift_is_md_mean_minus_the_mean_of_low_energy_draws(zero_model, tmp_path):
    """The fit against a recomputation: the fit's own draws are redrawn through the generator from the
    recorded noise (two batches), their bond lengths taken by numpy, the u cut applied by hand."""
    import rexmol
    from rexmol.boltzmann.bond_shift import _batch_seed
    from rexmol.boltzmann.generator import BoltzmannGenerator
    from rexmol.molecules.energies import EnergyEvaluator

    shift = fit_bond_shift(zero_model, SPEC, n=24, seed=5, batch_size=16, progress=False)
    generator = BoltzmannGenerator(rexmol.load_model(zero_model), SPEC)
    x = np.concatenate([generator.sample_conformers(16, seed=_batch_seed(5, 0)),
                        generator.sample_conformers(8, seed=_batch_seed(5, 16))])  # two batches, each its own noise
    u = EnergyEvaluator(target=AAA).reduced(x.astype(np.float32), nonfinite="inf")
    ok = np.isfinite(u) & (ala3.chirality_volumes(None, x) > 0).all(axis=1)
    used = ok & (u <= np.percentile(u[ok], 95))
    assert shift.fit["n_used"] == int(used.sum()) and shift.fit["seed"] == 5
    expected = _lengths(dataset.load_split("train")).mean(0) - _lengths(x[used]).mean(0)
    np.testing.assert_allclose(_shift_by_topology_order(molecule_tree(), shift.shift_nm), expected, atol=1e-9)
    assert shift.model_sha256 == model_sha256(zero_model) and shift.solver == json.loads(json.dumps(SPEC.record()))


def test_cli_fit_refuses_to_overwrite_and_sample_names_a_mismatched_shift(zero_model, tmp_path, capsys):
    out = tmp_path / "shift.json"
    out.write_text("{}")
    assert main(["fit-bond-shift", "--model", str(zero_model), "--out", str(out), "--n", "4"]) == 2
    assert "exists; choose another --out or pass --overwrite" in capsys.readouterr().err
    assert out.read_text() == "{}"
    BondShift(np.zeros(32), model_sha256(zero_model), json.loads(json.dumps(SPEC.record()))).save(out, overwrite=True)
    # the CLI's default sampler is not the file's two-step one
    assert main(["sample", "--model", str(zero_model), "--n", "2", "--out", str(tmp_path / "run"), "--bond-shift",
                 str(out)]) == 2
    assert "fitted to draws of the sampler" in capsys.readouterr().err and not (tmp_path / "run").exists()


def test_auto_takes_the_models_own_shift_only_for_its_sampler_and_refuses_a_stale_one(zero_model, tmp_path):
    from rexmol.boltzmann.bond_shift import resolve, sidecar_path

    model = tmp_path / "m.pt"
    model.write_bytes(zero_model.read_bytes())
    assert sidecar_path(model) == tmp_path / "m_bond_shift.json"
    assert resolve("auto", model, SPEC)[0] is None  # no sidecar
    BondShift(np.zeros(32), model_sha256(model), json.loads(json.dumps(SPEC.record())), {"seed": 1}).save(
        sidecar_path(model))
    assert resolve("auto", model, SPEC)[0] == sidecar_path(model)
    path, why = resolve("auto", model, SolverSpec(steps=4))
    assert path is None and "not to this sampler's" in why
    assert resolve("none", model, SPEC)[0] is None
    assert resolve(tmp_path / "x.json", model, SPEC)[0] == tmp_path / "x.json"  # an explicit file is checked on use
    model.write_bytes(zero_model.read_bytes() + b"\0")
    with pytest.raises(ValueError, match="fitted to other model bytes"):
        resolve("auto", model, SPEC)


def test_the_shipped_model_ships_its_own_shift_for_the_default_sampler():
    """models/ala3_dit_bond_shift.json belongs to models/ala3_dit.pt (SHA-256) and to the default
    sampler, so `rexmol sample` (--bond-shift auto) applies it; fitted on other noise than the
    headline's seed 0, with sub-picometre shifts."""
    from pathlib import Path

    from rexmol.boltzmann.bond_shift import resolve, sidecar_path

    model = Path(__file__).resolve().parents[1] / "models" / "ala3_dit.pt"
    shift = BondShift.load(sidecar_path(model))
    assert resolve("auto", model, SolverSpec.default_sampler())[0] == sidecar_path(model)
    assert shift.fit["seed"] != 0 and shift.fit["n_draws"] >= 10_000
    assert 0 < np.abs(shift.shift_nm).max() < 0.001


def test_cli_sample_passes_the_resolved_shift_to_the_job(zero_model, tmp_path, monkeypatch, capsys):
    """`rexmol sample`'s default --bond-shift auto hands the job the model's own file when it was
    fitted to the CLI's sampler, and nothing with --bond-shift none (the job itself is tested above)."""
    import rexmol.boltzmann.sampling as sampling
    from rexmol.boltzmann.bond_shift import sidecar_path

    model = tmp_path / "m.pt"
    model.write_bytes(zero_model.read_bytes())
    BondShift(np.zeros(32), model_sha256(model), json.loads(json.dumps(SolverSpec.default_sampler().record()))).save(
        sidecar_path(model))
    seen = []
    monkeypatch.setattr(sampling, "sample_conformers", lambda *a, **kw: seen.append(kw["bond_shift"]) or
                        {"solver": "s", "n": 1, "md_test_frames": 1})
    for flag, expected in (([], sidecar_path(model)), (["--bond-shift", "none"], None)):
        assert main(["sample", "--model", str(model), "--out", str(tmp_path / "o"), *flag]) == 0
        assert seen[-1] == expected
    assert "the model's own" in capsys.readouterr().out
